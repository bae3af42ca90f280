"""``kafka-restore demo``: the whole system on this machine, in one command.

Starts an embedded Redis-compatible server and Kafka-compatible broker, two workers and Flower,
writes a sample backup, restores it with the options that matter, verifies the target and prints
a summary. Ctrl-C (or ``--exit`` when done) stops everything it started.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import sys
import tempfile
import time
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table

from restore_jobs.cli.common import EXIT_FAILED, CliError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the whole system locally on a sample backup")
    p.add_argument("--records", type=int, default=2000, help="records per source partition (default 2000)")
    p.add_argument("--workdir", type=Path, help="where servers, logs and the backup go (default: a temp dir)")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--exit", action="store_true", help="stop everything and exit when the restore is verified")
    when.add_argument("--keep", action="store_true", help="exit but leave the servers, workers and Flower running")
    p.add_argument("--json", action="store_true", help="print the final status and verification as JSON")
    p.set_defaults(func=run)


def _terminate_on_sigterm() -> None:
    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def run(args: argparse.Namespace) -> int:
    from restore_jobs.demo import scenario
    from restore_jobs.demo.stack import Stack

    if args.records < 10:
        raise CliError("--records: must be at least 10")
    console = Console(stderr=args.json)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="kafka-restore-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    stack = Stack(workdir)
    _terminate_on_sigterm()
    keep = False
    try:
        console.print(f"[bold]kafka-restore demo[/] in {workdir}")
        stack.start_servers()
        console.print(f"  valkey  {stack.redis_url}\n  Tansu   {stack.bootstrap}")
        password = secrets.token_urlsafe(12)
        stack.start_worker("worker1", beat=True)
        stack.start_worker("worker2")
        flower = stack.start_flower(basic_auth=f"admin:{password}")
        console.print(f"  workers worker1, worker2 (2 processes each)\n  Flower  {flower} (admin / {password})")
        sample, manifest = scenario.write_backup(workdir / "backups", args.records)
        console.print(
            f"  backup  {manifest.record_count} records, {manifest.segment_count} segments, "
            f"topics {', '.join(t.name for t in manifest.topics)}"
        )
        resource_doc = scenario.restore_resource(workdir / "backups", stack.bootstrap, sample)
        (workdir / "restore.yaml").write_text(yaml.safe_dump(resource_doc, sort_keys=False))
        status, report, offsets = _restore_and_verify(resource_doc, workdir, console)
        _print_summary(console, status, report, offsets, flower, password)
        if args.json:
            print(json.dumps({"status": status, "verified": report.ok, "summary": report.summary}, indent=2))
        ok = status.get("phase") == "Completed" and report.ok
        if args.keep:
            keep = True
            pids = " ".join(str(p.pid) for p in stack.procs.values()) + " " + " ".join(
                str(s.proc.pid) for s in stack.servers if s.proc
            )
            console.print(f"Left running. Stop with: kill -- {' '.join('-' + p for p in pids.split())}")
        elif not args.exit:
            console.print("Explore Flower, then press Ctrl-C to stop everything.")
            while True:
                time.sleep(3600)
        if not ok:
            raise CliError(f"demo restore not verified: {status.get('phase')}: {report.summary}", EXIT_FAILED)
        return 0
    except KeyboardInterrupt:
        console.print("stopping")
        return 130 if not args.exit else 1
    finally:
        if not keep:
            stack.stop()


def _restore_and_verify(resource_doc: dict, workdir: Path, console: Console):
    from restore_jobs.cli.jobs_view import wait_with_progress
    from restore_jobs.jobs import api
    from restore_jobs.jobs.submission import default_job_id
    from restore_jobs.jobs.verify import verify_target
    from restore_jobs.kafka.factory import open_admin, open_reader
    from restore_jobs.spec import load_resource
    from restore_jobs.storage.filesystem import FilesystemStorage

    resource = load_resource(resource_doc, source=str(workdir / "restore.yaml"))
    job_id = api.submit(resource, default_job_id(resource))
    console.print(f"submitted job {job_id}")
    status = wait_with_progress(job_id, console, timeout=float(os.environ.get("KAFKA_RESTORE_DEMO_TIMEOUT", "600")))
    spec = resource.spec
    admin = open_admin(spec.kafka_cluster)
    reader = open_reader(spec.kafka_cluster)
    try:
        storage = FilesystemStorage(Path(spec.backup_ref.storage.filesystem.path))
        report = verify_target(spec, storage, spec.backup_ref.backup_id, admin, reader)
        groups = spec.offset_reset.consumer_groups if spec.offset_reset else []
        offsets = {g: {f"{t}[{p}]": c.offset for (t, p), c in sorted(admin.committed(g).items())} for g in groups}
    finally:
        reader.close()
        admin.close()
    return status, report, offsets


def _print_summary(console: Console, status: dict, report, offsets: dict, flower: str, password: str) -> None:
    from restore_jobs.cli.jobs_view import summary_table

    console.print(summary_table(status["jobId"], status))
    table = Table(title="consumer group offsets after the reset")
    table.add_column("group")
    table.add_column("committed offsets")
    for group, parts in offsets.items():
        table.add_row(group, ", ".join(f"{k}={v}" for k, v in parts.items()) or "(none)")
    console.print(table)
    console.print(("[green]" if report.ok else "[red]") + report.summary)
    console.print(f"offset mapping: {status.get('offsetMappingPath')}")
    console.print(f"Flower: {flower}/tasks  (user admin, password {password})")
    sys.stdout.flush()
