"""The small Kafka interface the restore engine, finalizer and backup command use.

Two implementations sit behind it: confluent-kafka (librdkafka, the data path) and kafka-python
(pure Python); ``restore_jobs.kafka.factory`` (``open_admin``, ``open_producer``, ``open_reader``)
picks one by name. Everything here speaks plain Python values; no client type leaks out.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, overload

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


OffsetRun = tuple[int, int]  # first offset, number of records at consecutive offsets from it


def run_offsets(runs: Mapping[TopicPartition, Sequence[OffsetRun]]) -> dict[TopicPartition, Iterator[int]]:
    """Per partition, the offsets its runs hold, one by one in send order."""
    return {tp: iter([o for first, n in spans for o in range(first, first + n)]) for tp, spans in runs.items()}


class Outgoing(Protocol):
    """What a producer takes of a record; ``BackupRecord`` is one, so the data path sends the
    records it decoded as they are."""

    @property
    def key(self) -> bytes | None: ...

    @property
    def value(self) -> bytes | None: ...

    @property
    def headers(self) -> list[Header]: ...

    @property
    def timestamp(self) -> int: ...


# A record and the partition it goes to.
Placed = tuple[Outgoing, int]


class Deliveries(Sequence[Delivered]):
    """The offsets of the records sent since ``begin``, in send order, kept compact: the partition
    of each record (``order``) and, per partition, the runs of consecutive offsets its records got, in
    the order they were sent there (``runs``). One producer's records to one partition within a
    transaction form a single run unless another producer wrote to that partition meanwhile, so the
    data path needs no per-record bookkeeping. Indexing builds the ``Delivered`` objects on demand."""

    def __init__(self, order: list[TopicPartition], runs: dict[TopicPartition, list[OffsetRun]]):
        self.order = order
        self.runs = runs
        self._expanded: list[Delivered] | None = None

    @classmethod
    def of(cls, delivered: Iterable[Delivered]) -> Deliveries:
        """From per-record deliveries, in send order."""
        order: list[TopicPartition] = []
        runs: dict[TopicPartition, list[OffsetRun]] = {}
        for d in delivered:
            tp = (d.topic, d.partition)
            order.append(tp)
            spans = runs.setdefault(tp, [])
            if spans and spans[-1][0] + spans[-1][1] == d.offset:
                spans[-1] = (spans[-1][0], spans[-1][1] + 1)
            else:
                spans.append((d.offset, 1))
        return cls(order, runs)

    def __len__(self) -> int:
        return len(self.order)

    @overload
    def __getitem__(self, index: int) -> Delivered: ...

    @overload
    def __getitem__(self, index: slice) -> list[Delivered]: ...

    def __getitem__(self, index: int | slice) -> Delivered | list[Delivered]:
        if self._expanded is None:
            offsets = run_offsets(self.runs)
            self._expanded = [Delivered(t, p, next(offsets[(t, p)])) for t, p in self.order]
        return self._expanded[index]


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

    def send_many(self, topic: str, records: Sequence[Placed]) -> None:
        """Every record to ``topic`` at its partition, in order: the data path's call, once per
        chunk of a batch rather than once per record."""
        ...

    def flush(self) -> Deliveries:
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
