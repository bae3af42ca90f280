"""A unit's checkpoint: one committed offset, written inside the same Kafka transaction as the
records it covers (``send_offsets_to_transaction``).

The offset is the next source offset to process, committed for a consumer group private to the
unit. Kafka makes the records and the checkpoint visible together or not at all, so a unit killed
at any point resumes exactly where its last committed transaction ended. The position is the only
state Kafka must hold: the unit's counters follow from it (see ``unit.replay``), and the job store
keeps a copy keyed by position so a resume rarely needs to recompute them. Offset metadata is not
used: not every broker keeps it.

The offset is stored under a target topic-partition the unit writes to, because Kafka only accepts
commits for partitions that exist in the target cluster.
"""

from __future__ import annotations

from dataclasses import dataclass

from restore_jobs.kafka.client import TopicPartition


@dataclass
class UnitCounters:
    next_offset: int = 0  # next source offset to consider: the committed checkpoint
    records_written: int = 0
    bytes_written: int = 0
    segments_processed: int = 0
    records_skipped: int = 0  # outside the point-in-time window
    round_robin: int = 0  # position of the round-robin placement, for an exact resume
    batches: int = 0  # transactions committed by this run
    done: bool = False


def checkpoint_group(job_id: str, source_topic: str, source_partition: int) -> str:
    return f"kafka-restore.{job_id}.{source_topic}.{source_partition}"


def checkpoint_partition(target_topic: str, target_partition: int | None) -> TopicPartition:
    return (target_topic, target_partition if target_partition is not None else 0)


def transactional_id(job_id: str, source_topic: str, source_partition: int) -> str:
    """Stable across retries and workers, so a re-run unit fences any zombie still producing."""
    return f"kafka-restore.{job_id}.{source_topic}.{source_partition}"
