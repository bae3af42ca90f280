"""A whole kafka-restore system on one machine: embedded valkey and Tansu, Celery workers and
Flower as child processes. The demo runs on it and the end-to-end tests reuse it; ``stop()``
always leaves no process behind."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from restore_jobs import embedded


@dataclass
class Stack:
    workdir: Path
    servers: list[embedded.EmbeddedServer] = field(default_factory=list)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    redis_url: str = ""
    bootstrap: str = ""
    flower_url: str = ""

    def start_servers(self, redis_db: int = 0) -> Stack:
        valkey = embedded.valkey(self.workdir).start()
        self.servers.append(valkey)
        tansu = embedded.tansu(self.workdir).start()
        self.servers.append(tansu)
        self.redis_url = f"redis://127.0.0.1:{valkey.port}/{redis_db}"
        self.bootstrap = f"127.0.0.1:{tansu.port}"
        return self.use_redis(self.redis_url)

    def use_redis(self, url: str) -> Stack:
        """Point this process and every child at ``url`` for the Celery broker and job state."""
        self.redis_url = url
        self.env.update({"KAFKA_RESTORE_BROKER_URL": url, "KAFKA_RESTORE_RESULT_BACKEND": url})
        os.environ.update(self.env)
        from restore_jobs.jobs.app import app

        app.conf.update(broker_url=url, result_backend=url)
        return self

    def child_env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {**os.environ, **self.env, **(extra or {})}

    def _spawn(self, name: str, argv: list[str], extra_env: dict[str, str] | None) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 - the child owns it
        proc = subprocess.Popen(
            argv, env=self.child_env(extra_env), stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        log.close()
        self.procs[name] = proc
        return proc

    def start_worker(
        self, name: str, queues: str = "restore,control", concurrency: int = 2, beat: bool = False,
        extra_env: dict[str, str] | None = None, timeout: float = 60,
    ) -> subprocess.Popen:
        argv = [
            sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", queues, "-c", str(concurrency),
            "-n", f"{name}@%h", "--without-gossip", "--without-mingle", "-l", "INFO", "-E",
        ]
        if beat:
            argv += ["-B", "-s", str(self.workdir / f"{name}-beat-schedule")]
        proc = self._spawn(name, argv, extra_env)
        self.wait_for_log(name, " ready.", timeout)
        return proc

    def start_flower(self, port: int | None = None, basic_auth: str | None = None, timeout: float = 60) -> str:
        port = port or embedded.free_port()
        extra = {"FLOWER_BASIC_AUTH": basic_auth} if basic_auth else {"FLOWER_UNAUTHENTICATED_API": "true"}
        self._spawn(
            "flower",
            [sys.executable, "-m", "celery", "-A", "workers", "flower", f"--port={port}", "--address=127.0.0.1",
             "--persistent=False"],
            extra,
        )
        embedded.wait_for_port(port, timeout, self.procs["flower"])
        self.flower_url = f"http://127.0.0.1:{port}"
        return self.flower_url

    def wait_for_log(self, name: str, text: str, timeout: float) -> None:
        log = self.workdir / f"{name}.log"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if log.exists() and text in log.read_text(errors="replace"):
                return
            if self.procs[name].poll() is not None:
                break
            time.sleep(0.2)
        tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
        raise RuntimeError(f"{name} did not start (see {log}):\n{tail}")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Signal a child's whole process group (a worker and its pool), as when a node dies."""
        proc = self.procs.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        proc.wait(30)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}" for p in self.workdir.glob("*.log"))

    def stop(self) -> None:
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in self.procs.values():
            try:
                proc.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        self.procs.clear()
        for server in reversed(self.servers):
            server.stop()
        self.servers.clear()
