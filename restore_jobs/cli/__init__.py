"""``kafka-restore``: one module per command, each exposing ``register(subparsers)``.

Exit codes: 0 success, 1 the job or the validation failed, 2 usage error or unreadable input.
Errors go to stderr, one clear line first.
"""

from __future__ import annotations

import argparse
import importlib
import sys

import kombu.exceptions
import redis

from restore_jobs.cli.common import EXIT_FAILED, CliError

COMMANDS = (
    "validate",
    "crd",
    "inspect",
    "backup",
    "submit",
    "status",
    "demo",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kafka-restore", description="Restore Kafka topics from OSO kafka-backup backups."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"restore_jobs.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CliError as exc:
        print(f"kafka-restore: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except (redis.ConnectionError, kombu.exceptions.OperationalError) as exc:
        print(f"kafka-restore: error: cannot reach Redis ({exc}); check KAFKA_RESTORE_BROKER_URL", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("kafka-restore: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
