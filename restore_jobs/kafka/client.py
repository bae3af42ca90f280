"""The small Kafka interface the restore engine, finalizer and backup command use.

Two implementations sit behind it: confluent-kafka (librdkafka, the data path) and kafka-python
(pure Python); ``restore_jobs.kafka.factory`` (``open_admin``, ``open_producer``, ``open_reader``)
picks one by name. Everything here speaks plain Python values; no client type leaks out.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal, Protocol

from restore_jobs.backup.records import Header

TopicPartition = tuple[str, int]
ClientName = Literal["confluent", "kafka-python"]


class KafkaError(Exception):
    """A Kafka operation failed. ``retriable`` says whether trying again may help."""

    def __init__(self, message: str, retriable: bool = False):
        super().__init__(message)
        self.retriable = retriable


class FencedError(KafkaError):
    """Another producer with our transactional.id took over: this one must stop at once."""


@dataclass(frozen=True)
class Delivered:
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class Committed:
    offset: int
    metadata: str = ""


@dataclass(frozen=True)
class ConsumedRecord:
    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[Header] = field(default_factory=list)


@dataclass(frozen=True)
class GroupInfo:
    group_id: str
    state: str  # "Empty", "Stable", "Dead", ... or "Unknown" when the broker cannot say
    members: int | None = None  # None when the broker cannot describe the group


class TransactionalProducer(Protocol):
    """One per restore unit. ``init`` fences any older producer with the same transactional.id."""

    def init(self) -> None: ...

    def begin(self) -> None: ...

    def send(
        self,
        topic: str,
        partition: int,
        key: bytes | None,
        value: bytes | None,
        headers: list[Header],
        timestamp_ms: int,
    ) -> None: ...

    def flush(self) -> list[Delivered]:
        """Wait for every record sent since ``begin``; their offsets, in send order."""
        ...

    def commit(self, group_id: str, offsets: dict[TopicPartition, Committed]) -> None:
        """Commit the open transaction together with ``offsets`` for ``group_id``
        (send_offsets_to_transaction), so that a checkpoint and the records it covers become
        visible atomically."""
        ...

    def abort(self) -> None: ...

    def close(self) -> None: ...


class KafkaAdmin(Protocol):
    def topics(self) -> dict[str, int]:
        """Existing topic name -> partition count."""
        ...

    def create_topics(self, topics: dict[str, int], replication_factor: int | None = None) -> None: ...

    def delete_topics(self, names: list[str]) -> None: ...

    def delete_records(self, partitions: list[TopicPartition]) -> None:
        """Delete every record currently in these partitions (DeleteRecords up to the end)."""
        ...

    def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]: ...

    def committed(
        self, group_id: str, partitions: list[TopicPartition] | None = None
    ) -> dict[TopicPartition, Committed]:
        """The group's committed offsets (all of them when ``partitions`` is None)."""
        ...

    def alter_offsets(self, group_id: str, offsets: dict[TopicPartition, int]) -> None: ...

    def groups(self) -> list[str]: ...

    def describe_group(self, group_id: str) -> GroupInfo: ...

    def delete_groups(self, group_ids: list[str]) -> None: ...

    def cluster_id(self) -> str | None: ...

    def close(self) -> None: ...


class PartitionReader(Protocol):
    """Reads one partition from an offset; used by ``kafka-restore backup`` and by tests."""

    def read(
        self,
        topic: str,
        partition: int,
        start_offset: int = 0,
        read_committed: bool = True,
        idle_timeout_s: float = 5.0,
    ) -> Iterator[ConsumedRecord]:
        """Yields records until none arrive for ``idle_timeout_s`` (the end of what exists)."""
        ...

    def close(self) -> None: ...
