"""marshmallow schemas for the KafkaRestore resource: camelCase on the wire, model dataclasses inside.

Each schema names its dataclass in ``model``; defaults and required-ness come from that dataclass,
so model.py stays the one place that states them (and the CRD generator reads them from there).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from marshmallow import EXCLUDE, Schema, ValidationError, post_dump, post_load, pre_load, validate, validates_schema

from restore_jobs.spec import model, rules
from restore_jobs.spec.errors import Problem, nest
from restore_jobs.spec.fields import (
    INT16_MAX,
    INT32_MAX,
    Bool,
    Float,
    HostPort,
    Int,
    IsoTime,
    K8sName,
    List,
    Map,
    Nested,
    PartitionNumber,
    StorageKey,
    Str,
    TopicName,
    Unsupported,
    at_least,
    one_of,
)
from restore_jobs.spec.model import API_VERSION, KIND


def camel_case(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def describe(text: str) -> dict[str, str]:
    return {"description": text}


def not_supported(storage_type: str) -> str:
    return f"{storage_type} storage is not supported by kafka-restore (use pvc, s3 or filesystem)"


class SupportedStorage(validate.OneOf):
    """OSO's azure and gcs are valid upstream: say they are unsupported here, not merely 'invalid'."""

    def _format_error(self, value: Any) -> str:
        return not_supported(value) if value in ("azure", "gcs") else super()._format_error(value)


class ModelSchema(Schema):
    model: ClassVar[type]
    error_messages = {"unknown": "unknown field", "type": "must be an object"}

    def on_bind_field(self, field_name: str, field_obj: Any) -> None:
        """camelCase on the wire; the default (or required) comes from the model's dataclass field."""
        field_obj.data_key = field_obj.data_key or camel_case(field_name)
        if field_obj.required:
            return
        spec = {f.name: f for f in dataclasses.fields(self.model)}[field_name]
        if spec.default is not dataclasses.MISSING:
            field_obj.load_default = spec.default
        elif spec.default_factory is not dataclasses.MISSING:
            field_obj.load_default = spec.default_factory
        else:
            field_obj.required = True

    @pre_load
    def _drop_nulls(self, data: Any, **_: Any) -> Any:
        """Kubernetes prunes nulls of non-nullable fields before defaulting: so do we.

        Keys become strings, so a stray YAML key like ``1:`` reads ``spec.1: unknown field``.
        """
        return {str(k): v for k, v in data.items() if v is not None} if isinstance(data, Mapping) else data

    @validates_schema(skip_on_field_errors=False)
    def _cross_field(self, data: dict[str, Any], **_: Any) -> None:
        problems = list(self.problems(data))
        if problems:
            raise ValidationError(nest(problems))

    def problems(self, data: dict[str, Any]) -> Iterable[Problem]:
        """Cross-field rules of this object (see rules.py); none by default."""
        return ()

    @post_load
    def _build(self, data: dict[str, Any], **_: Any) -> Any:
        return self.model(**data)

    @post_dump
    def _omit_empty(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        return {k: v for k, v in data.items() if v is not None and v != [] and v != {}}


# --- storage -------------------------------------------------------------------------------------


class S3CredentialsSecretSchema(ModelSchema):
    model = model.S3CredentialsSecret
    name = K8sName(metadata=describe("Secret holding the S3 access key pair"))
    access_key_id_key = Str()
    secret_access_key_key = Str()


class S3StorageSchema(ModelSchema):
    model = model.S3Storage
    bucket = Str()
    region = Str()
    endpoint = Str(
        validate=validate.URL(schemes={"http", "https"}, require_tld=False, error="must be an http(s) URL"),
        metadata=describe("Custom endpoint (MinIO, Ceph...)"),
    )
    path_style = Bool()
    allow_http = Bool()
    prefix = StorageKey(metadata=describe("Key prefix in the bucket"))
    credentials_secret = Nested(S3CredentialsSecretSchema, metadata=describe("Unset: the default AWS credential chain"))


class PvcStorageSchema(ModelSchema):
    model = model.PvcStorage
    claim_name = K8sName()
    sub_path = StorageKey()


class FilesystemStorageSchema(ModelSchema):
    model = model.FilesystemStorage
    path = Str(metadata=describe("Local directory holding the backups (runs outside Kubernetes)"))
    prefix = StorageKey()


class StorageSchema(ModelSchema):
    model = model.Storage
    storage_type = Str(validate=SupportedStorage(rules.STORAGE_KINDS, error="must be one of {choices}"))
    pvc = Nested(PvcStorageSchema)
    s3 = Nested(S3StorageSchema)
    filesystem = Nested(FilesystemStorageSchema)
    azure = Unsupported(not_supported("azure"))
    gcs = Unsupported(not_supported("gcs"))

    def problems(self, data: dict[str, Any]) -> Iterable[Problem]:
        return rules.storage(data)


class BackupRefSchema(ModelSchema):
    model = model.BackupRef
    name = Str(allow_empty=True, metadata=describe('KafkaBackup to restore from; "" when using storage'))
    namespace = K8sName(metadata=describe("Namespace of the KafkaBackup; defaults to the restore's"))
    backup_id = StorageKey(single=True, metadata=describe("Specific backup ID"))
    storage = Nested(StorageSchema, metadata=describe("Direct storage reference for external backups"))

    def problems(self, data: dict[str, Any]) -> Iterable[Problem]:
        return rules.backup_ref(data)


# --- target cluster ------------------------------------------------------------------------------


class TlsSecretSchema(ModelSchema):
    model = model.TlsSecret
    name = K8sName()
    ca_key = Str()
    cert_key = Str()
    key_key = Str()

    def problems(self, data: dict[str, Any]) -> Iterable[Problem]:
        return rules.tls_secret(data)


class CaSecretSchema(ModelSchema):
    model = model.CaSecret
    name = K8sName()
    ca_key = Str()


class SaslSecretSchema(ModelSchema):
    model = model.SaslSecret
    name = K8sName()
    mechanism = Str(validate=one_of(("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")))
    username_key = Str()
    password_key = Str()


class ConnectionSchema(ModelSchema):
    model = model.Connection
    tcp_keepalive = Bool()
    keepalive_time_secs = Int(validate=at_least(1))
    keepalive_interval_secs = Int(validate=at_least(1))
    tcp_nodelay = Bool()
    connections_per_broker = Int(validate=at_least(1, 64))


class KafkaClusterSchema(ModelSchema):
    model = model.KafkaCluster
    bootstrap_servers = List(
        HostPort(),
        validate=validate.Length(min=1, error="list at least one broker as host:port"),
        metadata=describe("Target Kafka broker addresses (host:port)"),
    )
    security_protocol = Str(validate=one_of(("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")))
    tls_secret = Nested(TlsSecretSchema)
    ca_secret = Nested(CaSecretSchema, metadata=describe("Separate CA secret; overrides tlsSecret.caKey"))
    sasl_secret = Nested(SaslSecretSchema)
    connection = Nested(ConnectionSchema)

    def problems(self, data: dict[str, Any]) -> Iterable[Problem]:
        return rules.kafka_cluster(data)


# --- restore tuning ------------------------------------------------------------------------------


class RepartitioningSchema(ModelSchema):
    model = model.Repartitioning
    target_partitions = Int(validate=at_least(1, INT32_MAX))
    strategy = Str(validate=one_of(("murmur2", "automatic")))


class PitrSchema(ModelSchema):
    model = model.Pitr
    start_timestamp = Int(validate=at_least(0), metadata=describe("Inclusive start, epoch milliseconds"))
    end_timestamp = Int(validate=at_least(0), metadata=describe("Inclusive end, epoch milliseconds"))
    start_time = IsoTime(metadata=describe("Inclusive start, ISO 8601 with a time zone"))
    end_time = IsoTime(metadata=describe("Inclusive end, ISO 8601 with a time zone"))

    def problems(self, data: dict[str, Any]) -> Iterable[Problem]:
        return rules.pitr(data)


class OffsetResetSchema(ModelSchema):
    model = model.OffsetReset
    enabled = Bool()
    consumer_groups = List(Str())
    strategy = Str(validate=one_of(("manual", "auto", "dry_run")))


class SnapshotStorageSchema(ModelSchema):
    model = model.SnapshotStorage
    pvc_name = K8sName()
    sub_path = StorageKey()


class RollbackSchema(ModelSchema):
    model = model.Rollback
    snapshot_before_restore = Bool()
    snapshot_retention_hours = Int(validate=at_least(1))
    auto_rollback_on_failure = Bool()
    snapshot_storage = Nested(SnapshotStorageSchema)


class RateLimitingSchema(ModelSchema):
    model = model.RateLimiting
    records_per_sec = Int(validate=at_least(0), metadata=describe("0 = unlimited"))
    bytes_per_sec = Int(validate=at_least(0), metadata=describe("0 = unlimited"))
    max_concurrent_partitions = Int(validate=at_least(0), metadata=describe("0 = unlimited"))


class CircuitBreakerSchema(ModelSchema):
    model = model.CircuitBreaker
    enabled = Bool()
    failure_threshold = Int(validate=at_least(1))
    reset_timeout_secs = Int(validate=at_least(1))
    success_threshold = Int(validate=at_least(1))
    operation_timeout_ms = Int(validate=at_least(1))


class RestoreSpecSchema(ModelSchema):
    model = model.RestoreSpec
    backup_ref = Nested(BackupRefSchema)
    kafka_cluster = Nested(KafkaClusterSchema)
    topics = List(TopicName(), metadata=describe("Topics to restore; empty restores every topic in the backup"))
    topic_mapping = Map(TopicName(), TopicName(), metadata=describe("Source topic -> target topic"))
    partition_mapping = Map(
        PartitionNumber(),
        Int(validate=at_least(0, INT32_MAX)),
        metadata=describe("Source partition -> target partition, for every topic"),
    )
    repartitioning = Map(
        TopicName(), Nested(RepartitioningSchema), metadata=describe("Per target topic repartitioning")
    )
    pitr = Nested(PitrSchema, metadata=describe("Point-in-time window; bounds inclusive"))
    offset_reset = Nested(OffsetResetSchema)
    rollback = Nested(RollbackSchema)
    rate_limiting = Nested(RateLimitingSchema)
    circuit_breaker = Nested(CircuitBreakerSchema)
    dry_run = Bool(metadata=describe("Validate and plan without writing"))
    produce_batch_size = Int(validate=at_least(1))
    produce_acks = Int(validate=one_of((-1, 0, 1)), metadata=describe("-1 all ISR, 1 leader, 0 none"))
    produce_timeout_ms = Int(validate=at_least(1, INT32_MAX))
    purge_topics = Bool(metadata=describe("Delete records of the target partitions before restoring"))
    auto_consumer_groups = Bool(metadata=describe("Take consumer groups from consumer-groups-snapshot.json"))
    create_topics = Bool(metadata=describe("Create missing target topics"))
    default_replication_factor = Int(validate=at_least(1, INT16_MAX))

    def problems(self, data: dict[str, Any]) -> Iterable[Problem]:
        return rules.restore_spec(data)

    @post_load
    def _build(self, data: dict[str, Any], **_: Any) -> Any:
        # A window without bounds is no window: ``pitr: {}`` means the same as leaving pitr out.
        pitr = data.get("pitr")
        if pitr is not None and pitr.start_ms is None and pitr.end_ms is None:
            data["pitr"] = None
        return self.model(**data)


# --- status --------------------------------------------------------------------------------------


class ConditionSchema(ModelSchema):
    model = model.Condition
    type = Str()
    status = Str(validate=one_of(("True", "False", "Unknown")))
    reason = Str()
    message = Str(allow_empty=True)
    last_transition_time = Str()
    observed_generation = Int(validate=at_least(0))


class RollbackStatusSchema(ModelSchema):
    model = model.RollbackStatus
    snapshot_id = Str()
    snapshot_time = Str()
    snapshot_path = Str()
    rollback_available = Bool()
    expires_at = Str()


PHASES = ("Pending", "Running", "Finalizing", "Completed", "Failed", "RolledBack", "Cancelled")


class RestoreStatusSchema(ModelSchema):
    model = model.RestoreStatus
    phase = Str(validate=one_of(PHASES))
    message = Str(allow_empty=True)
    start_time = Str()
    completion_time = Str()
    progress_percent = Float(validate=validate.Range(min=0, max=100, error="must be from 0 to 100"))
    records_restored = Int(validate=at_least(0))
    bytes_restored = Int(validate=at_least(0))
    segments_processed = Int(validate=at_least(0))
    current_topic = Str()
    throughput_records_per_sec = Float(validate=at_least(0))
    eta_ms = Int(validate=at_least(0))
    offset_mapping_path = Str()
    rollback = Nested(RollbackStatusSchema)
    observed_generation = Int(validate=at_least(0))
    job_id = Str()
    conditions = List(Nested(ConditionSchema))


# --- resource ------------------------------------------------------------------------------------


class ObjectMetaSchema(ModelSchema):
    """Only what we use; the API server's other metadata (managedFields...) is ignored, not refused."""

    model = model.ObjectMeta

    class Meta:
        unknown = EXCLUDE

    name = K8sName()
    namespace = K8sName()
    uid = Str()
    generation = Int()
    resource_version = Str()
    labels = Map(Str(), Str(allow_empty=True))
    annotations = Map(Str(), Str(allow_empty=True))
    finalizers = List(Str())
    deletion_timestamp = Str()
    creation_timestamp = Str()


class KafkaRestoreSchema(ModelSchema):
    model = model.KafkaRestore
    api_version = Str(required=True, validate=validate.Equal(API_VERSION, error="must be {other}"))
    kind = Str(required=True, validate=validate.Equal(KIND, error="must be {other}"))
    metadata = Nested(ObjectMetaSchema)
    spec = Nested(RestoreSpecSchema)
    status = Nested(RestoreStatusSchema)
