from __future__ import annotations

import io
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from restore_jobs.backup.records import BackupRecord
from restore_jobs.backup.segment import HEADER, encode_segment, read_segment, read_segment_header

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
