"""A restore in this process, without Celery or Redis: the same plan, units and finalize steps as a
job, with unit state kept in memory. Benchmarks use it to measure the engine alone."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from restore_jobs.backup.manifest import load_manifest
from restore_jobs.kafka.client import ClientName
from restore_jobs.kafka.factory import open_admin, open_producer
from restore_jobs.restore.checkpoint import UnitCounters
from restore_jobs.restore.offset_mapping import MappingRange, OffsetMapping
from restore_jobs.restore.plan import UnitPlan, check_segments, plan_restore
from restore_jobs.restore.unit import UnitRunner, count_unit
from restore_jobs.spec.model import RestoreSpec
from restore_jobs.storage.base import BackupStorage
from restore_jobs.storage.secrets import SecretResolver

from . import context, steps


@dataclass
class MemoryHooks:
    """Unit hooks that keep offset-mapping chunks and counters in memory."""

    chunks: dict[int, list[MappingRange]] = field(default_factory=dict)
    saved: UnitCounters | None = None

    def before_batch(self, records: int, nbytes: int) -> None:
        pass

    def save_mapping(self, start_offset: int, ranges: list[MappingRange]) -> None:
        self.chunks[start_offset] = ranges

    def on_progress(self, counters: UnitCounters) -> None:
        self.saved = replace(counters)

    def load_counters(self, position: int) -> UnitCounters | None:
        return replace(self.saved) if self.saved and self.saved.next_offset == position else None

    def committed_ranges(self, counters: UnitCounters) -> list[MappingRange]:
        return [r for start, ranges in sorted(self.chunks.items()) if start < counters.next_offset for r in ranges]


@dataclass
class LocalResult:
    units: dict[str, UnitCounters]
    mapping: OffsetMapping
    message: str
    seconds: float

    @property
    def records(self) -> int:
        return sum(c.records_written for c in self.units.values())

    @property
    def bytes(self) -> int:
        return sum(c.bytes_written for c in self.units.values())


def run_local(
    spec: RestoreSpec,
    storage: BackupStorage,
    backup_id: str,
    *,
    job_id: str = "local",
    client: ClientName | None = None,
    threads: int = 1,
    secrets: SecretResolver | None = None,
    min_transaction_bytes: int | None = None,
) -> LocalResult:
    """``min_transaction_bytes``: the units' minimum transaction size; by default a worker's
    (``KAFKA_RESTORE_MIN_TRANSACTION_BYTES``)."""
    started = time.perf_counter()
    min_bytes = context.min_transaction_bytes() if min_transaction_bytes is None else min_transaction_bytes
    admin = open_admin(spec.kafka_cluster, secrets, client)
    try:
        manifest = load_manifest(storage, backup_id)
        plan = plan_restore(spec, manifest, admin.topics())
        check_segments(plan, storage)
        if not spec.dry_run:
            steps.prepare_target(spec, plan, admin, job_id)
        lock = threading.Lock()
        results: dict[str, UnitCounters] = {}
        mapping = OffsetMapping()

        def producer(transactional_id: str):
            return open_producer(
                spec.kafka_cluster,
                secrets,
                transactional_id if spec.produce_acks == -1 else None,
                acks=spec.produce_acks,
                timeout_ms=spec.produce_timeout_ms,
                batch_size=spec.produce_batch_size,
                client=client,
            )

        def run(unit: UnitPlan) -> None:
            if spec.dry_run:
                counters = count_unit(unit, storage)
                ranges: list[MappingRange] = []
            else:
                hooks = MemoryHooks()
                runner = UnitRunner(storage, admin, producer, job_id, spec.produce_batch_size, min_bytes)
                counters = runner.run(unit, hooks)
                ranges = hooks.committed_ranges(counters)
            with lock:
                results[unit.name] = counters
                mapping.add(ranges)

        with ThreadPoolExecutor(max_workers=max(threads, 1)) as pool:
            list(pool.map(run, plan.units))
        records = sum(c.records_written for c in results.values())
        if spec.dry_run:
            message = f"dry run: would restore {records} records from {len(results)} partitions"
        else:
            message = steps.finalize_restore(
                spec, mapping, admin, storage, manifest, job_id, records, len(plan.units), int(time.time() * 1000)
            ).message
        return LocalResult(results, mapping, message, time.perf_counter() - started)
    finally:
        admin.close()
