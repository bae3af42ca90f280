"""The full system for end-to-end tests: real valkey, real Tansu, real Celery worker processes,
managed by the same Stack the demo uses."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from restore_jobs.demo.stack import Stack

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def secrets_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("secrets")


@pytest.fixture(scope="session")
def stack(valkey_server, secrets_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    url = f"redis://127.0.0.1:{valkey_server.port}/3"
    redis.Redis.from_url(url).flushdb()
    s = Stack(tmp_path_factory.mktemp("stack"))
    s.env.update({
        "KAFKA_RESTORE_SECRETS_DIR": str(secrets_dir),
        "KAFKA_RESTORE_UNIT_LOST_AFTER": "8",
        # Few botocore attempts per S3 request, so injected faults reach the unit's own retry fast.
        "AWS_MAX_ATTEMPTS": "3",
    })
    s.use_redis(url)
    yield s
    s.stop()


@pytest.fixture(scope="session")
def job_env(stack: Stack) -> dict[str, str]:
    """Environment for CLI subprocesses."""
    return stack.child_env()


@pytest.fixture(scope="session")
def workers(stack: Stack) -> Stack:
    """Two worker processes serving both queues, shared by the e2e tests."""
    for name in ("w1", "w2"):
        if name not in stack.procs:
            stack.start_worker(name)
    return stack


def run_cli(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "restore_jobs.cli", *args], env=env, cwd=REPO, capture_output=True, text=True,
        timeout=timeout,
    )
