"""``kafka-restore crd``: print or write the KafkaRestore CustomResourceDefinition."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from restore_jobs.cli.common import EXIT_OK, CliError
from restore_jobs.spec import crd_manifest, crd_yaml


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "crd",
        help="print the KafkaRestore CustomResourceDefinition",
        description="Print the CRD generated from the spec schemas (YAML), or write it to a file.",
    )
    parser.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")
    parser.add_argument("--json", action="store_true", help="JSON instead of YAML")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    text = json.dumps(crd_manifest(), indent=2) + "\n" if args.json else crd_yaml()
    if not args.output:
        sys.stdout.write(text)
        return EXIT_OK
    try:
        Path(args.output).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot write {args.output}: {exc}") from None
    return EXIT_OK
