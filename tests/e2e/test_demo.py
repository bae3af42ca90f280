"""``kafka-restore demo`` as a user runs it: a subprocess in a fresh environment, to a verified
restore; and on every way out (success, Ctrl-C, SIGTERM, a child that fails to start) no process it
started may remain. What it started is read from ``<workdir>/stack.json`` and double-checked by
scanning /proc for anything naming its workdir, its ports or its Redis."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import REPO

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RECORDS = "100"  # per source partition: 9 partitions, a few seconds of restore


def demo_env() -> dict[str, str]:
    """This environment without any kafka-restore, Celery or Flower setting: the demo brings its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_RESTORE_", "CELERY_", "FLOWER_"))}
    env["COLUMNS"] = "200"  # one line per table row, whatever the terminal
    env["KAFKA_RESTORE_DEMO_TIMEOUT"] = "90"  # a stuck restore ends the demo (exit 1) instead of the test
    return env


class Demo:
    """``kafka-restore demo`` as a subprocess; its output is collected line by line as it comes."""

    def __init__(self, workdir: Path, *args: str):
        self.workdir = workdir
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "restore_jobs.cli", "demo", "--workdir", str(workdir), "--records", RECORDS, *args],
            env=demo_env(), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def report(self) -> str:
        """The output and the end of every log in the workdir, for a failure message."""
        logs = "".join(f"\n--- {p.name}\n{p.read_text(errors='replace')[-2000:]}" for p in self.workdir.glob("*.log"))
        return f"{self.output}{logs}"

    def wait_for(self, text: str, timeout: float = 120) -> str:
        """The output up to the first line holding ``text``."""
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            assert self.proc.poll() is None or self._reader.is_alive(), f"exited before {text!r}:\n{self.report()}"
            assert time.monotonic() < deadline, f"no {text!r} within {timeout}s:\n{self.report()}"
            time.sleep(0.05)
        return self.output

    def finish(self, timeout: float = 180) -> tuple[int, str]:
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"the demo did not exit within {timeout}s:\n{self.report()}") from None
        self._reader.join(10)
        return rc, self.output


def run_demo(workdir: Path, *args: str) -> tuple[int, str]:
    return Demo(workdir, *args).finish()


def recorded(workdir: Path) -> dict:
    return json.loads((workdir / "stack.json").read_text())


def _proc_text(pid: str, name: str) -> str:
    try:
        return (Path("/proc") / pid / name).read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:  # gone meanwhile, or not ours to read
        return ""


def _alive(pid: str) -> bool:
    stat = _proc_text(pid, "stat")
    return bool(stat) and stat.rpartition(")")[2].split()[0] != "Z"


def leftovers(workdir: Path) -> dict[int, str]:
    """Live processes the demo in ``workdir`` started, with their command lines: by recorded pid,
    and by a /proc scan for its workdir or ports in a command line, or its Redis URL in an environment."""
    state = recorded(workdir)
    marks = [str(workdir), *(f"127.0.0.1:{p}" for p in state["ports"].values()),
             *(f"--port={p}" for p in state["ports"].values())]
    redis = state["redis_url"].rpartition("/")[0]
    found = {str(pid) for pid in state["started"].values() if _alive(str(pid))}
    for entry in Path("/proc").iterdir():
        pid = entry.name
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        cmdline = _proc_text(pid, "cmdline")
        if (any(m in cmdline for m in marks) or redis in _proc_text(pid, "environ")) and _alive(pid):
            found.add(pid)
    return {int(pid): _proc_text(pid, "cmdline")[:150] for pid in sorted(found)}


def assert_nothing_left(workdir: Path, stopped_by_demo: bool = True) -> None:
    state = recorded(workdir)
    assert {"valkey", "tansu", "worker1"} <= set(state["started"]), state
    if stopped_by_demo:
        assert state["pids"] == {}, "the demo believes these still run"
    deadline = time.monotonic() + 10  # orphaned pool processes may need a moment to notice
    while (left := leftovers(workdir)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert left == {}


def kill_leftovers(workdir: Path) -> None:
    """Whatever a failed test (or a kept demo) left running must not outlive the test."""
    if (workdir / "stack.json").exists():
        for pid in leftovers(workdir):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "demo"
    yield path
    kill_leftovers(path)


def test_demo_exit_runs_a_verified_restore_and_leaves_nothing_behind(workdir: Path) -> None:
    demo = Demo(workdir, "--exit")
    rc, out = demo.finish()

    assert rc == 0, demo.report()
    verified = re.search(r"verified: (\d+) records in 11 target partitions, as expected", out)
    assert verified, out
    total = re.search(r"│ total\s+│\s+│\s+(\d+) │", out)
    assert total and total.group(1) == verified.group(1), out  # the job's count is what the target holds
    assert 0 < int(verified.group(1)) < 9 * int(RECORDS)  # the time window kept some, not all
    assert re.search(r"job demo-restore-g1-\w+: Completed", out)
    assert re.search(r"order-processor\s+│ orders\[\*\]=100\s+│ restored-orders\[0\]=\d+", out), out
    assert re.search(r"Flower: http://127\.0\.0\.1:\d+/tasks\s+\(user admin, password \S+\)", out)
    assert set(recorded(workdir)["started"]) == {"valkey", "tansu", "worker1", "worker2", "flower"}
    assert_nothing_left(workdir)


def test_ctrl_c_during_the_restore_stops_everything(workdir: Path) -> None:
    demo = Demo(workdir, "--exit")
    demo.wait_for("submitted job")  # the restore and its verification take seconds from here
    demo.proc.send_signal(signal.SIGINT)
    rc, out = demo.finish(90)

    assert rc == 128 + signal.SIGINT, demo.report()
    assert "SIGINT: stopping everything" in out
    assert "verified:" not in out
    assert_nothing_left(workdir)


def test_sigterm_after_the_restore_stops_everything(workdir: Path) -> None:
    demo = Demo(workdir)  # neither --exit nor --keep: it waits for Ctrl-C after the restore
    before = demo.wait_for("press Ctrl-C")
    demo.proc.send_signal(signal.SIGTERM)
    rc, out = demo.finish(90)

    assert "as expected" in before, demo.report()
    assert rc == 0, demo.report()  # the way to end an interactive demo that succeeded
    assert "SIGTERM: stopping everything" in out
    assert_nothing_left(workdir)


def test_a_child_that_fails_to_start_stops_the_others(workdir: Path) -> None:
    with socket.socket() as taken:  # Flower cannot bind a port someone else listens on
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        rc, out = run_demo(workdir, "--exit", "--flower-port", str(taken.getsockname()[1]))

    assert rc == 1, out
    assert "kafka-restore: error: demo: flower did not start: exited with code 1" in out
    assert "Address already in use" in out
    assert {"worker1", "worker2", "flower"} <= set(recorded(workdir)["started"])
    assert_nothing_left(workdir)
