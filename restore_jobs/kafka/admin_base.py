"""What both admin clients do the same way on top of their own primitives."""

from __future__ import annotations

from abc import ABC, abstractmethod

from restore_jobs.kafka.client import Committed, KafkaError, TopicPartition


class AdminBase(ABC):
    servers: str

    def what(self, operation: str) -> str:
        """``operation`` plus the cluster, the prefix of every error message."""
        return f"{operation} on {self.servers}"

    @abstractmethod
    def topics(self) -> dict[str, int]: ...

    @abstractmethod
    def _create_missing(self, topics: dict[str, int], replication_factor: int) -> set[str]:
        """Create ``topics``; the names the broker said already exist (a concurrent creator)."""

    @abstractmethod
    def commit_offsets(self, group_id: str, offsets: dict[TopicPartition, Committed]) -> None:
        """Commit ``offsets`` with their metadata for ``group_id`` (an empty group, outside any
        transaction)."""

    @abstractmethod
    def close(self) -> None: ...

    def create_topics(self, topics: dict[str, int], replication_factor: int | None = None) -> None:
        """Existing topics are fine when their partition count matches; -1 = broker default
        replication."""
        existing = self.topics()
        self._check_counts(topics, existing)
        missing = {name: n for name, n in topics.items() if name not in existing}
        if missing:
            raced = self._create_missing(missing, -1 if replication_factor is None else replication_factor)
            if raced:
                self._check_counts({name: topics[name] for name in raced}, self.topics())

    def _check_counts(self, wanted: dict[str, int], existing: dict[str, int]) -> None:
        for name, count in wanted.items():
            have = existing.get(name)
            if have is not None and have != count:
                raise KafkaError(
                    f"{self.what('create topics')}: topic {name!r} exists with {have} partitions, "
                    f"wanted {count}"
                )

    def alter_offsets(self, group_id: str, offsets: dict[TopicPartition, int]) -> None:
        self.commit_offsets(group_id, {tp: Committed(offset) for tp, offset in offsets.items()})
