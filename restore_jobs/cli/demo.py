"""``kafka-restore demo``: the whole system on this machine, in one command.

Starts an embedded Redis-compatible server and Kafka-compatible broker, two workers and Flower,
writes a sample backup, restores it with the options that matter, verifies the target and prints
a summary. Ctrl-C, SIGTERM or SIGHUP (or ``--exit`` when done) stops everything it started; the
process ids are in ``<workdir>/stack.json`` from the moment each child exists.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import secrets
import shutil
import signal
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from restore_jobs.cli.common import EXIT_FAILED, CliError

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="run the whole system locally on a sample backup",
        description="Start valkey, a Tansu broker, two Celery workers and Flower on this machine, write a "
        "sample backup, restore it (time window, topic mapping, murmur2 repartitioning, consumer-group "
        "offset reset), verify the target against the backup and print a summary.",
    )
    p.add_argument("--records", type=int, default=2000, help="records per source partition (default 2000)")
    p.add_argument("--workdir", type=Path, help="where servers, logs and the backup go (default: a temp dir, "
                   "removed when the demo stops after a verified restore)")
    p.add_argument("--flower-port", type=int, help="Flower's port on 127.0.0.1 (default: a free port)")
    p.add_argument("--flower-auth", metavar="USER:PASSWORD",
                   help="Flower's basic-auth credentials (default: admin and a random password)")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--exit", action="store_true", help="stop everything and exit when the restore is verified")
    when.add_argument("--keep", action="store_true", help="exit but leave the servers, workers and Flower running")
    p.add_argument("--json", action="store_true", help="print the final status and verification as JSON on stdout")
    p.set_defaults(func=run)


class _Stopped(KeyboardInterrupt):
    """A stop signal (SIGINT, SIGTERM, SIGHUP) arrived; ``signum`` says which."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _on_stop_signals(handler: Any) -> dict[int, Any]:
    """Install ``handler`` for every stop signal; returns the previous handlers."""
    return {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}


def _raise_stopped(signum: int, frame: Any) -> None:
    raise _Stopped(signum)


def _parse_auth(value: str | None) -> str:
    if value is None:
        return f"admin:{secrets.token_urlsafe(12)}"
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise CliError("--flower-auth: expected USER:PASSWORD with both parts non-empty")
    return value


def run(args: argparse.Namespace) -> int:
    from restore_jobs.demo.stack import Stack, StackError

    if args.records < 10:
        raise CliError("--records: must be at least 10")
    auth = _parse_auth(args.flower_auth)
    console = Console(stderr=args.json, highlight=False)
    temporary = args.workdir is None
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="kafka-restore-demo-"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    stack = Stack(workdir)
    keep = ok = waiting = False
    started = time.monotonic()
    # SIGTERM and SIGHUP stop the demo the way Ctrl-C does; the handlers stay until the stack is
    # stopped, then a second signal is ignored so that it cannot cut the clean-up short.
    previous = _on_stop_signals(_raise_stopped)
    try:
        try:
            ok = _demo(stack, console, args, auth)
        except StackError as exc:
            raise CliError(f"demo: {exc}", EXIT_FAILED) from exc
        keep = args.keep
        if keep:
            pids = " ".join(f"-{pid}" for pid in stack.pids().values())
            console.print(f"\nLeft running (process ids in {workdir / 'stack.json'}). Stop it with:\n"
                          f"  kill -- {pids}")
        elif not args.exit:
            waiting = True  # before the hint: a Ctrl-C right after it is the expected way out
            console.print("\nExplore Flower, then press [bold]Ctrl-C[/] to stop everything.")
            while True:
                time.sleep(3600)
    except KeyboardInterrupt as exc:
        signum = exc.signum if isinstance(exc, _Stopped) else signal.SIGINT
        console.print(f"\n[yellow]{signal.Signals(signum).name}: stopping everything[/]")
        if not waiting:  # stopped before the end: 128 + signal, as a shell reports it
            return 128 + signum
    finally:
        if not keep:
            _on_stop_signals(signal.SIG_IGN)
            stack.stop()
            console.print(f"stopped every process the demo started ({time.monotonic() - started:.0f} s in all)")
            if ok and temporary:
                shutil.rmtree(workdir, ignore_errors=True)
                console.print(f"removed {workdir} (pass --workdir to keep the backup, logs and offset mapping)")
            else:
                console.print(f"logs and backup kept in {workdir}")
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not ok:
        raise CliError("demo restore was not verified (see above)", EXIT_FAILED)
    return 0


def _demo(stack: Any, console: Console, args: argparse.Namespace, auth: str) -> bool:
    from restore_jobs.demo import scenario

    workdir = stack.workdir
    console.print(f"[bold]kafka-restore demo[/] in {workdir}\n")
    console.print("[bold]1. Starting[/] valkey (Redis), Tansu (Kafka), two Celery workers and Flower")
    stack.start_servers()
    console.print(f"   valkey   {stack.redis_url}\n   Tansu    {stack.bootstrap}")
    stack.start_worker("worker1", beat=True)
    stack.start_worker("worker2")
    console.print("   workers  worker1 (with beat), worker2: queues restore + control, 2 processes each")
    user, _, password = auth.partition(":")
    flower = stack.start_flower(port=args.flower_port, basic_auth=auth)
    console.print(f"   Flower   {flower}  (user {user}, password {password})")

    console.print("\n[bold]2. Writing a sample backup[/] in OSO kafka-backup's format")
    sample, manifest = scenario.write_backup(workdir / "backups", args.records)
    console.print(
        f"   {manifest.record_count} records in {manifest.segment_count} segments: "
        + ", ".join(f"{t.name} ({len(t.partitions)} partitions)" for t in manifest.topics)
        + "\n   keyed records with headers, timestamps out of order, a consumer-groups snapshot"
    )
    resource_doc = scenario.restore_resource(workdir / "backups", stack.bootstrap, sample)
    (workdir / "restore.yaml").write_text(yaml.safe_dump(resource_doc, sort_keys=False))

    console.print(f"\n[bold]3. Restoring[/] ({workdir / 'restore.yaml'})")
    for line in _describe(resource_doc["spec"]):
        console.print(f"   {line}")
    status, report, offsets = _restore_and_verify(resource_doc, workdir, console)
    _print_summary(console, status, report, offsets, sample.groups)
    console.print(f"\nFlower: {flower}/tasks  (user {user}, password {password})")
    ok = status.get("phase") == "Completed" and report.ok
    if args.json:
        print(json.dumps({"status": status, "verified": report.ok, "summary": report.summary,
                          "offsets": offsets}, indent=2))
    return ok


def _describe(spec: dict[str, Any]) -> list[str]:
    def iso(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")

    pitr, reset = spec["pitr"], spec["offsetReset"]
    return [
        f"time window   {iso(pitr['startTimestamp'])} .. {iso(pitr['endTimestamp'])} UTC (PITR)",
        "topic mapping " + ", ".join(f"{s} -> {t}" for s, t in spec["topicMapping"].items()),
        "repartition   " + ", ".join(f"{t}: {r['strategy']} over {r['targetPartitions']} partitions"
                                     for t, r in spec["repartitioning"].items()),
        f"offset reset  {reset['strategy']} for {', '.join(reset['consumerGroups'])}",
    ]


def _restore_and_verify(resource_doc: dict, workdir: Path, console: Console) -> tuple[dict, Any, dict]:
    from restore_jobs.cli.jobs_view import wait_with_progress
    from restore_jobs.jobs import api
    from restore_jobs.jobs.submission import default_job_id
    from restore_jobs.jobs.verify import verify_target
    from restore_jobs.kafka.factory import open_admin, open_reader
    from restore_jobs.spec import load_resource
    from restore_jobs.spec.model import TERMINAL_PHASES
    from restore_jobs.storage.filesystem import FilesystemStorage

    resource = load_resource(resource_doc, source=str(workdir / "restore.yaml"))
    job_id = api.submit(resource, default_job_id(resource))
    console.print(f"   submitted job {job_id}")
    timeout = float(os.environ.get("KAFKA_RESTORE_DEMO_TIMEOUT", "600"))
    status = wait_with_progress(job_id, console, timeout=timeout)
    if status.get("phase") not in TERMINAL_PHASES:
        raise CliError(
            f"demo: job {job_id} did not end within {timeout:.0f} s (KAFKA_RESTORE_DEMO_TIMEOUT): phase "
            f"{status.get('phase')}, {status.get('message')}; worker logs in {workdir}", EXIT_FAILED,
        )
    spec = resource.spec
    admin = open_admin(spec.kafka_cluster)
    reader = open_reader(spec.kafka_cluster)
    try:
        with console.status("   verifying every target partition against the backup"):
            storage = FilesystemStorage(Path(spec.backup_ref.storage.filesystem.path))
            report = verify_target(spec, storage, spec.backup_ref.backup_id, admin, reader, idle_timeout_s=2.0)
        groups = spec.offset_reset.consumer_groups if spec.offset_reset else []
        offsets = {g: {f"{t}[{p}]": c.offset for (t, p), c in sorted(admin.committed(g).items())} for g in groups}
    finally:
        reader.close()
        admin.close()
        del admin, reader
        # librdkafka handles sit in reference cycles until collected; an open connection makes the
        # broker wait seconds before it stops.
        gc.collect()
    return status, report, offsets


def _print_summary(console: Console, status: dict, report: Any, offsets: dict, snapshot: dict) -> None:
    from restore_jobs.cli.jobs_view import summary_table

    console.print()
    console.print(summary_table(status["jobId"], {**status, "message": None}))
    console.print(status.get("message") or "")
    table = Table(title="consumer groups: backup snapshot -> target after the reset")
    table.add_column("group")
    table.add_column("committed in the backup")
    table.add_column("committed on the target now")
    for group, parts in offsets.items():
        before = sorted({(t, o) for (t, _), o in snapshot[group].items()})
        table.add_row(
            group,
            ", ".join(f"{t}[*]={o}" for t, o in before),
            ", ".join(f"{k}={v}" for k, v in parts.items()) or "(none)",
        )
    console.print(table)
    console.print(f"[{'green' if report.ok else 'red'}]{report.summary}[/]")
    console.print(f"offset mapping: {status.get('offsetMappingPath')}", soft_wrap=True)
