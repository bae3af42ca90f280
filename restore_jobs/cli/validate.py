"""``kafka-restore validate FILE...``: check KafkaRestore YAML and print it normalized, defaults filled."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from restore_jobs.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, print_json
from restore_jobs.spec import (
    SpecFileError,
    SpecValidationError,
    dump_resource,
    dump_yaml,
    load_resource,
    read_yaml_documents,
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="validate KafkaRestore resources and print them normalized",
        description="Validate KafkaRestore YAML (multi-document allowed) and print each resource with its "
        "defaults filled in; every error goes to stderr with its file, document and field path.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="YAML file; '-' reads stdin")
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of YAML")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    valid: list[dict[str, Any]] = []
    unreadable = invalid = False
    for path in args.files:
        name = "<stdin>" if path == "-" else path
        try:
            documents = read_yaml_documents(path)
        except SpecFileError as exc:
            print(exc, file=sys.stderr)
            unreadable = True
            continue
        if not documents:
            print(f"{name}: no YAML document", file=sys.stderr)
            invalid = True
        for index, document in enumerate(documents, start=1):
            try:
                valid.append(dump_resource(load_resource(document, source=f"{name} document {index}")))
            except SpecValidationError as exc:
                print(exc, file=sys.stderr)
                invalid = True
    if args.json:
        print_json(valid)
    elif valid:
        sys.stdout.write("---\n".join(dump_yaml(resource) for resource in valid))
    return EXIT_USAGE if unreadable else EXIT_FAILED if invalid else EXIT_OK
