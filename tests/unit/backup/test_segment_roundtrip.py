from __future__ import annotations

import io
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from restore_jobs.backup.records import BackupRecord, Header
from restore_jobs.backup.segment import (
    HEADER,
    SegmentError,
    encode_record,
    encode_segment,
    pack_segment,
    read_segment,
    read_segment_header,
)

pytestmark = pytest.mark.usefixtures("parser")

blobs = st.one_of(st.none(), st.binary(max_size=300))
headers = st.lists(st.tuples(st.text(max_size=20), blobs), max_size=4)


@st.composite
def record_lists(draw: st.DrawFn) -> list[BackupRecord]:
    offsets = sorted(draw(st.sets(st.integers(min_value=0, max_value=2**62), max_size=25)))
    return [
        BackupRecord(
            offset=o,
            timestamp=draw(st.integers(min_value=-(2**63), max_value=2**63 - 1)),
            key=draw(blobs),
            value=draw(blobs),
            headers=draw(headers),
        )
        for o in offsets
    ]


@settings(max_examples=150, deadline=None)
@given(record_lists(), st.sampled_from(["none", "zstd", "lz4"]))
def test_codec_round_trip(records: list[BackupRecord], compression: str) -> None:
    data = encode_segment(records, compression)
    assert list(read_segment(io.BytesIO(data), "k")) == records


@pytest.mark.parametrize("compression", ["none", "zstd", "lz4"])
def test_encoded_header_fields(compression: str) -> None:
    records = [BackupRecord(7, 1, b"a", b"b"), BackupRecord(9, -1, None, None)]
    data = encode_segment(records, compression)
    magic, version, code, count, start, end = HEADER.unpack(data[:32])
    assert (magic, version, code, count, start, end) == (
        b"KBAK",
        1,
        ["none", "zstd", "lz4"].index(compression),
        2,
        7,
        9,
    )
    assert data[-4:] == b"BKAE"
    header = read_segment_header(io.BytesIO(data), "k")
    assert (header.compression, header.record_count, header.start_offset, header.end_offset) == (compression, 2, 7, 9)


def test_uncompressed_record_layout_is_exact() -> None:
    rec = BackupRecord(5, -1, None, b"v", [("h", None)])
    data = encode_segment([rec], "none")
    body = struct.pack("<qqi", -1, 5, -1) + struct.pack("<i", 1) + b"v" + struct.pack("<HH", 1, 1) + b"h"
    body += struct.pack("<i", -1)
    assert data[32:-8] == struct.pack("<I", len(body)) + body


def test_records_are_streamed_not_collected() -> None:
    records = [BackupRecord(i, i, None, b"x" * 1000) for i in range(3000)]
    gen = read_segment(io.BytesIO(encode_segment(records, "zstd")), "k")
    assert next(gen) == records[0]
    assert next(gen) == records[1]
    gen.close()


def test_encode_refuses_oversized_header_key() -> None:
    with pytest.raises(ValueError, match="header key longer than 65535 bytes"):
        encode_segment([BackupRecord(0, 0, None, None, [("k" * 70000, b"")])], "none")


# Header blocks of a layout seen before are parsed by one struct call; these records make layouts
# repeat, and collide: different keys and value lengths in blocks of the same byte length.
small_headers = st.lists(
    st.tuples(st.sampled_from(["a", "bb", "ccc", "é"]), st.one_of(st.none(), st.binary(max_size=3))), max_size=3
)


@settings(max_examples=150, deadline=None)
@given(st.lists(small_headers, min_size=1, max_size=40))
def test_repeated_and_colliding_header_layouts_decode_exactly(header_lists: list[list[Header]]) -> None:
    records = [BackupRecord(i, i, b"k", b"v", h) for i, h in enumerate(header_lists)]
    decoded = list(read_segment(io.BytesIO(encode_segment(records, "none")), "k"))
    assert decoded == records
    assert [r.size for r in decoded] == [r.size for r in records]


def test_blocks_of_equal_length_with_different_layouts() -> None:
    one = BackupRecord(0, 0, None, b"v", [("ab", b"xyz")])
    two = BackupRecord(1, 0, None, b"v", [("abc", b"xy")])  # the same 13-byte block, another layout
    records = [one, two, one, two, BackupRecord(2, 0, None, b"v", [("abc", None), ("d", b"")])]
    assert list(read_segment(io.BytesIO(encode_segment(records, "none")), "k")) == records


def test_more_layouts_than_are_remembered() -> None:
    records = [BackupRecord(i, 0, b"k", b"v", [("h", b"x" * (i % 300))]) for i in range(900)]
    assert list(read_segment(io.BytesIO(encode_segment(records, "zstd")), "k")) == records


def test_a_known_layout_with_a_damaged_key_still_fails_by_name() -> None:
    good = [encode_record(BackupRecord(i, 0, None, b"v", [("ab", b"x")])) for i in range(2)]
    bad = encode_record(BackupRecord(2, 0, None, b"v", [("ab", b"x")])).replace(b"ab", b"\xff\xfe")
    data = pack_segment(b"".join([*good, bad]), 3, 0, 2, "none")
    with pytest.raises(SegmentError, match="record 2: header 0 key is not valid UTF-8"):
        list(read_segment(io.BytesIO(data), "k"))
