"""Rendering of job state for the job commands: the live progress view and the summary table."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from restore_jobs.jobs import api, state
from restore_jobs.spec.model import TERMINAL_PHASES

FAILED_PHASES = frozenset({"Failed", "RolledBack", "Cancelled"})


def by_topic(job_id: str) -> dict[str, dict[str, int]]:
    """Per source topic: records written, records considered, records planned, bytes, units."""
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for name, unit in state.get_units(job_id).items():
        topic = name.rpartition("[")[0]
        t = totals[topic]
        t["records"] += unit.records
        t["considered"] += unit.considered
        t["planned"] += unit.planned_records
        t["bytes"] += unit.bytes
        t["units"] += 1
        t["done"] += unit.phase == "Completed"
    return totals


@contextmanager
def _until_ended(job_id: str) -> Iterator[Callable[[float], object]]:
    """A pause between two polls that ends as soon as the job does (``state.set_phase`` announces
    it), so a waiter sees the end at once instead of up to a poll later. An announcement missed
    (Redis restarted, say) costs one poll, no more."""
    pubsub = state.client().pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(state.ended_channel(job_id))
    try:
        yield lambda seconds: pubsub.get_message(timeout=seconds)
    finally:
        pubsub.close()


def wait_for_job(job_id: str, poll: float = 0.5, timeout: float | None = None) -> dict:
    """Wait quietly until the job ends (or ``timeout``); returns its last status."""
    deadline = None if timeout is None else time.monotonic() + timeout
    with _until_ended(job_id) as pause:
        while True:
            status = api.get_status(job_id) or api.vanished_status(job_id)
            if status.get("phase") in TERMINAL_PHASES or (deadline is not None and time.monotonic() > deadline):
                return status
            pause(poll)


def wait_with_progress(job_id: str, console: Console, poll: float = 0.5, timeout: float | None = None) -> dict:
    """Show a bar per topic until the job ends; returns its final status."""
    deadline = None if timeout is None else time.monotonic() + timeout
    with _until_ended(job_id) as pause, Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        bars: dict[str, Any] = {}
        while True:
            status = api.get_status(job_id) or api.vanished_status(job_id)
            for topic, t in sorted(by_topic(job_id).items()):
                if topic not in bars:
                    bars[topic] = progress.add_task(topic, total=max(t["planned"], 1), info="")
                progress.update(
                    bars[topic],
                    completed=min(t["considered"], t["planned"]) if status.get("phase") != "Completed"
                    else t["planned"],
                    info=f"{t['records']} records, {t['done']}/{t['units']} partitions",
                )
            if status.get("phase") in TERMINAL_PHASES:
                return status
            if deadline is not None and time.monotonic() > deadline:
                return status
            pause(poll)


def summary_table(job_id: str, status: dict) -> Table:
    table = Table(title=f"job {job_id}: {status.get('phase')}", caption=status.get("message") or None)
    for column in ("topic", "partitions", "records", "bytes"):
        table.add_column(column, justify="left" if column == "topic" else "right")
    for topic, t in sorted(by_topic(job_id).items()):
        table.add_row(topic, f"{t['done']}/{t['units']}", str(t["records"]), str(t["bytes"]))
    table.add_row(
        "[bold]total", "", str(status.get("recordsRestored", 0)), str(status.get("bytesRestored", 0))
    )
    return table


def exit_code(status: dict) -> int:
    return 1 if status.get("phase") in FAILED_PHASES else 0
