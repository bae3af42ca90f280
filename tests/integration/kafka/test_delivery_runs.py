"""The confluent producer's delivery bookkeeping against Tansu: offsets come from the first and
last record per partition of each chunk sent, and a producer whose partition another producer writes to meanwhile
finds out, aborts, sends its records again with a report each, and still returns exact offsets."""

from __future__ import annotations

import time

import pytest

from restore_jobs.backup.records import BackupRecord
from restore_jobs.kafka.client import Committed
from restore_jobs.kafka.factory import open_admin, open_producer
from restore_jobs.spec.model import KafkaCluster
from tests.helpers import send
from tests.kafka_log import read_committed, read_view

pytestmark = pytest.mark.integration

TS = 1_600_000_000_000


def test_offsets_are_exact_with_and_without_an_interleaving_writer(bootstrap: str, unique: str) -> None:
    cluster = KafkaCluster(bootstrap_servers=[bootstrap])
    topic, group = f"{unique}-t", f"{unique}-g"
    admin = open_admin(cluster, client="confluent")
    admin.create_topics({topic: 2})
    admin.close()
    ours = open_producer(cluster, None, f"{unique}-ours", client="confluent", timeout_ms=10000)
    other = open_producer(cluster, None, None, acks=1, client="confluent", timeout_ms=10000)
    try:
        ours.init()
        # Alone on the partitions: two runs, one per partition, records of one partition interleaved
        # with the other's, in two chunks, then a chunk to one partition.
        ours.begin()
        alone_records = [(BackupRecord(i, TS + i, b"k", b"alone-%d" % i, [("h", b"x")]), i % 2) for i in range(9)]
        ours.send_many(topic, alone_records[:4])
        ours.send_many(topic, alone_records[4:6])
        ours.send_many(topic, [(rec, 0) for rec, _ in alone_records[6:]])
        alone = ours.flush()
        assert {tp: len(spans) for tp, spans in alone.runs.items()} == {(topic, 0): 1, (topic, 1): 1}
        ours.commit(group, {(topic, 0): Committed(1)})
        # Another producer writes to partition 0 between our records: our offsets there are not consecutive.
        ours.begin()
        ours.send_many(topic, [(BackupRecord(i, TS + 10 + i, b"k", b"shared-%d" % i, []), 0) for i in range(3)])
        time.sleep(0.5)  # lets librdkafka deliver what it was handed
        for i in range(4):
            send(other, topic, 0, b"k", b"other-%d" % i, [], TS + 10 + i)
        other.flush()
        send(ours, topic, 0, b"k", b"shared-3", [], TS + 13)
        shared = ours.flush()
        ours.commit(group, {(topic, 0): Committed(2)})
        # From now on every record reports; a third transaction alone is exact too.
        ours.begin()
        send(ours, topic, 1, None, b"after", [], TS + 20)
        after = ours.flush()
        ours.commit(group, {(topic, 0): Committed(3)})
    finally:
        ours.close()
        other.close()
    log = {p: {r.offset: r.value for r in read_committed(bootstrap, topic, p)} for p in (0, 1)}
    for batch, prefix in ((alone, b"alone-"), (shared, b"shared-"), (after, b"after")):
        got = [log[d.partition][d.offset] for d in batch]
        assert all(value.startswith(prefix) for value in got), got
    assert [log[d.partition][d.offset] for d in alone] == [b"alone-%d" % i for i in range(9)]
    assert [d.partition for d in alone] == [0, 1, 0, 1, 0, 1, 0, 0, 0]
    assert [log[0][d.offset] for d in shared] == [b"shared-%d" % i for i in range(4)]
    # The first attempt, its records split around the other producer's, was aborted and sent again.
    assert [r.value for r in read_view(bootstrap, topic, 0).aborted] == [b"shared-%d" % i for i in range(4)]
    assert min(d.offset for d in shared) > max(o for o, v in log[0].items() if v.startswith(b"other-"))
    assert sorted(v for v in log[0].values() if v.startswith(b"other-")) == [b"other-%d" % i for i in range(4)]
    assert read_view(bootstrap, topic, 1).aborted == []  # the ends of each chunk were enough: no resend
