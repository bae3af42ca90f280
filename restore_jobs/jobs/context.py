"""Everything a task needs to act for a job, built inside the worker from the stored spec.

Secrets are resolved here, in the worker process, from the references in the spec; they live in
this process's memory only and never travel through Redis or task arguments.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cached_property

from restore_jobs.backup.manifest import Manifest, load_manifest
from restore_jobs.kafka.client import KafkaAdmin, TransactionalProducer
from restore_jobs.kafka.factory import open_admin, open_producer
from restore_jobs.spec import load_spec
from restore_jobs.spec.model import RestoreSpec
from restore_jobs.storage.base import BackupStorage
from restore_jobs.storage.factory import open_storage
from restore_jobs.storage.secrets import SecretResolver

from . import state


class JobConfigError(Exception):
    """The job cannot run as specified (no storage, no backup id). Not retriable."""


MIN_TRANSACTION_BYTES = "KAFKA_RESTORE_MIN_TRANSACTION_BYTES"
DEFAULT_MIN_TRANSACTION_BYTES = 4 << 20


def min_transaction_bytes() -> int:
    """The least payload a unit's transaction holds (``UnitRunner.min_batch_bytes``): the
    worker's setting, as the engine's commit cost depends on the cluster, not on the restore."""
    raw = os.environ.get(MIN_TRANSACTION_BYTES, str(DEFAULT_MIN_TRANSACTION_BYTES))
    if not raw.isdigit():
        raise ValueError(f"{MIN_TRANSACTION_BYTES}: expected a whole number of bytes, got {raw!r}")
    return int(raw)


@dataclass
class JobContext:
    job_id: str
    spec: RestoreSpec
    namespace: str | None

    @classmethod
    def load(cls, job_id: str) -> JobContext:
        job = state.get_job(job_id)
        if not job:
            raise JobConfigError(f"job {job_id} is unknown (its state is missing from Redis)")
        return cls(job_id, load_spec(json.loads(job["spec"])), job.get("namespace") or None)

    @cached_property
    def secrets(self) -> SecretResolver:
        return SecretResolver.for_namespace(self.namespace)

    @cached_property
    def storage(self) -> BackupStorage:
        ref = self.spec.backup_ref
        if ref.storage is None:
            raise JobConfigError(
                f"spec.backupRef: KafkaBackup {ref.name!r} was not resolved to a storage; outside "
                "Kubernetes give spec.backupRef.storage directly"
            )
        return open_storage(ref.storage, self.secrets)

    @cached_property
    def backup_id(self) -> str:
        stored = state.get_job(self.job_id).get("backup_id")
        if stored:
            return stored
        if self.spec.backup_ref.backup_id:
            return self.spec.backup_ref.backup_id
        return latest_backup_id(self.storage)

    @cached_property
    def manifest(self) -> Manifest:
        return load_manifest(self.storage, self.backup_id)

    @cached_property
    def admin(self) -> KafkaAdmin:
        """Every admin call is bounded by ``circuitBreaker.operationTimeoutMs``, so a cluster that
        is down costs one timeout per retry, not the client's default."""
        breaker = self.spec.circuit_breaker
        if breaker is None:
            return open_admin(self.spec.kafka_cluster, self.secrets)
        return open_admin(self.spec.kafka_cluster, self.secrets, timeout_s=breaker.operation_timeout_ms / 1000)

    def producer(self, transactional_id: str) -> TransactionalProducer:
        """Transactional (exactly-once) with produceAcks -1; plain at-least-once otherwise, since
        Kafka's transactions need acks=all."""
        spec = self.spec
        return open_producer(
            spec.kafka_cluster,
            self.secrets,
            transactional_id if spec.produce_acks == -1 else None,
            acks=spec.produce_acks,
            timeout_ms=spec.produce_timeout_ms,
            batch_size=spec.produce_batch_size,
        )

    def close(self) -> None:
        if "admin" in self.__dict__:
            self.admin.close()


def latest_backup_id(storage: BackupStorage) -> str:
    """The newest backup under the storage root, for a spec without backupRef.backupId."""
    candidates = sorted(
        key.rsplit("/", 1)[0]
        for key in storage.list("")
        if key.endswith("/manifest.json") and key.count("/") == 1
    )
    if not candidates:
        raise JobConfigError(f"spec.backupRef.backupId: no backup found at {storage.describe('')}")
    newest = max(candidates, key=lambda b: load_manifest(storage, b).created_at)
    return newest
