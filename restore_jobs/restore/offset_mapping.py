"""Where every restored record went: source (topic, partition, offset) -> target (topic, partition, offset).

Restored records land at new offsets: the target partition may already hold records, compacted or
time-filtered (PITR) records leave gaps in the source, transaction markers shift target offsets, and
repartitioning spreads one source partition over several target partitions. Consumer groups commit
source offsets, so resetting them needs this mapping.

Kept compact as ranges (``MappingRange``):
- ``exact=True``: a contiguous run; source offsets ``source_first..source_last`` map one-to-one onto
  ``target_first..target_last``. A run ends wherever either side jumps.
- ``exact=False``: a per-batch summary for one target partition when a batch scattered over several
  target partitions (repartitioning): the source offsets are a subset of
  ``[source_first, source_last]``, the target offsets a subset of ``[target_first, target_last]``.

Two ways to ask it, on purpose different:

``lookup(target_topic, target_partition, source_offset)`` answers exactly as OSO kafka-backup does
with its ``detailed_mappings``: an exact match of a run start, else the nearest lower run start plus
the difference (so a committed offset of ``last + 1`` maps to target ``last + 1``); None when no run
starts at or below the offset. Source partitions are not told apart (OSO's schema cannot), and an
offset inside a gap (compacted or filtered records) lands past the gap: OSO's rule can skip records.

``translate(source_commits)`` is what the consumer-group reset uses, and it never skips a record the
group had not consumed. For a committed source offset ``c`` (the next record the group would read),
for every target partition fed by that source partition:
- exact ranges give the precise target offset of the first restored record with source offset >= c;
- summaries (repartitioned topics) give the start of the batch holding such a record: the group may
  re-read at most one batch of records it had already consumed, and never misses one;
- when every record of that source in that partition is below ``c`` (all consumed), the position
  after the last of them;
- when several committed source partitions feed one target partition, the smallest position wins
  (again: re-deliver rather than skip). Source partitions the group has no commit for do not count.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from restore_jobs.backup.records import BackupRecord
from restore_jobs.kafka.client import OffsetRun, run_offsets

# (source_topic, source_partition, source_offset, timestamp, target_topic, target_partition, target_offset)
Delivery = tuple[str, int, int, int, str, int, int]
TopicPartition = tuple[str, int]


class OffsetMappingError(ValueError):
    """An offset-mapping document is malformed; the message names the key."""


@dataclass(frozen=True, slots=True)
class MappingRange:
    source_topic: str
    source_partition: int
    source_first: int
    source_last: int
    target_topic: str
    target_partition: int
    target_first: int
    target_last: int
    count: int
    first_timestamp: int
    last_timestamp: int
    exact: bool

    def resume_offset(self, committed: int) -> int | None:
        """Where a group that committed ``committed`` resumes within this range; None when it has
        consumed every record of it."""
        if committed > self.source_last:
            return None
        if not self.exact or committed <= self.source_first:
            return self.target_first
        return self.target_first + (committed - self.source_first)

    def continued_by(self, other: MappingRange) -> bool:
        """Whether ``other`` extends this exact run (the next batch picked up where this one ended)."""
        return (
            self.exact
            and other.exact
            and other.source_first == self.source_last + 1
            and other.target_first == self.target_last + 1
        )


_RANGE_FIELDS = tuple(f.name for f in fields(MappingRange))


@dataclass(frozen=True, slots=True)
class ResumePosition:
    """A target offset to resume at, and the source commit that decided it."""

    offset: int
    source_topic: str
    source_partition: int
    source_offset: int


def batch_ranges(
    source: TopicPartition,
    target_topic: str,
    batch: Sequence[tuple[BackupRecord, int]],
    runs: Mapping[TopicPartition, Sequence[OffsetRun]],
    summary_records: int | None = None,
) -> list[MappingRange]:
    """Ranges for one batch of one unit: ``batch`` holds (record, target partition) in send order,
    ``runs`` the offsets the records of each target partition got, as (first, count) runs in send
    order (``Deliveries.runs``). The common batch, contiguous source offsets onto one run of one
    partition, is one range without a look at every record. A batch scattered over partitions is
    summarized per ``summary_records`` records (see ``build_ranges``)."""
    if not batch:
        return []
    if len(runs) == 1:
        ((_, target_partition), spans), = runs.items()
        first, last, n = batch[0][0], batch[-1][0], len(batch)
        if len(spans) == 1 and spans[0][1] == n and last.offset - first.offset == n - 1:
            t_first = spans[0][0]
            return [MappingRange(source[0], source[1], first.offset, last.offset, target_topic, target_partition,
                                 t_first, t_first + n - 1, n, first.timestamp, last.timestamp, True)]
    targets = run_offsets(runs)
    st, sp = source
    return build_ranges([(st, sp, rec.offset, rec.timestamp, target_topic, p, next(targets[(target_topic, p)]))
                         for rec, p in batch], summary_records)


def build_ranges(deliveries: Sequence[Delivery], summary_records: int | None = None) -> list[MappingRange]:
    """Ranges from per-record deliveries, in send order. Deliveries over several target
    partitions are summarized per ``summary_records`` of them (all at once by default): a
    consumer-group reset re-reads at most one summary's records, so a transaction larger than a
    produce batch keeps the reset as fine as a batch."""
    if not deliveries:
        return []
    targets = {(d[4], d[5]) for d in deliveries}
    if len(targets) == 1:
        return _exact_runs(deliveries)
    step = summary_records or len(deliveries)
    return [r for i in range(0, len(deliveries), step) for r in _summaries(deliveries[i : i + step])]


def _exact_runs(deliveries: Sequence[Delivery]) -> list[MappingRange]:
    runs: list[MappingRange] = []
    st, sp, s_first, ts_first, tt, tp, t_first = deliveries[0]
    s_prev, t_prev, ts_prev, n = s_first, t_first, ts_first, 1
    for i in range(1, len(deliveries)):
        st2, sp2, s, ts, tt2, tp2, t = deliveries[i]
        if s == s_prev + 1 and t == t_prev + 1 and sp2 == sp and tp2 == tp and st2 == st and tt2 == tt:
            s_prev, t_prev, ts_prev = s, t, ts
            n += 1
            continue
        runs.append(MappingRange(st, sp, s_first, s_prev, tt, tp, t_first, t_prev, n, ts_first, ts_prev, True))
        st, sp, s_first, ts_first, tt, tp, t_first = st2, sp2, s, ts, tt2, tp2, t
        s_prev, t_prev, ts_prev, n = s, t, ts, 1
    runs.append(MappingRange(st, sp, s_first, s_prev, tt, tp, t_first, t_prev, n, ts_first, ts_prev, True))
    return runs


def _summaries(deliveries: Sequence[Delivery]) -> list[MappingRange]:
    # key -> [source_min, source_max, target_min, target_max, count, first_ts, last_ts]
    acc: dict[tuple[str, int, str, int], list[int]] = {}
    for st, sp, s, ts, tt, tp, t in deliveries:
        a = acc.get((st, sp, tt, tp))
        if a is None:
            acc[(st, sp, tt, tp)] = [s, s, t, t, 1, ts, ts]
            continue
        if s < a[0]:
            a[0] = s
        elif s > a[1]:
            a[1] = s
        if t < a[2]:
            a[2] = t
        elif t > a[3]:
            a[3] = t
        a[4] += 1
        a[6] = ts
    return [
        MappingRange(st, sp, a[0], a[1], tt, tp, a[2], a[3], a[4], a[5], a[6], False)
        for (st, sp, tt, tp), a in acc.items()
    ]


class OffsetMapping:
    """All ranges of one restore job, with OSO's lookup and a reset-safe translation."""

    def __init__(self, ranges: Iterable[MappingRange] = ()):
        self._ranges: list[MappingRange] = []
        # Index of the latest range per (source, target) pair: consecutive batches coalesce into one run.
        self._tail: dict[tuple[str, int, str, int], int] = {}
        self._by_source: dict[TopicPartition, list[MappingRange]] | None = None
        self._run_starts: dict[TopicPartition, tuple[list[int], list[int]]] | None = None
        self.add(ranges)

    @property
    def ranges(self) -> list[MappingRange]:
        return list(self._ranges)

    def add(self, ranges: Iterable[MappingRange]) -> None:
        for r in ranges:
            key = (r.source_topic, r.source_partition, r.target_topic, r.target_partition)
            i = self._tail.get(key)
            if i is not None and self._ranges[i].continued_by(r):
                prev = self._ranges[i]
                self._ranges[i] = replace(
                    prev,
                    source_last=r.source_last,
                    target_last=r.target_last,
                    count=prev.count + r.count,
                    last_timestamp=r.last_timestamp,
                )
            else:
                self._tail[key] = len(self._ranges)
                self._ranges.append(r)
        self._by_source = None
        self._run_starts = None

    # -- questions -----------------------------------------------------------------------------

    def lookup(self, target_topic: str, target_partition: int, source_offset: int) -> int | None:
        """OSO's rule: exact run start, else nearest lower run start plus the difference."""
        starts = self._index_run_starts().get((target_topic, target_partition))
        if starts is None:
            return None
        sources, targets = starts
        i = bisect_right(sources, source_offset) - 1
        if i < 0:
            return None
        return targets[i] + (source_offset - sources[i])

    def translate(self, source_commits: Mapping[TopicPartition, int]) -> dict[TopicPartition, int]:
        """Target partition -> offset to resume at, never skipping an unconsumed record (module doc)."""
        return {tp: pos.offset for tp, pos in self.resume_positions(source_commits).items()}

    def resume_positions(self, source_commits: Mapping[TopicPartition, int]) -> dict[TopicPartition, ResumePosition]:
        """``translate`` with the source commit that decided each position."""
        by_source = self._index_by_source()
        best: dict[TopicPartition, ResumePosition] = {}
        for (src_topic, src_partition), committed in source_commits.items():
            # target -> [earliest unconsumed position or None, last target offset]
            per_target: dict[TopicPartition, list[Any]] = {}
            for r in by_source.get((src_topic, src_partition), ()):
                tgt = (r.target_topic, r.target_partition)
                pos = r.resume_offset(committed)
                cur = per_target.setdefault(tgt, [pos, r.target_last])
                if pos is not None and (cur[0] is None or pos < cur[0]):
                    cur[0] = pos
                cur[1] = max(cur[1], r.target_last)
            for tgt, (pos, last) in per_target.items():
                offset = pos if pos is not None else last + 1
                if tgt not in best or offset < best[tgt].offset:
                    best[tgt] = ResumePosition(offset, src_topic, src_partition, committed)
        return best

    def source_partitions(self) -> set[TopicPartition]:
        return set(self._index_by_source())

    def _index_by_source(self) -> dict[TopicPartition, list[MappingRange]]:
        if self._by_source is None:
            index: dict[TopicPartition, list[MappingRange]] = {}
            for r in self._ranges:
                index.setdefault((r.source_topic, r.source_partition), []).append(r)
            self._by_source = index
        return self._by_source

    def _index_run_starts(self) -> dict[TopicPartition, tuple[list[int], list[int]]]:
        if self._run_starts is None:
            rows: dict[TopicPartition, list[tuple[int, int]]] = {}
            for r in self._ranges:
                if r.exact:
                    rows.setdefault((r.target_topic, r.target_partition), []).append((r.source_first, r.target_first))
            self._run_starts = {}
            for tp, pairs in rows.items():
                pairs.sort()
                self._run_starts[tp] = ([s for s, _ in pairs], [t for _, t in pairs])
        return self._run_starts

    # -- offset-mapping.json -------------------------------------------------------------------

    def to_json(self, source_cluster_id: str | None, target_cluster_id: str | None, created_at: int) -> dict:
        """OSO's offset-mapping.json (keyed by target "topic/partition"), plus our ``ranges``."""
        entries: dict[str, dict[str, Any]] = {}
        detailed: dict[str, list[dict[str, int]]] = {}
        for r in self._ranges:
            key = f"{r.target_topic}/{r.target_partition}"
            e = entries.get(key)
            if e is None:
                entries[key] = {
                    "topic": r.target_topic,
                    "partition": r.target_partition,
                    "source_first_offset": r.source_first,
                    "source_last_offset": r.source_last,
                    "target_first_offset": r.target_first,
                    "target_last_offset": r.target_last,
                    "first_timestamp": r.first_timestamp,
                    "last_timestamp": r.last_timestamp,
                }
            else:
                e["source_first_offset"] = min(e["source_first_offset"], r.source_first)
                e["source_last_offset"] = max(e["source_last_offset"], r.source_last)
                e["target_first_offset"] = min(e["target_first_offset"], r.target_first)
                e["target_last_offset"] = max(e["target_last_offset"], r.target_last)
                e["first_timestamp"] = min(e["first_timestamp"], r.first_timestamp)
                e["last_timestamp"] = max(e["last_timestamp"], r.last_timestamp)
            if r.exact:
                detailed.setdefault(key, []).append(
                    {
                        "source_offset": r.source_first,
                        "target_offset": r.target_first,
                        "timestamp": r.first_timestamp,
                    }
                )
        for rows in detailed.values():
            # OSO binary-searches these rows by source offset.
            rows.sort(key=lambda row: (row["source_offset"], row["target_offset"]))
        return {
            "entries": entries,
            "detailed_mappings": detailed,
            "consumer_groups": {},
            "source_cluster_id": source_cluster_id,
            "target_cluster_id": target_cluster_id,
            "created_at": created_at,
            "ranges": [asdict(r) for r in self._ranges],
        }

    @classmethod
    def from_json(cls, data: Any) -> OffsetMapping:
        """Reads ours (``ranges``) and OSO's files. OSO's carry no source identity: each target
        partition is taken as its own source (same topic and partition), and consecutive
        per-record rows are merged back into exact runs."""
        if not isinstance(data, dict):
            raise OffsetMappingError(f"offset mapping: expected a JSON object, got {type(data).__name__}")
        if "ranges" in data:
            return cls(_range_from_json(i, row) for i, row in enumerate(_list(data, "ranges")))
        detailed = data.get("detailed_mappings") or {}
        if not isinstance(detailed, dict):
            raise OffsetMappingError("offset mapping: detailed_mappings: expected an object keyed by 'topic/partition'")
        mapping = cls()
        for key, rows in detailed.items():
            topic, partition = _split_key(key)
            if not isinstance(rows, list):
                raise OffsetMappingError(f"offset mapping: detailed_mappings.{key}: expected a list")
            try:
                pairs = sorted((int(r["source_offset"]), int(r["target_offset"]), int(r["timestamp"])) for r in rows)
            except (KeyError, TypeError, ValueError) as exc:
                raise OffsetMappingError(
                    f"offset mapping: detailed_mappings.{key}: each row needs integer source_offset, "
                    f"target_offset and timestamp ({exc!r})"
                ) from exc
            if pairs:
                mapping.add(build_ranges([(topic, partition, s, ts, topic, partition, t) for s, t, ts in pairs]))
        return mapping


def _list(data: dict, key: str) -> list:
    value = data[key]
    if not isinstance(value, list):
        raise OffsetMappingError(f"offset mapping: {key}: expected a list")
    return value


def _range_from_json(i: int, row: Any) -> MappingRange:
    if not isinstance(row, dict) or set(row) != set(_RANGE_FIELDS):
        raise OffsetMappingError(f"offset mapping: ranges[{i}]: expected exactly the keys {', '.join(_RANGE_FIELDS)}")
    return MappingRange(**row)


def _split_key(key: str) -> TopicPartition:
    topic, sep, partition = key.rpartition("/")
    if not sep or not topic or not partition.isdigit():
        raise OffsetMappingError(f"offset mapping: detailed_mappings key {key!r}: expected 'topic/partition'")
    return topic, int(partition)
