"""The segment file OSO kafka-backup writes (format version 1), and its legacy JSON predecessor.

Reading is defensive because a segment is untrusted input: the CRC over header and compressed
body is checked before the first record is handed out, every length field is checked against
what remains before anything is sliced or allocated, and decompression streams, so memory stays
bounded by one chunk plus the largest record (lz4 blocks, which cannot stream, by one body).
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import struct
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, BinaryIO

import lz4.block
import zstandard

from restore_jobs.backup.records import BackupRecord

try:
    from restore_jobs.backup._records import parse as _native_parse
except ImportError:  # built without a C compiler: the Python parser takes every record
    _native_parse = None
# Whether records are parsed in C; without, a restore decodes several times slower.
NATIVE_PARSER = _native_parse is not None

MAGIC = b"KBAK"
END_MAGIC = b"BKAE"
VERSION = 1
HEADER = struct.Struct("<4sBBxxQqq")
FOOTER = struct.Struct("<I4s")
COMPRESSION_CODES = {"none": 0, "zstd": 1, "lz4": 2}
_COMPRESSION_NAMES = {code: name for name, code in COMPRESSION_CODES.items()}
ZSTD_LEVEL = 3
ZSTD_FRAME_MAGIC = b"\x28\xb5\x2f\xfd"

_CHUNK = 1 << 20
_SPOOL_IN_MEMORY = 16 << 20
_LZ4_MAX_RATIO = 255  # an LZ4 block cannot expand more than this (plus a little slack)
_REC_FIXED = struct.Struct("<qqi")  # timestamp, offset, key_len
_I32 = struct.Struct("<i")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_unpack_fixed = _REC_FIXED.unpack_from
_unpack_i32 = _I32.unpack_from
_unpack_u16 = _U16.unpack_from
_MIN_RECORD = 8 + 8 + 4 + 4 + 2


class SegmentError(Exception):
    """A segment is unreadable or inconsistent; str is ``segment <key>: <problem>``."""

    def __init__(self, key: str, message: str):
        super().__init__(f"segment {key}: {message}")
        self.key = key
        self.problem = message


@dataclass(frozen=True)
class SegmentHeader:
    version: int
    compression: str
    record_count: int
    start_offset: int
    end_offset: int


# ---------------------------------------------------------------------------- reading


def read_segment(stream: BinaryIO, key: str, *, max_segment_bytes: int = 1 << 30) -> Iterator[BackupRecord]:
    """Yields the records of one segment file in stored order; raises SegmentError naming ``key``."""
    for batch in read_segment_batches(stream, key, max_segment_bytes=max_segment_bytes):
        yield from batch


def read_segment_batches(
    stream: BinaryIO, key: str, *, max_segment_bytes: int = 1 << 30
) -> Iterator[list[BackupRecord]]:
    """The records of one segment file in stored order, in batches of at most one decompressed
    chunk (1 MiB) or one record; raises SegmentError naming ``key``."""
    source, size = _seekable(stream, key, max_segment_bytes)
    try:
        magic = source.read(4)
        source.seek(-len(magic), io.SEEK_CUR)
        if magic != MAGIC:
            legacy = list(_read_legacy(source.read(size), key, max_segment_bytes))
            if legacy:
                yield legacy
            return
        header = _check_framing(source, key, size)
        body = _Bounded(source, size - HEADER.size - FOOTER.size)
        chunks = _decompressed(body, header.compression, key)
        yield from _parse_records(chunks, key, header.record_count)
    finally:
        if source is not stream:
            source.close()


def read_segment_header(stream: BinaryIO, key: str, *, max_segment_bytes: int = 1 << 30) -> SegmentHeader:
    """The header of a KBAK segment after a full CRC check, without decoding the records."""
    source, size = _seekable(stream, key, max_segment_bytes)
    try:
        if source.read(4) != MAGIC:
            raise SegmentError(key, "not a KBAK segment (legacy JSON segments have no header)")
        source.seek(-4, io.SEEK_CUR)
        return _check_framing(source, key, size)
    finally:
        if source is not stream:
            source.close()


def _seekable(stream: BinaryIO, key: str, limit: int) -> tuple[BinaryIO, int]:
    """The stream itself when it can seek, else a spooled copy; and the bytes from here to its end."""
    if _can_seek(stream):
        here = stream.tell()
        size = stream.seek(0, io.SEEK_END) - here
        stream.seek(here)
        if size > limit:
            raise SegmentError(key, f"file is {size} bytes, above the limit of {limit}")
        return stream, size
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115 - closed by caller
    size = 0
    while chunk := stream.read(_CHUNK):
        size += len(chunk)
        if size > limit:
            spool.close()
            raise SegmentError(key, f"file is above the limit of {limit} bytes")
        spool.write(chunk)
    spool.seek(0)
    return spool, size  # type: ignore[return-value]


def _can_seek(stream: BinaryIO) -> bool:
    try:
        return bool(stream.seekable())
    except (AttributeError, ValueError):
        return False


def _check_framing(source: BinaryIO, key: str, size: int) -> SegmentHeader:
    """Parses the header and footer and verifies the CRC; leaves ``source`` at the body."""
    start = source.tell()
    if size < HEADER.size + FOOTER.size:
        raise SegmentError(key, f"truncated: {size} bytes, a segment has at least {HEADER.size + FOOTER.size}")
    raw_header = source.read(HEADER.size)
    _magic, version, code, record_count, start_offset, end_offset = HEADER.unpack(raw_header)
    if version != VERSION:
        raise SegmentError(key, f"unknown format version {version} (this reader knows {VERSION})")
    if code not in _COMPRESSION_NAMES:
        raise SegmentError(key, f"unknown compression code {code} (0 none, 1 zstd, 2 lz4)")
    source.seek(start + size - FOOTER.size)
    stored_crc, end_magic = FOOTER.unpack(source.read(FOOTER.size))
    if end_magic != END_MAGIC:
        raise SegmentError(key, f"truncated or damaged: end magic {end_magic!r}, expected {END_MAGIC!r}")
    source.seek(start)
    crc = 0
    remaining = size - FOOTER.size
    while remaining:
        chunk = source.read(min(_CHUNK, remaining))
        if not chunk:
            raise SegmentError(key, "truncated while checking the CRC")
        crc = zlib.crc32(chunk, crc)
        remaining -= len(chunk)
    if crc != stored_crc:
        raise SegmentError(key, f"CRC mismatch: stored {stored_crc:#010x}, computed {crc:#010x}")
    source.seek(start + HEADER.size)
    return SegmentHeader(version, _COMPRESSION_NAMES[code], record_count, start_offset, end_offset)


class _Bounded(io.RawIOBase):
    """The next ``length`` bytes of a stream, as a stream."""

    def __init__(self, stream: BinaryIO, length: int):
        self._stream = stream
        self.remaining = length

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._stream.read(min(len(buffer), self.remaining))
        n = len(data)
        buffer[:n] = data
        self.remaining -= n
        return n


def _decompressed(body: _Bounded, compression: str, key: str) -> Iterator[bytes]:
    try:
        if compression == "none":
            while chunk := body.read(_CHUNK):
                yield chunk
        elif compression == "zstd":
            reader = zstandard.ZstdDecompressor().stream_reader(body, read_size=_CHUNK, read_across_frames=True)
            while chunk := reader.read(_CHUNK):
                yield chunk
        else:
            yield _lz4_block(body.read(body.remaining), key)
    except zstandard.ZstdError as exc:
        raise SegmentError(key, f"zstd body is damaged: {exc}") from None


def _lz4_block(data: bytes, key: str) -> bytes:
    """OSO's lz4 body: 4-byte LE uncompressed size, then one raw block."""
    if len(data) < 4:
        raise SegmentError(key, f"lz4 body of {len(data)} bytes has no size field")
    (size,) = _U32.unpack_from(data)
    if size > _LZ4_MAX_RATIO * len(data) + 64:
        raise SegmentError(key, f"lz4 size field {size} is more than a {len(data)}-byte block can hold")
    try:
        out = lz4.block.decompress(data[4:], uncompressed_size=size) if size else b""
    except lz4.block.LZ4BlockError as exc:
        raise SegmentError(key, f"lz4 body is damaged: {exc}") from None
    if len(out) != size:
        raise SegmentError(key, f"lz4 body decompressed to {len(out)} bytes, its size field says {size}")
    return out


class _Chunks:
    """Bytes refilled from an iterator of chunks, without quadratic copying."""

    def __init__(self, chunks: Iterator[bytes]):
        self._chunks = chunks

    def refill(self, buf: bytes, pos: int, n: int) -> bytes:
        """``buf[pos:]`` extended by further chunks to at least ``n`` bytes; shorter when the data ends."""
        pieces = [buf[pos:]]
        have = len(buf) - pos
        for chunk in self._chunks:
            pieces.append(chunk)
            have += len(chunk)
            if have >= n:
                break
        return b"".join(pieces)


def _parse_records(chunks: Iterator[bytes], key: str, record_count: int) -> Iterator[list[BackupRecord]]:
    """The hot loop of every restore: frames the records and yields them in batches that end
    where the buffer needs more data, so a batch holds at most one decompressed chunk plus one
    record. Whole records go to the C parser (``_records.c``) when it is built; it stops in front
    of any record it does not take, and ``_RecordParser`` parses those (naming the damage), and
    every record when the C parser is missing."""
    refill = _Chunks(chunks).refill
    unpack_u32 = _U32.unpack_from
    native = _native_parse
    native_names: list[str] = []  # the C parser's cache of header keys, by header position
    parse_one = _RecordParser(key).parse
    buf, pos, limit = b"", 0, 0
    count = 0
    batch: list[BackupRecord] = []
    try:
        while count < record_count:
            if pos + 4 > limit:
                if batch:
                    yield batch
                    batch = []
                buf, pos = refill(buf, pos, 4), 0
                limit = len(buf)
                if limit < 4:
                    raise SegmentError(key, f"truncated: record_count says {record_count} but the body holds "
                                            f"{count} records")
            (length,) = unpack_u32(buf, pos)
            if length < _MIN_RECORD:
                raise SegmentError(key, f"record {count}: length {length} is below the {_MIN_RECORD}-byte minimum")
            end = pos + 4 + length
            if end > limit:
                if batch:
                    yield batch
                    batch = []
                buf, pos = refill(buf, pos, 4 + length), 0
                limit, end = len(buf), 4 + length
                if limit < end:
                    raise SegmentError(key, f"record {count}: length {length} exceeds the {limit - 4} bytes "
                                            "that remain")
            if native is not None:
                parsed, pos = native(buf, pos, record_count - count, BackupRecord, native_names)
                if parsed:
                    count += len(parsed)
                    if batch:
                        batch += parsed
                    else:
                        batch = parsed
                    continue
            batch.append(parse_one(buf, pos + 4, end, count))
            pos = end
            count += 1
        if batch:
            yield batch
            batch = []
        if pos < limit or refill(buf, pos, 1):
            raise SegmentError(key, f"the body holds more data than record_count {record_count} records")
    except SegmentError:
        if batch:  # the records before the damaged one, as a reader of single records would get them
            yield batch
        raise


class _RecordParser:
    """One record in Python: bounds are checked before every slice, an error names the record and
    the field, and the record carries its payload size.

    A header block whose layout was seen before in the segment is parsed by one struct call (see
    ``_HeaderLayouts``): header keys and value lengths repeat from record to record, and parsing
    them field by field costs more than the rest of the record."""

    def __init__(self, key: str):
        self.key = key
        self.names: dict[bytes, str] = {}  # header keys repeat from record to record: decoded once
        self.layouts = _HeaderLayouts()

    def parse(self, buf: bytes, p: int, end: int, index: int) -> BackupRecord:
        """The record at ``buf[p:end]`` (after its length field), the ``index``-th of the segment."""
        key, field = self.key, self._field
        timestamp, offset, key_len = _unpack_fixed(buf, p)
        record_key, p = field(buf, p + 20, key_len, end - 4, index, "key")
        (value_len,) = _unpack_i32(buf, p)
        value, p = field(buf, p + 4, value_len, end - 2, index, "value")
        size = max(key_len, 0) + max(value_len, 0)
        layout = self.layouts.by_size.get(end - p)
        if layout is not None:
            unpack, check, expected, header_names, header_size = layout
            fields = unpack(buf, p)
            if check(fields) == expected:
                headers = list(zip(header_names, fields[4::4], strict=True))
                return BackupRecord(offset, timestamp, record_key, value, headers, size + header_size)
        (header_count,) = _unpack_u16(buf, p)
        block = p
        p += 2
        headers: list[tuple[str, bytes | None]] = []
        names = self.names
        for h in range(header_count):
            if p + 2 > end:
                raise SegmentError(key, f"record {index}: header {h} runs past the record's end")
            (hk_len,) = _unpack_u16(buf, p)
            q = p + 2 + hk_len
            if q > end - 4:
                raise _overrun(key, index, f"header {h} key", hk_len)
            raw_name = buf[p + 2 : q]
            name = names.get(raw_name)
            if name is None:
                name = names[raw_name] = _header_name(raw_name, key, index, h)
            (hv_len,) = _unpack_i32(buf, q)
            header_value, p = field(buf, q + 4, hv_len, end, index, f"header {h} value")
            headers.append((name, header_value))
            size += len(name) + max(hv_len, 0)
        if p != end:
            raise SegmentError(key, f"record {index}: {end - p} bytes left over after its last field")
        if header_count:
            self.layouts.learn(end - block, headers)
        return BackupRecord(offset, timestamp, record_key, value, headers, size)

    def _field(self, buf: bytes, p: int, length: int, limit: int, index: int, what: str) -> tuple[bytes | None, int]:
        """A nullable field of ``length`` bytes at ``p`` (null when negative) that must end by
        ``limit``, and the position after it."""
        if length < 0:
            return None, p
        q = p + length
        if q > limit:
            raise _overrun(self.key, index, what, length)
        return buf[p:q], q


# unpack, check, the values check must return, header keys, payload bytes of the headers
_Layout = tuple[Callable[[bytes, int], tuple[Any, ...]], Callable[[tuple[Any, ...]], Any], tuple[Any, ...],
                tuple[str, ...], int]


class _HeaderLayouts:
    """Header blocks already parsed in this segment, by byte length, each as one struct format.

    A block is the header count, then per header its key length, key, value length and value. The
    struct ``<H`` + ``H{k}si{v}s`` per header unpacks a block of the same layout in one call into
    (count, k0, key0, v0, value0, k1, ...), so values sit at [4::4]. A block is taken as having a
    known layout only when the count, every key length, key and value length it unpacks to equal
    the layout's: then the struct parse is exactly the field-by-field parse. Blocks with a null
    value are left to the field-by-field parse; so is everything once ``LIMIT`` layouts are known.
    """

    LIMIT = 256

    def __init__(self) -> None:
        self.by_size: dict[int, _Layout] = {}

    def learn(self, block_size: int, headers: list[tuple[str, bytes | None]]) -> None:
        if len(self.by_size) >= self.LIMIT or any(v is None for _, v in headers):
            return
        fields = [(len(raw), raw, len(value or b"")) for raw, value in
                  ((name.encode("utf-8"), value) for name, value in headers)]
        layout = struct.Struct("<H" + "".join(f"H{k}si{v}s" for k, _, v in fields))
        check = itemgetter(0, *(i for j in range(len(headers)) for i in (1 + 4 * j, 2 + 4 * j, 3 + 4 * j)))
        expected = (len(headers), *(x for field in fields for x in field))
        size = sum(len(name) + len(value or b"") for name, value in headers)
        self.by_size[block_size] = (layout.unpack_from, check, expected,
                                    tuple(name for name, _ in headers), size)


def _header_name(raw: bytes, key: str, index: int, h: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SegmentError(key, f"record {index}: header {h} key is not valid UTF-8") from None


def _overrun(key: str, index: int, what: str, length: int) -> SegmentError:
    return SegmentError(key, f"record {index}: {what} length {length} runs past the record's end")


# ---------------------------------------------------------------------------- legacy JSON


def _read_legacy(raw: bytes, key: str, limit: int) -> Iterator[BackupRecord]:
    """Segments older than the binary format: a JSON array, compressed as the key's suffix says."""
    try:
        if raw.startswith(ZSTD_FRAME_MAGIC):
            raw = _read_capped(zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True), limit)
        elif key.endswith(".lz4"):
            raw = _lz4_block(raw, key)
    except zstandard.ZstdError as exc:
        raise SegmentError(key, f"legacy zstd segment is damaged: {exc}") from None
    try:
        items = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        items = None
    if not isinstance(items, list):
        raise SegmentError(key, f"bad magic {raw[:4]!r}: neither a KBAK segment nor a legacy JSON array")
    for i, item in enumerate(items):
        yield _legacy_record(item, key, f"[{i}]")


def _read_capped(reader: Any, limit: int) -> bytes:
    pieces, total = [], 0
    while chunk := reader.read(_CHUNK):
        total += len(chunk)
        if total > limit:
            raise zstandard.ZstdError(f"decompresses to more than {limit} bytes")
        pieces.append(chunk)
    return b"".join(pieces)


def _legacy_record(item: Any, key: str, path: str) -> BackupRecord:
    if not isinstance(item, dict):
        raise SegmentError(key, f"{path}: expected an object")
    headers = item.get("headers") or []
    if not isinstance(headers, list):
        raise SegmentError(key, f"{path}.headers: expected a list")
    parsed_headers = []
    for j, h in enumerate(headers):
        hpath = f"{path}.headers[{j}]"
        if not isinstance(h, dict) or not isinstance(h.get("key"), str):
            raise SegmentError(key, f"{hpath}: expected an object with a string key")
        parsed_headers.append((h["key"], _b64(h.get("value"), key, f"{hpath}.value")))
    return BackupRecord(
        offset=_int(item.get("offset"), key, f"{path}.offset"),
        timestamp=_int(item.get("timestamp"), key, f"{path}.timestamp"),
        key=_b64(item.get("key"), key, f"{path}.key"),
        value=_b64(item.get("value"), key, f"{path}.value"),
        headers=parsed_headers,
    )


def _int(value: Any, key: str, path: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise SegmentError(key, f"{path}: expected an integer")
    return value


def _b64(value: Any, key: str, path: str) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise SegmentError(key, f"{path}: expected a base64 string or null")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise SegmentError(key, f"{path}: not valid base64") from None


# ---------------------------------------------------------------------------- writing


def encode_record(record: BackupRecord) -> bytes:
    """One record with its u32 length prefix, as OSO lays it out."""
    parts = [_REC_FIXED.pack(record.timestamp, record.offset, _len(record.key, "key"))]
    if record.key is not None:
        parts.append(record.key)
    parts.append(_I32.pack(_len(record.value, "value")))
    if record.value is not None:
        parts.append(record.value)
    if len(record.headers) > 0xFFFF:
        raise ValueError(f"record at offset {record.offset}: {len(record.headers)} headers, at most 65535")
    parts.append(_U16.pack(len(record.headers)))
    for name, value in record.headers:
        raw_name = name.encode("utf-8")
        if len(raw_name) > 0xFFFF:
            raise ValueError(f"record at offset {record.offset}: header key longer than 65535 bytes")
        parts += (_U16.pack(len(raw_name)), raw_name, _I32.pack(_len(value, "header value")))
        if value is not None:
            parts.append(value)
    body = b"".join(parts)
    if len(body) > 0xFFFFFFFF:
        raise ValueError(f"record at offset {record.offset}: larger than 4 GiB")
    return _U32.pack(len(body)) + body


def pack_segment(
    body: bytes | bytearray, record_count: int, start_offset: int, end_offset: int, compression: str
) -> bytes:
    """Header, compressed body (encoded records, concatenated) and CRC footer."""
    if compression not in COMPRESSION_CODES:
        raise ValueError(f"unknown compression {compression!r}; expected one of {', '.join(COMPRESSION_CODES)}")
    if compression == "zstd":
        compressed = zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(body)
    elif compression == "lz4":
        compressed = lz4.block.compress(body, store_size=True)
    else:
        compressed = body
    header = HEADER.pack(MAGIC, VERSION, COMPRESSION_CODES[compression], record_count, start_offset, end_offset)
    crc = zlib.crc32(compressed, zlib.crc32(header))
    return header + compressed + FOOTER.pack(crc, END_MAGIC)


def encode_segment(records: Iterable[BackupRecord], compression: str) -> bytes:
    body = bytearray()
    count, first, last = 0, -1, -1
    for record in records:
        body += encode_record(record)
        first = record.offset if count == 0 else first
        last = record.offset
        count += 1
    return pack_segment(bytes(body), count, first, last, compression)


def _len(value: bytes | None, what: str) -> int:
    if value is None:
        return -1
    if len(value) > 0x7FFFFFFF:
        raise ValueError(f"{what} longer than 2 GiB")
    return len(value)
