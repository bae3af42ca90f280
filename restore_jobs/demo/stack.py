"""A whole kafka-restore system on one machine: embedded valkey and Tansu, Celery workers and
Flower as child processes. The demo runs on it and the end-to-end tests reuse it; ``stop()``
always leaves no process behind.

Every child runs in its own process group (so a terminal's Ctrl-C reaches only the owner, which
then stops them in order) and is listed in ``<workdir>/stack.json`` as soon as it exists, so that
whoever inherits a kept stack, or checks that it is gone, knows exactly which processes it holds.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from restore_jobs import embedded

STATE_FILE = "stack.json"


class StackError(RuntimeError):
    """A child did not start; the message names it and ends with the tail of its log."""


@dataclass
class Stack:
    workdir: Path
    servers: list[embedded.EmbeddedServer] = field(default_factory=list)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    redis_url: str = ""
    bootstrap: str = ""
    flower_url: str = ""
    started: dict[str, int] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)

    def start_servers(self, redis_db: int = 0) -> Stack:
        for make in (embedded.valkey, embedded.tansu):
            server = make(self.workdir)
            self.servers.append(server)  # before start(): an interrupted start is still stopped
            try:
                server.start()
            except embedded.EmbeddedServerError as exc:
                raise StackError(str(exc)) from exc
            finally:
                self._record()
        valkey, tansu = self.servers[-2:]
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
        self._record()
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
        self._record()
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
        """Flower on loopback; ready once it answers its health check (with the credentials, if any)."""
        port = port or embedded.free_port()
        extra = {"FLOWER_BASIC_AUTH": basic_auth} if basic_auth else {"FLOWER_UNAUTHENTICATED_API": "true"}
        self._spawn(
            "flower",
            [sys.executable, "-m", "celery", "-A", "workers", "flower", f"--port={port}", "--address=127.0.0.1",
             "--persistent=False"],
            extra,
        )
        url = f"http://127.0.0.1:{port}"
        self.ports["flower"] = port
        self._record()
        self._wait_for_http("flower", f"{url}/healthcheck", basic_auth, timeout)
        self.flower_url = url
        self._record()
        return url

    def _wait_for_http(self, name: str, url: str, basic_auth: str | None, timeout: float) -> None:
        request = urllib.request.Request(url)
        if basic_auth:
            request.add_header("Authorization", "Basic " + base64.b64encode(basic_auth.encode()).decode())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.procs[name].poll() is None:
            with contextlib.suppress(OSError), urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:  # else refused, reset or timed out: not up yet
                    return
            time.sleep(0.2)
        self._failed(name, f"{url} did not answer")

    def wait_for_log(self, name: str, text: str, timeout: float) -> None:
        log = self.workdir / f"{name}.log"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if log.exists() and text in log.read_text(errors="replace"):
                return
            if self.procs[name].poll() is not None:
                break
            time.sleep(0.2)
        self._failed(name, f"{text.strip()!r} not logged")

    def _failed(self, name: str, why: str) -> None:
        proc = self.procs[name]
        log = self.workdir / f"{name}.log"
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:]) if log.exists() else ""
        how = f"exited with code {proc.returncode}" if proc.poll() is not None else why
        raise StackError(f"{name} did not start: {how} (log {log}):\n{tail}")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Signal a child's whole process group (a worker and its pool), as when a node dies."""
        proc = self.procs.pop(name)
        self._record()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        proc.wait(30)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}" for p in self.workdir.glob("*.log"))

    def pids(self) -> dict[str, int]:
        """Every child started and not yet stopped, by name; each leads its own process group."""
        found = {name: proc.pid for name, proc in self.procs.items()}
        found.update({server.name: server.proc.pid for server in self.servers if server.proc is not None})
        return found

    def _record(self) -> None:
        """``pids``: running now; ``started``: every child ever started, with ``ports`` they listen on."""
        self.started.update(self.pids())
        self.ports.update({server.name: server.port for server in self.servers})
        state = {
            "pids": self.pids(),
            "started": self.started,
            "ports": self.ports,
            "redis_url": self.redis_url,
            "bootstrap": self.bootstrap,
            "flower_url": self.flower_url,
        }
        path = self.workdir / STATE_FILE
        path.with_suffix(".tmp").write_text(json.dumps(state, indent=2))
        path.with_suffix(".tmp").replace(path)

    def stop(self) -> None:
        """SIGTERM every child's group (workers finish their warm shutdown), SIGKILL what is left
        after 20 s, then the servers. Each step runs even if an earlier one failed."""
        try:
            for proc in self.procs.values():
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
            deadline = time.monotonic() + 20
            for proc in self.procs.values():
                _wait_unreaped(proc, deadline)
                # The leader has exited (unreaped, so its group id stays reserved) or is stuck: whatever
                # remains of its group (pool processes, beat) goes now.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
            self.procs.clear()
        finally:
            try:
                for server in reversed(self.servers):
                    server.stop()
                self.servers.clear()
            finally:
                self._record()


def _wait_unreaped(proc: subprocess.Popen, deadline: float) -> None:
    """Wait until ``proc`` exits or ``deadline`` passes, leaving it a zombie (not reaped)."""
    while proc.returncode is None and time.monotonic() < deadline:
        try:
            if os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return
        except ChildProcessError:  # already reaped elsewhere
            return
        time.sleep(0.05)
