"""One source topic-partition restored exactly once.

The unit streams its segments in offset order, keeps the records inside the point-in-time window,
places each on a target partition, and produces them in transactions of ``batch_size`` records.
Each transaction also commits the unit's checkpoint (see ``checkpoint.py``), so killing the unit at
any point and running it again — or running it twice — writes every selected record to the target
exactly once, in source order per target partition, for ``read_committed`` consumers.

Memory stays bounded by one batch plus what the segment reader holds for one segment.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from restore_jobs.backup.records import BackupRecord
from restore_jobs.backup.segment import read_segment
from restore_jobs.kafka.client import Committed, KafkaAdmin, KafkaError, TransactionalProducer
from restore_jobs.kafka.partitioner import RoundRobin, murmur2_partition
from restore_jobs.restore.checkpoint import (
    UnitCounters,
    checkpoint_group,
    checkpoint_partition,
    transactional_id,
)
from restore_jobs.restore.offset_mapping import MappingRange, batch_ranges
from restore_jobs.restore.plan import UnitPlan
from restore_jobs.storage.base import BackupStorage

log = logging.getLogger(__name__)

# Commit a checkpoint at least this many considered records apart, even when the window filters
# everything out, so a resumed unit does not rescan a long stretch of skipped records.
_SKIP_CHECKPOINT_FACTOR = 50


class UnitCancelled(Exception):
    """The job was cancelled; the open transaction is aborted, nothing of it becomes visible."""


class BackupDataError(Exception):
    """The backup contradicts itself (offsets outside their segment, out of order). Not retriable."""


class UnitHooks(Protocol):
    """What the job system plugs into a unit: throttling, cancellation, durable state, progress.

    Hooks that may sleep in ``before_batch`` (a rate limit) set an attribute ``may_wait = True``:
    their batches are then read whole before the transaction opens, so no transaction stays open
    during the wait (the broker aborts one open longer than transaction.timeout.ms, and
    read_committed consumers of the target stall behind it). Otherwise records are sent as they
    are read, inside the open transaction, so the client transmits while the next ones decode."""

    def before_batch(self, records: int, nbytes: int) -> None:
        """Called before a batch commits (before it is sent when ``may_wait``); may sleep (rate
        limit) or raise UnitCancelled, which aborts the open transaction, if any."""
        ...

    def save_mapping(self, start_offset: int, ranges: list[MappingRange]) -> None:
        """Persist the offset ranges of the batch that starts at checkpoint ``start_offset``.

        Called before the batch's transaction commits. A retry of an aborted batch starts from the
        same checkpoint and overwrites it; chunks at or past the committed position are ignored."""
        ...

    def on_progress(self, counters: UnitCounters) -> None:
        """Called after each commit with the counters as of ``counters.next_offset``."""
        ...

    def load_counters(self, position: int) -> UnitCounters | None:
        """The counters saved by ``on_progress`` for exactly this committed position, if any."""
        ...


ProducerFactory = Callable[[str], TransactionalProducer]


@dataclass
class UnitRunner:
    storage: BackupStorage
    admin: KafkaAdmin
    open_producer: ProducerFactory
    job_id: str
    batch_size: int = 1000

    def committed_position(self, unit: UnitPlan) -> int | None:
        group = checkpoint_group(self.job_id, unit.source_topic, unit.source_partition)
        tp = checkpoint_partition(unit.target_topic, unit.target_partition)
        found = self.admin.committed(group, [tp]).get(tp)
        return found.offset if found is not None and found.offset >= 0 else None

    def resume_state(self, unit: UnitPlan, hooks: UnitHooks) -> UnitCounters:
        position = self.committed_position(unit)
        if position is None:
            return UnitCounters()
        return hooks.load_counters(position) or replay(unit, self.storage, position)

    def run(self, unit: UnitPlan, hooks: UnitHooks) -> UnitCounters:
        counters = self.resume_state(unit, hooks)
        ctx = {"job": self.job_id, "topic": unit.source_topic, "partition": unit.source_partition}
        if counters.done:
            log.info("unit already complete; nothing to do", extra=ctx)
            return counters
        if counters.next_offset:
            log.info("resuming unit at source offset %d", counters.next_offset, extra=ctx)
        producer = self.open_producer(transactional_id(self.job_id, unit.source_topic, unit.source_partition))
        try:
            producer.init()
            _Writer(self, unit, producer, hooks, counters).run()
        except BaseException:
            _abort_quietly(producer)
            raise
        finally:
            producer.close()
        log.info(
            "unit complete: %d records, %d bytes, %d skipped by the time window",
            counters.records_written, counters.bytes_written, counters.records_skipped, extra=ctx,
        )
        return counters


def final_position(unit: UnitPlan) -> int:
    """The checkpoint of a finished unit: one past its last record."""
    return unit.segments[-1].end_offset + 1 if unit.segments else 0


def segments_before(unit: UnitPlan, position: int) -> int:
    return sum(1 for s in unit.segments if s.end_offset < position)


def replay(unit: UnitPlan, storage: BackupStorage, position: int) -> UnitCounters:
    """The counters of a unit whose checkpoint is ``position``, recomputed from the backup (read
    only, no Kafka): what it wrote, skipped and how far its round robin went."""
    counters = UnitCounters(next_offset=position)
    round_robin = RoundRobin(unit.target_partitions)
    place = placement(unit, round_robin)
    for rec in stream_records(unit, storage, 0):
        if rec.offset >= position:
            break
        if in_window(unit, rec.timestamp):
            counters.records_written += 1
            counters.bytes_written += rec.size
            place(rec)
        else:
            counters.records_skipped += 1
    counters.round_robin = round_robin.position
    counters.segments_processed = segments_before(unit, position)
    counters.done = position >= final_position(unit)
    return counters


def placement(unit: UnitPlan, round_robin: RoundRobin) -> Callable[[BackupRecord], int]:
    """The target partition of each record, in record order. Deterministic given the round-robin
    position, which a resume recovers, so a resumed unit places records as the first run did."""
    if unit.strategy is None:
        fixed = unit.target_partition
        assert fixed is not None
        return lambda rec: fixed
    n = unit.target_partitions
    # Units start their round robin at different partitions so null keys spread evenly.
    offset = unit.source_partition

    def spread(rec: BackupRecord) -> int:
        return (round_robin.next() + offset) % n

    if unit.strategy == "automatic":
        return spread
    return lambda rec: murmur2_partition(rec.key, n) if rec.key is not None else spread(rec)


def count_unit(unit: UnitPlan, storage: BackupStorage) -> UnitCounters:
    """A dry run: exactly what ``UnitRunner.run`` would write, with nothing written anywhere."""
    return replay(unit, storage, final_position(unit))


class _Writer:
    def __init__(
        self,
        runner: UnitRunner,
        unit: UnitPlan,
        producer: TransactionalProducer,
        hooks: UnitHooks,
        counters: UnitCounters,
    ):
        self.runner, self.unit, self.producer = runner, unit, producer
        self.hooks, self.counters = hooks, counters
        self.group = checkpoint_group(runner.job_id, unit.source_topic, unit.source_partition)
        self.ckpt_tp = checkpoint_partition(unit.target_topic, unit.target_partition)
        self.round_robin = RoundRobin(unit.target_partitions, start=counters.round_robin)
        self.place = placement(unit, self.round_robin)

    def run(self) -> None:
        unit, counters, producer = self.unit, self.counters, self.producer
        batch: list[tuple[BackupRecord, int]] = []
        position = counters.next_offset
        skipped = 0
        considered = 0
        limit = self.runner.batch_size
        target, place, send = unit.target_topic, self.place, producer.send
        stream = not self.buffers_batches
        for rec in stream_records(unit, self.runner.storage, counters.next_offset):
            position = rec.offset + 1
            considered += 1
            if in_window(unit, rec.timestamp):
                partition = place(rec)
                if stream:
                    if not batch:
                        producer.begin()
                    send(target, partition, rec.key, rec.value, rec.headers, rec.timestamp)
                batch.append((rec, partition))
            else:
                skipped += 1
            if len(batch) >= limit or considered >= limit * _SKIP_CHECKPOINT_FACTOR:
                self._commit(batch, position, skipped)
                batch, skipped, considered = [], 0, 0
        self._commit(batch, max(position, final_position(unit)), skipped)

    @property
    def buffers_batches(self) -> bool:
        """Hooks that may sleep get whole batches, read before their transaction opens."""
        return bool(getattr(self.hooks, "may_wait", False))

    def _commit(self, batch: list[tuple[BackupRecord, int]], position: int, skipped: int) -> None:
        """Sends the batch unless it was streamed, flushes it and commits it with the checkpoint."""
        unit, counters, producer = self.unit, self.counters, self.producer
        nbytes = sum(rec.size for rec, _ in batch)
        sent = bool(batch) and not self.buffers_batches
        self.hooks.before_batch(len(batch), nbytes)
        if not sent:
            producer.begin()
            target = unit.target_topic
            for rec, partition in batch:
                producer.send(target, partition, rec.key, rec.value, rec.headers, rec.timestamp)
        delivered = producer.flush()
        if len(delivered) != len(batch):
            raise KafkaError(f"unit {unit.name}: {len(delivered)} deliveries for a batch of {len(batch)} records")
        if batch:
            ranges = batch_ranges((unit.source_topic, unit.source_partition), unit.target_topic, batch,
                                  delivered.runs)
            self.hooks.save_mapping(counters.next_offset, ranges)
        producer.commit(self.group, {self.ckpt_tp: Committed(position)})
        counters.records_written += len(batch)
        counters.bytes_written += nbytes
        counters.records_skipped += skipped
        counters.segments_processed = segments_before(unit, position)
        counters.batches += 1
        counters.next_offset = position
        counters.round_robin = self.round_robin.position
        counters.done = position >= final_position(unit)
        self.hooks.on_progress(counters)


def in_window(unit: UnitPlan, ts: int) -> bool:
    return (unit.start_ms is None or ts >= unit.start_ms) and (unit.end_ms is None or ts <= unit.end_ms)


def stream_records(unit: UnitPlan, storage: BackupStorage, from_offset: int) -> Iterator[BackupRecord]:
    """The unit's records at or after ``from_offset``, in offset order, checked against the manifest."""
    for seg in unit.segments:
        if seg.end_offset < from_offset:
            continue
        previous = -1
        with storage.open(seg.key) as stream:
            for rec in read_segment(stream, seg.key):
                if not seg.start_offset <= rec.offset <= seg.end_offset or rec.offset <= previous:
                    raise BackupDataError(
                        f"segment {seg.key}: record offset {rec.offset} is outside the manifest's range "
                        f"{seg.start_offset}-{seg.end_offset} or out of order (after {previous})"
                    )
                previous = rec.offset
                if rec.offset >= from_offset:
                    yield rec


def _abort_quietly(producer: TransactionalProducer) -> None:
    try:
        producer.abort()
    except Exception as exc:  # the original error matters more; the broker aborts on timeout anyway
        log.warning("could not abort the open transaction: %s", exc)
