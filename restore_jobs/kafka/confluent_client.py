"""The Kafka interface on confluent-kafka (librdkafka): the data path.

Records are sent a chunk at a time (``send_many``), with one ``produce`` each. In a transaction only
the first and the last record of a chunk to each partition ask for a delivery report (a Python
callback per record costs more than the rest of the send): within one transaction a producer's
records to one partition get consecutive offsets, so the lowest and highest reported give every
offset in between. Should another producer have written to the partition meanwhile (the ends
are too far apart), the transaction is aborted and its records sent again with a report each; that
producer keeps reporting every record from then on.
Delivery errors still fail the batch: librdkafka fails ``commit_transaction`` after any failed
produce. Plain producers (no transaction to redo) report every record.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any

import confluent_kafka as ck
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from restore_jobs.kafka.admin_base import AdminBase
from restore_jobs.kafka.client import (
    Committed,
    ConsumedRecord,
    Delivered,
    Deliveries,
    FencedError,
    GroupInfo,
    KafkaError,
    Outgoing,
    Placed,
    TopicPartition,
)
from restore_jobs.kafka.config import ClientConfig
from restore_jobs.kafka.errors import build_client, translated
from restore_jobs.kafka.producer_base import ProducerBase
from restore_jobs.kafka.reading import read_until_idle

log = logging.getLogger(__name__)
_librdkafka_log = logging.getLogger(f"{__name__}.librdkafka")

E = ck.KafkaError
_FENCED = frozenset({E._FENCED, E.PRODUCER_FENCED, E.INVALID_PRODUCER_EPOCH, E.TRANSACTION_COORDINATOR_FENCED})
# librdkafka does not flag these local errors retriable, yet trying again is exactly what helps.
_RETRIABLE = frozenset({E._TRANSPORT, E._TIMED_OUT, E._ALL_BROKERS_DOWN, E._MSG_TIMED_OUT})
_NATIVE = (ck.KafkaException, TimeoutError)
# Connection failures that trying again cannot fix: a refused login, a certificate that does not verify.
_SECURITY = frozenset({E._AUTHENTICATION, E._SSL, E.SASL_AUTHENTICATION_FAILED})
_LINGER_MS = 5
# Producers connect to every broker as soon as metadata names it. With sparse connections, the
# producer id request made in the moment librdkafka swaps its bootstrap connection for the brokers'
# own finds no broker up and is retried only 50-500 ms later: a stall at the start of every unit,
# longer than a unit of 100 MB takes to send on loopback. Not for the long-lived admin client: with
# eager connections, after a broker restart its group-offset requests kept timing out for minutes
# (tests/reliability/test_kafka_restart.py failed one run in three); it pays the stall once a job.
_EAGER_CONNECTIONS = {"enable.sparse.connections": False}
_READ_BATCH = 500
_GROUP_STATES = {
    "UNKNOWN": "Unknown",
    "PREPARING_REBALANCING": "PreparingRebalance",
    "COMPLETING_REBALANCING": "CompletingRebalance",
    "STABLE": "Stable",
    "DEAD": "Dead",
    "EMPTY": "Empty",
}


def to_kafka_error(exc: BaseException, what: str) -> KafkaError:
    err = exc.args[0] if isinstance(exc, ck.KafkaException) and exc.args else None
    if isinstance(err, ck.KafkaError):
        return _from_error(err, what)
    if isinstance(exc, TimeoutError):
        return KafkaError(f"{what}: timed out", retriable=True)
    return KafkaError(f"{what}: {type(exc).__name__}: {exc}")


def _from_error(err: ck.KafkaError, what: str) -> KafkaError:
    text = f"{what}: {err.name()}: {err.str()}"
    if err.code() in _FENCED:
        return FencedError(f"{text} (a newer producer with the same transactional id took over)")
    return KafkaError(text, retriable=err.retriable() or err.code() in _RETRIABLE)


def _errors(what: str) -> AbstractContextManager[None]:
    return translated(what, to_kafka_error, _NATIVE)


def _with_logger(settings: ClientConfig, **extra: Any) -> dict[str, Any]:
    return {**settings, "logger": _librdkafka_log, **extra}


class ConfluentAdmin(AdminBase):
    def __init__(self, settings: ClientConfig, timeout_s: float = 30.0):
        self.servers = settings.servers()
        self._timeout = timeout_s
        self._settings = settings
        self._security_error: ck.KafkaError | None = None
        self._admin = build_client(settings, self.what("open admin client"), to_kafka_error,
                                   lambda: AdminClient(_with_logger(settings, error_cb=self._on_error)))

    def _on_error(self, err: ck.KafkaError) -> None:
        if err.code() in _SECURITY:
            self._security_error = err

    def _wait(self, future: Any, what: str) -> Any:
        with _errors(what):
            return future.result(timeout=self._timeout)

    def topics(self) -> dict[str, int]:
        """The first call of every job: a failed TLS handshake or SASL login shows up here, and
        librdkafka reports it only to the error callback, so it is added to the error."""
        try:
            with _errors(self.what("list topics")):
                metadata = self._admin.list_topics(timeout=self._timeout)
        except KafkaError as exc:
            self._admin.poll(0)  # serves the error callback
            cause = self._security_error
            if cause is None:
                raise
            reason = self._settings.redact(f"{cause.name()}: {cause.str()}")
            raise KafkaError(f"{exc}; {reason}", retriable=False) from None
        return {name: len(t.partitions) for name, t in metadata.topics.items() if t.error is None}

    def _create_missing(self, topics: dict[str, int], replication_factor: int) -> set[str]:
        futures = self._admin.create_topics(
            [NewTopic(name, count, replication_factor) for name, count in topics.items()],
            request_timeout=self._timeout, operation_timeout=self._timeout,
        )
        return {name for name, f in futures.items()
                if self._tolerate(f, self.what(f"create topic {name!r}"), E.TOPIC_ALREADY_EXISTS)}

    def _tolerate(self, future: Any, what: str, code: int) -> bool:
        """Wait for ``future``; True when it failed with ``code`` (an expected outcome)."""
        try:
            with _errors(what):
                future.result(timeout=self._timeout)
        except KafkaError as exc:
            cause = exc.__cause__
            if isinstance(cause, ck.KafkaException) and cause.args[0].code() == code:
                return True
            raise
        return False

    def delete_topics(self, names: list[str]) -> None:
        """Topics that do not exist are skipped."""
        if not names:
            return
        futures = self._admin.delete_topics(names, request_timeout=self._timeout, operation_timeout=self._timeout)
        for name, f in futures.items():
            self._tolerate(f, self.what(f"delete topic {name!r}"), E.UNKNOWN_TOPIC_OR_PART)

    def delete_records(self, partitions: list[TopicPartition]) -> None:
        if not partitions:
            return
        futures = self._admin.delete_records(
            [ck.TopicPartition(t, p, ck.OFFSET_END) for t, p in partitions],
            request_timeout=self._timeout, operation_timeout=self._timeout,
        )
        for tp, f in futures.items():
            self._wait(f, self.what(f"delete records of {tp.topic}[{tp.partition}]"))

    def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        if not partitions:
            return {}
        futures = self._admin.list_offsets({ck.TopicPartition(t, p): OffsetSpec.latest() for t, p in partitions},
                                           request_timeout=self._timeout)
        return {(tp.topic, tp.partition): self._wait(f, self.what(f"end offset of {tp.topic}[{tp.partition}]")).offset
                for tp, f in futures.items()}

    def committed(
        self, group_id: str, partitions: list[TopicPartition] | None = None
    ) -> dict[TopicPartition, Committed]:
        """Only partitions with a commit appear in the result."""
        what = self.what(f"read committed offsets of group {group_id!r}")
        wanted = None if partitions is None else [ck.TopicPartition(t, p) for t, p in partitions]
        request = ck.ConsumerGroupTopicPartitions(group_id, wanted)
        future = self._admin.list_consumer_group_offsets([request], request_timeout=self._timeout)[group_id]
        result = self._wait(future, what)
        _raise_partition_errors(result.topic_partitions, what)
        return {(tp.topic, tp.partition): Committed(tp.offset, tp.metadata or "")
                for tp in result.topic_partitions if tp.offset >= 0}

    def commit_offsets(self, group_id: str, offsets: dict[TopicPartition, Committed]) -> None:
        if not offsets:
            return
        what = self.what(f"commit offsets of group {group_id!r}")
        request = ck.ConsumerGroupTopicPartitions(group_id, _with_metadata(offsets))
        future = self._admin.alter_consumer_group_offsets([request], request_timeout=self._timeout)[group_id]
        _raise_partition_errors(self._wait(future, what).topic_partitions, what)

    def groups(self) -> list[str]:
        what = self.what("list groups")
        result = self._wait(self._admin.list_consumer_groups(request_timeout=self._timeout), what)
        if result.errors:
            raise to_kafka_error(ck.KafkaException(result.errors[0]), what)
        return sorted(g.group_id for g in result.valid)

    def describe_group(self, group_id: str) -> GroupInfo:
        what = self.what(f"describe group {group_id!r}")
        try:
            future = self._admin.describe_consumer_groups([group_id], request_timeout=self._timeout)[group_id]
            description = self._wait(future, what)
        except KafkaError as exc:
            log.warning("group state unknown: %s", exc, extra={"group": group_id})
            return GroupInfo(group_id, "Unknown", None)
        return GroupInfo(group_id, _GROUP_STATES.get(description.state.name, "Unknown"), len(description.members))

    def delete_groups(self, group_ids: list[str]) -> None:
        """Groups that do not exist are skipped."""
        if not group_ids:
            return
        futures = self._admin.delete_consumer_groups(group_ids, request_timeout=self._timeout)
        for group_id, f in futures.items():
            self._tolerate(f, self.what(f"delete group {group_id!r}"), E.GROUP_ID_NOT_FOUND)

    def cluster_id(self) -> str | None:
        return self._wait(self._admin.describe_cluster(request_timeout=self._timeout),
                          self.what("describe cluster")).cluster_id

    def close(self) -> None:
        """librdkafka frees the admin handle with the object; nothing is pending between calls."""


def _with_metadata(offsets: dict[TopicPartition, Committed]) -> list[ck.TopicPartition]:
    return [ck.TopicPartition(t, p, c.offset, metadata=c.metadata) for (t, p), c in offsets.items()]


def _raise_partition_errors(partitions: list[ck.TopicPartition], what: str) -> None:
    for tp in partitions:
        if tp.error is not None:
            raise _from_error(tp.error, f"{what}, partition {tp.topic}[{tp.partition}]")


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
        "enable.idempotence": idempotent,
        "request.timeout.ms": timeout_ms,
        # Bounds the transaction calls too: librdkafka waits socket.timeout.ms (default 60 s) for a
        # coordinator that does not answer, whatever timeout the call itself is given.
        "socket.timeout.ms": timeout_ms,
        "message.timeout.ms": delivery_timeout_ms,
        "linger.ms": _LINGER_MS,
        "batch.num.messages": max(1, min(batch_size, 1_000_000)),
        "queue.buffering.max.messages": max(100_000, 2 * batch_size),
        # Java's default partitioner, should a record ever come without a partition.
        "partitioner": "murmur2_random",
        **_EAGER_CONNECTIONS,
    })
    if not idempotent:
        config["max.in.flight.requests.per.connection"] = 1
    if transactional_id is not None:
        config["transactional.id"] = transactional_id
        config["transaction.timeout.ms"] = max(60_000, delivery_timeout_ms)
    return config


class ConfluentProducer(ProducerBase):
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
        self._settings = settings
        self._timeout = timeout_ms / 1000
        config = producer_settings(settings, transactional_id, acks, timeout_ms, batch_size)
        self._producer = build_client(config, f"open {self._label}", to_kafka_error,
                                      lambda: ck.Producer(_with_logger(config)))
        # Called with its arguments by position, the order of its C signature: topic, value, key,
        # partition, callback, on_delivery (an alias of callback), timestamp, headers. Keywords cost
        # about 1 µs more per record, as much as the rest of the call.
        self._produce = self._producer.produce
        # Every chunk sent since ``begin``, as (topic, records), for the offsets and for a resend.
        self._sent: list[tuple[str, list[Placed]]] = []
        self._reports: list[ck.Message] = []
        report = self._reports.append
        self._on_delivery = lambda _err, msg: report(msg)
        self._per_record = transactional_id is None
        self._group_consumers: dict[str, tuple[ck.Consumer, Any]] = {}

    def send_many(self, topic: str, records: Sequence[Placed]) -> None:
        if not records:
            return
        chunk = list(records)
        self._sent.append((topic, chunk))
        produce, on_delivery = self._produce, self._on_delivery
        reported = range(len(chunk)) if self._per_record else _ends(chunk)
        for i, (rec, partition) in enumerate(chunk):
            report = on_delivery if i in reported else None
            try:
                produce(topic, rec.value, rec.key, partition, report, None, rec.timestamp, rec.headers)
            except BufferError:
                self._produce_when_room(topic, rec, partition, report)
            except ck.KafkaException as exc:
                raise to_kafka_error(exc, f"{self._label}: send to {topic}[{partition}]") from exc

    def _produce_when_room(
        self, topic: str, rec: Outgoing, partition: int, on_delivery: Callable[[Any, Any], None] | None
    ) -> None:
        """The local queue is full: serve delivery reports (poll) until a slot frees up."""
        retrying = Retrying(retry=retry_if_exception_type(BufferError), stop=stop_after_delay(self._timeout),
                            wait=wait_fixed(0.05), sleep=self._producer.poll, reraise=True)
        try:
            retrying(self._produce, topic, rec.value, rec.key, partition, on_delivery, None, rec.timestamp,
                     rec.headers)
        except BufferError:
            raise KafkaError(f"{self._label}: send to {topic}[{partition}]: local queue stayed full for "
                             f"{self._timeout:g}s", retriable=True) from None
        except ck.KafkaException as exc:
            raise to_kafka_error(exc, f"{self._label}: send to {topic}[{partition}]") from exc

    def flush(self) -> Deliveries:
        self._wait_for_reports()
        reports = list(self._reports)
        if self._per_record:
            deliveries = Deliveries.of(_in_send_order(_order(self._sent), reports))
        else:
            found = _runs(self._sent, reports)
            if found is None:
                return self._resend_per_record()
            deliveries = found
        self._forget_sent()
        return deliveries

    def _wait_for_reports(self) -> None:
        with _errors(f"{self._label}: flush"):
            left = self._producer.flush(self._timeout)
        if left:
            pending = sorted(set(_order(self._sent)))
            raise KafkaError(f"{self._label}: flush: {left} records to {_names(pending)} not delivered within "
                             f"{self._timeout:g}s", retriable=True)
        failed = [m for m in self._reports if m.error() is not None]
        if failed:
            first = failed[0]
            self._forget_sent()
            raise _from_error(first.error(), f"{self._label}: delivery of {len(failed)} records failed, first to "
                                             f"{first.topic()}[{first.partition()}]")

    def _resend_per_record(self) -> Deliveries:
        """Another producer wrote to one of our partitions during the transaction, so the offsets
        between the ends are unknown: abort, and send the same records again, each with a report."""
        sent = list(self._sent)
        log.info("%s: another producer writes to the same partitions; reporting every record from now on",
                 self._label)
        self._per_record = True
        self._abort_transaction()
        self._forget_sent()
        self._begin_transaction()
        for topic, records in sent:
            self.send_many(topic, records)
        return self.flush()

    def _forget_sent(self) -> None:
        self._sent.clear()
        self._reports.clear()

    def _init_transactions(self) -> None:
        with _errors(f"{self._label}: init transactions"):
            self._producer.init_transactions(self._timeout)

    def _begin_transaction(self) -> None:
        with _errors(f"{self._label}: begin transaction"):
            self._producer.begin_transaction()

    def _commit_transaction(self, group_id: str, offsets: dict[TopicPartition, Committed]) -> None:
        what = f"{self._label}: commit transaction with offsets of group {group_id!r}"
        try:
            if offsets:
                self._producer.send_offsets_to_transaction(_with_metadata(offsets), self._group_metadata(group_id),
                                                           self._timeout)
            self._producer.commit_transaction(self._timeout)
        except ck.KafkaException as exc:
            raise self._failed_transaction(exc, what) from exc

    def _failed_transaction(self, exc: ck.KafkaException, what: str) -> KafkaError:
        """Abortable errors are aborted here, so the caller can simply redo the batch."""
        err = exc.args[0]
        if not (isinstance(err, ck.KafkaError) and err.txn_requires_abort()) or err.code() in _FENCED:
            return to_kafka_error(exc, what)
        try:
            self._producer.abort_transaction(self._timeout)
        except ck.KafkaException as abort_exc:
            return to_kafka_error(abort_exc, f"{what}: {err.name()}, then abort")
        return KafkaError(f"{what}: {err.name()}: {err.str()}; the transaction was aborted", retriable=True)

    def _abort_transaction(self) -> None:
        with _errors(f"{self._label}: abort transaction"):
            self._producer.abort_transaction(self._timeout)

    def _group_metadata(self, group_id: str) -> Any:
        """librdkafka takes the group's identity from a consumer handle; it needs no connection.
        The metadata of a group without members never changes, so it is taken once per group."""
        found = self._group_consumers.get(group_id)
        if found is None:
            config = _with_logger(self._settings, **{"group.id": group_id, "enable.auto.commit": False})
            consumer = build_client(self._settings, f"{self._label}: group {group_id!r}", to_kafka_error,
                                    lambda: ck.Consumer(config))
            found = self._group_consumers[group_id] = (consumer, consumer.consumer_group_metadata())
        return found[1]

    def _close_client(self) -> None:
        """Unflushed records are dropped (purge), never delivered after close; librdkafka's
        ``close()`` is avoided because it first aborts an open transaction, which can hang for a
        fenced producer. The handle is freed with the object."""
        for consumer, _ in self._group_consumers.values():
            consumer.close()
        self._group_consumers.clear()
        self._producer.purge()
        self._producer.poll(0)


def _names(partitions: list[TopicPartition]) -> str:
    return ", ".join(f"{t}[{p}]" for t, p in partitions)


def _in_send_order(sent: list[TopicPartition], reports: list[ck.Message]) -> list[Delivered]:
    """Reports of one partition arrive in produce order (idempotence or one request in flight);
    across partitions they interleave, so they are matched per partition."""
    offsets: dict[TopicPartition, deque[int]] = defaultdict(deque)
    for msg in reports:
        offsets[(msg.topic(), msg.partition())].append(msg.offset())
    return [Delivered(t, p, offsets[(t, p)].popleft()) for t, p in sent]


def _ends(records: list[Placed]) -> set[int]:
    """Indices of the first and the last record to each partition in one chunk. Their reports give
    each partition's lowest and highest offset in the transaction, which bound every offset between."""
    partitions = [partition for _, partition in records]
    if partitions.count(partitions[0]) == len(partitions):
        return {0, len(partitions) - 1}
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for i, partition in enumerate(partitions):
        first.setdefault(partition, i)
        last[partition] = i
    return {*first.values(), *last.values()}


def _order(sent: list[tuple[str, list[Placed]]]) -> list[TopicPartition]:
    return [(topic, partition) for topic, records in sent for _, partition in records]


def _runs(sent: list[tuple[str, list[Placed]]], reports: list[ck.Message]) -> Deliveries | None:
    """The deliveries of a transaction whose first and last record per partition reported (at
    least); None when a partition's records did not get consecutive offsets (another producer
    interleaved)."""
    ends: dict[TopicPartition, list[int]] = defaultdict(list)
    for msg in reports:
        ends[(msg.topic(), msg.partition())].append(msg.offset())
    if len(ends) == 1:
        tp = next(iter(ends))
        total = sum(len(records) for _, records in sent)
        order, counts = [tp] * total, {tp: total}
    else:
        order = _order(sent)
        counts = Counter(order)
    runs = {}
    for tp, count in counts.items():
        offsets = ends.get(tp)
        if not offsets or max(offsets) - min(offsets) != count - 1:
            return None
        first = min(offsets)
        runs[tp] = [(first, count)]
    return Deliveries(order, runs)


class ConfluentReader:
    def __init__(self, settings: ClientConfig, timeout_s: float = 30.0):
        self._settings = settings
        self._timeout = timeout_s

    def read(
        self,
        topic: str,
        partition: int,
        start_offset: int = 0,
        read_committed: bool = True,
        idle_timeout_s: float = 5.0,
    ) -> Iterator[ConsumedRecord]:
        what = f"read {topic}[{partition}] on {self._settings.servers()}"
        config = _with_logger(self._settings, **{
            "group.id": "kafka-restore-reader",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed" if read_committed else "read_uncommitted",
            "socket.timeout.ms": int(self._timeout * 1000),
        })
        consumer = build_client(self._settings, what, to_kafka_error, lambda: ck.Consumer(config))
        try:
            consumer.assign([ck.TopicPartition(topic, partition, start_offset)])
            yield from read_until_idle(lambda wait: _records(consumer, wait, what), idle_timeout_s)
        finally:
            consumer.close()

    def close(self) -> None:
        """Each ``read`` closes its own consumer."""


def _records(consumer: ck.Consumer, wait: float, what: str) -> list[ConsumedRecord]:
    with _errors(what):
        messages = consumer.consume(_READ_BATCH, wait)
    records = []
    for m in messages:
        err = m.error()
        if err is not None:
            raise _from_error(err, what)
        records.append(ConsumedRecord(m.topic(), m.partition(), m.offset(), m.timestamp()[1], m.key(), m.value(),
                                      m.headers() or []))
    return records
