"""Benchmark backups in OSO's format, and the same records in memory for the bare producers.

``BenchBackup`` is ``SampleBackup`` (deterministic, written by ``write_sample_backup`` through
``BackupWriter``) with benchmark-shaped records: fixed-size keys, values of text-like bytes that
compress about as JSON does, and two small headers (the writer adds x-original-offset and
x-original-timestamp, as OSO backups carry them). N records are spread evenly over P partitions.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from bench.decode_bench import text_pool
from restore_jobs.backup.manifest import Manifest, load_manifest
from restore_jobs.backup.records import ORIGINAL_OFFSET_HEADER, ORIGINAL_TIMESTAMP_HEADER, BackupRecord, Header
from restore_jobs.backup.sample import SampleBackup, write_sample_backup
from restore_jobs.backup.segment import read_segment
from restore_jobs.storage.filesystem import FilesystemStorage

BACKUP_ID = "bench"
SOURCE_TOPIC = "bench-source"

# partition, key, value, headers, timestamp: what a producer's send takes.
Row = tuple[int, bytes | None, bytes | None, list[Header], int]


@functools.cache
def _pool() -> bytes:
    return text_pool()


@dataclass
class BenchBackup(SampleBackup):
    """Keys are 16 bytes, ``key_cardinality`` distinct per partition."""

    def record(self, topic: str, partition: int, i: int) -> BackupRecord:
        pool = _pool()
        start = (i * 7919 + partition * 104_729) % (len(pool) - self.value_size)
        key = f"p{partition:03d}-{i % self.key_cardinality:011d}".encode()
        headers: list[Header] = [("content-type", b"application/json"), ("trace-id", i.to_bytes(8, "big"))]
        return BackupRecord(i, self.timestamp(i), key, pool[start : start + self.value_size], headers)


@dataclass(frozen=True)
class Dataset:
    root: Path
    records: int
    partitions: int
    value_size: int
    manifest: Manifest

    @property
    def storage(self) -> FilesystemStorage:
        return FilesystemStorage(self.root)

    @property
    def file_bytes(self) -> int:
        return sum(s.compressed_size for t in self.manifest.topics for p in t.partitions for s in p.segments)

    def rows(self) -> list[Row]:
        """Every record of the backup, decoded from its segments: exactly what a restore writes."""
        return _rows(self.root, self.manifest)


def records_for(size_bytes: int, value_size: int) -> int:
    """How many bench records hold ``size_bytes`` of payload (the writer's two 8-byte offset headers included)."""
    record = BenchBackup({SOURCE_TOPIC: 1}, value_size=value_size).record(SOURCE_TOPIC, 0, 0)
    per_record = record.size + len(ORIGINAL_OFFSET_HEADER) + len(ORIGINAL_TIMESTAMP_HEADER) + 16
    return max(size_bytes // per_record, 1)


def payload_bytes(rows: list[Row]) -> int:
    """Key + value + header keys and values of every record: what bytesRestored counts."""
    return sum(len(r[1] or b"") + len(r[2] or b"") + sum(len(k) + len(v or b"") for k, v in r[3]) for r in rows)


def _rows(root: Path, manifest: Manifest) -> list[Row]:
    storage = FilesystemStorage(root)
    rows: list[Row] = []
    for topic in manifest.topics:
        for part in topic.partitions:
            for seg in part.segments:
                with storage.open(seg.key) as stream:
                    rows += [(part.partition_id, r.key, r.value, r.headers, r.timestamp)
                             for r in read_segment(stream, seg.key)]
    return rows


def make_backup(
    root: Path, records: int, partitions: int, value_size: int = 1024, segment_records: int = 50_000
) -> Dataset:
    """Writes (or reuses, when the manifest is already there) a zstd backup of ``records`` records
    spread over ``partitions`` partitions of ``SOURCE_TOPIC``."""
    storage = FilesystemStorage(root)
    if not (root / BACKUP_ID / "manifest.json").exists():
        sample = BenchBackup(
            topics={SOURCE_TOPIC: partitions},
            records_per_partition=-(-records // partitions),
            value_size=value_size,
            key_cardinality=100_000,
            segment_max_records=segment_records,
        )
        write_sample_backup(storage, BACKUP_ID, sample)
    manifest = load_manifest(storage, BACKUP_ID)
    return Dataset(root, manifest.record_count, partitions, value_size, manifest)
