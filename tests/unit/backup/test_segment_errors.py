"""Damaged and hostile segments: always a SegmentError naming the key, never a crash or a huge allocation."""

from __future__ import annotations

import io
import struct
import tracemalloc
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from restore_jobs.backup.records import BackupRecord
from restore_jobs.backup.segment import SegmentError, encode_segment, read_segment

pytestmark = pytest.mark.usefixtures("parser")

KEY = "b1/topics/orders/partition=3/segment-00000000000000000042.bin.zst"
RECORDS = [BackupRecord(42 + i, 1_000 + i, b"k%d" % i, b"v" * (i * 10), [("h", b"x"), ("n", None)]) for i in range(20)]


def read_all(data: bytes, key: str = KEY) -> list[BackupRecord]:
    return list(read_segment(io.BytesIO(data), key))


def reseal(data: bytes) -> bytes:
    """Recomputes the footer CRC, so that a test reaches the check behind it."""
    body = data[:-8]
    return body + struct.pack("<I", zlib.crc32(body)) + b"BKAE"


def expect_error(data: bytes, fragment: str) -> SegmentError:
    gen = read_segment(io.BytesIO(data), KEY)
    with pytest.raises(SegmentError) as info:
        next(gen)  # the very first record already fails: nothing was handed out
    assert info.value.key == KEY
    assert str(info.value).startswith(f"segment {KEY}: ")
    assert fragment in str(info.value)
    return info.value


@pytest.mark.parametrize("compression", ["none", "zstd", "lz4"])
def test_corrupt_crc_yields_nothing(compression: str) -> None:
    data = bytearray(encode_segment(RECORDS, compression))
    data[40] ^= 0x01  # inside the body
    expect_error(bytes(data), "CRC mismatch")


def test_corrupt_stored_crc() -> None:
    data = bytearray(encode_segment(RECORDS, "none"))
    data[-8] ^= 0xFF
    expect_error(bytes(data), "CRC mismatch")


@pytest.mark.parametrize("cut", [0, 1, 3, 4, 20, 31, 32, 39, 40, 100, -9, -5, -1])
def test_truncated_file(cut: int) -> None:
    data = encode_segment(RECORDS, "zstd")
    truncated = data[:cut]
    err = expect_error(truncated, "") if cut >= 4 or cut < 0 else None
    if err is not None:
        assert any(word in err.problem for word in ("truncated", "CRC")), err.problem
    else:  # too short to even carry the magic: not a segment and not legacy JSON
        expect_error(truncated, "neither a KBAK segment nor a legacy JSON array")


def test_bad_magic() -> None:
    data = b"KBAX" + encode_segment(RECORDS, "none")[4:]
    expect_error(data, "bad magic b'KBAX'")


def test_bad_end_magic() -> None:
    data = encode_segment(RECORDS, "none")[:-4] + b"XXXX"
    expect_error(data, "end magic")


def test_unknown_version() -> None:
    data = bytearray(encode_segment(RECORDS, "none"))
    data[4] = 2
    expect_error(reseal(bytes(data)), "unknown format version 2")


def test_unknown_compression() -> None:
    data = bytearray(encode_segment(RECORDS, "none"))
    data[5] = 7
    expect_error(reseal(bytes(data)), "unknown compression code 7")


def _single_record_segment(record_bytes: bytes, count: int = 1) -> bytes:
    header = b"KBAK" + bytes([1, 0, 0, 0]) + struct.pack("<Qqq", count, 0, 0)
    return reseal(header + record_bytes + b"\0" * 8)


def test_record_length_of_2_31_in_a_small_file_is_refused_without_allocating() -> None:
    record = struct.pack("<I", 1 << 31) + struct.pack("<qqi", 0, 0, -1) + struct.pack("<i", -1) + b"\0\0"
    data = _single_record_segment(record)
    tracemalloc.start()
    try:
        expect_error(data, "length 2147483648 exceeds the")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20


@pytest.mark.parametrize(
    ("record", "fragment"),
    [
        (struct.pack("<qqi", 0, 0, 1 << 30) + b"\0" * 6, "key length 1073741824 runs past"),
        (struct.pack("<qqi", 0, 0, -1) + struct.pack("<i", 99) + b"\0\0", "value length 99 runs past"),
        (struct.pack("<qqii", 0, 0, -1, -1) + struct.pack("<H", 3), "header 0 runs past"),
        (struct.pack("<qqii", 0, 0, -1, -1) + struct.pack("<HH", 1, 500) + b"x" * 4, "header 0 key length 500"),
        (
            struct.pack("<qqii", 0, 0, -1, -1) + struct.pack("<HH", 1, 2) + b"\xff\xfe" + struct.pack("<i", -1),
            "header 0 key is not valid UTF-8",
        ),
        (
            struct.pack("<qqii", 0, 0, -1, -1) + struct.pack("<HH", 1, 1) + b"h" + struct.pack("<i", 1 << 31 - 1),
            "header 0 value length",
        ),
        (struct.pack("<qqii", 0, 0, -1, -1) + struct.pack("<H", 0) + b"junk", "4 bytes left over"),
        (struct.pack("<qqi", 0, 0, -1)[:10], "below the 26-byte minimum"),
    ],
    ids=["key", "value", "header-count", "header-key", "header-utf8", "header-value", "leftover", "short"],
)
def test_lying_length_fields(record: bytes, fragment: str) -> None:
    expect_error(_single_record_segment(struct.pack("<I", len(record)) + record), fragment)


@pytest.mark.parametrize("count", [len(RECORDS) + 1, 2**63 + 20, 2**64 - 1])
def test_record_count_says_more_than_the_body_holds(count: int) -> None:
    data = bytearray(encode_segment(RECORDS, "zstd"))
    data[8:16] = struct.pack("<Q", count)
    gen = read_segment(io.BytesIO(reseal(bytes(data))), KEY)
    with pytest.raises(SegmentError, match=rf"record_count says {count} but the body holds 20 records"):
        list(gen)


def test_record_count_says_fewer_than_the_body_holds() -> None:
    data = bytearray(encode_segment(RECORDS, "lz4"))
    data[8:16] = struct.pack("<Q", 5)
    with pytest.raises(SegmentError, match=r"more data than record_count 5"):
        list(read_segment(io.BytesIO(reseal(bytes(data))), KEY))


def test_lz4_size_field_that_lies() -> None:
    data = bytearray(encode_segment(RECORDS, "lz4"))
    data[32:36] = struct.pack("<I", 0xFFFFFFF0)
    expect_error(reseal(bytes(data)), "lz4 size field 4294967280 is more than")


def test_damaged_zstd_body_with_valid_crc() -> None:
    data = bytearray(encode_segment(RECORDS, "zstd"))
    data[40:48] = b"\xff" * 8
    expect_error(reseal(bytes(data)), "zstd body is damaged")


def test_file_above_the_limit() -> None:
    data = encode_segment(RECORDS, "none")
    with pytest.raises(SegmentError, match="above the limit of 100"):
        list(read_segment(io.BytesIO(data), KEY, max_segment_bytes=100))


def test_legacy_json_with_a_bad_field_names_its_path() -> None:
    raw = b'[{"offset": 1, "timestamp": 2, "key": null, "value": "!!notbase64", "headers": []}]'
    with pytest.raises(SegmentError, match=r"segment k: \[0\]\.value: not valid base64"):
        list(read_segment(io.BytesIO(raw), "k"))
    raw = b'[{"offset": "1", "timestamp": 2}]'
    with pytest.raises(SegmentError, match=r"\[0\]\.offset: expected an integer"):
        list(read_segment(io.BytesIO(raw), "k"))


FUZZ = settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=2048))
def test_fuzz_arbitrary_bytes(data: bytes) -> None:
    _only_segment_errors(data)


@FUZZ
@given(st.binary(max_size=2000).map(lambda tail: b"KBAK\x01" + tail))
def test_fuzz_arbitrary_bytes_behind_the_magic(data: bytes) -> None:
    _only_segment_errors(data)


VALID = {c: encode_segment(RECORDS, c) for c in ("none", "zstd", "lz4")}


@FUZZ
@given(
    st.sampled_from(sorted(VALID)),
    st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)), min_size=1, max_size=8),
    st.booleans(),
)
def test_fuzz_mutated_valid_segments(compression: str, edits: list[tuple[int, int]], fix_crc: bool) -> None:
    """Byte edits, optionally with the CRC recomputed so the decoder itself meets the damage."""
    data = bytearray(VALID[compression])
    for pos, value in edits:
        data[pos % len(data)] = value
    mutated = reseal(bytes(data)) if fix_crc and len(data) >= 8 else bytes(data)
    _only_segment_errors(mutated)


def _only_segment_errors(data: bytes) -> None:
    try:
        for record in read_segment(io.BytesIO(data), KEY):
            assert isinstance(record, BackupRecord)
    except SegmentError as exc:
        assert exc.key == KEY
