"""The steps of a restore job around its units, free of Celery: the tasks call them, and so does
the in-process runner (``local.py``) that benchmarks and tests use without workers."""

from __future__ import annotations

import json
from dataclasses import dataclass

from restore_jobs.backup.consumer_groups import load_group_snapshot
from restore_jobs.backup.manifest import Manifest
from restore_jobs.finalize.offset_reset import apply_reset, plan_reset
from restore_jobs.finalize.snapshot import SnapshotRef, take_snapshot
from restore_jobs.kafka.client import KafkaAdmin
from restore_jobs.restore.checkpoint import checkpoint_group
from restore_jobs.restore.offset_mapping import OffsetMapping
from restore_jobs.restore.plan import RestorePlan
from restore_jobs.spec.model import RestoreSpec
from restore_jobs.storage.base import BackupStorage


def affected_groups(spec: RestoreSpec, storage: BackupStorage, backup_id: str) -> list[str]:
    """Consumer groups whose offsets the job may change: offsetReset's, plus the backup's
    consumer-groups snapshot with autoConsumerGroups."""
    groups = set(spec.offset_reset.consumer_groups if spec.offset_reset else [])
    if spec.auto_consumer_groups:
        snapshot = load_group_snapshot(storage, backup_id)
        if snapshot is not None:
            groups.update(snapshot.groups)
    return sorted(groups)


def take_rollback_snapshot(
    spec: RestoreSpec,
    plan: RestorePlan,
    admin: KafkaAdmin,
    store: BackupStorage,
    job_id: str,
    groups: list[str],
    now_ms: int,
) -> SnapshotRef:
    """Before any write: what a rollback needs to put back."""
    return take_snapshot(
        admin,
        store,
        job_id=job_id,
        groups=groups,
        target_partitions=plan.target_partitions,
        topics_created=sorted(plan.topics_to_create),
        retention_hours=spec.rollback.snapshot_retention_hours,
        now_ms=now_ms,
    )


def prepare_target(spec: RestoreSpec, plan: RestorePlan, admin: KafkaAdmin, job_id: str) -> None:
    """Create the missing target topics and purge the existing ones when asked.

    A job whose units already committed checkpoints (it is being resubmitted, e.g. after its Redis
    state was lost) is never purged: that would delete records the units will not write again."""
    if plan.topics_to_create:
        admin.create_topics(plan.topics_to_create, spec.default_replication_factor)
    if spec.purge_topics and not _has_checkpoints(plan, admin, job_id):
        existing = [tp for tp in plan.target_partitions if tp[0] not in plan.topics_to_create]
        if existing:
            admin.delete_records(existing)


def _has_checkpoints(plan: RestorePlan, admin: KafkaAdmin, job_id: str) -> bool:
    groups = set(admin.groups())
    return any(checkpoint_group(job_id, u.source_topic, u.source_partition) in groups for u in plan.units)


@dataclass
class Finalized:
    message: str
    offset_mapping_key: str | None = None


def offset_mapping_key(backup_id: str, job_id: str) -> str:
    """Per job, beside the backup: two restores of one backup never overwrite each other's map."""
    return f"{backup_id}/restores/{job_id}/offset-mapping.json"


def finalize_restore(
    spec: RestoreSpec,
    mapping: OffsetMapping,
    admin: KafkaAdmin,
    storage: BackupStorage,
    manifest: Manifest,
    job_id: str,
    records: int,
    partitions: int,
    now_ms: int,
) -> Finalized:
    """Write the offset mapping and reset consumer-group offsets.

    The units' checkpoint groups stay: they are what makes running the same job again a no-op,
    even after its Redis state is gone. Holding no members, they expire with the broker's
    ``offsets.retention.minutes`` (7 days by default)."""
    key = offset_mapping_key(manifest.backup_id, job_id)
    document = mapping.to_json(
        source_cluster_id=manifest.source_cluster_id, target_cluster_id=admin.cluster_id(), created_at=now_ms
    )
    storage.write(key, json.dumps(document, indent=1).encode())
    message = f"restored {records} records from {partitions} partitions"
    if (spec.offset_reset and spec.offset_reset.enabled) or spec.auto_consumer_groups:
        strategy = spec.offset_reset.strategy if spec.offset_reset else "auto"
        snapshot = load_group_snapshot(storage, manifest.backup_id)
        reset = plan_reset(spec, mapping, admin, snapshot)
        outcome = apply_reset(reset, admin, strategy, storage, manifest.backup_id)
        message += f"; {outcome.summary}"
    return Finalized(message, key)
