"""backup_topics with in-memory stand-ins for the Kafka interface (the live broker test is in integration)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from restore_jobs.backup.consumer_groups import load_group_snapshot
from restore_jobs.backup.live import BackupError, backup_topics
from restore_jobs.backup.manifest import load_manifest
from restore_jobs.backup.segment import read_segment
from restore_jobs.kafka.client import Committed, ConsumedRecord, TopicPartition
from restore_jobs.storage.filesystem import FilesystemStorage


class FakeCluster:
    def __init__(self) -> None:
        self.data: dict[TopicPartition, list[ConsumedRecord]] = {
            ("orders", 0): [
                ConsumedRecord("orders", 0, o, 100 + o, b"k", b"v%d" % o, [("h", b"1")]) for o in (0, 1, 5)
            ],
            ("orders", 1): [],
            ("__consumer_offsets", 0): [ConsumedRecord("__consumer_offsets", 0, 0, 0, None, b"internal")],
            ("other", 0): [ConsumedRecord("other", 0, 0, 7, None, None)],
        }
        self.commits = {
            "app": {("orders", 0): Committed(2), ("other", 0): Committed(1)},
            "elsewhere": {("unrelated", 0): Committed(9)},
            "never": {("orders", 1): Committed(-1)},
        }
        self.open_partitions: list[TopicPartition] = []

    # KafkaAdmin
    def topics(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for topic, partition in self.data:
            counts[topic] = max(counts.get(topic, 0), partition + 1)
        return counts

    def cluster_id(self) -> str | None:
        return "fake-cluster"

    def groups(self) -> list[str]:
        return sorted(self.commits)

    def committed(
        self, group_id: str, partitions: list[TopicPartition] | None = None
    ) -> dict[TopicPartition, Committed]:
        return self.commits.get(group_id, {})

    # PartitionReader
    def read(
        self,
        topic: str,
        partition: int,
        start_offset: int = 0,
        read_committed: bool = True,
        idle_timeout_s: float = 5.0,
    ) -> Iterator[ConsumedRecord]:
        self.open_partitions.append((topic, partition))
        yield from (r for r in self.data[(topic, partition)] if r.offset >= start_offset)


def test_backs_up_all_user_topics_and_all_groups(tmp_path: Path) -> None:
    cluster = FakeCluster()
    storage = FilesystemStorage(tmp_path)
    manifest = backup_topics(cluster, cluster, storage, "b1", None, "all", compression="none", source_brokers=["k:1"])  # type: ignore[arg-type]
    assert manifest == load_manifest(storage, "b1")
    assert [t.name for t in manifest.topics] == ["orders", "other"]
    assert manifest.partition_counts() == {"orders": 2, "other": 1}
    assert (manifest.source_cluster_id, manifest.source_brokers) == ("fake-cluster", ["k:1"])
    seg = manifest.topics[0].partitions[0].segments[0]
    records = list(read_segment(storage.open(seg.key), seg.key))
    assert [(r.offset, r.timestamp, r.value, r.headers[0]) for r in records] == [
        (0, 100, b"v0", ("h", b"1")),
        (1, 101, b"v1", ("h", b"1")),
        (5, 105, b"v5", ("h", b"1")),
    ]
    snapshot = load_group_snapshot(storage, "b1")
    assert snapshot is not None
    assert snapshot.groups == {"app": {("orders", 0): 2, ("other", 0): 1}}  # no group without offsets here
    keys = list(storage.list("b1/"))
    assert keys[-1] == "b1/topics/other/partition=0/segment-00000000000000000000.bin"


def test_selected_topics_and_named_groups(tmp_path: Path) -> None:
    cluster = FakeCluster()
    storage = FilesystemStorage(tmp_path)
    backup_topics(cluster, cluster, storage, "b2", ["orders"], ["app", "never"])  # type: ignore[arg-type]
    assert cluster.open_partitions == [("orders", 0), ("orders", 1)]
    raw = json.loads(storage.read("b2/consumer-groups-snapshot.json"))
    assert raw["groups"] == [
        {"group_id": "app", "offsets": {"orders": {"0": 2}}},
        {"group_id": "never", "offsets": {}},
    ]


def test_no_groups_no_snapshot_and_unknown_topics(tmp_path: Path) -> None:
    cluster = FakeCluster()
    storage = FilesystemStorage(tmp_path)
    backup_topics(cluster, cluster, storage, "b3", ["other"], None)  # type: ignore[arg-type]
    assert not storage.exists("b3/consumer-groups-snapshot.json")
    with pytest.raises(BackupError, match="topics not found in the source cluster: missing, nope"):
        backup_topics(cluster, cluster, storage, "b4", ["nope", "orders", "missing"], None)  # type: ignore[arg-type]
    assert not storage.exists("b4/manifest.json")
