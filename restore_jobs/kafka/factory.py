"""Opens the Kafka interface on the configured client: confluent-kafka unless
``KAFKA_RESTORE_KAFKA_CLIENT=kafka-python``."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, get_args

from restore_jobs.kafka.admin_base import AdminBase
from restore_jobs.kafka.client import ClientName, KafkaAdmin, PartitionReader, TransactionalProducer
from restore_jobs.kafka.config import confluent_settings, kafkapython_settings
from restore_jobs.spec.model import KafkaCluster

if TYPE_CHECKING:
    from restore_jobs.storage.secrets import SecretResolver

CLIENT_ENV = "KAFKA_RESTORE_KAFKA_CLIENT"
DEFAULT_TIMEOUT_S = 30.0


def default_client() -> ClientName:
    value = os.environ.get(CLIENT_ENV, "confluent")
    if value == "confluent":
        return "confluent"
    if value == "kafka-python":
        return "kafka-python"
    raise ValueError(f"{CLIENT_ENV}={value!r}: expected one of {', '.join(get_args(ClientName))}")


def open_admin(
    cluster: KafkaCluster,
    secrets: SecretResolver | None = None,
    client: ClientName | None = None,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> KafkaAdmin:
    """``timeout_s`` bounds every admin call (and, for kafka-python, the eager first connection)."""
    return _admin(cluster, secrets, client or default_client(), timeout_s)


def _admin(cluster: KafkaCluster, secrets: SecretResolver | None, client: ClientName, timeout_s: float) -> AdminBase:
    if client == "confluent":
        from restore_jobs.kafka.confluent_client import ConfluentAdmin

        return ConfluentAdmin(confluent_settings(cluster, secrets), timeout_s)
    from restore_jobs.kafka.kafkapython_client import KafkaPythonAdmin

    return KafkaPythonAdmin(kafkapython_settings(cluster, secrets), timeout_s)


def open_producer(
    cluster: KafkaCluster,
    secrets: SecretResolver | None,
    transactional_id: str | None,
    *,
    acks: int = -1,
    timeout_ms: int = 30000,
    batch_size: int = 1000,
    client: ClientName | None = None,
) -> TransactionalProducer:
    """With ``transactional_id``: idempotent and transactional (Kafka requires acks=all for that).
    Without: a plain producer with ``acks`` whose ``commit`` flushes, then commits the offsets
    through the admin API; not atomic, so at-least-once."""
    if transactional_id is not None and acks != -1:
        raise ValueError(f"produceAcks: a transactional producer needs acks=-1 (all), got {acks}")
    name = client or default_client()

    def offsets_admin() -> AdminBase:
        return _admin(cluster, secrets, name, timeout_ms / 1000)

    options = {"acks": acks, "timeout_ms": timeout_ms, "batch_size": batch_size}
    if name == "confluent":
        from restore_jobs.kafka.confluent_client import ConfluentProducer

        return ConfluentProducer(confluent_settings(cluster, secrets), transactional_id, offsets_admin, **options)
    from restore_jobs.kafka.kafkapython_client import KafkaPythonProducer

    return KafkaPythonProducer(kafkapython_settings(cluster, secrets), transactional_id, offsets_admin, **options)


def open_reader(
    cluster: KafkaCluster,
    secrets: SecretResolver | None = None,
    client: ClientName | None = None,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> PartitionReader:
    if (client or default_client()) == "confluent":
        from restore_jobs.kafka.confluent_client import ConfluentReader

        return ConfluentReader(confluent_settings(cluster, secrets), timeout_s)
    from restore_jobs.kafka.kafkapython_client import KafkaPythonReader

    return KafkaPythonReader(kafkapython_settings(cluster, secrets), timeout_s)
