"""KafkaRestore / KafkaBackup manifests for controller tests (valid under restore_jobs.spec)."""

from __future__ import annotations

from typing import Any

API_VERSION = "kafka.oso.sh/v1alpha1"


def kafka_restore(name: str, namespace: str = "team-a", **spec: Any) -> dict[str, Any]:
    """A restore from filesystem storage; keyword arguments replace top-level spec fields."""
    body: dict[str, Any] = {
        "backupRef": {"name": "", "backupId": "daily-1",
                      "storage": {"storageType": "filesystem", "filesystem": {"path": "/backups"}}},
        "kafkaCluster": {"bootstrapServers": ["kafka-0.kafka:9092"]},
        "topics": ["orders"],
    }
    body.update(spec)
    return {"apiVersion": API_VERSION, "kind": "KafkaRestore",
            "metadata": {"name": name, "namespace": namespace}, "spec": body}


def kafka_backup(name: str, namespace: str = "team-a", storage: dict[str, Any] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"kafkaCluster": {"bootstrapServers": ["kafka-0.kafka:9092"]}, "topics": ["orders"]}
    if storage is not None:
        spec["storage"] = storage
    return {"apiVersion": API_VERSION, "kind": "KafkaBackup", "metadata": {"name": name, "namespace": namespace},
            "spec": spec}


S3_STORAGE = {"storageType": "s3", "s3": {"bucket": "kafka-backups", "region": "eu-west-1",
                                          "credentialsSecret": {"name": "s3-creds"}}}
