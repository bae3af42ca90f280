"""Typed, validated form of a KafkaRestore resource.

The marshmallow schemas in ``schema.py`` are the only way in: they turn camelCase YAML into these
dataclasses with every default applied, so code below the boundary never sees raw dicts or
missing values. Field names are the snake_case of the CRD's camelCase names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

API_VERSION = "kafka.oso.sh/v1alpha1"
KIND = "KafkaRestore"

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
StorageType = Literal["pvc", "s3", "azure", "gcs", "filesystem"]
RepartitionStrategy = Literal["murmur2", "automatic"]
OffsetResetStrategy = Literal["manual", "auto", "dry_run"]


@dataclass(frozen=True)
class SecretKeyRef:
    """Where one secret value lives: resolved in the worker, never copied into tasks or status."""

    name: str
    key: str


@dataclass
class S3CredentialsSecret:
    name: str
    access_key_id_key: str = "AWS_ACCESS_KEY_ID"
    secret_access_key_key: str = "AWS_SECRET_ACCESS_KEY"


@dataclass
class S3Storage:
    bucket: str
    region: str | None = None
    endpoint: str | None = None
    path_style: bool | None = None
    allow_http: bool | None = None
    prefix: str | None = None
    # None means boto3's default credential chain (IRSA, instance profile, env).
    credentials_secret: S3CredentialsSecret | None = None


@dataclass
class PvcStorage:
    claim_name: str
    sub_path: str | None = None


@dataclass
class FilesystemStorage:
    """Ours: a local directory, for runs outside Kubernetes."""

    path: str
    prefix: str | None = None


@dataclass
class Storage:
    storage_type: StorageType = "pvc"
    pvc: PvcStorage | None = None
    s3: S3Storage | None = None
    filesystem: FilesystemStorage | None = None
    # azure and gcs are accepted as OSO shapes (kept raw) and refused at storage-open time.
    azure: dict | None = None
    gcs: dict | None = None


@dataclass
class BackupRef:
    name: str = ""
    namespace: str | None = None
    backup_id: str | None = None
    storage: Storage | None = None


@dataclass
class TlsSecret:
    name: str
    ca_key: str = "ca.crt"
    cert_key: str | None = None
    key_key: str | None = None


@dataclass
class CaSecret:
    name: str
    ca_key: str = "ca.crt"


@dataclass
class SaslSecret:
    name: str
    mechanism: SaslMechanism
    username_key: str = "username"
    password_key: str = "password"


@dataclass
class Connection:
    tcp_keepalive: bool = True
    keepalive_time_secs: int = 60
    keepalive_interval_secs: int = 20
    tcp_nodelay: bool = True
    connections_per_broker: int = 4


@dataclass
class KafkaCluster:
    bootstrap_servers: list[str]
    security_protocol: SecurityProtocol = "PLAINTEXT"
    tls_secret: TlsSecret | None = None
    ca_secret: CaSecret | None = None
    sasl_secret: SaslSecret | None = None
    connection: Connection | None = None


@dataclass
class Repartitioning:
    target_partitions: int
    strategy: RepartitionStrategy = "murmur2"


@dataclass
class Pitr:
    """Both bounds inclusive, epoch ms. ISO fields are kept for round trips; use the *_ms helpers."""

    start_timestamp: int | None = None
    end_timestamp: int | None = None
    start_time: str | None = None
    end_time: str | None = None

    @property
    def start_ms(self) -> int | None:
        return self.start_timestamp if self.start_timestamp is not None else _iso_to_ms(self.start_time)

    @property
    def end_ms(self) -> int | None:
        return self.end_timestamp if self.end_timestamp is not None else _iso_to_ms(self.end_time)


@dataclass
class OffsetReset:
    enabled: bool = False
    consumer_groups: list[str] = field(default_factory=list)
    strategy: OffsetResetStrategy = "manual"


@dataclass
class SnapshotStorage:
    pvc_name: str
    sub_path: str | None = None


@dataclass
class Rollback:
    snapshot_before_restore: bool = True
    snapshot_retention_hours: int = 24
    auto_rollback_on_failure: bool = False
    snapshot_storage: SnapshotStorage | None = None


@dataclass
class RateLimiting:
    """OSO's shape; 0 means unlimited. Applied to the job as a whole, across all workers."""

    records_per_sec: int = 0
    bytes_per_sec: int = 0
    max_concurrent_partitions: int = 4


@dataclass
class CircuitBreaker:
    enabled: bool = True
    failure_threshold: int = 5
    reset_timeout_secs: int = 60
    success_threshold: int = 3
    operation_timeout_ms: int = 30000


@dataclass
class RestoreSpec:
    backup_ref: BackupRef
    kafka_cluster: KafkaCluster
    topics: list[str] = field(default_factory=list)
    topic_mapping: dict[str, str] = field(default_factory=dict)
    partition_mapping: dict[int, int] = field(default_factory=dict)
    repartitioning: dict[str, Repartitioning] = field(default_factory=dict)
    pitr: Pitr | None = None
    offset_reset: OffsetReset | None = None
    rollback: Rollback = field(default_factory=Rollback)
    rate_limiting: RateLimiting | None = None
    circuit_breaker: CircuitBreaker | None = None
    dry_run: bool = False
    produce_batch_size: int = 1000
    produce_acks: int = -1
    produce_timeout_ms: int = 30000
    purge_topics: bool = False
    auto_consumer_groups: bool = False
    create_topics: bool = False
    default_replication_factor: int | None = None

    def target_topic(self, source_topic: str) -> str:
        return self.topic_mapping.get(source_topic, source_topic)

    def target_partition(self, source_partition: int) -> int:
        return self.partition_mapping.get(source_partition, source_partition)


@dataclass
class ObjectMeta:
    name: str
    namespace: str | None = None
    uid: str | None = None
    generation: int | None = None
    resource_version: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    finalizers: list[str] = field(default_factory=list)
    deletion_timestamp: str | None = None
    creation_timestamp: str | None = None


@dataclass
class Condition:
    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str
    message: str = ""
    last_transition_time: str | None = None
    observed_generation: int | None = None


@dataclass
class RollbackStatus:
    snapshot_id: str
    snapshot_time: str
    snapshot_path: str
    rollback_available: bool
    expires_at: str | None = None


Phase = Literal["Pending", "Running", "Finalizing", "Completed", "Failed", "RolledBack", "Cancelled"]
TERMINAL_PHASES: frozenset[str] = frozenset({"Completed", "Failed", "RolledBack", "Cancelled"})


@dataclass
class RestoreStatus:
    phase: Phase | None = None
    message: str | None = None
    start_time: str | None = None
    completion_time: str | None = None
    progress_percent: float | None = None
    records_restored: int | None = None
    bytes_restored: int | None = None
    segments_processed: int | None = None
    current_topic: str | None = None
    throughput_records_per_sec: float | None = None
    eta_ms: int | None = None
    offset_mapping_path: str | None = None
    rollback: RollbackStatus | None = None
    observed_generation: int | None = None
    job_id: str | None = None
    conditions: list[Condition] = field(default_factory=list)


@dataclass
class KafkaRestore:
    metadata: ObjectMeta
    spec: RestoreSpec
    status: RestoreStatus | None = None
    api_version: str = API_VERSION
    kind: str = KIND


def _iso_to_ms(value: str | None) -> int | None:
    if value is None:
        return None
    from datetime import datetime

    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
