"""Where the time goes: py-spy samples a process (this one, or a worker's pool process) while a
restore runs, and the samples of each of a unit's two threads (the one that sends and commits, and
the one that reads and decodes ahead of it) are summed per function.

Sampling includes idle time (``--idle``), so waits on the broker (flush, transaction commit)
show up with their wall-clock share, next to the Python work (decode, send). ``pip install
py-spy``; it needs ptrace rights on the sampled process (root, or ptrace_scope 0).
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
# Every stack of a unit's thread passes through one of these frames.
THREADS = {"sending thread": "_Writer.run", "read-ahead thread": "read (restore_jobs/restore/readahead.py"}
_LINE = re.compile(r":\d+\)$")


@dataclass
class Profile:
    samples: int = 0
    self_share: list[tuple[str, float]] = field(default_factory=list)  # function (file:line), share
    total_share: list[tuple[str, float]] = field(default_factory=list)  # function (file), share
    note: str = ""


def py_spy() -> str | None:
    return shutil.which("py-spy") or next(
        (str(p) for p in [Path(sys.executable).parent / "py-spy"] if p.exists()), None
    )


def sampled(pids: list[int], out: Path, action: Callable[[], T], rate: int = 250) -> tuple[T, dict[str, Profile]]:
    """Runs ``action`` while py-spy samples each of ``pids``; a profile per unit thread (``THREADS``)
    over the stacks of all of them (only the one running the unit contributes). Empty, with a note,
    without py-spy."""
    binary = py_spy()
    if binary is None:
        return action(), {"": Profile(note="py-spy not installed (pip install py-spy): no profile")}
    files = [out.with_name(f"{out.name}.{pid}") for pid in pids]
    spies = [
        subprocess.Popen(
            [binary, "record", "--pid", str(pid), "--idle", "--rate", str(rate), "--format", "raw", "--output",
             str(path), "--nonblocking"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        for pid, path in zip(pids, files, strict=True)
    ]
    time.sleep(1.0)  # attach before the work starts
    try:
        result = action()
    finally:
        errors = []
        for spy in spies:
            spy.send_signal(signal.SIGINT)
            errors.append(spy.communicate(timeout=60)[1].decode(errors="replace"))
    raw = "".join(path.read_text() for path in files if path.exists())
    if not raw:
        return result, {"": Profile(note=f"py-spy wrote no profile: {' '.join(errors)[-500:]}")}
    return result, {thread: summarize(raw, within=frame) for thread, frame in THREADS.items()}


def summarize(raw: str, within: str, top: int = 15) -> Profile:
    """Self and cumulative shares of the sampled stacks that pass through ``within``."""
    self_counts: Counter[str] = Counter()
    total_counts: Counter[str] = Counter()
    samples = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if within not in stack or not count.isdigit():
            continue
        n = int(count)
        samples += n
        frames = stack.split(";")
        self_counts[frames[-1]] += n
        for name in {_LINE.sub(")", f) for f in frames[frames.index(next(f for f in frames if within in f)):]}:
            total_counts[name] += n
    if not samples:
        return Profile(note=f"no samples passed through {within}")
    return Profile(
        samples,
        [(name, n / samples) for name, n in self_counts.most_common(top)],
        [(name, n / samples) for name, n in total_counts.most_common(top + 1)[1:]],  # minus the unit frame itself
    )
