"""A unit's checkpoint, committed inside the same Kafka transaction as the records it covers.

The checkpoint is a consumer-group offset (``send_offsets_to_transaction``) in a group private to
the unit: the offset is the next source offset to process and the offset metadata carries the
unit's counters. Kafka makes the records and the checkpoint visible together or not at all, so a
unit killed at any point resumes exactly where its last committed transaction ended.

The offset is stored under a target topic-partition the unit writes to, because Kafka only accepts
commits for partitions that exist in the target cluster.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from restore_jobs.kafka.client import Committed, TopicPartition

CHECKPOINT_VERSION = 1


@dataclass
class UnitCounters:
    records_written: int = 0
    bytes_written: int = 0
    segments_processed: int = 0
    records_skipped: int = 0  # outside the point-in-time window
    batches: int = 0  # committed transactions; also the next offset-mapping chunk number
    next_offset: int = 0  # next source offset to consider
    round_robin: int = 0  # position of the round-robin placement, for an exact resume
    done: bool = False

    def to_committed(self) -> Committed:
        meta = asdict(self)
        del meta["next_offset"]
        meta["v"] = CHECKPOINT_VERSION
        return Committed(self.next_offset, json.dumps(meta, separators=(",", ":")))

    @classmethod
    def from_committed(cls, committed: Committed) -> UnitCounters:
        try:
            meta = json.loads(committed.metadata or "{}")
        except ValueError:
            meta = {}
        if meta.pop("v", None) != CHECKPOINT_VERSION:
            # Not ours (or from an incompatible version): start over rather than guess.
            return cls()
        known = {k: v for k, v in meta.items() if k in cls.__dataclass_fields__}
        return cls(next_offset=committed.offset, **known)


def checkpoint_group(job_id: str, source_topic: str, source_partition: int) -> str:
    return f"kafka-restore.{job_id}.{source_topic}.{source_partition}"


def checkpoint_partition(target_topic: str, target_partition: int | None) -> TopicPartition:
    return (target_topic, target_partition if target_partition is not None else 0)


def transactional_id(job_id: str, source_topic: str, source_partition: int) -> str:
    """Stable across retries and workers, so a re-run unit fences any zombie still producing."""
    return f"kafka-restore.{job_id}.{source_topic}.{source_partition}"
