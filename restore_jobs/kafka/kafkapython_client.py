"""The Kafka interface on kafka-python 3.0.x (pure Python): no native library needed.

Limits of kafka-python 3.0.12 met here: its transaction calls wait without a deadline, so the
transaction manager's requests are awaited with one; and it cannot produce a null header value
(its batch bookkeeping takes ``len()`` of every header value) or a record whose key and value are
both null, so such records fail with a clear error instead of a TypeError deep inside.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any

import kafka.errors as Errors
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KTopicPartition
from kafka.admin import OffsetSpec
from kafka.structs import OffsetAndMetadata

from restore_jobs.kafka.admin_base import AdminBase
from restore_jobs.kafka.client import (
    Committed,
    ConsumedRecord,
    Delivered,
    Deliveries,
    FencedError,
    GroupInfo,
    KafkaError,
    Placed,
    TopicPartition,
)
from restore_jobs.kafka.config import ClientConfig
from restore_jobs.kafka.errors import build_client, translated
from restore_jobs.kafka.producer_base import ProducerBase
from restore_jobs.kafka.reading import read_until_idle

log = logging.getLogger(__name__)

_FENCED = (Errors.ProducerFencedError, Errors.InvalidProducerEpochError)
_NATIVE = (Errors.KafkaError, TimeoutError)
_LINGER_MS = 5
_READ_BATCH = 500
# kafka-python sizes batches in bytes; the caller's records-per-batch is turned into bytes with this.
_BYTES_PER_RECORD_GUESS = 1024
_MAX_BATCH_BYTES = 1024 * 1024
_UNSUPPORTED_NULLS = "kafka-python cannot produce a null header value or a record with both key and value null"


def to_kafka_error(exc: BaseException, what: str) -> KafkaError:
    if isinstance(exc, _FENCED):
        return FencedError(f"{what}: {exc} (a newer producer with the same transactional id took over)")
    if isinstance(exc, Errors.KafkaError):
        return KafkaError(f"{what}: {exc}", retriable=exc.retriable)
    if isinstance(exc, TimeoutError):
        return KafkaError(f"{what}: timed out", retriable=True)
    return KafkaError(f"{what}: {type(exc).__name__}: {exc}")


def _errors(what: str) -> AbstractContextManager[None]:
    return translated(what, to_kafka_error, _NATIVE)


def _timeouts(timeout_s: float) -> dict[str, int]:
    ms = int(timeout_s * 1000)
    return {"request_timeout_ms": ms, "bootstrap_timeout_ms": ms}


class KafkaPythonAdmin(AdminBase):
    def __init__(self, settings: ClientConfig, timeout_s: float = 30.0):
        self.servers = settings.servers()
        self._timeout_ms = int(timeout_s * 1000)
        self._admin = build_client(settings, self.what("connect admin client"), to_kafka_error,
                                   lambda: KafkaAdminClient(**settings, **_timeouts(timeout_s)))

    def topics(self) -> dict[str, int]:
        with _errors(self.what("list topics")):
            described = self._admin.describe_topics()
        return {t["name"]: len(t["partitions"]) for t in described if t.get("error_code", 0) == 0}

    def _create_missing(self, topics: dict[str, int], replication_factor: int) -> set[str]:
        with _errors(self.what(f"create topics {sorted(topics)}")):
            response = self._admin.create_topics(
                {name: {"num_partitions": count, "replication_factor": replication_factor}
                 for name, count in topics.items()},
                timeout_ms=self._timeout_ms, raise_errors=False,
            )
        return self._topic_errors(response["topics"], "create topic", Errors.TopicAlreadyExistsError)

    def _topic_errors(self, results: list[dict], operation: str, tolerated: type[Errors.KafkaError]) -> set[str]:
        """Raise the first unexpected per-topic error; the names that failed with ``tolerated``."""
        tolerated_names = set()
        for result in results:
            error = Errors.for_code(result["error_code"])
            if error is Errors.NoError:
                continue
            if error is tolerated:
                tolerated_names.add(result["name"])
                continue
            raise to_kafka_error(error(result.get("error_message") or ""), self.what(f"{operation} {result['name']!r}"))
        return tolerated_names

    def delete_topics(self, names: list[str]) -> None:
        """Topics that do not exist are skipped."""
        if not names:
            return
        with _errors(self.what(f"delete topics {sorted(names)}")):
            response = self._admin.delete_topics(names, timeout_ms=self._timeout_ms, raise_errors=False)
        self._topic_errors(response["topics"], "delete topic", Errors.UnknownTopicOrPartitionError)

    def delete_records(self, partitions: list[TopicPartition]) -> None:
        if not partitions:
            return
        # -1: up to the high watermark, as DeleteRecords defines it.
        with _errors(self.what(f"delete records of {_names(partitions)}")):
            self._admin.delete_records({KTopicPartition(t, p): -1 for t, p in partitions},
                                       timeout_ms=self._timeout_ms)

    def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        if not partitions:
            return {}
        with _errors(self.what(f"end offsets of {_names(partitions)}")):
            found = self._admin.list_partition_offsets({KTopicPartition(t, p): OffsetSpec.LATEST
                                                        for t, p in partitions}, timeout_ms=self._timeout_ms)
        return {(tp.topic, tp.partition): found[tp].offset for tp in found}

    def committed(
        self, group_id: str, partitions: list[TopicPartition] | None = None
    ) -> dict[TopicPartition, Committed]:
        """Only partitions with a commit appear in the result."""
        wanted = None if partitions is None else [KTopicPartition(t, p) for t, p in partitions]
        with _errors(self.what(f"read committed offsets of group {group_id!r}")):
            found = self._admin.list_group_offsets({group_id: wanted}).get(group_id, {})
        return {(tp.topic, tp.partition): Committed(om.offset, om.metadata or "")
                for tp, om in found.items() if om.offset >= 0}

    def commit_offsets(self, group_id: str, offsets: dict[TopicPartition, Committed]) -> None:
        if not offsets:
            return
        what = self.what(f"commit offsets of group {group_id!r}")
        with _errors(what):
            results = self._admin.alter_group_offsets(group_id, _with_metadata(offsets))
        for tp, error in results.items():
            if error is not Errors.NoError:
                raise to_kafka_error(error(), f"{what}, partition {tp.topic}[{tp.partition}]")

    def groups(self) -> list[str]:
        with _errors(self.what("list groups")):
            return sorted(g["group_id"] for g in self._admin.list_groups())

    def describe_group(self, group_id: str) -> GroupInfo:
        """kafka-python cannot parse some brokers' DescribeGroups answer (Tansu): then "Unknown"."""
        try:
            with _errors(self.what(f"describe group {group_id!r}")):
                described = self._admin.describe_groups([group_id])
            group = described[group_id]
            if group["error"]:
                raise KafkaError(group["error"])
            return GroupInfo(group_id, group["group_state"] or "Unknown", len(group["members"]))
        except (KafkaError, ValueError, KeyError, TypeError) as exc:
            log.warning("group state unknown: %s", exc, extra={"group": group_id})
            return GroupInfo(group_id, "Unknown", None)

    def delete_groups(self, group_ids: list[str]) -> None:
        """Groups that do not exist are skipped."""
        if not group_ids:
            return
        with _errors(self.what(f"delete groups {sorted(group_ids)}")):
            results = self._admin.delete_groups(group_ids)
        for group_id, outcome in results.items():
            if outcome not in ("OK", Errors.GroupIdNotFoundError.__name__):
                raise KafkaError(f"{self.what(f'delete group {group_id!r}')}: {outcome}")

    def cluster_id(self) -> str | None:
        with _errors(self.what("describe cluster")):
            return self._admin.describe_cluster().get("cluster_id")

    def close(self) -> None:
        self._admin.close()


def _names(partitions: list[TopicPartition]) -> str:
    return ", ".join(f"{t}[{p}]" for t, p in partitions)


def _with_metadata(offsets: dict[TopicPartition, Committed]) -> dict[KTopicPartition, OffsetAndMetadata]:
    return {KTopicPartition(t, p): OffsetAndMetadata(c.offset, c.metadata, -1) for (t, p), c in offsets.items()}


def producer_settings(
    settings: ClientConfig, transactional_id: str | None, acks: int, timeout_ms: int, batch_size: int
) -> ClientConfig:
    """``timeout_ms`` is the broker's ack timeout; delivery may take one retry on top.
    Non-idempotent producers keep one request in flight so retries cannot reorder records."""
    idempotent = transactional_id is not None or acks == -1
    delivery_timeout_ms = 2 * timeout_ms + _LINGER_MS
    config = ClientConfig(settings)
    config.update({
        "acks": acks,
        "enable_idempotence": idempotent,
        "request_timeout_ms": timeout_ms,
        "delivery_timeout_ms": delivery_timeout_ms,
        "max_block_ms": timeout_ms,
        "bootstrap_timeout_ms": timeout_ms,
        "linger_ms": _LINGER_MS,
        "batch_size": max(16384, min(batch_size * _BYTES_PER_RECORD_GUESS, _MAX_BATCH_BYTES)),
    })
    if not idempotent:
        config["max_in_flight_requests_per_connection"] = 1
    if transactional_id is not None:
        config["transactional_id"] = transactional_id
        config["transaction_timeout_ms"] = max(60_000, delivery_timeout_ms)
    return config


class KafkaPythonProducer(ProducerBase):
    def __init__(
        self,
        settings: ClientConfig,
        transactional_id: str | None,
        open_admin: Callable[[], AdminBase],
        *,
        acks: int = -1,
        timeout_ms: int = 30000,
        batch_size: int = 1000,
    ):
        super().__init__(transactional_id, open_admin, settings.servers())
        self._timeout_ms = timeout_ms
        config = producer_settings(settings, transactional_id, acks, timeout_ms, batch_size)
        self._producer = build_client(config, f"open {self._label}", to_kafka_error,
                                      lambda: KafkaProducer(**config))
        self._send = self._producer.send
        self._futures: list[Any] = []
        # A timed-out transaction step keeps running; a retry waits for it instead of starting anew.
        self._pending: dict[str, Any] = {}

    def send_many(self, topic: str, records: Sequence[Placed]) -> None:
        for rec, partition in records:
            key, value, headers = rec.key, rec.value, rec.headers
            if (key is None and value is None) or any(v is None for _, v in headers):
                raise KafkaError(f"{self._label}: send to {topic}[{partition}] at timestamp {rec.timestamp}: "
                                 f"{_UNSUPPORTED_NULLS}; use the confluent client for such records")
            try:
                future = self._send(topic, value=value, key=key, headers=headers, partition=partition,
                                    timestamp_ms=rec.timestamp)
            except Errors.KafkaError as exc:
                raise to_kafka_error(exc, f"{self._label}: send to {topic}[{partition}]") from exc
            self._futures.append(future)

    def flush(self) -> Deliveries:
        with _errors(f"{self._label}: flush"):
            self._producer.flush(timeout=self._timeout_ms / 1000)
        futures = list(self._futures)
        self._forget_sent()
        failed = [f for f in futures if not f.succeeded()]
        if failed:
            first = failed[0].exception or Errors.KafkaTimeoutError("not delivered")
            raise to_kafka_error(first, f"{self._label}: delivery of {len(failed)} records failed")
        return Deliveries.of(Delivered(m.topic, m.partition, m.offset) for m in (f.value for f in futures))

    def _forget_sent(self) -> None:
        self._futures.clear()

    def _init_transactions(self) -> None:
        with _errors(f"{self._label}: init transactions"):
            self._producer.init_transactions()

    def _begin_transaction(self) -> None:
        with _errors(f"{self._label}: begin transaction"):
            self._producer.begin_transaction()

    def _commit_transaction(self, group_id: str, offsets: dict[TopicPartition, Committed]) -> None:
        what = f"{self._label}: commit transaction with offsets of group {group_id!r}"
        manager = self._producer._transaction_manager
        try:
            if offsets:
                self._await("offsets", lambda: manager.send_offsets_to_transaction(_with_metadata(offsets), group_id),
                            what)
            self._await("commit", manager.begin_commit, what)
        except Errors.KafkaError as exc:
            raise self._failed_transaction(exc, what) from exc

    def _failed_transaction(self, exc: Errors.KafkaError, what: str) -> KafkaError:
        """Abortable errors are aborted here, so the caller can simply redo the batch."""
        if isinstance(exc, _FENCED) or not self._producer._transaction_manager.has_abortable_error:
            return to_kafka_error(exc, what)
        try:
            self._await("abort", self._producer._transaction_manager.begin_abort, what)
        except Errors.KafkaError as abort_exc:
            return to_kafka_error(abort_exc, f"{what}: {exc}, then abort")
        return KafkaError(f"{what}: {exc}; the transaction was aborted", retriable=True)

    def _abort_transaction(self) -> None:
        what = f"{self._label}: abort transaction"
        with _errors(what):
            self._await("abort", self._producer._transaction_manager.begin_abort, what)

    def _await(self, step: str, start: Callable[[], Any], what: str) -> None:
        """``KafkaProducer.commit_transaction`` and friends wait forever; these are the same calls
        (transaction manager request, sender wake-up) with ``timeout_ms`` as the deadline."""
        result = self._pending.get(step)
        if result is None:
            result = start()
            self._producer._sender.wakeup()
        if not result.wait(timeout_ms=self._timeout_ms):
            self._pending[step] = result
            raise KafkaError(f"{what}: no answer within {self._timeout_ms / 1000:g}s", retriable=True)
        self._pending.pop(step, None)

    def _close_client(self) -> None:
        self._producer.close(timeout=0)


class KafkaPythonReader:
    def __init__(self, settings: ClientConfig, timeout_s: float = 30.0):
        self._settings = settings
        self._timeout_s = timeout_s

    def read(
        self,
        topic: str,
        partition: int,
        start_offset: int = 0,
        read_committed: bool = True,
        idle_timeout_s: float = 5.0,
    ) -> Iterator[ConsumedRecord]:
        what = f"read {topic}[{partition}] on {self._settings.servers()}"
        consumer = build_client(self._settings, what, to_kafka_error, lambda: KafkaConsumer(
            **self._settings, **_timeouts(self._timeout_s), group_id=None, enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed" if read_committed else "read_uncommitted",
        ))
        tp = KTopicPartition(topic, partition)
        try:
            with _errors(what):
                consumer.assign([tp])
                consumer.seek(tp, start_offset)
            yield from read_until_idle(lambda wait: _records(consumer, wait, what), idle_timeout_s)
        finally:
            consumer.close()

    def close(self) -> None:
        """Each ``read`` closes its own consumer."""


def _records(consumer: KafkaConsumer, wait: float, what: str) -> list[ConsumedRecord]:
    with _errors(what):
        batches = consumer.poll(timeout_ms=int(wait * 1000), max_records=_READ_BATCH)
    return [ConsumedRecord(r.topic, r.partition, r.offset, r.timestamp, r.key, r.value, list(r.headers or []))
            for records in batches.values() for r in records]
