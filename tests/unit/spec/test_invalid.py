"""Every invalid resource names the exact field and the problem, and all problems come at once."""

from __future__ import annotations

from typing import Any

import pytest

from restore_jobs.spec import FieldError, SpecValidationError, load_resource, load_spec
from tests.unit.spec.resources import DELETE, errors_of, example, minimal

SASL = {"spec.kafkaCluster.securityProtocol": "SASL_SSL", "spec.kafkaCluster.saslSecret": {"name": "c"}}
S3 = {"storageType": "s3", "s3": {"bucket": "b"}}


def storage(value: dict[str, Any]) -> dict[str, Any]:
    return {"spec.backupRef.storage": value, "spec.backupRef.name": ""}


# id -> (changes to the minimal resource, the one error path, a part of its message)
CASES: dict[str, tuple[dict[str, Any], str, str]] = {
    "typo in spec": ({"spec.produceBatchSzie": 10}, "spec.produceBatchSzie", "unknown field"),
    "typo nested": (
        {"spec.rollback": {"snapshotBeforeRestor": True}},
        "spec.rollback.snapshotBeforeRestor",
        "unknown field",
    ),
    "numeric key": ({"spec.7": 1}, "spec.7", "unknown field"),
    "no metadata.name": ({"metadata.name": DELETE}, "metadata.name", "required"),
    "bad metadata.name": ({"metadata.name": "Bad_Name"}, "metadata.name", "not a valid Kubernetes name"),
    "apiVersion": ({"apiVersion": "kafka.oso.sh/v1"}, "apiVersion", "must be kafka.oso.sh/v1alpha1"),
    "kind": ({"kind": "KafkaBackup"}, "kind", "must be KafkaRestore"),
    "no spec": ({"spec": DELETE}, "spec", "required"),
    "securityProtocol": (
        {"spec.kafkaCluster.securityProtocol": "TLS"},
        "spec.kafkaCluster.securityProtocol",
        "must be one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL",
    ),
    "produceAcks": ({"spec.produceAcks": 2}, "spec.produceAcks", "must be one of -1, 0, 1"),
    "offsetReset.strategy": (
        {"spec.offsetReset": {"strategy": "latest"}},
        "spec.offsetReset.strategy",
        "must be one of manual, auto, dry_run",
    ),
    "repartitioning strategy": (
        {"spec.repartitioning": {"t": {"targetPartitions": 2, "strategy": "random"}}},
        "spec.repartitioning[t].strategy",
        "must be one of murmur2, automatic",
    ),
    "sasl mechanism": (
        {**SASL, "spec.kafkaCluster.saslSecret": {"name": "c", "mechanism": "GSSAPI"}},
        "spec.kafkaCluster.saslSecret.mechanism",
        "must be one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512",
    ),
    "sasl mechanism missing": (
        {**SASL, "spec.kafkaCluster.saslSecret": {"name": "c"}},
        "spec.kafkaCluster.saslSecret.mechanism",
        "required",
    ),
    "storageType": (
        storage({"storageType": "nfs"}),
        "spec.backupRef.storage.storageType",
        "must be one of pvc, s3, filesystem",
    ),
    "produceBatchSize 0": ({"spec.produceBatchSize": 0}, "spec.produceBatchSize", "must be >= 1"),
    "produceTimeoutMs negative": ({"spec.produceTimeoutMs": -5}, "spec.produceTimeoutMs", "must be from 1 to"),
    "targetPartitions 0": (
        {"spec.repartitioning": {"t": {"targetPartitions": 0}}},
        "spec.repartitioning[t].targetPartitions",
        "must be from 1 to 2147483647",
    ),
    "snapshotRetentionHours 0": (
        {"spec.rollback": {"snapshotRetentionHours": 0}},
        "spec.rollback.snapshotRetentionHours",
        "must be >= 1",
    ),
    "connectionsPerBroker 0": (
        {"spec.kafkaCluster.connection": {"connectionsPerBroker": 0}},
        "spec.kafkaCluster.connection.connectionsPerBroker",
        "must be from 1 to 64",
    ),
    "defaultReplicationFactor 0": (
        {"spec.defaultReplicationFactor": 0},
        "spec.defaultReplicationFactor",
        "must be from 1 to 32767",
    ),
    "recordsPerSec negative": (
        {"spec.rateLimiting": {"recordsPerSec": -1}},
        "spec.rateLimiting.recordsPerSec",
        "must be >= 0",
    ),
    "bytesPerSec negative": ({"spec.rateLimiting": {"bytesPerSec": -1}}, "spec.rateLimiting.bytesPerSec", ">= 0"),
    "offsetReset without groups": (
        {"spec.offsetReset": {"enabled": True}},
        "spec.offsetReset.consumerGroups",
        "list at least one consumer group",
    ),
    "backupRef neither name nor storage": ({"spec.backupRef.name": ""}, "spec.backupRef", "give either name"),
    "s3 type without s3": (
        storage({"storageType": "s3"}),
        "spec.backupRef.storage.s3",
        "required when storageType is s3",
    ),
    "s3 without bucket": (
        storage({"storageType": "s3", "s3": {"region": "eu-west-1"}}),
        "spec.backupRef.storage.s3.bucket",
        "required",
    ),
    "s3 empty bucket": (
        storage({"storageType": "s3", "s3": {"bucket": ""}}),
        "spec.backupRef.storage.s3.bucket",
        "empty",
    ),
    "s3 object but storageType defaults to pvc": (
        storage({"s3": {"bucket": "b"}, "pvc": {"claimName": "c"}}),
        "spec.backupRef.storage.s3",
        "given, but storageType is pvc: set storageType: s3",
    ),
    "s3 prefix traversal": (
        storage({"storageType": "s3", "s3": {"bucket": "b", "prefix": "a/../../etc"}}),
        "spec.backupRef.storage.s3.prefix",
        "must not contain '..'",
    ),
    "pvc without claimName": (storage({"pvc": {"subPath": "x"}}), "spec.backupRef.storage.pvc.claimName", "required"),
    "filesystem without path": (
        storage({"storageType": "filesystem", "filesystem": {}}),
        "spec.backupRef.storage.filesystem.path",
        "required",
    ),
    "azure": (
        storage({"storageType": "azure"}),
        "spec.backupRef.storage.storageType",
        "azure storage is not supported by kafka-restore",
    ),
    "gcs object": (
        storage({**S3, "gcs": {"bucket": "g"}}),
        "spec.backupRef.storage.gcs",
        "gcs storage is not supported by kafka-restore",
    ),
    "pitr start after end": (
        {"spec.pitr": {"startTimestamp": 2000, "endTimestamp": 1000}},
        "spec.pitr",
        "start (2000 ms) is after end (1000 ms)",
    ),
    "pitr iso start after ms end": (
        {"spec.pitr": {"startTime": "2026-04-13T10:00:00+02:00", "endTimestamp": 1776067200000 - 1}},
        "spec.pitr",
        "is after end",
    ),
    "pitr start in ms and iso": (
        {"spec.pitr": {"startTimestamp": 1, "startTime": "2026-04-13T10:00:00Z"}},
        "spec.pitr.startTime",
        "either startTimestamp (epoch ms) or startTime (ISO 8601), not both",
    ),
    "pitr iso without zone": (
        {"spec.pitr": {"endTime": "2026-04-13T10:00:00"}},
        "spec.pitr.endTime",
        "not an ISO 8601 time with a time zone",
    ),
    "pitr iso date only": ({"spec.pitr": {"startTime": "2026-04-13"}}, "spec.pitr.startTime", "time zone"),
    "pitr iso nonsense date": ({"spec.pitr": {"startTime": "2026-02-30T00:00:00Z"}}, "spec.pitr.startTime", "ISO 8601"),
    "pitr negative ms": ({"spec.pitr": {"startTimestamp": -1}}, "spec.pitr.startTimestamp", "must be >= 0"),
    "partition key -1": ({"spec.partitionMapping": {"-1": 0}}, "spec.partitionMapping[-1]", "key: must be a partition"),
    "partition key int -1": (
        {"spec.partitionMapping": {-1: 0}},
        "spec.partitionMapping[-1]",
        "key: must be a partition",
    ),
    "partition key letter": (
        {"spec.partitionMapping": {"a": 0}},
        "spec.partitionMapping[a]",
        "key: must be a partition",
    ),
    "partition key float": (
        {"spec.partitionMapping": {1.5: 0}},
        "spec.partitionMapping[1.5]",
        "key: must be a partition",
    ),
    "partition value string": ({"spec.partitionMapping": {"0": "1"}}, "spec.partitionMapping[0]", "must be an integer"),
    "partition value negative": ({"spec.partitionMapping": {0: -1}}, "spec.partitionMapping[0]", "must be from 0 to"),
    "partition key twice": ({"spec.partitionMapping": {0: 1, "0": 2}}, "spec.partitionMapping[0]", "duplicate key"),
    "two sources one target": (
        {"spec.topicMapping": {"a": "x", "b": "x"}},
        "spec.topicMapping[b]",
        "topics 'a', 'b' would all be restored into 'x'",
    ),
    "mapped onto a listed topic": (
        {"spec.topics": ["a", "b"], "spec.topicMapping": {"a": "b"}},
        "spec.topicMapping[a]",
        "topics 'a', 'b' would all be restored into 'b'",
    ),
    "mapping source not restored": (
        {"spec.topics": ["a"], "spec.topicMapping": {"b": "c"}},
        "spec.topicMapping[b]",
        "not in topics",
    ),
    "repartitioning a source name": (
        {
            "spec.topics": ["orders"],
            "spec.topicMapping": {"orders": "restored"},
            "spec.repartitioning": {"orders": {"targetPartitions": 2}},
        },
        "spec.repartitioning[orders]",
        "not a target topic of this restore (targets: restored)",
    ),
    "SASL without secret": (
        {"spec.kafkaCluster.securityProtocol": "SASL_PLAINTEXT"},
        "spec.kafkaCluster.saslSecret",
        "required when securityProtocol is SASL_PLAINTEXT",
    ),
    "saslSecret with SSL": (
        {
            "spec.kafkaCluster.securityProtocol": "SSL",
            "spec.kafkaCluster.saslSecret": {"name": "c", "mechanism": "PLAIN"},
        },
        "spec.kafkaCluster.saslSecret",
        "given, but securityProtocol is SSL",
    ),
    "tlsSecret with PLAINTEXT": (
        {"spec.kafkaCluster.tlsSecret": {"name": "t"}},
        "spec.kafkaCluster.tlsSecret",
        "TLS is only used with SSL or SASL_SSL",
    ),
    "client cert without key": (
        {"spec.kafkaCluster.securityProtocol": "SSL", "spec.kafkaCluster.tlsSecret": {"name": "t", "certKey": "c"}},
        "spec.kafkaCluster.tlsSecret.keyKey",
        "required when certKey is set",
    ),
    "no bootstrap servers": (
        {"spec.kafkaCluster.bootstrapServers": []},
        "spec.kafkaCluster.bootstrapServers",
        "list at least one broker",
    ),
    "bootstrap null": ({"spec.kafkaCluster.bootstrapServers": None}, "spec.kafkaCluster.bootstrapServers", "required"),
    "bootstrap without port": (
        {"spec.kafkaCluster.bootstrapServers": ["kafka:9092", "kafka"]},
        "spec.kafkaCluster.bootstrapServers[1]",
        "'kafka' is not host:port",
    ),
    "bootstrap with scheme": (
        {"spec.kafkaCluster.bootstrapServers": ["PLAINTEXT://kafka:9092"]},
        "spec.kafkaCluster.bootstrapServers[0]",
        "is not host:port",
    ),
    "bootstrap port too big": (
        {"spec.kafkaCluster.bootstrapServers": ["kafka:70000"]},
        "spec.kafkaCluster.bootstrapServers[0]",
        "is not host:port",
    ),
    "bootstrap not a list": (
        {"spec.kafkaCluster.bootstrapServers": "kafka:9092"},
        "spec.kafkaCluster.bootstrapServers",
        "must be a list",
    ),
    "topic with slash": ({"spec.topics": ["ok", "a/b"]}, "spec.topics[1]", "'a/b' is not a valid Kafka topic name"),
    "topic dotdot as mapping target": (
        {"spec.topicMapping": {"orders": ".."}},
        "spec.topicMapping[orders]",
        "'..' is not a valid Kafka topic name",
    ),
    "topic too long as repartitioning key": (
        {"spec.repartitioning": {"t" * 250: {"targetPartitions": 1}}},
        f"spec.repartitioning[{'t' * 250}]",
        "key: ",
    ),
    "topic not a string": ({"spec.topics": [5]}, "spec.topics[0]", "must be a string"),
    "duplicate topic": ({"spec.topics": ["a", "b", "a"]}, "spec.topics[2]", "duplicate: 'a' is already topics[0]"),
    "backupId slash": ({"spec.backupRef.backupId": "a/b"}, "spec.backupRef.backupId", "must not contain '/'"),
    "backupId dotdot": ({"spec.backupRef.backupId": ".."}, "spec.backupRef.backupId", "must not contain '..'"),
    "backupId NUL": ({"spec.backupRef.backupId": "a\x00b"}, "spec.backupRef.backupId", "NUL"),
    "boolean as string": ({"spec.dryRun": "true"}, "spec.dryRun", "must be true or false"),
    "boolean as int": ({"spec.purgeTopics": 1}, "spec.purgeTopics", "must be true or false"),
    "integer as float": ({"spec.produceBatchSize": 1.5}, "spec.produceBatchSize", "must be an integer"),
    "integer as bool": ({"spec.produceBatchSize": True}, "spec.produceBatchSize", "must be an integer"),
    "object as list": ({"spec.rollback": [1]}, "spec.rollback", "must be an object"),
    "s3 endpoint not a URL": (
        storage({"storageType": "s3", "s3": {"bucket": "b", "endpoint": "minio:9000"}}),
        "spec.backupRef.storage.s3.endpoint",
        "must be an http(s) URL",
    ),
    "status phase": ({"status": {"phase": "Done"}}, "status.phase", "must be one of Pending, Running"),
}


@pytest.mark.parametrize(("changes", "path", "message"), CASES.values(), ids=CASES.keys())
def test_invalid_resource_names_the_field(changes: dict[str, Any], path: str, message: str) -> None:
    errors = errors_of(minimal(**changes))
    assert [error.path for error in errors] == [path], errors
    assert message in errors[0].message


def test_every_error_is_reported_at_once() -> None:
    document = example("full-spec.yaml")
    spec = document["spec"]
    spec["produceBatchSzie"] = 5
    spec["produceAcks"] = 3
    spec["kafkaCluster"]["securityProtocol"] = "TLS"
    spec["kafkaCluster"]["bootstrapServers"].append("nope")
    spec["pitr"]["startTimestamp"] = 1
    spec["partitionMapping"] = {"x": 0}
    spec["topics"].append("bad/topic")
    spec["repartitioning"]["restored-orders"]["targetPartitions"] = 0
    spec["rollback"]["snapshotRetentionHours"] = -1
    document["metadata"]["name"] = ""
    with pytest.raises(SpecValidationError) as caught:
        load_resource(document, source="restore.yaml")
    assert {str(error) for error in caught.value.errors} == {
        "metadata.name: must not be empty",
        "spec.produceBatchSzie: unknown field",
        "spec.produceAcks: must be one of -1, 0, 1",
        "spec.kafkaCluster.securityProtocol: must be one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL",
        "spec.kafkaCluster.bootstrapServers[2]: 'nope' is not host:port (for example kafka-0.kafka.svc:9092)",
        "spec.pitr.startTime: give the start once: either startTimestamp (epoch ms) or startTime (ISO 8601), not both",
        "spec.partitionMapping[x]: key: must be a partition number (an integer from 0 to 2147483647)",
        "spec.topics[2]: 'bad/topic' is not a valid Kafka topic name "
        "(1-249 characters of a-z A-Z 0-9 . _ -, and not '.' or '..')",
        "spec.repartitioning[restored-orders].targetPartitions: must be from 1 to 2147483647",
        "spec.rollback.snapshotRetentionHours: must be >= 1",
    }
    assert len(caught.value.errors) == 10
    lines = str(caught.value).splitlines()
    assert len(lines) == 10 and all(line.startswith("restore.yaml: ") for line in lines)


def test_field_error_text() -> None:
    assert str(FieldError("spec.dryRun", "must be true or false")) == "spec.dryRun: must be true or false"


@pytest.mark.parametrize("value", [None, 3, "text", [], [{"kind": "KafkaRestore"}]])
def test_not_an_object(value: Any) -> None:
    assert errors_of(value) == [FieldError("<root>", "must be an object")]


def test_load_spec_paths_start_with_spec() -> None:
    with pytest.raises(SpecValidationError) as caught:
        load_spec({"backupRef": {"name": "b"}, "kafkaCluster": {"bootstrapServers": []}, "dryRun": 0})
    assert [str(error) for error in caught.value.errors] == [
        "spec.kafkaCluster.bootstrapServers: list at least one broker as host:port",
        "spec.dryRun: must be true or false",
    ]
    assert caught.value.source == "spec"
