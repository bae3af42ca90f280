"""A whole system per test for fault injection: its own valkey (and Tansu, when the test kills it)
and its own Celery workers, so killing servers never disturbs the session's shared ones.

Jobs are submitted through the CLI in a subprocess and followed by reading the job state in Redis
from this process (``state`` reads its URL from the environment, patched per test).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from restore_jobs import embedded
from restore_jobs.demo.stack import Stack
from restore_jobs.jobs import state
from restore_jobs.spec.model import TERMINAL_PHASES
from tests.e2e.conftest import REPO, run_cli
from tests.fakes.polling import eventually

# A task must never come back by Redis's visibility timeout in these tests: only by the fault
# handling under test (worker-lost requeue, the watchdog, retries).
VISIBILITY_TIMEOUT = 3600


@dataclass
class Rig:
    stack: Stack
    valkey: embedded.EmbeddedServer
    bootstrap: str
    tansu: embedded.EmbeddedServer | None = None
    cli: list[subprocess.Popen] = field(default_factory=list)

    def start_worker(self, name: str, **kwargs: Any) -> subprocess.Popen:
        return self.stack.start_worker(name, **kwargs)

    def submit(self, spec_file: Path) -> str:
        result = run_cli(self.stack.child_env(), "submit", str(spec_file), "--json", timeout=60)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)["jobId"]

    def submit_and_wait(self, spec_file: Path) -> subprocess.Popen:
        """``kafka-restore submit --wait --json`` in the background, as a user would follow a job."""
        proc = subprocess.Popen(
            [sys.executable, "-m", "restore_jobs.cli", "submit", str(spec_file), "--wait", "--json"],
            env=self.stack.child_env(), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.cli.append(proc)
        return proc

    def wait_for(self, what: str, check: Callable[[], Any], timeout: float = 60, poll: float = 0.1) -> Any:
        try:
            return eventually(check, timeout=timeout, interval=poll, what=what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.stack.logs()[-6000:]}") from None

    def wait_ended(self, job_id: str, timeout: float = 90) -> dict[str, Any]:
        def ended() -> dict[str, Any] | None:
            status = state.status_dict(job_id)
            return status if status and status["phase"] in TERMINAL_PHASES else None

        return self.wait_for(f"job {job_id} to end", ended, timeout, poll=0.2)

    def records_written(self, job_id: str) -> int:
        return sum(u.records for u in state.get_units(job_id).values())

    def pool_children(self, worker: str) -> list[int]:
        """The worker's pool processes: the children of its main process."""
        pid = self.stack.procs[worker].pid
        children: list[int] = []
        for task in Path(f"/proc/{pid}/task").iterdir():
            children += [int(c) for c in (task / "children").read_text().split()]
        return children

    def worker_log(self, worker: str) -> str:
        return (self.stack.workdir / f"{worker}.log").read_text(errors="replace")

    def close(self) -> None:
        for proc in self.cli:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(10)
        for name in list(self.stack.procs):
            self.stack.kill(name)  # a warm shutdown takes seconds and proves nothing here
        self.stack.stop()
        if self.tansu is not None:
            self.tansu.kill()
        self.valkey.kill()


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Path:
    """Where ``make_rig``'s workers resolve secret references: ``<dir>/<name>/<key>``."""
    path = tmp_path / "secrets"
    path.mkdir()
    return path


@pytest.fixture
def make_rig(tmp_path: Path, secrets_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Rig]]:
    """``make_rig(bootstrap=None, valkey_args=(), tansu_storage=..., tansu_env=None, **env)``.

    Without ``bootstrap`` the rig starts its own Tansu (``tansu_storage``, ``tansu_env`` for its
    process). ``env`` goes to every worker and CLI process (KAFKA_RESTORE_* knobs, short for tests)."""
    rigs: list[Rig] = []

    def make(
        bootstrap: str | None = None,
        valkey_args: tuple[str, ...] = (),
        tansu_storage: str = "memory://tansu/",
        tansu_env: dict[str, str] | None = None,
        **env: str,
    ) -> Rig:
        workdir = tmp_path / f"rig{len(rigs)}"
        workdir.mkdir()
        valkey = embedded.valkey(workdir)
        valkey.argv += list(valkey_args)  # later options win
        valkey.start()
        tansu = None
        if bootstrap is None:
            tansu = embedded.tansu(workdir, storage=tansu_storage)
            tansu.env = {**(tansu.env or {}), **(tansu_env or {})}
            tansu.start()
            bootstrap = f"127.0.0.1:{tansu.port}"
        url = f"redis://127.0.0.1:{valkey.port}/0"
        stack = Stack(workdir, redis_url=url, bootstrap=bootstrap)
        stack.env.update({
            "KAFKA_RESTORE_BROKER_URL": url,
            "KAFKA_RESTORE_RESULT_BACKEND": url,
            "KAFKA_RESTORE_SECRETS_DIR": str(secrets_dir),
            "KAFKA_RESTORE_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
            "KAFKA_RESTORE_UNIT_LOST_AFTER": "3",
            "KAFKA_RESTORE_WATCHDOG_INTERVAL": "1",
            **env,
        })
        for key in ("KAFKA_RESTORE_BROKER_URL", "KAFKA_RESTORE_RESULT_BACKEND", "KAFKA_RESTORE_SECRETS_DIR"):
            monkeypatch.setenv(key, stack.env[key])
        monkeypatch.delenv("KAFKA_RESTORE_STATE_URL", raising=False)
        rig = Rig(stack, valkey, bootstrap, tansu)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.close()


def write_secret(root: Path, name: str, values: dict[str, str]) -> None:
    (root / name).mkdir(parents=True, exist_ok=True)
    for key, value in values.items():
        (root / name / key).write_text(value)
    os.chmod(root / name, 0o700)
