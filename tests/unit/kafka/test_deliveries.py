"""``Deliveries``: per-record offsets kept as per-partition runs, and the batch ranges built from them."""

from __future__ import annotations

from restore_jobs.backup.records import BackupRecord
from restore_jobs.kafka.client import Delivered, Deliveries
from restore_jobs.restore.offset_mapping import batch_ranges, build_ranges


def test_runs_break_where_offsets_jump_and_indexing_restores_send_order() -> None:
    sent = [Delivered("a", 0, 10), Delivered("b", 1, 40), Delivered("a", 0, 11), Delivered("a", 0, 15),
            Delivered("b", 1, 41)]
    d = Deliveries.of(sent)
    assert d.runs == {("a", 0): [(10, 2), (15, 1)], ("b", 1): [(40, 2)]}
    assert list(d) == sent
    assert (len(d), d[3], d[-1]) == (5, Delivered("a", 0, 15), Delivered("b", 1, 41))


def _batch(offsets: list[int], partitions: list[int]) -> list[tuple[BackupRecord, int]]:
    return [(BackupRecord(o, 1000 + o, b"k", b"v"), p) for o, p in zip(offsets, partitions, strict=True)]


def _per_record(batch: list[tuple[BackupRecord, int]], deliveries: Deliveries) -> list:
    return build_ranges([("src", 3, rec.offset, rec.timestamp, d.topic, d.partition, d.offset)
                         for (rec, _), d in zip(batch, deliveries, strict=True)])


def test_batch_ranges_match_the_per_record_ranges() -> None:
    cases = [
        ([5, 6, 7, 8], [0, 0, 0, 0], [100, 101, 102, 103]),  # the fast path: one range
        ([5, 6, 9, 10], [0, 0, 0, 0], [100, 101, 102, 103]),  # a gap in the source (PITR, compaction)
        ([5, 6, 7, 8], [0, 0, 0, 0], [100, 101, 104, 105]),  # a gap in the target (another writer)
        ([5, 6, 7, 8, 9], [0, 1, 0, 2, 1], [100, 7, 101, 50, 8]),  # repartitioned: per-partition summaries
    ]
    for offsets, partitions, targets in cases:
        batch = _batch(offsets, partitions)
        deliveries = Deliveries.of(Delivered("dst", p, t) for p, t in zip(partitions, targets, strict=True))
        assert batch_ranges(("src", 3), "dst", batch, deliveries.runs) == _per_record(batch, deliveries)
    (only,) = batch_ranges(("src", 3), "dst", _batch([5, 6, 7], [2, 2, 2]), {("dst", 2): [(40, 3)]})
    assert (only.source_first, only.source_last, only.target_first, only.target_last, only.count, only.exact,
            only.first_timestamp, only.last_timestamp) == (5, 7, 40, 42, 3, True, 1005, 1007)
    assert batch_ranges(("src", 3), "dst", [], {}) == []
