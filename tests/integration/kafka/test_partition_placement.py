"""Our murmur2 placement equals librdkafka's Java-compatible partitioner on a real broker."""

from __future__ import annotations

import confluent_kafka as ck
import pytest

from restore_jobs.kafka.factory import open_admin
from restore_jobs.kafka.partitioner import murmur2_partition
from restore_jobs.spec.model import KafkaCluster

pytestmark = pytest.mark.integration


def test_keyed_records_land_where_murmur2_partition_says(bootstrap: str, unique: str) -> None:
    topic, partitions = f"{unique}-keys", 7
    admin = open_admin(KafkaCluster(bootstrap_servers=[bootstrap]), client="confluent", timeout_s=15)
    admin.create_topics({topic: partitions})
    keys = [f"order-{i}".encode() for i in range(60)] + [b"", b"\x00\xff", "ключ".encode()]
    landed: dict[bytes, int] = {}
    producer = ck.Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random"})
    for key in keys:
        producer.produce(topic, value=b"v", key=key,
                         on_delivery=lambda err, msg: landed.__setitem__(msg.key(), msg.partition()))
    assert producer.flush(15) == 0
    assert landed == {key: murmur2_partition(key, partitions) for key in keys}
    assert len(set(landed.values())) == partitions
