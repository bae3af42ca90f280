"""The demo's backup and restore: several topics, keyed records with headers and out-of-order
timestamps, a consumer-groups snapshot; restored with a time window, a topic mapping, a murmur2
repartitioning and an automatic consumer-group offset reset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from restore_jobs.backup.manifest import Manifest
from restore_jobs.backup.sample import SampleBackup, write_sample_backup
from restore_jobs.storage.filesystem import FilesystemStorage

BACKUP_ID = "demo-backup-20260101"
TOPICS = {"orders": 4, "payments": 3, "customers": 2}
GROUPS = {
    "order-processor": {("orders", p): 600 for p in range(4)},
    "payment-service": {("payments", p): 900 for p in range(3)},
}


def sample(records_per_partition: int) -> SampleBackup:
    return SampleBackup(
        topics=TOPICS,
        records_per_partition=records_per_partition,
        value_size=200,
        segment_max_records=250,
        step_ms=60_000,  # one record a minute: the backup spans about a day
        groups={g: {tp: min(o, records_per_partition) for tp, o in offsets.items()} for g, offsets in GROUPS.items()},
    )


def write_backup(root: Path, records_per_partition: int) -> tuple[SampleBackup, Manifest]:
    s = sample(records_per_partition)
    return s, write_sample_backup(FilesystemStorage(root), BACKUP_ID, s)


def restore_resource(root: Path, bootstrap: str, s: SampleBackup) -> dict[str, Any]:
    span = s.records_per_partition * s.step_ms
    return {
        "apiVersion": "kafka.oso.sh/v1alpha1",
        "kind": "KafkaRestore",
        "metadata": {"name": "demo-restore", "namespace": "demo"},
        "spec": {
            "backupRef": {
                "name": "",
                "backupId": BACKUP_ID,
                "storage": {"storageType": "filesystem", "filesystem": {"path": str(root)}},
            },
            "kafkaCluster": {"bootstrapServers": [bootstrap]},
            "topics": sorted(TOPICS),
            "topicMapping": {"orders": "restored-orders", "payments": "restored-payments"},
            "repartitioning": {"restored-orders": {"strategy": "murmur2", "targetPartitions": 6}},
            "pitr": {
                "startTimestamp": s.base_timestamp + span // 10,
                "endTimestamp": s.base_timestamp + span * 9 // 10,
            },
            "offsetReset": {"enabled": True, "consumerGroups": sorted(GROUPS), "strategy": "auto"},
            "autoConsumerGroups": True,
            "createTopics": True,
            "produceBatchSize": 200,
            "rateLimiting": {"maxConcurrentPartitions": 0},
        },
    }
