"""tests/kafka_log.py against the real Tansu broker: read_committed decided from the log itself.

Tansu 0.6.0 writes COMMIT and ABORT control batches (for an explicit abort, and when a new producer
with the same transactional.id fences one that died mid-transaction) but sends no
aborted_transactions list in Fetch, so real read_committed consumers show aborted records. These
tests pin both facts: our reader hides them, a confluent read_committed consumer does not (yet).
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from tests.kafka_log import ABORT, COMMIT, LogRecord, read_all_raw, read_committed, read_view

pytestmark = pytest.mark.integration

TS = 1_600_000_000_000


@pytest.fixture
def topic(bootstrap: str, unique: str) -> str:
    name = f"klog-{unique}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(name, 1, 1)], operation_timeout=10).values():
        future.result(timeout=15)
    return name


@pytest.fixture
def producers(bootstrap: str) -> Iterator[list[Producer]]:
    made: list[Producer] = []
    yield made
    for p in made:
        p.flush(5)
        p.close()  # stop librdkafka's threads now, not after the session broker is gone
    made.clear()


def txn_producer(bootstrap: str, txid: str, made: list[Producer]) -> Producer:
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": txid, "linger.ms": 0})
    p.init_transactions(10)
    made.append(p)
    return p


def content(records: list[LogRecord]) -> list[tuple]:
    return [(r.key, r.value, r.headers, r.timestamp) for r in records]


def values(records: list[LogRecord]) -> list[bytes | None]:
    return [r.value for r in records]


def assert_offset_order(records: list[LogRecord]) -> None:
    offsets = [r.offset for r in records]
    assert offsets == sorted(set(offsets)), offsets


def confluent_read_committed(bootstrap: str, topic: str, until: bytes, timeout_s: float = 10.0) -> list[bytes]:
    """What a real read_committed consumer (librdkafka) delivers, up to the record valued ``until``."""
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"{topic}-reader",
        "isolation.level": "read_committed",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    })
    seen: list[bytes] = []
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        deadline = time.monotonic() + timeout_s
        while until not in seen and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            seen.append(msg.value())
    finally:
        consumer.close()
    assert until in seen, f"read_committed consumer did not reach {until!r}; saw {seen}"
    return seen


def test_committed_transaction_is_returned_exactly(bootstrap: str, topic: str, unique: str,
                                                   producers: list[Producer]) -> None:
    p = txn_producer(bootstrap, f"{unique}-tx", producers)
    sent = [
        (b"k0", b"v0", (("h1", b"a"), ("h-none", None)), TS),
        (None, b"no key", (), TS + 1),
        (b"tombstone", None, (("h1", b""),), TS + 2),
        (b"k3", b"\x00\xffbinary", (("dup", b"1"), ("dup", b"2")), TS - 1000),  # timestamps need not grow
    ]
    p.begin_transaction()
    for key, value, headers, ts in sent:
        p.produce(topic, value=value, key=key, headers=list(headers), timestamp=ts)
    p.commit_transaction(10)

    records = read_committed(bootstrap, topic, 0)

    assert content(records) == [(k, v, h, ts) for k, v, h, ts in sent]
    assert_offset_order(records)
    raw = read_all_raw(bootstrap, topic, 0)
    assert [b.control_type for b in raw if b.is_control] == [COMMIT]
    assert raw[-1].is_control and raw[-1].base_offset > records[-1].offset


def test_aborted_transaction_is_dropped_though_tansu_consumers_see_it(bootstrap: str, topic: str, unique: str,
                                                                      producers: list[Producer]) -> None:
    p = txn_producer(bootstrap, f"{unique}-tx", producers)
    p.begin_transaction()
    p.produce(topic, value=b"kept-1", key=b"k")
    p.commit_transaction(10)
    p.begin_transaction()
    for i in range(3):
        p.produce(topic, value=f"aborted-{i}".encode(), key=b"k")
    p.flush(10)
    p.abort_transaction(10)
    p.begin_transaction()
    p.produce(topic, value=b"kept-2", key=b"k")
    p.commit_transaction(10)

    view = read_view(bootstrap, topic, 0)
    assert values(view.records) == [b"kept-1", b"kept-2"]
    assert values(view.aborted) == [b"aborted-0", b"aborted-1", b"aborted-2"]
    assert view.open == {}
    # Tansu does write the ABORT marker, right after the aborted records and for their producer.
    raw = read_all_raw(bootstrap, topic, 0)
    controls = [b for b in raw if b.is_control]
    assert [b.control_type for b in controls] == [COMMIT, ABORT, COMMIT]
    assert {b.producer_id for b in raw} == {controls[0].producer_id}
    assert controls[1].base_offset == view.aborted[-1].offset + 1

    # The Tansu gap this reader exists for: no aborted_transactions in Fetch, so a real read_committed
    # consumer delivers the aborted records. If this fails, Tansu got fixed: consumers can be trusted.
    seen = confluent_read_committed(bootstrap, topic, until=b"kept-2")
    assert seen == [b"kept-1", b"aborted-0", b"aborted-1", b"aborted-2", b"kept-2"]


KILLED_PRODUCER = """
import sys, time
from confluent_kafka import Producer
bootstrap, topic, txid = sys.argv[1:4]
p = Producer({"bootstrap.servers": bootstrap, "transactional.id": txid, "linger.ms": 0})
p.init_transactions(10)
p.begin_transaction()
for i in range(3):
    p.produce(topic, value=f"doomed-{i}".encode(), key=b"k")
p.flush(10)
print("flushed", flush=True)
time.sleep(120)
"""


def test_producer_killed_mid_transaction_is_aborted_by_its_successor(bootstrap: str, topic: str, unique: str,
                                                                     producers: list[Producer]) -> None:
    txid = f"{unique}-tx"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_PRODUCER, bootstrap, topic, txid],
                            stdout=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 20)
        line = proc.stdout.readline() if ready else ""
        assert line.strip() == "flushed", f"producer subprocess not ready (exit code {proc.poll()})"
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL

    # Open transaction: its records are in the log but not visible, and no marker exists yet.
    view = read_view(bootstrap, topic, 0)
    assert view.records == []
    [(killed_pid, pending)] = view.open.items()
    assert values(pending) == [b"doomed-0", b"doomed-1", b"doomed-2"]
    assert not any(b.is_control for b in read_all_raw(bootstrap, topic, 0))

    # A successor with the same transactional.id fences the dead producer: the broker aborts its transaction.
    p = txn_producer(bootstrap, txid, producers)
    p.begin_transaction()
    p.produce(topic, value=b"fresh-0", key=b"k", headers=[("n", None)], timestamp=TS)
    p.produce(topic, value=b"fresh-1", key=b"k", timestamp=TS + 1)
    p.commit_transaction(10)

    view = read_view(bootstrap, topic, 0)
    assert content(view.records) == [(b"k", b"fresh-0", (("n", None),), TS), (b"k", b"fresh-1", (), TS + 1)]
    assert values(view.aborted) == [b"doomed-0", b"doomed-1", b"doomed-2"]
    assert view.open == {}

    # What Tansu writes: an ABORT marker for the killed producer id, right after its records and
    # before the successor's (same producer id, bumped epoch) records and COMMIT.
    raw = read_all_raw(bootstrap, topic, 0)
    data = [b for b in raw if not b.is_control]
    controls = [b for b in raw if b.is_control]
    assert [b.control_type for b in controls] == [ABORT, COMMIT]
    assert {b.producer_id for b in raw} == {killed_pid}
    assert pending[-1].offset < controls[0].base_offset < view.records[0].offset < controls[1].base_offset
    assert data[-1].producer_epoch > data[0].producer_epoch


def test_non_transactional_records_are_returned(bootstrap: str, topic: str, producers: list[Producer]) -> None:
    plain = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    idempotent = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 0})
    producers += [plain, idempotent]
    plain.produce(topic, value=b"plain-0", key=None, headers=[("h", None)], timestamp=TS)
    plain.produce(topic, value=None, key=b"gone", timestamp=TS + 1)
    plain.flush(10)
    idempotent.produce(topic, value=b"idem-0", key=b"i", timestamp=TS + 2)
    idempotent.flush(10)

    records = read_committed(bootstrap, topic, 0)

    assert content(records) == [
        (None, b"plain-0", (("h", None),), TS),
        (b"gone", None, (), TS + 1),
        (b"i", b"idem-0", (), TS + 2),
    ]
    assert_offset_order(records)
    raw = read_all_raw(bootstrap, topic, 0)
    assert not any(b.is_transactional or b.is_control for b in raw)
    assert raw[-1].producer_id >= 0  # the idempotent batch carries a producer id and still is visible


def test_interleaved_transactions_resolve_per_producer(bootstrap: str, topic: str, unique: str,
                                                       producers: list[Producer]) -> None:
    a = txn_producer(bootstrap, f"{unique}-a", producers)
    b = txn_producer(bootstrap, f"{unique}-b", producers)
    c = txn_producer(bootstrap, f"{unique}-c", producers)
    plain = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    producers.append(plain)

    a.begin_transaction()
    a.produce(topic, value=b"a1")
    a.flush(10)
    plain.produce(topic, value=b"p1")
    plain.flush(10)
    b.begin_transaction()
    b.produce(topic, value=b"b1")
    b.commit_transaction(10)
    c.begin_transaction()
    c.produce(topic, value=b"c1")
    c.flush(10)
    a.produce(topic, value=b"a2")
    a.commit_transaction(10)
    plain.produce(topic, value=b"p2")
    plain.flush(10)

    view = read_view(bootstrap, topic, 0)
    assert values(view.records) == [b"a1", b"p1", b"b1", b"a2", b"p2"]
    assert_offset_order(view.records)
    assert [values(recs) for recs in view.open.values()] == [[b"c1"]]

    c.abort_transaction(10)
    view = read_view(bootstrap, topic, 0)
    assert values(view.records) == [b"a1", b"p1", b"b1", b"a2", b"p2"]
    assert values(view.aborted) == [b"c1"]
    assert view.open == {}


def test_empty_partition_reads_as_empty(bootstrap: str, topic: str) -> None:
    assert read_all_raw(bootstrap, topic, 0) == []
    assert read_committed(bootstrap, topic, 0) == []
