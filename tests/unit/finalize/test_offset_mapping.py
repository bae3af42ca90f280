from __future__ import annotations

import json

import pytest

from restore_jobs.restore.offset_mapping import (
    MappingRange,
    OffsetMapping,
    OffsetMappingError,
    build_ranges,
)


def deliveries(pairs, src=("orders", 0), tgt=("orders", 0), ts0=1000):
    """(source offset, target offset) pairs -> deliveries; timestamps ts0 + source offset."""
    return [(src[0], src[1], s, ts0 + s, tgt[0], tgt[1], t) for s, t in pairs]


def exact(s0, s1, t0, t1, src=("orders", 0), tgt=("orders", 0), ts0=1000):
    return MappingRange(src[0], src[1], s0, s1, tgt[0], tgt[1], t0, t1, s1 - s0 + 1, ts0 + s0, ts0 + s1, True)


# -- build_ranges ------------------------------------------------------------------------------


def test_contiguous_batch_is_one_exact_run():
    got = build_ranges(deliveries([(10 + i, 100 + i) for i in range(5)]))
    assert got == [exact(10, 14, 100, 104)]


def test_source_gaps_split_runs():
    # 12..14 compacted away, 17..19 filtered out by PITR
    got = build_ranges(deliveries([(10, 100), (11, 101), (15, 102), (16, 103), (20, 104)]))
    assert got == [exact(10, 11, 100, 101), exact(15, 16, 102, 103), exact(20, 20, 104, 104)]


def test_transaction_marker_shifts_target():
    # a commit marker took target offset 3
    got = build_ranges(deliveries([(0, 0), (1, 1), (2, 2), (3, 4), (4, 5), (5, 6)]))
    assert got == [exact(0, 2, 0, 2), exact(3, 5, 4, 6)]


def test_scattered_batch_gives_one_summary_per_target_partition():
    batch = [
        ("orders", 0, 0, 500, "orders-x", 0, 10),
        ("orders", 0, 1, 501, "orders-x", 1, 20),
        ("orders", 0, 2, 499, "orders-x", 0, 11),
        ("orders", 0, 3, 503, "orders-x", 1, 21),
        ("orders", 0, 4, 504, "orders-x", 0, 12),
        ("orders", 0, 5, 505, "orders-x", 1, 23),
    ]
    assert build_ranges(batch) == [
        MappingRange("orders", 0, 0, 4, "orders-x", 0, 10, 12, 3, 500, 504, False),
        MappingRange("orders", 0, 1, 5, "orders-x", 1, 20, 23, 3, 501, 505, False),
    ]


def test_a_scattered_transaction_is_summarized_per_produce_batch():
    # Six records over two partitions in one transaction, summarized per three records.
    batch = [("orders", 0, s, 500 + s, "orders-x", s % 2, 10 + s // 2) for s in range(6)]
    assert build_ranges(batch, summary_records=3) == [
        MappingRange("orders", 0, 0, 2, "orders-x", 0, 10, 11, 2, 500, 502, False),
        MappingRange("orders", 0, 1, 1, "orders-x", 1, 10, 10, 1, 501, 501, False),
        MappingRange("orders", 0, 3, 5, "orders-x", 1, 11, 12, 2, 503, 505, False),
        MappingRange("orders", 0, 4, 4, "orders-x", 0, 12, 12, 1, 504, 504, False),
    ]


def test_empty_batch():
    assert build_ranges([]) == []


def test_consecutive_batches_coalesce_and_gaps_do_not():
    m = OffsetMapping()
    m.add(build_ranges(deliveries([(0, 0), (1, 1), (2, 2)])))
    m.add(build_ranges(deliveries([(3, 3), (4, 4)])))
    m.add(build_ranges(deliveries([(6, 5)])))
    assert m.ranges == [exact(0, 4, 0, 4), exact(6, 6, 5, 5)]


# -- lookup: OSO's rule -----------------------------------------------------------------------

# Source 0..9 -> target 0..9; 10..19 filtered by PITR; 20..29 -> target 10..19.
PITR_PAIRS = [(i, i) for i in range(10)] + [(20 + i, 10 + i) for i in range(10)]


def oso_lookup(rows, source_offset):
    """OSO's lookup_target_offset over per-record detailed_mappings rows, written out independently."""
    for s, t in rows:
        if s == source_offset:
            return t
    lower = [(s, t) for s, t in rows if s <= source_offset]
    if not lower:
        return None
    s, t = max(lower)
    return t + (source_offset - s)


def test_lookup_hand_computed():
    m = OffsetMapping(build_ranges(deliveries(PITR_PAIRS)))
    assert m.lookup("orders", 0, 0) == 0
    assert m.lookup("orders", 0, 7) == 7
    assert m.lookup("orders", 0, 20) == 10
    assert m.lookup("orders", 0, 25) == 15
    assert m.lookup("orders", 0, 15) == 15  # inside the gap: OSO's nearest-lower rule (9 + 6)
    assert m.lookup("orders", 0, 30) == 20  # committed last + 1 -> target last + 1
    assert m.lookup("orders", 0, -1) is None
    assert m.lookup("orders", 1, 5) is None
    assert m.lookup("other", 0, 5) is None


def test_lookup_equals_oso_rule_everywhere():
    pairs = [(3, 50), (4, 51), (5, 52), (9, 53), (10, 55), (11, 56), (40, 57)]
    m = OffsetMapping(build_ranges(deliveries(pairs)))
    for source_offset in range(0, 45):
        assert m.lookup("orders", 0, source_offset) == oso_lookup(pairs, source_offset), source_offset


# -- translate: never skips ---------------------------------------------------------------------


def test_translate_exact_resumes_precisely():
    m = OffsetMapping(build_ranges(deliveries(PITR_PAIRS)))
    tgt = ("orders", 0)
    assert m.translate({("orders", 0): 0}) == {tgt: 0}
    assert m.translate({("orders", 0): 5}) == {tgt: 5}
    assert m.translate({("orders", 0): 10}) == {tgt: 10}
    assert m.translate({("orders", 0): 15}) == {tgt: 10}  # OSO would say 15 and skip source 20..24
    assert m.translate({("orders", 0): 27}) == {tgt: 17}
    assert m.translate({("orders", 0): 30}) == {tgt: 20}  # all consumed: after the last
    assert m.translate({("orders", 0): 1000}) == {tgt: 20}
    assert m.translate({("orders", 1): 3}) == {}  # nothing of that source was restored


def assert_never_skips(all_deliveries, commits, result, batches):
    """Every restored record the group had not consumed sits at or after the resume position, and
    whatever is re-delivered (consumed records after the position) comes from a single batch."""
    for st, sp, s, _ts, tt, tp, t in all_deliveries:
        if (st, sp) in commits and s >= commits[(st, sp)]:
            assert t >= result[(tt, tp)], (st, sp, s, tt, tp, t, result)
    for tgt, pos in result.items():
        redelivered = {
            batches[(st, sp, s)]
            for st, sp, s, _ts, tt, tp, t in all_deliveries
            if (tt, tp) == tgt and t >= pos and (st, sp) in commits and s < commits[(st, sp)]
        }
        assert len(redelivered) <= 1, (tgt, redelivered)


def test_translate_repartitioned_is_conservative():
    # source orders/0, 12 records in 3 batches of 4, spread over 3 target partitions
    batches_ = []
    next_target = {0: 0, 1: 100, 2: 200}
    s = 0
    for _ in range(3):
        batch = []
        for _ in range(4):
            p = (s * 7) % 3
            batch.append(("orders", 0, s, 1000 + s, "big", p, next_target[p]))
            next_target[p] += 1
            s += 1
        batches_.append(batch)
    m = OffsetMapping()
    for batch in batches_:
        m.add(build_ranges(batch))
    assert all(not r.exact for r in m.ranges)
    flat = [d for b in batches_ for d in b]
    batch_of = {(d[0], d[1], d[2]): i for i, b in enumerate(batches_) for d in b}
    for committed in range(0, 14):
        result = m.translate({("orders", 0): committed})
        assert set(result) == {("big", 0), ("big", 1), ("big", 2)}
        assert_never_skips(flat, {("orders", 0): committed}, result, batch_of)
    # hand-computed (partition = source * 7 % 3): commit 6 falls in batch 2 (sources 4..7).
    # big/0 got only source 6 from it -> its offset 2, precisely; big/1 got 4 and 7 -> the batch's start
    # there, 101 (re-delivers source 4); big/2 got only 5 (consumed) -> its next record, source 8 at 202.
    assert m.translate({("orders", 0): 6}) == {("big", 0): 2, ("big", 1): 101, ("big", 2): 202}
    assert m.translate({("orders", 0): 12}) == {("big", p): next_target[p] for p in range(3)}


def test_translate_takes_minimum_over_source_partitions():
    # partitionMapping 0 -> 0 and 1 -> 0: two sources interleave in one target partition
    m = OffsetMapping()
    m.add(build_ranges(deliveries([(0, 0), (1, 1), (2, 2)], src=("orders", 0))))
    m.add(build_ranges(deliveries([(0, 3), (1, 4), (2, 5)], src=("orders", 1))))
    m.add(build_ranges(deliveries([(3, 6), (4, 7)], src=("orders", 0))))
    assert m.translate({("orders", 0): 4, ("orders", 1): 1}) == {("orders", 0): 4}
    # orders/1 fully consumed -> after its last record (6), below orders/0's precise 7: the minimum wins
    assert m.translate({("orders", 0): 4, ("orders", 1): 3}) == {("orders", 0): 6}
    assert m.translate({("orders", 0): 1, ("orders", 1): 3}) == {("orders", 0): 1}
    positions = m.resume_positions({("orders", 0): 4, ("orders", 1): 1})
    assert positions[("orders", 0)].source_partition == 1
    assert positions[("orders", 0)].source_offset == 1


# -- offset-mapping.json -----------------------------------------------------------------------


def test_json_is_osos_schema_plus_ranges():
    m = OffsetMapping(build_ranges(deliveries(PITR_PAIRS, tgt=("orders-r", 1))))
    doc = m.to_json("src-cluster", "tgt-cluster", 1700000000000)
    assert doc["entries"] == {
        "orders-r/1": {
            "topic": "orders-r",
            "partition": 1,
            "source_first_offset": 0,
            "source_last_offset": 29,
            "target_first_offset": 0,
            "target_last_offset": 19,
            "first_timestamp": 1000,
            "last_timestamp": 1029,
        }
    }
    assert doc["detailed_mappings"] == {
        "orders-r/1": [
            {"source_offset": 0, "target_offset": 0, "timestamp": 1000},
            {"source_offset": 20, "target_offset": 10, "timestamp": 1020},
        ]
    }
    assert doc["consumer_groups"] == {}
    assert (doc["source_cluster_id"], doc["target_cluster_id"], doc["created_at"]) == (
        "src-cluster",
        "tgt-cluster",
        1700000000000,
    )
    assert doc["ranges"][1] == {
        "source_topic": "orders",
        "source_partition": 0,
        "source_first": 20,
        "source_last": 29,
        "target_topic": "orders-r",
        "target_partition": 1,
        "target_first": 10,
        "target_last": 19,
        "count": 10,
        "first_timestamp": 1020,
        "last_timestamp": 1029,
        "exact": True,
    }


def test_json_round_trip_keeps_source_partitions_and_summaries():
    m = OffsetMapping()
    m.add(build_ranges(deliveries([(0, 0), (1, 1)], src=("orders", 0), tgt=("all", 0))))
    m.add(build_ranges(deliveries([(0, 2), (1, 3)], src=("orders", 1), tgt=("all", 0))))
    m.add(build_ranges([("orders", 2, 0, 1, "all", 0, 4), ("orders", 2, 1, 2, "all", 1, 0)]))
    again = OffsetMapping.from_json(json.loads(json.dumps(m.to_json(None, None, 1))))
    assert again.ranges == m.ranges
    assert again.translate({("orders", 1): 1}) == {("all", 0): 3}


def test_reads_oso_file_without_ranges():
    # OSO writes one detailed row per restored record, in no guaranteed order.
    rows = [(5, 100), (6, 101), (7, 102), (9, 103), (10, 104), (8, 200)]
    doc = {
        "entries": {
            "orders/0": {
                "topic": "orders",
                "partition": 0,
                "source_first_offset": 5,
                "source_last_offset": 10,
                "target_first_offset": 100,
                "target_last_offset": 200,
                "first_timestamp": 1,
                "last_timestamp": 9,
            }
        },
        "detailed_mappings": {
            "orders/0": [{"source_offset": s, "target_offset": t, "timestamp": 1000 + s} for s, t in rows]
        },
        "consumer_groups": {},
        "source_cluster_id": None,
        "target_cluster_id": None,
        "created_at": 1,
    }
    m = OffsetMapping.from_json(doc)
    assert m.ranges == [
        exact(5, 7, 100, 102),
        exact(8, 8, 200, 200),
        exact(9, 10, 103, 104),
    ]
    for s in range(0, 15):
        assert m.lookup("orders", 0, s) == oso_lookup(sorted(rows), s), s
    assert m.translate({("orders", 0): 8}) == {("orders", 0): 103}  # min(200, 103)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "expected a JSON object, got list"),
        ({"ranges": {}}, "ranges: expected a list"),
        ({"ranges": [{"source_topic": "a"}]}, "ranges[0]: expected exactly the keys source_topic"),
        ({"detailed_mappings": {"orders": []}}, "key 'orders': expected 'topic/partition'"),
        ({"detailed_mappings": {"a/0": [{"source_offset": 1}]}}, "detailed_mappings.a/0: each row needs"),
    ],
)
def test_malformed_mapping_names_the_key(doc, message):
    with pytest.raises(OffsetMappingError) as err:
        OffsetMapping.from_json(doc)
    assert message in str(err.value)
