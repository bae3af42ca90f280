"""A test-side reader that applies Kafka's read_committed semantics from the log itself.

Why: Tansu 0.6.0 writes transaction markers (COMMIT and ABORT control batches) but sends no
``aborted_transactions`` list in Fetch responses, and that list is what real consumers use to drop
aborted records. So read_committed consumers (confluent-kafka and kafka-python) still see records of
ABORTED transactions against Tansu (records of still-open transactions are hidden correctly, by the
last stable offset). To prove exactly-once restores anyway, tests read the partition's raw record
batches, control batches included, and decide visibility themselves:

* records of non-transactional batches are visible;
* records of transactional batches are held per producer id until that producer's next control
  record: COMMIT makes them visible, ABORT drops them;
* records of a transaction with no control record yet (open) are not returned.

Visible records come back in offset order. Unlike a real consumer, which stops at the last stable
offset, records after an open transaction are returned too (non-transactional ones and those of
other, finished transactions); ``CommittedView.open`` says what is still pending.

This is a test helper, never product code. It speaks the Kafka protocol over one plain socket per
call, using kafka-python 3.0.x's protocol classes (``KafkaProtocol``, ``MetadataRequest``,
``FetchRequest``) to encode and decode, and ``kafka.record.MemoryRecords`` to parse record batches.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from kafka.protocol.consumer import FetchRequest
from kafka.protocol.metadata import MetadataRequest
from kafka.protocol.parser import KafkaProtocol
from kafka.record import MemoryRecords

ABORT = 0
COMMIT = 1

_FETCH_VERSION = 5  # v4 brings transactional fields, v5 the log start offset; neither is "flexible"
_METADATA_VERSION = 4  # v4: allow_auto_topic_creation=False
_NO_ERROR = 0
_OFFSET_OUT_OF_RANGE = 1
# Errors worth a retry after a metadata refresh: the topic or its leader is not ready yet.
_RETRIABLE = {3, 5, 6, 7, 13, 14, 15}  # unknown topic/partition, leader n/a, not leader, timeouts, ...
_INITIAL_MAX_BYTES = 4 << 20
_LIMIT_MAX_BYTES = 256 << 20


class KafkaLogError(RuntimeError):
    pass


@dataclass(frozen=True)
class LogRecord:
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = ()


@dataclass(frozen=True)
class RawBatch:
    """One record batch as stored in the log. For a control batch ``records`` holds the control
    records (key = version and type) and ``control_type`` is ABORT (0) or COMMIT (1)."""

    base_offset: int
    last_offset: int
    magic: int
    producer_id: int
    producer_epoch: int
    is_transactional: bool
    is_control: bool
    control_type: int | None
    records: tuple[LogRecord, ...]

    def describe(self) -> str:
        kind = (
            f"control {'COMMIT' if self.control_type == COMMIT else 'ABORT' if self.control_type == ABORT else '?'}"
            if self.is_control
            else f"{len(self.records)} record(s)"
        )
        txn = "txn" if self.is_transactional else "plain"
        return (
            f"[{self.base_offset}..{self.last_offset}] {txn} pid={self.producer_id} "
            f"epoch={self.producer_epoch} {kind}"
        )


@dataclass(frozen=True)
class CommittedView:
    """The partition as a read_committed consumer should see it, and what it hides."""

    records: list[LogRecord]
    aborted: list[LogRecord] = field(default_factory=list)
    open: dict[int, list[LogRecord]] = field(default_factory=dict)  # producer id -> pending records


def apply_read_committed(batches: Iterable[RawBatch]) -> CommittedView:
    """Kafka's read_committed visibility, decided from the log's own control records."""
    visible: list[LogRecord] = []
    aborted: list[LogRecord] = []
    pending: dict[int, list[LogRecord]] = {}
    for batch in batches:
        if batch.is_control:
            held = pending.pop(batch.producer_id, [])
            if batch.control_type == COMMIT:
                visible.extend(held)
            elif batch.control_type == ABORT:
                aborted.extend(held)
            else:
                raise KafkaLogError(f"unknown control record type in {batch.describe()}")
        elif batch.is_transactional:
            pending.setdefault(batch.producer_id, []).extend(batch.records)
        else:
            visible.extend(batch.records)
    visible.sort(key=lambda r: r.offset)
    return CommittedView(
        records=visible,
        aborted=sorted(aborted, key=lambda r: r.offset),
        open={pid: recs for pid, recs in pending.items() if recs},
    )


def read_committed(bootstrap: str, topic: str, partition: int, timeout_s: float = 10.0) -> list[LogRecord]:
    """Every record of ``topic``/``partition`` a read_committed consumer must see, in offset order."""
    return apply_read_committed(read_all_raw(bootstrap, topic, partition, timeout_s)).records


def read_view(bootstrap: str, topic: str, partition: int, timeout_s: float = 10.0) -> CommittedView:
    """Like ``read_committed`` but also returns the aborted and the still-open records."""
    return apply_read_committed(read_all_raw(bootstrap, topic, partition, timeout_s))


def read_all_raw(bootstrap: str, topic: str, partition: int, timeout_s: float = 10.0) -> list[RawBatch]:
    """Every record batch of the partition from its log start to the end, control batches included.

    Fetches (read_uncommitted) from the next offset until the broker returns no data: Tansu's high
    watermark can be wrong, so it is not used to decide the end."""
    deadline = time.monotonic() + timeout_s
    conn = _leader_connection(bootstrap, topic, partition, deadline)
    try:
        batches: list[RawBatch] = []
        offset = 0
        max_bytes = _INITIAL_MAX_BYTES
        while True:
            data = _fetch(conn, topic, partition, offset, max_bytes, deadline)
            if isinstance(data, _Restart):
                offset = data.offset
                continue
            if isinstance(data, _Retry):
                conn.close()
                _sleep_until_retry(deadline, data.reason)
                conn = _leader_connection(bootstrap, topic, partition, deadline)
                continue
            if not data:
                return batches
            progressed = False
            for batch in _parse(data, topic, partition):
                if batch.last_offset < offset:
                    continue  # a batch the broker repeats from before the fetch offset
                batches.append(batch)
                offset = batch.last_offset + 1
                progressed = True
            if not progressed:
                # Only a partial batch came back: it is larger than the limit.
                max_bytes *= 2
                if max_bytes > _LIMIT_MAX_BYTES:
                    raise KafkaLogError(f"{topic}/{partition}: batch at {offset} exceeds {_LIMIT_MAX_BYTES} bytes")
    finally:
        conn.close()


# --- the wire ----------------------------------------------------------------------------------


class _Conn:
    def __init__(self, host: str, port: int, deadline: float) -> None:
        self.address = f"{host}:{port}"
        self.sock = socket.create_connection((host, port), timeout=_remaining(deadline, self.address))
        self.proto = KafkaProtocol(client_id="kafka-restore-tests-log")

    def call(self, request: object, deadline: float) -> object:
        self.proto.send_request(request)
        self.sock.settimeout(_remaining(deadline, self.address))
        self.sock.sendall(self.proto.send_bytes())
        while True:
            self.sock.settimeout(_remaining(deadline, self.address))
            try:
                data = self.sock.recv(1 << 20)
            except TimeoutError as exc:
                raise KafkaLogError(f"{self.address}: no response in time") from exc
            if not data:
                raise KafkaLogError(f"{self.address}: connection closed by the broker")
            responses = self.proto.receive_bytes(data)
            if responses:
                return responses[0][1]

    def close(self) -> None:
        self.sock.close()


@dataclass(frozen=True)
class _Retry:
    reason: str


@dataclass(frozen=True)
class _Restart:
    offset: int


def _remaining(deadline: float, what: str) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise KafkaLogError(f"{what}: timed out")
    return left


def _sleep_until_retry(deadline: float, reason: str) -> None:
    if deadline - time.monotonic() < 0.1:
        raise KafkaLogError(f"timed out; last problem: {reason}")
    time.sleep(0.1)


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.strip().rpartition(":")
    return host.strip("[]"), int(port)


def _leader_connection(bootstrap: str, topic: str, partition: int, deadline: float) -> _Conn:
    """A connection to the partition leader, found with a Metadata request to a bootstrap server."""
    last = "no bootstrap server"
    while True:
        for address in bootstrap.split(","):
            try:
                conn = _Conn(*_split(address), deadline)
            except OSError as exc:
                last = f"{address}: {exc}"
                continue
            try:
                leader = _find_leader(conn, topic, partition, deadline)
            except OSError as exc:
                conn.close()
                last = f"{address}: {exc}"
                continue
            if isinstance(leader, _Retry):
                conn.close()
                last = leader.reason
                continue
            if leader == _split(address):
                return conn
            conn.close()
            try:
                return _Conn(*leader, deadline)
            except OSError as exc:
                last = f"leader {leader}: {exc}"
        _sleep_until_retry(deadline, last)


def _find_leader(conn: _Conn, topic: str, partition: int, deadline: float) -> tuple[str, int] | _Retry:
    request = MetadataRequest(
        topics=[MetadataRequest.MetadataRequestTopic(name=topic)],
        allow_auto_topic_creation=False,
        version=_METADATA_VERSION,
    )
    response = conn.call(request, deadline)
    brokers = {b.node_id: (b.host, b.port) for b in response.brokers}
    for t in response.topics:
        if t.name != topic:
            continue
        if t.error_code != _NO_ERROR:
            if t.error_code in _RETRIABLE:
                return _Retry(f"metadata for {topic}: error {t.error_code}")
            raise KafkaLogError(f"metadata for {topic}: error {t.error_code}")
        for p in t.partitions:
            if p.partition_index == partition:
                if p.error_code != _NO_ERROR and p.error_code not in _RETRIABLE:
                    raise KafkaLogError(f"metadata for {topic}/{partition}: error {p.error_code}")
                if p.leader_id in brokers:
                    return brokers[p.leader_id]
                return _Retry(f"{topic}/{partition} has no leader yet")
        raise KafkaLogError(f"{topic} has no partition {partition}")
    return _Retry(f"{topic} not in metadata yet")


def _fetch(conn: _Conn, topic: str, partition: int, offset: int, max_bytes: int, deadline: float
           ) -> bytes | _Retry | _Restart:
    topic_req = FetchRequest.FetchTopic
    request = FetchRequest(
        replica_id=-1,
        max_wait_ms=50,
        min_bytes=1,
        max_bytes=max_bytes,
        isolation_level=0,  # read_uncommitted: everything, control batches too; we filter ourselves
        topics=[
            topic_req(
                topic=topic,
                partitions=[topic_req.FetchPartition(partition=partition, fetch_offset=offset,
                                                     partition_max_bytes=max_bytes)],
            )
        ],
        version=_FETCH_VERSION,
    )
    response = conn.call(request, deadline)
    for t in response.responses:
        for p in t.partitions:
            if t.topic != topic or p.partition_index != partition:
                continue
            if p.error_code == _NO_ERROR:
                return bytes(p.records or b"")
            if p.error_code == _OFFSET_OUT_OF_RANGE and p.log_start_offset > offset:
                return _Restart(p.log_start_offset)  # the log no longer starts at 0
            if p.error_code in _RETRIABLE:
                return _Retry(f"fetch {topic}/{partition}@{offset}: error {p.error_code}")
            raise KafkaLogError(f"fetch {topic}/{partition}@{offset}: error {p.error_code}")
    raise KafkaLogError(f"fetch {topic}/{partition}@{offset}: partition missing from the response")


def _parse(data: bytes, topic: str, partition: int) -> list[RawBatch]:
    """The complete batches in ``data`` (a trailing partial batch is left for the next fetch)."""
    out = []
    for batch in MemoryRecords(data):
        magic = batch.magic
        if magic >= 2:
            if not batch.validate_crc():
                raise KafkaLogError(f"{topic}/{partition}: CRC mismatch in batch at {batch.base_offset}")
            records = list(batch)
            is_control = bool(batch.is_control_batch)
            control_type = None
            if is_control:
                types = {r.type for r in records}
                if len(types) != 1:
                    raise KafkaLogError(f"{topic}/{partition}: control batch at {batch.base_offset} holds {types}")
                control_type = types.pop()
            out.append(RawBatch(
                base_offset=batch.base_offset,
                last_offset=batch.last_offset,
                magic=magic,
                producer_id=batch.producer_id,
                producer_epoch=batch.producer_epoch,
                is_transactional=bool(batch.is_transactional),
                is_control=is_control,
                control_type=control_type,
                records=tuple(_log_record(r) for r in records),
            ))
        else:  # message format v0/v1: no transactions, no headers
            records = [_log_record(r) for r in batch]
            if not records:
                continue
            out.append(RawBatch(
                base_offset=records[0].offset,
                last_offset=records[-1].offset,
                magic=magic,
                producer_id=-1,
                producer_epoch=-1,
                is_transactional=False,
                is_control=False,
                control_type=None,
                records=tuple(records),
            ))
    return out


def _log_record(rec: object) -> LogRecord:
    headers = tuple((k, None if v is None else bytes(v)) for k, v in (getattr(rec, "headers", None) or ()))
    return LogRecord(offset=rec.offset, timestamp=rec.timestamp, key=rec.key, value=rec.value, headers=headers)
