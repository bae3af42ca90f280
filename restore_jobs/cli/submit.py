"""``kafka-restore submit FILE [--wait]``: run a KafkaRestore without Kubernetes."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console

from restore_jobs.cli.common import EXIT_FAILED, CliError, print_json
from restore_jobs.jobs import api
from restore_jobs.jobs.submission import default_job_id
from restore_jobs.spec import SpecFileError, SpecValidationError, load_resource, read_yaml_documents
from restore_jobs.spec.model import TERMINAL_PHASES


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("submit", help="submit a KafkaRestore as a job (no Kubernetes needed)")
    p.add_argument("file", help="KafkaRestore YAML ('-' for stdin); one resource")
    p.add_argument("--job-id", help="job id to use; default: derived from name and spec, so "
                   "submitting the same file twice attaches to the same job")
    p.add_argument("--wait", action="store_true", help="follow the job with a progress bar until it ends")
    p.add_argument("--timeout", type=float, help="with --wait: give up waiting after this many seconds")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        documents = [d for d in read_yaml_documents(args.file) if d is not None]
    except SpecFileError as exc:
        raise CliError(str(exc)) from exc
    if len(documents) != 1:
        raise CliError(f"{args.file}: expected one KafkaRestore, found {len(documents)} documents")
    try:
        resource = load_resource(documents[0], source=args.file)
    except SpecValidationError as exc:
        raise CliError(str(exc), EXIT_FAILED) from exc
    job_id = args.job_id or default_job_id(resource)
    api.submit(resource, job_id)
    if not args.wait:
        if args.json:
            print_json({"jobId": job_id})
        else:
            print(job_id)
        return 0
    from restore_jobs.cli.jobs_view import exit_code, summary_table, wait_for_job, wait_with_progress

    if args.json:
        status = wait_for_job(job_id, timeout=args.timeout)
        print_json(status)
    else:
        console = Console()
        status = wait_with_progress(job_id, console, timeout=args.timeout)
        console.print(summary_table(job_id, status))
    if status.get("phase") not in TERMINAL_PHASES:
        print(f"kafka-restore: job {job_id} still {status.get('phase')} after --timeout {args.timeout:g}s; "
              f"follow it with: kafka-restore status {job_id}", file=sys.stderr)
        return EXIT_FAILED
    code = exit_code(status)
    if code:
        print(f"kafka-restore: job {job_id} ended {status.get('phase')}: {status.get('message')}", file=sys.stderr)
    return code
