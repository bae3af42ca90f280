"""``kafka-restore status JOB``, ``list``, ``cancel JOB`` and ``rollback JOB``."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from restore_jobs.cli.common import EXIT_FAILED, CliError, print_json
from restore_jobs.jobs import api, state


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help="show a job's status")
    p.add_argument("job_id")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=show)

    p = sub.add_parser("list", help="list recent jobs")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=list_jobs)

    p = sub.add_parser("cancel", help="cancel a job: running units stop at their next batch")
    p.add_argument("job_id")
    p.set_defaults(func=cancel)

    p = sub.add_parser("rollback", help="undo a job: re-commit the snapshot's group offsets, "
                       "delete the topics it created")
    p.add_argument("job_id")
    p.add_argument("--wait", action="store_true", help="wait for the rollback to finish")
    p.set_defaults(func=rollback)


def _status(job_id: str) -> dict:
    status = api.get_status(job_id)
    if status is None:
        raise CliError(f"job {job_id}: not found", EXIT_FAILED)
    return status


def show(args: argparse.Namespace) -> int:
    from restore_jobs.cli.jobs_view import exit_code, summary_table

    status = _status(args.job_id)
    if args.json:
        print_json(status)
    else:
        Console().print(summary_table(args.job_id, status))
    return exit_code(status)


def list_jobs(args: argparse.Namespace) -> int:
    rows = [s for s in (api.get_status(j) for j in state.list_jobs(args.limit)) if s]
    if args.json:
        print_json(rows)
        return 0
    table = Table()
    for column in ("job", "phase", "progress", "records", "started", "message"):
        table.add_column(column)
    for s in rows:
        table.add_row(
            s["jobId"], s["phase"], f"{s.get('progressPercent', 0)}%", str(s["recordsRestored"]),
            s.get("startTime", ""), s.get("message", ""),
        )
    Console().print(table)
    return 0


def cancel(args: argparse.Namespace) -> int:
    status = _status(args.job_id)
    if not api.cancel(args.job_id):
        raise CliError(f"job {args.job_id} is already {status['phase']}", EXIT_FAILED)
    print(f"job {args.job_id}: cancelled")
    return 0


def rollback(args: argparse.Namespace) -> int:
    from restore_jobs.jobs import tasks

    _status(args.job_id)
    result = tasks.rollback.apply_async((args.job_id,), queue="control")
    if not args.wait:
        print(f"job {args.job_id}: rollback sent")
        return 0
    outcome = result.get(timeout=600, propagate=False)
    status = _status(args.job_id)
    print(f"job {args.job_id}: {status['phase']}: {status.get('message')}")
    return 0 if isinstance(outcome, dict) and outcome.get("phase") == "RolledBack" else EXIT_FAILED
