"""Segment bytes built by hand from the layout in DESIGN.md section 2 (not with our encoder)."""

from __future__ import annotations

import base64
import io
import json
import struct
import zlib

import lz4.block
import pytest
import zstandard

from restore_jobs.backup.records import BackupRecord
from restore_jobs.backup.segment import read_segment

pytestmark = pytest.mark.usefixtures("parser")

EXPECTED = [
    BackupRecord(
        offset=100,
        timestamp=1_700_000_000_000,
        key=b"order-1",
        value=b'{"total": 3}',
        headers=[("content-type", b"application/json"), ("x-original-offset", struct.pack("<q", 100))],
    ),
    BackupRecord(offset=101, timestamp=-1, key=None, value=b"no key, no timestamp", headers=[]),
    BackupRecord(offset=105, timestamp=1_700_000_000_500, key=b"\x00\xff\x80binary", value=None, headers=[]),
    BackupRecord(
        offset=106,
        timestamp=1_699_999_999_000,
        key=b"",
        value=b"",
        headers=[("empty", b""), ("null", None), ("bin", bytes(range(256))), ("ключ", b"\x01")],
    ),
]


def hand_record(r: BackupRecord) -> bytes:
    out = struct.pack("<qq", r.timestamp, r.offset)
    for blob in (r.key, r.value):
        out += struct.pack("<i", -1) if blob is None else struct.pack("<i", len(blob)) + blob
    out += struct.pack("<H", len(r.headers))
    for name, value in r.headers:
        raw = name.encode()
        out += struct.pack("<H", len(raw)) + raw
        out += struct.pack("<i", -1) if value is None else struct.pack("<i", len(value)) + value
    return struct.pack("<I", len(out)) + out


def hand_segment(compression_code: int, compressed_body: bytes, count: int, start: int, end: int) -> bytes:
    header = b"KBAK" + bytes([1, compression_code, 0, 0]) + struct.pack("<Qqq", count, start, end)
    assert len(header) == 32
    crc = zlib.crc32(header + compressed_body)
    return header + compressed_body + struct.pack("<I", crc) + b"BKAE"


BODY = b"".join(hand_record(r) for r in EXPECTED)


def zstd_streamed_without_content_size(data: bytes) -> bytes:
    """As OSO's streaming encoder writes it: a level-3 frame with no content size in its header."""
    out = io.BytesIO()
    cctx = zstandard.ZstdCompressor(level=3, write_content_size=False)
    with cctx.stream_writer(out, closefd=False) as w:
        w.write(data)
    frame = out.getvalue()
    assert zstandard.get_frame_parameters(frame).content_size == zstandard.CONTENTSIZE_UNKNOWN
    return frame


@pytest.mark.parametrize(
    ("code", "compressed"),
    [
        (0, BODY),
        (1, zstd_streamed_without_content_size(BODY)),
        (1, zstandard.ZstdCompressor(level=3).compress(BODY)),
        (2, struct.pack("<I", len(BODY)) + lz4.block.compress(BODY, store_size=False)),
    ],
    ids=["none", "zstd-no-content-size", "zstd-with-content-size", "lz4"],
)
def test_hand_built_segment_decodes_to_expected_records(code: int, compressed: bytes) -> None:
    data = hand_segment(code, compressed, len(EXPECTED), 100, 106)
    assert list(read_segment(io.BytesIO(data), "b/topics/t/partition=0/segment.bin")) == EXPECTED


def test_two_zstd_frames_are_read_across() -> None:
    half = len(hand_record(EXPECTED[0])) + len(hand_record(EXPECTED[1]))
    body = zstandard.ZstdCompressor(level=3).compress(BODY[:half]) + zstd_streamed_without_content_size(BODY[half:])
    data = hand_segment(1, body, len(EXPECTED), 100, 106)
    assert list(read_segment(io.BytesIO(data), "k")) == EXPECTED


def test_legacy_json_segment() -> None:
    def b64(v: bytes | None) -> str | None:
        return None if v is None else base64.b64encode(v).decode()

    items = [
        {
            "key": b64(r.key),
            "value": b64(r.value),
            "headers": [{"key": k, "value": b64(v)} for k, v in r.headers],
            "timestamp": r.timestamp,
            "offset": r.offset,
        }
        for r in EXPECTED
    ]
    raw = json.dumps(items).encode()
    assert list(read_segment(io.BytesIO(raw), "b/topics/t/partition=0/segment-000001.bin")) == EXPECTED
    # older backups compressed the whole JSON file as the key's suffix says
    zst = zstandard.ZstdCompressor(level=3).compress(raw)
    assert list(read_segment(io.BytesIO(zst), "segment-000001.bin.zst")) == EXPECTED
    lz4_file = lz4.block.compress(raw, store_size=True)
    assert list(read_segment(io.BytesIO(lz4_file), "segment-000001.bin.lz4")) == EXPECTED


def test_a_non_seekable_stream_reads_the_same() -> None:
    class OneWay(io.RawIOBase):
        def __init__(self, data: bytes):
            self._inner = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, b) -> int:  # type: ignore[no-untyped-def]
            chunk = self._inner.read(min(len(b), 7))
            b[: len(chunk)] = chunk
            return len(chunk)

    data = hand_segment(1, zstd_streamed_without_content_size(BODY), len(EXPECTED), 100, 106)
    stream = OneWay(data)
    assert not stream.seekable()
    assert list(read_segment(stream, "k")) == EXPECTED  # type: ignore[arg-type]
