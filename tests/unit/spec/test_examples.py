"""The seed's examples (and ours) load, with every default the seed and OSO state."""

from __future__ import annotations

import json

import pytest

from restore_jobs.spec import dump_resource, dump_spec, load_resource, load_spec
from restore_jobs.spec.model import (
    CircuitBreaker,
    Connection,
    OffsetReset,
    RateLimiting,
    Repartitioning,
    Rollback,
    SaslSecret,
    TlsSecret,
)
from tests.unit.spec.resources import ALL_EXAMPLES, example, minimal


def assert_tuning_defaults(spec, *, create_topics: bool = False, auto_groups: bool = False) -> None:
    assert spec.rollback == Rollback(
        snapshot_before_restore=True, snapshot_retention_hours=24, auto_rollback_on_failure=False
    )
    assert (spec.dry_run, spec.purge_topics) == (False, False)
    assert spec.produce_batch_size == 1000
    assert spec.produce_acks == -1
    assert spec.produce_timeout_ms == 30000
    assert spec.auto_consumer_groups is auto_groups
    assert spec.create_topics is create_topics


def test_full_spec_loads_every_field() -> None:
    resource = load_resource(example("full-spec.yaml"))
    assert (resource.metadata.name, resource.metadata.namespace) == ("production-restore", "kafka-backup")
    spec = resource.spec
    assert spec.backup_ref.name == "production-backup"
    assert spec.backup_ref.backup_id == "production-backup-20260413-120000"
    cluster = spec.kafka_cluster
    assert cluster.bootstrap_servers == ["kafka-0.kafka.svc:9092", "kafka-1.kafka.svc:9092"]
    assert cluster.security_protocol == "SASL_SSL"
    assert cluster.tls_secret == TlsSecret(name="kafka-tls", ca_key="ca.crt")
    assert cluster.ca_secret.name == "cluster-ca-cert"
    assert cluster.sasl_secret == SaslSecret(
        name="kafka-credentials", mechanism="SCRAM-SHA-512", username_key="username", password_key="password"
    )
    assert cluster.connection == Connection(True, 60, 20, True, 4)
    assert spec.topics == ["orders", "payments"]
    assert spec.topic_mapping == {"orders": "restored-orders"}
    assert spec.partition_mapping == {0: 0}
    assert spec.repartitioning == {"restored-orders": Repartitioning(target_partitions=6, strategy="murmur2")}
    assert (spec.pitr.start_ms, spec.pitr.end_ms) == (1776074400000, 1776081600000)
    assert spec.offset_reset == OffsetReset(enabled=True, consumer_groups=["order-processor"], strategy="manual")
    assert spec.default_replication_factor == 3
    assert_tuning_defaults(spec, create_topics=True)


def test_restore_from_kafkabackup_defaults() -> None:
    spec = load_resource(example("restore-from-kafkabackup.yaml")).spec
    assert spec.kafka_cluster.security_protocol == "PLAINTEXT"
    assert spec.kafka_cluster.sasl_secret is None and spec.kafka_cluster.connection is None
    assert spec.backup_ref.storage is None and spec.backup_ref.namespace is None
    assert (spec.pitr, spec.offset_reset, spec.rate_limiting, spec.circuit_breaker) == (None, None, None, None)
    assert (spec.topic_mapping, spec.partition_mapping, spec.repartitioning) == ({}, {}, {})
    assert spec.default_replication_factor is None
    assert_tuning_defaults(spec, create_topics=True)


def test_restore_from_direct_storage_defaults() -> None:
    spec = load_resource(example("restore-from-direct-storage.yaml")).spec
    storage = spec.backup_ref.storage
    assert spec.backup_ref.name == ""
    assert storage.storage_type == "s3"
    assert (storage.s3.bucket, storage.s3.region, storage.s3.prefix) == ("kafka-backups", "us-west-2", "production")
    assert storage.s3.credentials_secret.name == "s3-credentials"
    assert storage.s3.credentials_secret.access_key_id_key == "AWS_ACCESS_KEY_ID"
    assert storage.s3.credentials_secret.secret_access_key_key == "AWS_SECRET_ACCESS_KEY"
    assert (storage.s3.endpoint, storage.s3.path_style, storage.s3.allow_http) == (None, None, None)
    assert spec.topics == []
    assert_tuning_defaults(spec)


def test_restore_with_consumer_groups_defaults() -> None:
    spec = load_resource(example("restore-with-consumer-groups.yaml")).spec
    assert spec.kafka_cluster.bootstrap_servers == ["dr-kafka:9092"]
    assert spec.offset_reset is None
    assert_tuning_defaults(spec, create_topics=True, auto_groups=True)


def test_filesystem_example() -> None:
    spec = load_resource(example("filesystem-restore.yaml")).spec
    assert spec.backup_ref.storage.storage_type == "filesystem"
    assert spec.backup_ref.storage.filesystem.path == "/var/lib/kafka-backups"
    assert (spec.pitr.start_ms, spec.pitr.end_ms) == (1776074400000, 1776078000000)
    assert spec.target_topic("orders") == "orders-restored"
    assert spec.repartitioning["orders-restored"].strategy == "murmur2"
    assert spec.offset_reset.strategy == "auto"


def test_nested_defaults_from_oso() -> None:
    spec = load_resource(
        minimal(
            **{
                "spec.rateLimiting": {},
                "spec.circuitBreaker": {},
                "spec.kafkaCluster.connection": {},
                "spec.offsetReset": {},
                "spec.repartitioning": {"t": {"targetPartitions": 3}},
                "spec.backupRef.storage": {"pvc": {"claimName": "backups"}},
                "spec.kafkaCluster.securityProtocol": "SSL",
                "spec.kafkaCluster.tlsSecret": {"name": "tls"},
                "spec.rollback": {"snapshotStorage": {"pvcName": "snaps"}},
            }
        )
    ).spec
    assert spec.rate_limiting == RateLimiting(records_per_sec=0, bytes_per_sec=0, max_concurrent_partitions=4)
    assert spec.circuit_breaker == CircuitBreaker(
        enabled=True, failure_threshold=5, reset_timeout_secs=60, success_threshold=3, operation_timeout_ms=30000
    )
    assert spec.kafka_cluster.connection == Connection(
        tcp_keepalive=True,
        keepalive_time_secs=60,
        keepalive_interval_secs=20,
        tcp_nodelay=True,
        connections_per_broker=4,
    )
    assert spec.offset_reset == OffsetReset(enabled=False, consumer_groups=[], strategy="manual")
    assert spec.repartitioning["t"].strategy == "murmur2"
    assert spec.backup_ref.storage.storage_type == "pvc"
    assert spec.kafka_cluster.tls_secret.ca_key == "ca.crt"
    assert spec.rollback.snapshot_before_restore is True
    assert spec.rollback.snapshot_storage.pvc_name == "snaps"


def test_nulls_count_as_absent_like_the_api_server_prunes_them() -> None:
    spec = load_resource(minimal(**{"spec.rollback": None, "spec.pitr": None, "spec.dryRun": None})).spec
    assert spec.rollback == Rollback() and spec.pitr is None and spec.dry_run is False


def test_api_server_form_string_partition_keys() -> None:
    spec = load_resource(minimal(**{"spec.partitionMapping": {"0": 3, "12": 0}})).spec
    assert spec.partition_mapping == {0: 3, 12: 0}
    assert spec.target_partition(12) == 0 and spec.target_partition(5) == 5


def test_metadata_from_the_api_server_ignores_extra_fields() -> None:
    document = minimal(
        **{
            "metadata.managedFields": [{"manager": "kubectl"}],
            "metadata.generation": 3,
            "metadata.uid": "u-1",
            "metadata.creationTimestamp": "2026-04-13T12:00:00Z",
        }
    )
    meta = load_resource(document).metadata
    assert (meta.generation, meta.uid, meta.creation_timestamp) == (3, "u-1", "2026-04-13T12:00:00Z")


@pytest.mark.parametrize("name", ALL_EXAMPLES)
def test_round_trip(name: str) -> None:
    resource = load_resource(example(name))
    dumped = dump_resource(resource)
    assert load_resource(json.loads(json.dumps(dumped))) == resource
    assert load_resource(dumped) == resource
    assert dumped["spec"]["produceBatchSize"] == 1000  # defaults are written out


@pytest.mark.parametrize("name", ALL_EXAMPLES)
def test_spec_alone_is_json_safe(name: str) -> None:
    spec = load_resource(example(name)).spec
    wire = json.dumps(dump_spec(spec))
    assert load_spec(json.loads(wire)) == spec


def test_dump_is_camel_case_without_nones() -> None:
    dumped = dump_resource(load_resource(example("full-spec.yaml")))
    assert dumped["spec"]["partitionMapping"] == {"0": 0}
    assert dumped["spec"]["kafkaCluster"]["saslSecret"] == {
        "name": "kafka-credentials",
        "mechanism": "SCRAM-SHA-512",
        "usernameKey": "username",
        "passwordKey": "password",
    }
    assert "status" not in dumped and "rateLimiting" not in dumped["spec"]
    assert "startTimestamp" not in dumped["spec"]["pitr"]
