"""``kafka-restore inspect``: what a backup holds, per topic and partition; ``--verify`` reads it all."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from restore_jobs.backup.consumer_groups import load_group_snapshot
from restore_jobs.backup.manifest import Manifest, ManifestError, PartitionBackup, SegmentInfo, load_manifest
from restore_jobs.backup.segment import SegmentError, read_segment
from restore_jobs.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CliError, print_json
from restore_jobs.storage.base import BackupStorage, StorageError
from restore_jobs.storage.factory import open_storage_url


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("inspect", help="show what a backup holds; --verify reads every segment")
    add_storage_arguments(p)
    p.add_argument("--backup-id", required=True, help="the backup's id (its top-level directory)")
    p.add_argument("--verify", action="store_true", help="read every segment: CRCs, record counts, offsets")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def add_storage_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--storage", required=True, help="file:///abs/path, a directory, or s3://bucket/prefix")
    p.add_argument("--s3-endpoint", help="S3-compatible endpoint URL (MinIO, moto, ...)")
    p.add_argument("--s3-region", help="S3 region (default: boto3's configuration)")


def storage_from_args(args: argparse.Namespace) -> BackupStorage:
    try:
        return open_storage_url(args.storage, s3_endpoint=args.s3_endpoint, s3_region=args.s3_region)
    except StorageError as exc:
        raise CliError(f"--storage: {exc}", EXIT_USAGE) from None


def run(args: argparse.Namespace) -> int:
    storage = storage_from_args(args)
    try:
        manifest = load_manifest(storage, args.backup_id)
        snapshot = load_group_snapshot(storage, args.backup_id)
    except (ManifestError, StorageError) as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    failures = verify_backup(storage, manifest) if args.verify else None
    if args.json:
        out = manifest_summary(manifest)
        out["consumer_groups"] = sorted(snapshot.groups) if snapshot else None
        if failures is not None:
            out["verify"] = {"ok": not failures, "segments": manifest.segment_count, "failures": failures}
        print_json(out)
    else:
        console = Console()
        render_manifest(manifest, console)
        if snapshot is not None:
            console.print(f"consumer-group snapshot: {len(snapshot.groups)} groups at {iso(snapshot.snapshot_time)}")
        if failures:
            table = Table("segment", "problem", title="verify failures", title_justify="left")
            for failure in failures:
                table.add_row(failure["key"], failure["error"])
            console.print(table)
        elif failures is not None:
            console.print(f"verify: ok, {manifest.segment_count} segments, {manifest.record_count} records")
    if failures:
        if args.json:
            return EXIT_FAILED
        keys = ", ".join(f["key"] for f in failures)
        raise CliError(f"verify failed for {len(failures)} of {manifest.segment_count} segments: {keys}", EXIT_FAILED)
    return EXIT_OK


def verify_backup(storage: BackupStorage, manifest: Manifest) -> list[dict[str, str]]:
    """Reads every segment; one entry (key, error) per segment that fails its CRC or the manifest."""
    failures = []
    for topic in manifest.topics:
        for part in topic.partitions:
            for seg in part.segments:
                problem = _verify_segment(storage, seg)
                if problem:
                    failures.append({"key": seg.key, "error": problem})
    return failures


def _verify_segment(storage: BackupStorage, seg: SegmentInfo) -> str | None:
    count, first, last, previous = 0, None, None, None
    try:
        with storage.open(seg.key) as stream:
            for rec in read_segment(stream, seg.key):
                if previous is not None and rec.offset <= previous:
                    return f"offset {rec.offset} follows {previous}: not increasing"
                first = rec.offset if first is None else first
                last = previous = rec.offset
                count += 1
    except (SegmentError, StorageError) as exc:
        return str(exc)
    if count != seg.record_count:
        return f"holds {count} records, the manifest says {seg.record_count}"
    if count and (first, last) != (seg.start_offset, seg.end_offset):
        return f"holds offsets {first}..{last}, the manifest says {seg.start_offset}..{seg.end_offset}"
    return None


def manifest_summary(manifest: Manifest) -> dict[str, Any]:
    return {
        "backup_id": manifest.backup_id,
        "created_at": iso(manifest.created_at),
        "created_at_ms": manifest.created_at,
        "source_cluster_id": manifest.source_cluster_id,
        "source_brokers": manifest.source_brokers,
        "compression": manifest.compression,
        "records": manifest.record_count,
        "segments": manifest.segment_count,
        "topics": [
            {
                "name": t.name,
                "partition_count": t.partition_count(),
                "partitions": [_partition_summary(p) for p in sorted(t.partitions, key=lambda p: p.partition_id)],
            }
            for t in manifest.topics
        ],
    }


def _partition_summary(part: PartitionBackup) -> dict[str, Any]:
    segs = part.segments
    return {
        "partition": part.partition_id,
        "start_offset": segs[0].start_offset if segs else None,
        "end_offset": segs[-1].end_offset if segs else None,
        "start_time": iso(min(s.start_timestamp for s in segs)) if segs else None,
        "end_time": iso(max(s.end_timestamp for s in segs)) if segs else None,
        "records": part.record_count,
        "segments": len(segs),
        "uncompressed_bytes": sum(s.uncompressed_size for s in segs),
        "compressed_bytes": sum(s.compressed_size for s in segs),
        "gaps": [{"start_offset": g.start_offset, "end_offset": g.end_offset, "reason": g.reason} for g in part.gaps],
    }


def render_manifest(manifest: Manifest, console: Console) -> None:
    console.print(
        f"backup [bold]{manifest.backup_id}[/bold] created {iso(manifest.created_at)}, "
        f"source cluster {manifest.source_cluster_id or '-'}, compression {manifest.compression or '-'}"
    )
    table = Table(
        "topic", "partition", "offsets", "time range (UTC)", "records", "segments", "size", "gaps", show_lines=False
    )
    for topic in manifest.topics:
        if not topic.partitions:
            table.add_row(topic.name, f"({topic.partition_count()} empty)", "-", "-", "0", "0", "-", "-")
        for part in sorted(topic.partitions, key=lambda p: p.partition_id):
            s = _partition_summary(part)
            offsets = f"{s['start_offset']}..{s['end_offset']}" if s["segments"] else "-"
            times = f"{s['start_time']} .. {s['end_time']}" if s["segments"] else "-"
            size = f"{_human(s['uncompressed_bytes'])} -> {_human(s['compressed_bytes'])}"
            gaps = ", ".join(f"{g['start_offset']}..{g['end_offset']} {g['reason']}".strip() for g in s["gaps"])
            table.add_row(
                topic.name,
                str(part.partition_id),
                offsets,
                times,
                str(s["records"]),
                str(s["segments"]),
                size,
                gaps or "-",
            )
    console.print(table)
    console.print(f"{len(manifest.topics)} topics, {manifest.segment_count} segments, {manifest.record_count} records")


def iso(ms: int) -> str | None:
    """Epoch ms as ISO 8601 UTC; None for Kafka's "no timestamp" (negative)."""
    if ms < 0:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _human(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    size = n / 1024
    for unit in ("KiB", "MiB"):
        if size < 1024:
            return f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"
