"""``kafka-restore backup``: writes live topics into a new backup in OSO kafka-backup's format."""

from __future__ import annotations

import argparse
from contextlib import closing

from rich.console import Console

from restore_jobs.backup import layout
from restore_jobs.backup.live import BackupError, backup_topics
from restore_jobs.backup.writer import DEFAULT_SEGMENT_MAX_BYTES
from restore_jobs.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CliError, print_json
from restore_jobs.cli.inspect import add_storage_arguments, manifest_summary, render_manifest, storage_from_args
from restore_jobs.kafka.client import KafkaError
from restore_jobs.spec.model import KafkaCluster
from restore_jobs.storage.base import InvalidKeyError, StorageError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("backup", help="back up live topics into a new backup (OSO kafka-backup format)")
    p.add_argument("--bootstrap-servers", required=True, help="HOST:PORT[,HOST:PORT...] of the source cluster")
    add_storage_arguments(p)
    p.add_argument("--backup-id", required=True, help="id of the new backup; must not exist yet")
    p.add_argument(
        "--topic", action="append", dest="topics", metavar="T", help="topic to back up (repeatable; default all)"
    )
    groups = p.add_mutually_exclusive_group()
    groups.add_argument("--groups", nargs="+", metavar="G", help="consumer groups whose offsets to snapshot")
    groups.add_argument("--all-groups", action="store_true", help="snapshot every group with offsets on the topics")
    p.add_argument("--compression", choices=layout.COMPRESSIONS, default="zstd")
    p.add_argument("--segment-max-bytes", type=int, default=DEFAULT_SEGMENT_MAX_BYTES, metavar="N")
    p.add_argument("--client", choices=("confluent", "kafka-python"), help="Kafka client library (default: factory's)")
    p.add_argument("--idle-timeout", type=float, default=5.0, metavar="S", help="a partition ends after S idle seconds")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from restore_jobs.kafka.factory import open_admin, open_reader

    if args.segment_max_bytes < 1:
        raise CliError("--segment-max-bytes: must be positive", EXIT_USAGE)
    storage = storage_from_args(args)
    try:
        manifest_key = layout.manifest_key(args.backup_id)
        if storage.exists(manifest_key):
            raise CliError(f"backup {args.backup_id} already exists at {storage.describe(manifest_key)}", EXIT_USAGE)
    except (InvalidKeyError, StorageError) as exc:
        raise CliError(f"--backup-id: {exc}", EXIT_USAGE) from None
    brokers = [b.strip() for b in args.bootstrap_servers.split(",") if b.strip()]
    cluster = KafkaCluster(bootstrap_servers=brokers)
    groups = "all" if args.all_groups else args.groups
    try:
        with (
            closing(open_admin(cluster, client=args.client)) as admin,
            closing(open_reader(cluster, client=args.client)) as reader,
        ):
            manifest = backup_topics(
                reader,
                admin,
                storage,
                args.backup_id,
                args.topics,
                groups,
                compression=args.compression,
                segment_max_bytes=args.segment_max_bytes,
                source_brokers=brokers,
                idle_timeout_s=args.idle_timeout,
            )
    except BackupError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    except (KafkaError, StorageError) as exc:
        raise CliError(f"backup {args.backup_id} failed: {exc}", EXIT_FAILED) from None
    if args.json:
        print_json(manifest_summary(manifest))
    else:
        render_manifest(manifest, Console())
    return EXIT_OK
