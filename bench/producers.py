"""The baselines: a bare producer per client writing the backup's records from memory.

Both are as fast as an honest producer gets with the restore's guarantees on the wire: acks=all
and idempotence (no transactions: those are part of what the restore pays for exactly-once),
explicit partitions, no compression, delivery of every record checked. The settings are the
module constants below, reported with the results. The clock starts once the producer is warm:
one record to ``warmup_topic`` has been delivered, so its connection and producer id exist
(librdkafka's idempotent producer spends about 0.5 s getting one: a start-up cost, not throughput).
"""

from __future__ import annotations

import time

from bench.dataset import Row

CONFLUENT_SETTINGS: dict[str, object] = {
    "acks": "all",
    "enable.idempotence": True,
    "linger.ms": 5,
    "batch.num.messages": 10_000,
    "batch.size": 1_000_000,
    "queue.buffering.max.messages": 500_000,
    "compression.type": "none",
}
KAFKA_PYTHON_SETTINGS: dict[str, object] = {
    "acks": "all",
    "enable_idempotence": True,
    "linger_ms": 5,
    "batch_size": 1_024_000,
    "compression_type": None,
}


def produce_confluent(bootstrap: str, topic: str, rows: list[Row], warmup_topic: str) -> float:
    """Seconds from the first record to the last delivery report, on a warm producer."""
    import confluent_kafka

    failures: list[object] = []

    def on_delivery(err: object, _msg: object) -> None:
        if err is not None:
            failures.append(err)

    producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap, **CONFLUENT_SETTINGS})
    producer.produce(warmup_topic, b"warm-up", on_delivery=on_delivery)
    producer.flush(30)
    produce, poll = producer.produce, producer.poll
    started = time.perf_counter()
    for partition, key, value, headers, ts in rows:
        while True:
            try:
                produce(topic, value, key, partition=partition, on_delivery=on_delivery, timestamp=ts, headers=headers)
                break
            except BufferError:
                poll(0.01)
    left = producer.flush(120)
    elapsed = time.perf_counter() - started
    if left or failures:
        raise RuntimeError(f"confluent baseline to {topic}: {left} undelivered, {len(failures)} failed: {failures[:1]}")
    return elapsed


def produce_confluent_transactional(
    bootstrap: str, topic: str, rows: list[Row], warmup_topic: str, txn_bytes: int
) -> float:
    """The cost of exactly-once on its own: the same producer in transactions, committed each time
    they hold ``txn_bytes`` of keys and values, about as large as a restore unit's. A failed
    delivery fails the commit, so no delivery reports are needed to check every record."""
    import confluent_kafka

    producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap, **CONFLUENT_SETTINGS,
                                         "transactional.id": f"bench-{topic}", "enable.sparse.connections": False})
    producer.init_transactions(30)
    producer.begin_transaction()
    producer.produce(warmup_topic, b"warm-up")
    producer.commit_transaction(30)
    produce, poll = producer.produce, producer.poll
    started = time.perf_counter()
    producer.begin_transaction()
    held = 0
    for partition, key, value, headers, ts in rows:
        while True:
            try:
                produce(topic, value, key, partition=partition, timestamp=ts, headers=headers)
                break
            except BufferError:
                poll(0.01)
        held += len(key or b"") + len(value or b"")
        if held >= txn_bytes:
            producer.commit_transaction(120)
            producer.begin_transaction()
            held = 0
    producer.commit_transaction(120)
    return time.perf_counter() - started


def produce_kafka_python(bootstrap: str, topic: str, rows: list[Row], warmup_topic: str) -> float:
    """Seconds from the first record to the last acknowledgement, on a warm producer."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, **KAFKA_PYTHON_SETTINGS)
    producer.send(warmup_topic, b"warm-up").get(30)
    send = producer.send
    started = time.perf_counter()
    futures = [send(topic, value=value, key=key, headers=headers, partition=partition, timestamp_ms=ts)
               for partition, key, value, headers, ts in rows]
    producer.flush(120)
    elapsed = time.perf_counter() - started
    failed = [f for f in futures if not f.succeeded()]
    producer.close(5)
    if failed:
        raise RuntimeError(f"kafka-python baseline to {topic}: {len(failed)} records failed: {failed[0].exception}")
    return elapsed
