"""Writes a backup in OSO kafka-backup's layout: segments per partition, then manifest.json last.

The manifest is the commit point: it is written only after every segment it names, so a reader
never finds a manifest pointing at a missing segment. Memory holds one open segment per
partition that has records not yet flushed (``close_partition`` releases one early).
"""

from __future__ import annotations

import logging
import struct
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from restore_jobs.backup import layout
from restore_jobs.backup.manifest import Manifest, PartitionBackup, SegmentInfo, TopicBackup, dump_manifest
from restore_jobs.backup.records import ORIGINAL_OFFSET_HEADER, ORIGINAL_TIMESTAMP_HEADER, BackupRecord
from restore_jobs.backup.segment import encode_record, pack_segment
from restore_jobs.storage.base import BackupStorage

log = logging.getLogger(__name__)

_I64 = struct.Struct("<q")
DEFAULT_SEGMENT_MAX_BYTES = 128 << 20
DEFAULT_SEGMENT_MAX_RECORDS = 1_000_000


@dataclass
class _OpenSegment:
    body: bytearray = field(default_factory=bytearray)
    count: int = 0
    start_offset: int = -1
    end_offset: int = -1
    start_timestamp: int = 0
    end_timestamp: int = 0


@dataclass
class _Partition:
    segments: list[SegmentInfo] = field(default_factory=list)
    open: _OpenSegment = field(default_factory=_OpenSegment)
    last_offset: int = -1


class BackupWriter:
    def __init__(
        self,
        storage: BackupStorage,
        backup_id: str,
        *,
        compression: str = "zstd",
        segment_max_bytes: int = DEFAULT_SEGMENT_MAX_BYTES,
        segment_max_records: int = DEFAULT_SEGMENT_MAX_RECORDS,
        source_cluster_id: str | None = None,
        source_brokers: Iterable[str] = (),
        include_offset_headers: bool = True,
    ):
        if compression not in layout.COMPRESSIONS:
            raise ValueError(f"compression {compression!r}: expected one of {', '.join(layout.COMPRESSIONS)}")
        if segment_max_bytes < 1 or segment_max_records < 1:
            raise ValueError("segment_max_bytes and segment_max_records must be positive")
        layout.manifest_key(backup_id)  # refuses an unsafe id before anything is written
        self.storage = storage
        self.backup_id = backup_id
        self.compression = compression
        self.segment_max_bytes = segment_max_bytes
        self.segment_max_records = segment_max_records
        self.include_offset_headers = include_offset_headers
        self._manifest = Manifest(
            backup_id=backup_id,
            created_at=int(time.time() * 1000),
            source_cluster_id=source_cluster_id,
            source_brokers=list(source_brokers),
            compression=compression,
        )
        self._partitions: dict[tuple[str, int], _Partition] = {}
        self._finished = False

    def add(self, topic: str, partition: int, record: BackupRecord) -> None:
        """Records of one partition must come in increasing offset order."""
        if self._finished:
            raise RuntimeError(f"backup {self.backup_id}: add() after finish()")
        state = self._partitions.get((topic, partition))
        if state is None:
            layout.segment_key(self.backup_id, topic, partition, 0, self.compression)  # checks the names
            state = self._partitions[(topic, partition)] = _Partition()
        if record.offset <= state.last_offset:
            raise ValueError(
                f"{topic}/{partition}: offset {record.offset} after {state.last_offset}; "
                "records must come in offset order"
            )
        encoded = encode_record(self._with_offset_headers(record))
        seg = state.open
        if seg.count and (
            len(seg.body) + len(encoded) > self.segment_max_bytes or seg.count >= self.segment_max_records
        ):
            self._flush(topic, partition, state)
            seg = state.open
        if not seg.count:
            seg.start_offset, seg.start_timestamp = record.offset, record.timestamp
        seg.body += encoded
        seg.count += 1
        seg.end_offset, seg.end_timestamp = record.offset, record.timestamp
        state.last_offset = record.offset

    def close_partition(self, topic: str, partition: int) -> None:
        """Writes the partition's open segment now, freeing its memory; more records may still follow."""
        state = self._partitions.get((topic, partition))
        if state is not None and state.open.count:
            self._flush(topic, partition, state)

    def finish(self, original_partition_counts: dict[str, int] | None = None) -> Manifest:
        """Writes every open segment, then manifest.json; topics named only in
        ``original_partition_counts`` (no records) still appear, so a restore can create them."""
        counts = original_partition_counts or {}
        topics: dict[str, TopicBackup] = {name: TopicBackup(name, [], counts[name]) for name in counts}
        for (topic, partition), state in sorted(self._partitions.items()):
            self.close_partition(topic, partition)
            entry = topics.setdefault(topic, TopicBackup(topic, [], counts.get(topic)))
            entry.partitions.append(PartitionBackup(partition, state.segments))
        self._manifest.topics = [topics[name] for name in sorted(topics)]
        self.storage.write(layout.manifest_key(self.backup_id), dump_manifest(self._manifest))
        self._finished = True
        log.info(
            "backup written backup_id=%s topics=%d segments=%d records=%d",
            self.backup_id,
            len(self._manifest.topics),
            self._manifest.segment_count,
            self._manifest.record_count,
        )
        return self._manifest

    def _flush(self, topic: str, partition: int, state: _Partition) -> None:
        seg = state.open
        key = layout.segment_key(self.backup_id, topic, partition, seg.start_offset, self.compression)
        data = pack_segment(seg.body, seg.count, seg.start_offset, seg.end_offset, self.compression)
        self.storage.write(key, data)
        state.segments.append(
            SegmentInfo(
                key=key,
                start_offset=seg.start_offset,
                end_offset=seg.end_offset,
                start_timestamp=seg.start_timestamp,
                end_timestamp=seg.end_timestamp,
                record_count=seg.count,
                uncompressed_size=len(seg.body),
                compressed_size=len(data),
            )
        )
        log.debug("segment written key=%s records=%d bytes=%d", key, seg.count, len(data))
        state.open = _OpenSegment()

    def _with_offset_headers(self, record: BackupRecord) -> BackupRecord:
        if not self.include_offset_headers:
            return record
        present = {name for name, _ in record.headers}
        extra = [
            (name, _I64.pack(value))
            for name, value in (
                (ORIGINAL_OFFSET_HEADER, record.offset),
                (ORIGINAL_TIMESTAMP_HEADER, record.timestamp),
            )
            if name not in present
        ]
        if not extra:
            return record
        return BackupRecord(record.offset, record.timestamp, record.key, record.value, [*record.headers, *extra])
