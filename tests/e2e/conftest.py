"""The full system for end-to-end tests: real valkey, real Tansu, real Celery worker processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def e2e_redis_url(valkey_server) -> str:
    url = f"redis://127.0.0.1:{valkey_server.port}/3"
    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture(scope="session")
def secrets_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("secrets")


@pytest.fixture(scope="session")
def job_env(e2e_redis_url: str, secrets_dir: Path) -> dict[str, str]:
    """Environment for workers, CLI subprocesses, and this process's own job API calls."""
    env = {
        "KAFKA_RESTORE_BROKER_URL": e2e_redis_url,
        "KAFKA_RESTORE_RESULT_BACKEND": e2e_redis_url,
        "KAFKA_RESTORE_SECRETS_DIR": str(secrets_dir),
        "KAFKA_RESTORE_UNIT_LOST_AFTER": "8",
    }
    os.environ.update(env)
    from restore_jobs.jobs.app import app

    app.conf.update(broker_url=e2e_redis_url, result_backend=e2e_redis_url)
    return {**os.environ, **env}


class Workers:
    def __init__(self, env: dict[str, str], log_dir: Path):
        self.env, self.log_dir = env, log_dir
        self.procs: list[subprocess.Popen] = []

    def start(self, name: str, queues: str = "restore,control", concurrency: int = 2,
              extra_env: dict[str, str] | None = None) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", queues, "-c", str(concurrency),
             "-n", f"{name}@%h", "--without-gossip", "--without-mingle", "-l", "INFO", "-E"],
            cwd=REPO, env={**self.env, **(extra_env or {})}, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.procs.append(proc)
        self._wait_ready(name)
        return proc

    def _wait_ready(self, name: str, timeout: float = 60) -> None:
        log = self.log_dir / f"{name}.log"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if log.exists() and " ready." in log.read_text(errors="replace"):
                return
            time.sleep(0.2)
        raise RuntimeError(f"worker {name} did not start: {log.read_text(errors='replace')[-3000:]}")

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, 15)
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait(10)
        self.procs.clear()

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob("*.log")))


@pytest.fixture(scope="session")
def workers(job_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workers]:
    """Two worker processes serving both queues, shared by the e2e tests."""
    pool = Workers(job_env, tmp_path_factory.mktemp("workers"))
    pool.start("w1")
    pool.start("w2")
    yield pool
    pool.stop_all()


def run_cli(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "restore_jobs.cli", *args], env=env, cwd=REPO, capture_output=True, text=True,
        timeout=timeout,
    )
