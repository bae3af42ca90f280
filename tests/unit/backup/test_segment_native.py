"""The C record parser against the Python one: the same records, the same errors, no leaks.

The C parser takes only records it can parse exactly as the Python parser does and stops in front
of every other one, which the Python parser then takes (and names, when it is damaged).
"""

from __future__ import annotations

import gc
import io
import struct
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from restore_jobs.backup import segment
from restore_jobs.backup.records import BackupRecord
from restore_jobs.backup.segment import SegmentError, encode_record, encode_segment, pack_segment, read_segment

native = segment._native_parse
needs_native = pytest.mark.skipif(native is None, reason="the C record parser is not built")


def test_native_parser_is_built() -> None:
    """An install with a C compiler (CI, the image) builds it; without it, restores are slower."""
    assert native is not None, "restore_jobs.backup._records is missing: `pip install -e .` needs gcc"
    assert segment.NATIVE_PARSER


@contextmanager
def python_only() -> Iterator[None]:
    saved = segment._native_parse
    segment._native_parse = None
    try:
        yield
    finally:
        segment._native_parse = saved


def outcome(data: bytes) -> tuple[list[BackupRecord], list[int], str | None]:
    """Records read (each with its counted size) before the error, if any, and the error."""
    records: list[BackupRecord] = []
    try:
        for rec in read_segment(io.BytesIO(data), "k"):
            records.append(rec)
    except SegmentError as exc:
        return records, [r.size for r in records], str(exc)
    return records, [r.size for r in records], None


names = st.sampled_from(["content-type", "trace-id", "é", "", "x-original-offset"])
blobs = st.one_of(st.none(), st.binary(max_size=40))
records = st.lists(
    st.builds(BackupRecord, st.just(0), st.integers(min_value=-(2**63), max_value=2**63 - 1), blobs, blobs,
              st.lists(st.tuples(names, blobs), max_size=4)),
    max_size=30,
)
DIFF = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@needs_native
@DIFF
@given(records, st.sampled_from(["none", "zstd", "lz4"]))
def test_same_records_as_the_python_parser(recs: list[BackupRecord], compression: str) -> None:
    for i, rec in enumerate(recs):
        rec.offset = i
    data = encode_segment(recs, compression)
    fast = outcome(data)
    with python_only():
        assert outcome(data) == fast
    assert fast == (recs, [r.size for r in recs], None)


@needs_native
@DIFF
@given(records, st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)),
                         min_size=1, max_size=6))
def test_same_records_and_error_on_damaged_bodies(recs: list[BackupRecord], edits: list[tuple[int, int]]) -> None:
    """Byte edits inside the (uncompressed, CRC-resealed) body reach the record parser itself."""
    for i, rec in enumerate(recs):
        rec.offset = i
    body = bytearray(b"".join(encode_record(r) for r in recs) or b"\0")
    for pos, value in edits:
        body[pos % len(body)] = value
    data = pack_segment(bytes(body), len(recs), 0, max(len(recs) - 1, 0), "none")
    fast = outcome(data)
    with python_only():
        assert outcome(data) == fast


def _record(offset: int, headers: list[tuple[str, bytes | None]] | None = None) -> bytes:
    return encode_record(BackupRecord(offset, 0, b"key-%d" % offset, b"value", headers or [("h", b"x")]))


@needs_native
def test_stops_in_front_of_an_incomplete_record() -> None:
    buf = _record(0) + _record(1) + _record(2)[:-1]
    parsed, pos = native(buf, 0, 10, BackupRecord, [])
    assert [r.offset for r in parsed] == [0, 1]
    assert pos == 2 * len(_record(0))


@needs_native
def test_stops_in_front_of_a_malformed_record_and_at_the_limit() -> None:
    bad = _record(1).replace(b"\x01\x00h", b"\x01\x00\xff")  # header key not UTF-8
    parsed, pos = native(_record(0) + bad + _record(2), 0, 10, BackupRecord, [])
    assert ([r.offset for r in parsed], pos) == ([0], len(_record(0)))
    parsed, pos = native(_record(0) + _record(1), 0, 1, BackupRecord, [])
    assert ([r.offset for r in parsed], pos) == ([0], len(_record(0)))
    assert native(b"", 0, 10, BackupRecord, []) == ([], 0)
    # a damaged header's record count, far above any buffer
    assert [r.offset for r in native(_record(0), 0, 2**64 + 20, BackupRecord, [])[0]] == [0]


@needs_native
def test_cached_header_keys_follow_changes() -> None:
    cache: list[str] = []
    buf = _record(0, [("a", b"1"), ("b", None)]) + _record(1, [("c", b"2")]) + _record(2, [("a", b"3")])
    parsed, _ = native(buf, 0, 10, BackupRecord, cache)
    assert [r.headers for r in parsed] == [[("a", b"1"), ("b", None)], [("c", b"2")], [("a", b"3")]]
    assert cache == ["a", "b"]


@needs_native
def test_records_stay_out_of_the_cyclic_collector() -> None:
    """They hold only atomic values, so they cannot be part of a cycle (see _records.c)."""
    (rec,), _ = native(_record(0, [("h", b"x")]), 0, 1, BackupRecord, [])
    assert not gc.is_tracked(rec) and not gc.is_tracked(rec.headers) and not gc.is_tracked(rec.headers[0])


@needs_native
def test_refuses_arguments_of_the_wrong_kind() -> None:
    with pytest.raises(TypeError):
        native(bytearray(_record(0)), 0, 1, BackupRecord, [])
    with pytest.raises(ValueError, match="pos outside the buffer"):
        native(_record(0), 999, 1, BackupRecord, [])


@needs_native
def test_no_memory_is_kept_after_the_records_are_dropped() -> None:
    """Every reference taken is released, on the good path and when stopping at a bad record."""
    good = b"".join(_record(i, [("h", b"x" * 20), ("n", None)]) for i in range(200))
    bad = good + _record(200).replace(b"\x01\x00h", b"\x01\x00\xff")

    def parse_many() -> None:
        for _ in range(50):
            native(good, 0, 1000, BackupRecord, [])
            native(bad, 0, 1000, BackupRecord, [])

    parse_many()  # warm up caches and free lists
    tracemalloc.start()
    try:
        parse_many()
        gc.collect()
        # what the parser allocated and still holds: other threads (servers' log readers) are not counted
        kept = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(True, __file__)])
    finally:
        tracemalloc.stop()
    assert sum(stat.size for stat in kept.statistics("filename")) < 16 << 10


@pytest.mark.usefixtures("parser")
def test_records_before_a_damaged_one_are_handed_out_first() -> None:
    body = b"".join(_record(i) for i in range(3)) + struct.pack("<I", 30) + b"\0" * 30
    data = pack_segment(body, 4, 0, 3, "none")
    got = outcome(data)
    assert [r.offset for r in got[0]] == [0, 1, 2]
    assert got[2] is not None and "record 3: " in got[2]
