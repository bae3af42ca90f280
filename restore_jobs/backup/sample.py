"""Deterministic sample backups in OSO's format, for the demo, the tests and the benchmarks.

The records exercise what a restore must preserve: keyed and null-keyed records, null values,
binary, empty and null headers, timestamps out of order inside a segment, and offset gaps (as a
compacted topic leaves). The same parameters always produce the same bytes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from restore_jobs.backup.consumer_groups import GroupSnapshot, dump_group_snapshot
from restore_jobs.backup.layout import consumer_groups_key
from restore_jobs.backup.manifest import Manifest
from restore_jobs.backup.records import BackupRecord
from restore_jobs.backup.writer import BackupWriter
from restore_jobs.storage.base import BackupStorage


@dataclass
class SampleBackup:
    topics: dict[str, int]  # topic -> partitions
    records_per_partition: int = 100
    value_size: int = 64
    key_cardinality: int = 50  # distinct keys per partition; every 10th record has a null key
    headers: bool = True
    base_timestamp: int = 1_767_225_600_000  # 2026-01-01T00:00:00Z
    step_ms: int = 1000
    offset_stride: int = 1  # >1 leaves gaps between offsets, as compaction does
    # Null header values and records with neither key nor value: valid Kafka, but kafka-python
    # cannot produce them, so a backup meant for that client leaves them out.
    nulls: bool = True
    compression: str = "zstd"
    segment_max_records: int = 40
    # group -> (topic, partition) -> committed source offset
    groups: dict[str, dict[tuple[str, int], int]] = field(default_factory=dict)

    def timestamp(self, i: int) -> int:
        """Mostly increasing, but every 7th record is stamped three steps earlier (producer clocks
        and retries do that), so timestamps inside a segment are out of order."""
        ts = self.base_timestamp + i * self.step_ms
        return ts - 3 * self.step_ms if i % 7 == 6 else ts

    def record(self, topic: str, partition: int, i: int) -> BackupRecord:
        key = None if i % 10 == 9 else f"key-{topic}-{partition}-{i % self.key_cardinality}".encode()
        if i % 13 == 12 and (self.nulls or key is not None):
            value = None
        else:
            prefix = f"{topic}/{partition}/{i}:".encode()
            value = (prefix + b"x" * max(self.value_size - len(prefix), 0))[: max(self.value_size, len(prefix))]
        headers: list[tuple[str, bytes | None]] = []
        if self.headers:
            headers = [("sample-seq", i.to_bytes(4, "big")), ("empty", b""), ("binary", bytes([0, 255, i % 256]))]
            if i % 5 == 0 and self.nulls:
                headers.append(("null-value", None))
        return BackupRecord(i * self.offset_stride, self.timestamp(i), key, value, headers)

    def records(self, topic: str, partition: int) -> Iterator[BackupRecord]:
        for i in range(self.records_per_partition):
            yield self.record(topic, partition, i)


def write_sample_backup(storage: BackupStorage, backup_id: str, sample: SampleBackup) -> Manifest:
    writer = BackupWriter(
        storage,
        backup_id,
        compression=sample.compression,
        segment_max_records=sample.segment_max_records,
        source_cluster_id="sample-source-cluster",
        source_brokers=["source-kafka:9092"],
    )
    for topic, partitions in sorted(sample.topics.items()):
        for partition in range(partitions):
            for rec in sample.records(topic, partition):
                writer.add(topic, partition, rec)
            writer.close_partition(topic, partition)
    if sample.groups:
        snapshot = GroupSnapshot(int(time.time() * 1000), sample.groups)
        storage.write(consumer_groups_key(backup_id), dump_group_snapshot(snapshot))
    return writer.finish(dict(sample.topics))
