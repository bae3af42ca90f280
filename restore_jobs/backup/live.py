"""Backs up live topics (and consumer-group offsets) from a cluster into OSO's backup layout.

Each partition is read from offset 0 until no record arrives for ``idle_timeout_s`` (end offsets
are not trusted: some brokers report them wrong) and its last segment is flushed before the next
partition starts, so memory holds one segment at a time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Literal

from restore_jobs.backup import layout
from restore_jobs.backup.consumer_groups import GroupOffsets, GroupSnapshot, dump_group_snapshot
from restore_jobs.backup.manifest import Manifest
from restore_jobs.backup.records import BackupRecord
from restore_jobs.backup.writer import DEFAULT_SEGMENT_MAX_BYTES, BackupWriter
from restore_jobs.kafka.client import KafkaAdmin, PartitionReader
from restore_jobs.storage.base import BackupStorage

log = logging.getLogger(__name__)


class BackupError(Exception):
    """The backup cannot start (unknown topics) or its input is unusable."""


def backup_topics(
    reader: PartitionReader,
    admin: KafkaAdmin,
    storage: BackupStorage,
    backup_id: str,
    topics: list[str] | None,
    groups: list[str] | Literal["all"] | None,
    *,
    compression: str = "zstd",
    segment_max_bytes: int = DEFAULT_SEGMENT_MAX_BYTES,
    source_brokers: Iterable[str] = (),
    idle_timeout_s: float = 5.0,
) -> Manifest:
    """``topics`` None = every topic but internal ones; ``groups`` None = no offset snapshot."""
    existing = admin.topics()
    selected = sorted(topics) if topics else sorted(t for t in existing if not t.startswith("__"))
    missing = [t for t in selected if t not in existing]
    if missing:
        raise BackupError(f"topics not found in the source cluster: {', '.join(missing)}")
    writer = BackupWriter(
        storage,
        backup_id,
        compression=compression,
        segment_max_bytes=segment_max_bytes,
        source_cluster_id=admin.cluster_id(),
        source_brokers=source_brokers,
    )
    for topic in selected:
        for partition in range(existing[topic]):
            count = 0
            for rec in reader.read(topic, partition, 0, read_committed=True, idle_timeout_s=idle_timeout_s):
                writer.add(
                    topic,
                    partition,
                    BackupRecord(rec.offset, rec.timestamp, rec.key, rec.value, list(rec.headers)),
                )
                count += 1
            writer.close_partition(topic, partition)
            log.info(
                "partition backed up backup_id=%s topic=%s partition=%d records=%d",
                backup_id,
                topic,
                partition,
                count,
            )
    if groups is not None:
        snapshot = snapshot_groups(admin, set(selected), groups)
        storage.write(layout.consumer_groups_key(backup_id), dump_group_snapshot(snapshot))
    return writer.finish({t: existing[t] for t in selected})


def snapshot_groups(admin: KafkaAdmin, topics: set[str], groups: list[str] | Literal["all"]) -> GroupSnapshot:
    """Committed offsets of ``groups`` on ``topics``. With "all", as OSO does, only groups that
    have an offset on one of the topics are kept; named groups are always kept."""
    named = groups != "all"
    snapshot = GroupSnapshot(snapshot_time=int(time.time() * 1000))
    for group in groups if named else admin.groups():
        offsets: GroupOffsets = {
            tp: committed.offset
            for tp, committed in admin.committed(group).items()
            if tp[0] in topics and committed.offset >= 0
        }
        if offsets or named:
            snapshot.groups[group] = offsets
    return snapshot
