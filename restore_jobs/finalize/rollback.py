"""Undo what a restore job changed, as far as Kafka allows, from its rollback snapshot.

Undone: every snapshotted group's commits are re-committed; a group that had no commits before
the job is deleted (its commits were all made by or after the job); the topics this job created
(only those the snapshot lists) are deleted.
Not undoable, and reported so: records appended to topics that existed before the job (Kafka can
only delete records from the start of a partition, never a tail), and commits a group made on a
partition where it had none before, when the group had other commits (Kafka's admin API here has no
per-partition offset delete).

Idempotent: topics already gone are skipped, re-committing the same offsets changes nothing, and a
group with no commits left needs no delete.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from restore_jobs.finalize.snapshot import RollbackSnapshot
from restore_jobs.kafka.client import Committed, KafkaAdmin, KafkaError, TopicPartition

log = logging.getLogger(__name__)


@dataclass
class RollbackOutcome:
    snapshot_id: str
    groups_restored: list[str] = field(default_factory=list)
    groups_deleted: list[str] = field(default_factory=list)
    topics_deleted: list[str] = field(default_factory=list)
    not_undone: list[str] = field(default_factory=list)  # what Kafka cannot undo: informational
    errors: list[str] = field(default_factory=list)  # what should have been undone and failed

    @property
    def complete(self) -> bool:
        return not self.errors

    @property
    def summary(self) -> str:
        """One line for the job's status message: what was undone, what failed, what cannot be."""
        parts = [
            f"rollback to snapshot {self.snapshot_id}: "
            f"re-committed offsets of {len(self.groups_restored)} groups, "
            f"deleted {len(self.groups_deleted)} groups and {len(self.topics_deleted)} created topics"
        ]
        parts += self.errors
        parts += self.not_undone
        return "; ".join(parts)


def rollback(admin: KafkaAdmin, snapshot: RollbackSnapshot) -> RollbackOutcome:
    outcome = RollbackOutcome(snapshot.snapshot_id)
    created = set(snapshot.topics_created)
    existing = admin.topics()
    for group_id, before in snapshot.group_offsets.items():
        if before:
            _restore_group(admin, group_id, before, snapshot, existing, created, outcome)
        else:
            _delete_group_if_committed(admin, group_id, outcome)
    doomed = [t for t in snapshot.topics_created if t in existing]
    if doomed:
        try:
            admin.delete_topics(doomed)
            outcome.topics_deleted.extend(doomed)
        except KafkaError as exc:
            outcome.errors.append(f"deleting created topics {', '.join(doomed)} failed: {exc}")
    appended = _appended_partitions(snapshot, created)
    if appended:
        outcome.not_undone.append(
            "records restored into topics that existed before cannot be removed (Kafka deletes records "
            f"only from the start of a partition); restored records begin at {appended}"
        )
    log.info(
        "rollback finished",
        extra={"job_id": snapshot.job_id, "snapshot_id": snapshot.snapshot_id, "complete": outcome.complete},
    )
    return outcome


def _restore_group(
    admin: KafkaAdmin,
    group_id: str,
    before: dict[TopicPartition, Committed],
    snapshot: RollbackSnapshot,
    existing: dict[str, int],
    created: set[str],
    outcome: RollbackOutcome,
) -> None:
    offsets = {tp: c.offset for tp, c in before.items() if tp[0] in existing and tp[0] not in created}
    try:
        if offsets:
            admin.alter_offsets(group_id, offsets)
        targets = list(snapshot.end_offsets)
        now = admin.committed(group_id, targets) if targets else {}
    except KafkaError as exc:
        outcome.errors.append(f"group {group_id!r}: re-committing {len(offsets)} offsets failed: {exc}")
        return
    outcome.groups_restored.append(group_id)
    added = sorted(tp for tp in now if tp not in before and tp[0] not in created)
    if added:
        outcome.not_undone.append(
            f"group {group_id!r} keeps commits made since the snapshot on {_partitions(added)} "
            "(it had none there before)"
        )


def _delete_group_if_committed(admin: KafkaAdmin, group_id: str, outcome: RollbackOutcome) -> None:
    try:
        if not admin.committed(group_id):
            return
        admin.delete_groups([group_id])
    except KafkaError as exc:
        outcome.not_undone.append(
            f"group {group_id!r} had no commits before the restore, and deleting it failed ({exc}): "
            "delete it once its consumers have stopped"
        )
        return
    outcome.groups_deleted.append(group_id)


def _appended_partitions(snapshot: RollbackSnapshot, created: set[str]) -> str:
    """'t:p@offset' for every pre-existing target partition: where the restored records start."""
    return ", ".join(f"{t}:{p}@{offset}" for (t, p), offset in sorted(snapshot.end_offsets.items()) if t not in created)


def _partitions(tps: list[TopicPartition]) -> str:
    return ", ".join(f"{t}:{p}" for t, p in tps)
