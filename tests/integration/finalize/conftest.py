"""A KafkaAdmin on the session's Tansu broker, and helpers to give groups real commits.

``restore_jobs.kafka.factory.open_admin`` was not in the tree when these tests were written, so a
tiny confluent-kafka adapter stands in until it lands; the fixture prefers the real factory.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, ConsumerGroupState, ConsumerGroupTopicPartitions, Producer
from confluent_kafka import KafkaException as ConfluentError
from confluent_kafka import TopicPartition as ConfluentTP
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec

from restore_jobs.kafka.client import Committed, GroupInfo, KafkaAdmin, KafkaError, TopicPartition
from restore_jobs.spec.model import KafkaCluster

_STATES = {
    ConsumerGroupState.EMPTY: "Empty",
    ConsumerGroupState.STABLE: "Stable",
    ConsumerGroupState.PREPARING_REBALANCING: "PreparingRebalance",
    ConsumerGroupState.COMPLETING_REBALANCING: "CompletingRebalance",
    ConsumerGroupState.DEAD: "Dead",
}


class _ConfluentAdmin:
    """Just what the finalizer calls, errors mapped to KafkaError."""

    def __init__(self, bootstrap: str):
        self.admin = AdminClient({"bootstrap.servers": bootstrap})

    def _wait(self, futures):
        try:
            return {k: f.result(timeout=15) for k, f in futures.items()}
        except ConfluentError as exc:
            raise KafkaError(str(exc)) from exc

    def topics(self) -> dict[str, int]:
        meta = self.admin.list_topics(timeout=10)
        return {name: len(t.partitions) for name, t in meta.topics.items()}

    def create_topics(self, topics: dict[str, int], replication_factor: int | None = None) -> None:
        self._wait(self.admin.create_topics([NewTopic(t, n, replication_factor or 1) for t, n in topics.items()]))

    def delete_topics(self, names: list[str]) -> None:
        self._wait(self.admin.delete_topics(names))

    def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        got = self._wait(self.admin.list_offsets({ConfluentTP(t, p): OffsetSpec.latest() for t, p in partitions}))
        return {(tp.topic, tp.partition): info.offset for tp, info in got.items()}

    def committed(
        self, group_id: str, partitions: list[TopicPartition] | None = None
    ) -> dict[TopicPartition, Committed]:
        request = ConsumerGroupTopicPartitions(
            group_id, [ConfluentTP(t, p) for t, p in partitions] if partitions is not None else None
        )
        result = self._wait(self.admin.list_consumer_group_offsets([request]))[group_id]
        return {
            (tp.topic, tp.partition): Committed(tp.offset, tp.metadata or "")
            for tp in result.topic_partitions
            if tp.offset >= 0
        }

    def alter_offsets(self, group_id: str, offsets: dict[TopicPartition, int]) -> None:
        tps = [ConfluentTP(t, p, o) for (t, p), o in offsets.items()]
        self._wait(self.admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(group_id, tps)]))

    def groups(self) -> list[str]:
        return [g.group_id for g in self.admin.list_consumer_groups().result(timeout=15).valid]

    def describe_group(self, group_id: str) -> GroupInfo:
        desc = self._wait(self.admin.describe_consumer_groups([group_id]))[group_id]
        return GroupInfo(group_id, _STATES.get(desc.state, "Unknown"), len(desc.members))

    def delete_groups(self, group_ids: list[str]) -> None:
        self._wait(self.admin.delete_consumer_groups(group_ids))

    def delete_records(self, partitions: list[TopicPartition]) -> None:
        raise NotImplementedError("DeleteRecords crashes Tansu")

    def cluster_id(self) -> str | None:
        return self.admin.describe_cluster().result(timeout=15).cluster_id

    def close(self) -> None:
        pass


@pytest.fixture
def admin(bootstrap: str) -> Iterator[KafkaAdmin]:
    try:
        from restore_jobs.kafka.factory import open_admin
    except ImportError:
        a: KafkaAdmin = _ConfluentAdmin(bootstrap)
    else:
        a = open_admin(KafkaCluster(bootstrap_servers=[bootstrap]))
    yield a
    a.close()


def produce(bootstrap: str, topic: str, partition: int, count: int) -> None:
    p = Producer({"bootstrap.servers": bootstrap})
    for i in range(count):
        p.produce(topic, value=b"v%d" % i, partition=partition)
    assert p.flush(15) == 0


def consumer_commit(bootstrap: str, group: str, offsets: dict[TopicPartition, int]) -> None:
    """A commit the way an application makes one: through a consumer of the group."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        c.commit(offsets=[ConfluentTP(t, p, o) for (t, p), o in offsets.items()], asynchronous=False)
    finally:
        c.close()
