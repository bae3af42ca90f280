"""An in-memory KafkaAdmin for the finalizer's unit tests: topics, end offsets, group commits."""

from __future__ import annotations

from restore_jobs.kafka.client import Committed, GroupInfo, KafkaError, TopicPartition


class FakeAdmin:
    def __init__(
        self,
        topics: dict[str, int] | None = None,
        end_offsets: dict[TopicPartition, int] | None = None,
    ):
        self.topic_map = dict(topics or {})
        self.ends = dict(end_offsets or {})
        self.commits: dict[str, dict[TopicPartition, Committed]] = {}
        self.infos: dict[str, GroupInfo] = {}
        self.undeletable_groups: set[str] = set()
        self.altered: list[tuple[str, dict[TopicPartition, int]]] = []

    def commit(self, group: str, offsets: dict[TopicPartition, int]) -> None:
        self.commits.setdefault(group, {}).update({tp: Committed(o) for tp, o in offsets.items()})

    def topics(self) -> dict[str, int]:
        return dict(self.topic_map)

    def create_topics(self, topics: dict[str, int], replication_factor: int | None = None) -> None:
        self.topic_map.update(topics)

    def delete_topics(self, names: list[str]) -> None:
        for name in names:
            if name not in self.topic_map:
                raise KafkaError(f"unknown topic {name}")
            del self.topic_map[name]

    def delete_records(self, partitions: list[TopicPartition]) -> None:
        raise AssertionError("the finalizer never deletes records")

    def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: self.ends.get(tp, 0) for tp in partitions}

    def committed(
        self, group_id: str, partitions: list[TopicPartition] | None = None
    ) -> dict[TopicPartition, Committed]:
        mine = self.commits.get(group_id, {})
        return {tp: c for tp, c in mine.items() if partitions is None or tp in partitions}

    def alter_offsets(self, group_id: str, offsets: dict[TopicPartition, int]) -> None:
        self.altered.append((group_id, dict(offsets)))
        self.commit(group_id, offsets)

    def groups(self) -> list[str]:
        return list(self.commits)

    def describe_group(self, group_id: str) -> GroupInfo:
        return self.infos.get(group_id, GroupInfo(group_id, "Empty", 0))

    def delete_groups(self, group_ids: list[str]) -> None:
        for g in group_ids:
            if g in self.undeletable_groups:
                raise KafkaError(f"group {g} is not empty")
            self.commits.pop(g, None)

    def cluster_id(self) -> str | None:
        return "fake-cluster"

    def close(self) -> None:
        pass
