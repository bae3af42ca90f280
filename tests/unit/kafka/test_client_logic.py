"""Client logic that needs no broker: error mapping, send order, producer settings, the read loop
and the factory's choices."""

from __future__ import annotations

import confluent_kafka as ck
import kafka.errors as kerrors
import pytest

from restore_jobs.kafka import confluent_client, kafkapython_client
from restore_jobs.kafka.client import ConsumedRecord, Delivered, FencedError, GroupInfo, KafkaError
from restore_jobs.kafka.config import ClientConfig
from restore_jobs.kafka.factory import CLIENT_ENV, default_client, open_producer
from restore_jobs.kafka.reading import read_until_idle
from restore_jobs.spec.model import KafkaCluster

E = ck.KafkaError


@pytest.mark.parametrize("code", [E._FENCED, E.PRODUCER_FENCED, E.INVALID_PRODUCER_EPOCH])
def test_confluent_fencing_becomes_fenced_error(code: int) -> None:
    error = confluent_client.to_kafka_error(ck.KafkaException(E(code, "fenced", fatal=True)), "commit txn t")
    assert type(error) is FencedError
    assert str(error).startswith(f"commit txn t: {E(code).name()}: fenced")


def test_confluent_retriable_flags() -> None:
    to_error = confluent_client.to_kafka_error
    assert to_error(ck.KafkaException(E(E.NOT_COORDINATOR, "x", retriable=True)), "op").retriable
    assert to_error(ck.KafkaException(E(E._TRANSPORT, "down")), "list topics on h:1").retriable
    assert not to_error(ck.KafkaException(E(E.TOPIC_AUTHORIZATION_FAILED, "no")), "op").retriable
    assert to_error(TimeoutError(), "list groups on h:1").args == ("list groups on h:1: timed out",)


def test_kafkapython_errors_map() -> None:
    to_error = kafkapython_client.to_kafka_error
    assert type(to_error(kerrors.ProducerFencedError(), "commit")) is FencedError
    assert type(to_error(kerrors.InvalidProducerEpochError(), "commit")) is FencedError
    timed_out = to_error(kerrors.KafkaTimeoutError("slow"), "flush")
    assert (type(timed_out), timed_out.retriable) == (KafkaError, True)
    assert str(timed_out) == "flush: KafkaTimeoutError: slow"
    assert not to_error(kerrors.TopicAuthorizationFailedError(), "send").retriable


class FakeMessage:
    def __init__(self, topic: str, partition: int, offset: int):
        self._values = (topic, partition, offset)

    def topic(self) -> str:
        return self._values[0]

    def partition(self) -> int:
        return self._values[1]

    def offset(self) -> int:
        return self._values[2]


def test_delivery_reports_are_put_back_in_send_order() -> None:
    sent = [("a", 0), ("b", 1), ("a", 0), ("a", 1), ("b", 1)]
    arrived = [FakeMessage("b", 1, 40), FakeMessage("a", 1, 7), FakeMessage("a", 0, 10), FakeMessage("b", 1, 41),
               FakeMessage("a", 0, 11)]
    assert confluent_client._in_send_order(sent, arrived) == [  # type: ignore[arg-type]
        Delivered("a", 0, 10), Delivered("b", 1, 40), Delivered("a", 0, 11), Delivered("a", 1, 7),
        Delivered("b", 1, 41)]


def test_confluent_producer_settings() -> None:
    base = ClientConfig({"bootstrap.servers": "h:1", "sasl.password": "pw"})
    txn = confluent_client.producer_settings(base, "restore-j1-orders-0", -1, 12000, 5000)
    assert {k: txn[k] for k in ("transactional.id", "enable.idempotence", "acks", "request.timeout.ms",
                                "message.timeout.ms", "transaction.timeout.ms", "batch.num.messages")} == {
        "transactional.id": "restore-j1-orders-0", "enable.idempotence": True, "acks": -1,
        "request.timeout.ms": 12000, "message.timeout.ms": 24005, "transaction.timeout.ms": 60000,
        "batch.num.messages": 5000}
    assert "max.in.flight.requests.per.connection" not in txn
    assert txn["enable.sparse.connections"] is False  # no 50-500 ms stall before the producer id
    plain = confluent_client.producer_settings(base, None, 1, 30000, 10)
    assert (plain["enable.idempotence"], plain["acks"], plain["max.in.flight.requests.per.connection"]) == (False, 1, 1)
    assert "transactional.id" not in plain
    assert "pw" not in repr(plain) and base.keys() <= plain.keys()


def test_kafkapython_producer_settings() -> None:
    base = ClientConfig({"bootstrap_servers": ["h:1"]})
    txn = kafkapython_client.producer_settings(base, "tx", -1, 40000, 1000)
    assert {k: txn[k] for k in ("transactional_id", "enable_idempotence", "acks", "request_timeout_ms",
                                "delivery_timeout_ms", "max_block_ms", "transaction_timeout_ms", "batch_size")} == {
        "transactional_id": "tx", "enable_idempotence": True, "acks": -1, "request_timeout_ms": 40000,
        "delivery_timeout_ms": 80005, "max_block_ms": 40000, "transaction_timeout_ms": 80005,
        "batch_size": 1024 * 1000}
    plain = kafkapython_client.producer_settings(base, None, 0, 30000, 1)
    assert (plain["enable_idempotence"], plain["acks"], plain["max_in_flight_requests_per_connection"],
            plain["batch_size"]) == (False, 0, 1, 16384)


def test_transactional_producer_needs_acks_all() -> None:
    with pytest.raises(ValueError, match=r"^produceAcks: a transactional producer needs acks=-1 \(all\), got 1$"):
        open_producer(KafkaCluster(bootstrap_servers=["h:1"]), None, "tx", acks=1)


def test_default_client_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CLIENT_ENV, raising=False)
    assert default_client() == "confluent"
    monkeypatch.setenv(CLIENT_ENV, "kafka-python")
    assert default_client() == "kafka-python"
    monkeypatch.setenv(CLIENT_ENV, "librdkafka")
    with pytest.raises(ValueError, match=r"^KAFKA_RESTORE_KAFKA_CLIENT='librdkafka': expected one of confluent, "
                                         r"kafka-python$"):
        default_client()


def _record(offset: int) -> ConsumedRecord:
    return ConsumedRecord("t", 0, offset, 1000 + offset, None, b"v", [])


def test_read_until_idle_yields_batches_then_stops() -> None:
    batches = [[_record(0), _record(1)], [], [_record(2)]]
    waits: list[float] = []

    def poll(wait: float) -> list[ConsumedRecord]:
        waits.append(wait)
        return batches.pop(0) if batches else []

    assert [r.offset for r in read_until_idle(poll, idle_timeout_s=0.05)] == [0, 1, 2]
    assert len(waits) >= 4 and all(0 < w <= 0.05 for w in waits)


class FakeDescribeAdmin:
    def __init__(self, answer: object):
        self.answer = answer

    def describe_groups(self, group_ids: list[str]) -> object:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def _kafkapython_admin(answer: object) -> kafkapython_client.KafkaPythonAdmin:
    admin = object.__new__(kafkapython_client.KafkaPythonAdmin)
    admin.servers = "h:1"
    admin._admin = FakeDescribeAdmin(answer)  # type: ignore[assignment]
    return admin


def test_kafkapython_describe_group_reads_state_and_members() -> None:
    answer = {"g": {"group_id": "g", "group_state": "Stable", "members": [{"member_id": "a"}, {"member_id": "b"}],
                    "error": None}}
    assert _kafkapython_admin(answer).describe_group("g") == GroupInfo("g", "Stable", 2)


@pytest.mark.parametrize("answer", [
    ValueError("15 is not a valid ACLOperation"),  # what kafka-python raises on Tansu's answer
    {"g": {"group_id": "g", "group_state": "", "members": [], "error": "[Error 16] NotCoordinatorError"}},
])
def test_kafkapython_describe_group_unknown_when_it_cannot_describe(answer: object) -> None:
    assert _kafkapython_admin(answer).describe_group("g") == GroupInfo("g", "Unknown", None)
