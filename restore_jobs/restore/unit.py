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
from restore_jobs.kafka.client import KafkaAdmin, TransactionalProducer
from restore_jobs.kafka.partitioner import RoundRobin, murmur2_partition
from restore_jobs.restore.checkpoint import (
    UnitCounters,
    checkpoint_group,
    checkpoint_partition,
    transactional_id,
)
from restore_jobs.restore.offset_mapping import MappingRange, build_ranges
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
    """What the job system plugs into a unit: throttling, cancellation, durable mapping, progress."""

    def before_batch(self, records: int, nbytes: int) -> None:
        """Called before a batch is produced; may sleep (rate limit) or raise UnitCancelled."""
        ...

    def save_mapping(self, batch: int, ranges: list[MappingRange]) -> None:
        """Persist batch ``batch``'s offset ranges, overwriting an earlier attempt of the same batch.

        Called before the batch's transaction commits: an aborted attempt is overwritten when the
        batch is produced again, and batches at or past the committed count are ignored."""
        ...

    def on_progress(self, counters: UnitCounters) -> None:
        """Called after each commit with the unit's committed counters."""
        ...


ProducerFactory = Callable[[str], TransactionalProducer]


@dataclass
class UnitRunner:
    storage: BackupStorage
    admin: KafkaAdmin
    open_producer: ProducerFactory
    job_id: str
    batch_size: int = 1000

    def committed(self, unit: UnitPlan) -> UnitCounters:
        group = checkpoint_group(self.job_id, unit.source_topic, unit.source_partition)
        tp = checkpoint_partition(unit.target_topic, unit.target_partition)
        found = self.admin.committed(group, [tp]).get(tp)
        return UnitCounters.from_committed(found) if found else UnitCounters()

    def run(self, unit: UnitPlan, hooks: UnitHooks) -> UnitCounters:
        counters = self.committed(unit)
        ctx = {"job": self.job_id, "topic": unit.source_topic, "partition": unit.source_partition}
        if counters.done:
            log.info("unit already complete; nothing to do", extra=ctx)
            return counters
        if counters.batches:
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


def count_unit(unit: UnitPlan, storage: BackupStorage) -> UnitCounters:
    """A dry run: exactly what ``UnitRunner.run`` would write, with nothing written anywhere."""
    counters = UnitCounters()
    for item in _stream(unit, storage, 0):
        if item is None:
            counters.segments_processed += 1
        elif _in_window(unit, item.timestamp):
            counters.records_written += 1
            counters.bytes_written += item.size
        else:
            counters.records_skipped += 1
    counters.done = True
    return counters


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
        self.place = self._placement()

    def _placement(self) -> Callable[[BackupRecord], int]:
        unit = self.unit
        if unit.strategy is None:
            fixed = unit.target_partition
            assert fixed is not None
            return lambda rec: fixed
        n = unit.target_partitions
        rr = self.round_robin
        if unit.strategy == "automatic":
            return lambda rec: rr.next()
        return lambda rec: murmur2_partition(rec.key, n) if rec.key is not None else rr.next()

    def run(self) -> None:
        unit, counters = self.unit, self.counters
        batch: list[tuple[BackupRecord, int]] = []
        position = counters.next_offset
        pending_segments = 0
        pending_skipped = 0
        considered = 0
        limit = self.runner.batch_size
        for item in _stream(unit, self.runner.storage, counters.next_offset):
            if item is None:
                pending_segments += 1
                continue
            position = item.offset + 1
            considered += 1
            if _in_window(unit, item.timestamp):
                batch.append((item, self.place(item)))
            else:
                pending_skipped += 1
            if len(batch) >= limit or considered >= limit * _SKIP_CHECKPOINT_FACTOR:
                self._commit(batch, position, pending_segments, pending_skipped, done=False)
                batch, pending_segments, pending_skipped, considered = [], 0, 0, 0
        last_offset = unit.segments[-1].end_offset + 1 if unit.segments else position
        self._commit(batch, max(position, last_offset), pending_segments, pending_skipped, done=True)

    def _commit(
        self,
        batch: list[tuple[BackupRecord, int]],
        position: int,
        segments: int,
        skipped: int,
        done: bool,
    ) -> None:
        unit, counters, producer = self.unit, self.counters, self.producer
        nbytes = sum(rec.size for rec, _ in batch)
        self.hooks.before_batch(len(batch), nbytes)
        producer.begin()
        target = unit.target_topic
        for rec, partition in batch:
            producer.send(target, partition, rec.key, rec.value, rec.headers, rec.timestamp)
        delivered = producer.flush()
        if batch:
            src_topic, src_partition = unit.source_topic, unit.source_partition
            deliveries = [
                (src_topic, src_partition, rec.offset, rec.timestamp, d.topic, d.partition, d.offset)
                for (rec, _), d in zip(batch, delivered, strict=True)
            ]
            self.hooks.save_mapping(counters.batches, build_ranges(deliveries))
        counters.records_written += len(batch)
        counters.bytes_written += nbytes
        counters.segments_processed += segments
        counters.records_skipped += skipped
        counters.batches += 1
        counters.next_offset = position
        counters.round_robin = self.round_robin.position
        counters.done = done
        producer.commit(self.group, {self.ckpt_tp: counters.to_committed()})
        self.hooks.on_progress(counters)


def _in_window(unit: UnitPlan, ts: int) -> bool:
    return (unit.start_ms is None or ts >= unit.start_ms) and (unit.end_ms is None or ts <= unit.end_ms)


def _stream(unit: UnitPlan, storage: BackupStorage, from_offset: int) -> Iterator[BackupRecord | None]:
    """The unit's records at or after ``from_offset``; None marks the end of each segment read."""
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
        yield None


def _abort_quietly(producer: TransactionalProducer) -> None:
    try:
        producer.abort()
    except Exception as exc:  # the original error matters more; the broker aborts on timeout anyway
        log.warning("could not abort the open transaction: %s", exc)
