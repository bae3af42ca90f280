"""One source topic-partition restored exactly once.

The unit streams its segments in offset order, keeps the records inside the point-in-time window,
places each on a target partition, and produces them in transactions of ``batch_size`` records,
grown to ``min_batch_bytes`` of payload when the records are small.
Each transaction also commits the unit's checkpoint (see ``checkpoint.py``), so killing the unit at
any point and running it again — or running it twice — writes every selected record to the target
exactly once, in source order per target partition, for ``read_committed`` consumers.

Records are decoded on a thread of their own, a few chunks ahead (``readahead.py``), and sent a
chunk at a time. Memory stays bounded by one batch, the chunks read ahead, and what the segment
reader holds for one segment.
"""

from __future__ import annotations

import bisect
import logging
import operator
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from typing import Protocol

from restore_jobs.backup.records import BackupRecord
from restore_jobs.backup.segment import read_segment_batches
from restore_jobs.kafka.client import Committed, KafkaAdmin, KafkaError, TransactionalProducer
from restore_jobs.kafka.partitioner import RoundRobin, murmur2_partition
from restore_jobs.restore.checkpoint import (
    UnitCounters,
    checkpoint_group,
    checkpoint_partition,
    transactional_id,
)
from restore_jobs.restore.offset_mapping import MappingRange, batch_ranges
from restore_jobs.restore.plan import SegmentRef, UnitPlan
from restore_jobs.restore.readahead import read_ahead
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
    # A transaction ends only once it holds this much payload too (up to _SKIP_CHECKPOINT_FACTOR
    # batches): each commit drains the producer's pipeline, which costs about as much as sending
    # a megabyte, so small transactions spend much of their time waiting. 0: ``batch_size`` exactly.
    min_batch_bytes: int = 0

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
        self.window = window(unit)
        self.stream = not self.buffers_batches
        self.limit = runner.batch_size
        # Transactions stay at ``batch_size`` when hooks may sleep (they read whole batches before
        # the transaction opens) and when other units write to the same partitions: long
        # transactions of several producers there interleave, which costs an abort and a resend
        # with a report per record, and hold read_committed consumers back until all commit.
        self.min_bytes = runner.min_batch_bytes if self.stream and not unit.shares_target else 0
        # The open batch: records with their target partitions, payload bytes, records skipped by
        # the window, records considered, and the checkpoint it commits.
        self.batch: list[tuple[BackupRecord, int]] = []
        self.nbytes = self.skipped = self.considered = 0
        self.position = counters.next_offset

    def run(self) -> None:
        limit = self.limit
        batches = stream_batches(self.unit, self.runner.storage, self.counters.next_offset)
        chunks = read_ahead(_cut(batches, min(limit, 1000)), name=f"read-ahead {self.unit.name}")
        with closing(chunks):  # an error or a cancel here stops the reader at once
            for chunk in chunks:
                start = 0
                while start < len(chunk):  # pieces end where the batch reaches a multiple of limit
                    end = start + limit - len(self.batch) % limit
                    self._take(chunk[start:end])
                    start = end
        self.position = max(self.position, final_position(self.unit))
        self._commit()

    def _take(self, piece: list[BackupRecord]) -> None:
        """Adds the records of ``piece`` the window keeps, sending them at once unless batches are
        buffered, and commits when the batch is complete."""
        first, last = self.window
        if self.unit.strategy is None:  # one partition for every record: no call per record
            fixed = self.unit.target_partition
            selected = [(rec, fixed) for rec in piece if first <= rec.timestamp <= last]
        else:
            place = self.place
            selected = [(rec, place(rec)) for rec in piece if first <= rec.timestamp <= last]
        self.considered += len(piece)
        self.skipped += len(piece) - len(selected)
        if selected:
            if self.stream:
                if not self.batch:
                    self.producer.begin()
                self.producer.send_many(self.unit.target_topic, selected)
            self.batch += selected
            self.nbytes += sum(rec.size for rec, _ in selected)
        self.position = piece[-1].offset + 1
        size, cap = len(self.batch), self.limit * _SKIP_CHECKPOINT_FACTOR
        if (size >= self.limit and self.nbytes >= self.min_bytes) or max(size, self.considered) >= cap:
            self._commit()

    @property
    def buffers_batches(self) -> bool:
        """Hooks that may sleep get whole batches, read before their transaction opens."""
        return bool(getattr(self.hooks, "may_wait", False))

    def _commit(self) -> None:
        """Sends the batch unless it was streamed, flushes it and commits it with the checkpoint;
        then opens the next."""
        unit, counters, producer = self.unit, self.counters, self.producer
        batch, nbytes, position = self.batch, self.nbytes, self.position
        self.hooks.before_batch(len(batch), nbytes)
        if not (batch and self.stream):
            producer.begin()
            producer.send_many(unit.target_topic, batch)
        delivered = producer.flush()
        if len(delivered) != len(batch):
            raise KafkaError(f"unit {unit.name}: {len(delivered)} deliveries for a batch of {len(batch)} records")
        if batch:
            ranges = batch_ranges((unit.source_topic, unit.source_partition), unit.target_topic, batch,
                                  delivered.runs, self.limit)
            self.hooks.save_mapping(counters.next_offset, ranges)
        producer.commit(self.group, {self.ckpt_tp: Committed(position)})
        counters.records_written += len(batch)
        counters.bytes_written += nbytes
        counters.records_skipped += self.skipped
        counters.segments_processed = segments_before(unit, position)
        counters.batches += 1
        counters.next_offset = position
        counters.round_robin = self.round_robin.position
        counters.done = position >= final_position(unit)
        self.hooks.on_progress(counters)
        self.batch = []
        self.nbytes = self.skipped = self.considered = 0


def in_window(unit: UnitPlan, ts: int) -> bool:
    first, last = window(unit)
    return first <= ts <= last


def window(unit: UnitPlan) -> tuple[int, int]:
    """The point-in-time window as two bounds that are never None, for a comparison per record."""
    return (-(1 << 63) if unit.start_ms is None else unit.start_ms,
            (1 << 63) if unit.end_ms is None else unit.end_ms)


def stream_records(unit: UnitPlan, storage: BackupStorage, from_offset: int) -> Iterator[BackupRecord]:
    """The unit's records at or after ``from_offset``, in offset order, checked against the manifest."""
    for batch in stream_batches(unit, storage, from_offset):
        yield from batch


def stream_batches(unit: UnitPlan, storage: BackupStorage, from_offset: int) -> Iterator[list[BackupRecord]]:
    """``stream_records`` in the segment reader's batches, each checked as a whole."""
    for seg in unit.segments:
        if seg.end_offset < from_offset:
            continue
        previous = -1
        with storage.open(seg.key) as stream:
            for batch in read_segment_batches(stream, seg.key):
                offsets = [rec.offset for rec in batch]
                if (offsets[0] <= previous or offsets[0] < seg.start_offset or offsets[-1] > seg.end_offset
                        or any(map(operator.ge, offsets, offsets[1:]))):
                    raise _out_of_order(seg, offsets, previous)
                previous = offsets[-1]
                if previous < from_offset:
                    continue
                if offsets[0] < from_offset:
                    batch = batch[bisect.bisect_left(offsets, from_offset):]
                yield batch


def _cut(batches: Iterator[list[BackupRecord]], size: int) -> Iterator[list[BackupRecord]]:
    """Batches of at most ``size`` records, so the read-ahead stays a few of the unit's batches
    ahead, not a few segments: a rate-limited unit with small batches reads its segments as it
    goes, not all at its start (and meets a storage outage where it is, then)."""
    for batch in batches:
        if len(batch) <= size:
            yield batch
        else:
            for i in range(0, len(batch), size):
                yield batch[i : i + size]


def _out_of_order(seg: SegmentRef, offsets: list[int], previous: int) -> BackupDataError:
    for offset in offsets:
        if not seg.start_offset <= offset <= seg.end_offset or offset <= previous:
            break
        previous = offset
    return BackupDataError(
        f"segment {seg.key}: record offset {offset} is outside the manifest's range "
        f"{seg.start_offset}-{seg.end_offset} or out of order (after {previous})"
    )


def _abort_quietly(producer: TransactionalProducer) -> None:
    try:
        producer.abort()
    except Exception as exc:  # the original error matters more; the broker aborts on timeout anyway
        log.warning("could not abort the open transaction: %s", exc)
