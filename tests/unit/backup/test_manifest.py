from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from restore_jobs.backup.consumer_groups import (
    GroupSnapshot,
    dump_group_snapshot,
    load_group_snapshot,
    parse_group_snapshot,
)
from restore_jobs.backup.manifest import (
    Gap,
    Manifest,
    ManifestError,
    PartitionBackup,
    SegmentInfo,
    TopicBackup,
    dump_manifest,
    load_manifest,
    parse_manifest,
)
from restore_jobs.storage.filesystem import FilesystemStorage

KEY = "backups/b1/manifest.json"


def seg(start: int, end: int, count: int | None = None, key: str | None = None) -> dict[str, Any]:
    return {
        "key": key or f"b1/topics/orders/partition=0/segment-{start:020d}.bin.zst",
        "start_offset": start,
        "end_offset": end,
        "start_timestamp": 1000 + start,
        "end_timestamp": 1000 + end,
        "record_count": end - start + 1 if count is None else count,
        "uncompressed_size": 10,
        "compressed_size": 5,
    }


# What OSO v0.17 writes (field names from its manifest.rs), incl. a field we do not know.
OSO = {
    "backup_id": "b1",
    "created_at": 1_731_236_400_000,
    "source_cluster_id": "abc",
    "source_brokers": ["kafka:9092"],
    "compression": "zstd",
    "topics": [
        {
            "name": "orders",
            "original_partition_count": 6,
            "partitions": [
                {"partition_id": 0, "segments": [seg(0, 9), seg(10, 19)], "gaps": []},
                {"partition_id": 2, "segments": [seg(5, 5)]},
                {
                    "partition_id": 1,
                    "segments": [seg(0, 3, key="b1/topics/orders/partition=1/segment-000000.bin")],
                    "gaps": [{"start_offset": 4, "end_offset": 8, "reason": "retention", "detected_at": 5}],
                    "future_field": True,
                },
            ],
        },
        {"name": "payments", "partitions": [{"partition_id": 3, "segments": []}]},
    ],
}


def parse(data: Any) -> Manifest:
    return parse_manifest(json.dumps(data).encode(), KEY)


def test_oso_manifest_parses() -> None:
    m = parse(OSO)
    assert m.backup_id == "b1" and m.created_at == 1_731_236_400_000 and m.source_brokers == ["kafka:9092"]
    orders = m.topic("orders")
    assert orders is not None and m.topic("nope") is None
    assert orders.partition(0) == PartitionBackup(
        0,
        [SegmentInfo(**seg(0, 9)), SegmentInfo(**seg(10, 19))],
        [],
    )
    assert orders.partition(1).gaps == [Gap(4, 8, "retention", 5)]  # type: ignore[union-attr]
    assert m.partition_counts() == {"orders": 6, "payments": 4}
    assert m.record_count == 10 + 10 + 1 + 4
    assert m.segment_count == 4


def test_minimal_older_manifest_uses_defaults() -> None:
    data = {"backup_id": "b0", "created_at": 1, "topics": [{"name": "t", "partitions": []}]}
    s = seg(0, 1)
    del s["uncompressed_size"], s["compressed_size"]
    data["topics"][0]["partitions"] = [{"partition_id": 0, "segments": [s]}]
    m = parse(data)
    assert (m.source_cluster_id, m.source_brokers, m.compression) == (None, [], "")
    assert m.topics[0].partitions[0].segments[0].uncompressed_size == 0
    assert m.topics[0].original_partition_count is None


def test_dump_then_parse_is_identity() -> None:
    m = parse(OSO)
    assert parse_manifest(dump_manifest(m), KEY) == m
    dumped = json.loads(dump_manifest(m))
    assert dumped["topics"][0]["partitions"][0]["segments"][0] == seg(0, 9)


def broken(path: list[Any], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(OSO)
    target: Any = data
    for step in path[:-1]:
        target = target[step]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


SEG = ["topics", 0, "partitions", 0, "segments", 1]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (broken([*SEG, "end_offset"], "19"), "topics[0].partitions[0].segments[1].end_offset: expected integer"),
        (broken([*SEG, "end_offset"], True), "topics[0].partitions[0].segments[1].end_offset: expected integer"),
        (broken([*SEG, "key"], KeyError), "topics[0].partitions[0].segments[1].key: required"),
        (broken(["created_at"], None), "created_at: expected integer"),
        (broken(["created_at"], KeyError), "created_at: required"),
        (broken(["topics"], {}), "topics: expected list"),
        (broken(["topics", 1], []), "topics[1]: expected object"),
        (broken(["topics", 0, "partitions", 2, "partition_id"], 1.5), "partitions[2].partition_id: expected integer"),
        (broken(["source_brokers"], ["a", 3]), "source_brokers: expected list of strings"),
        (broken([*SEG, "end_offset"], 8), "segments[1].end_offset: 8 is below start_offset 10"),
        (broken([*SEG, "start_offset"], 9), "segments[1].start_offset: 9 overlaps or precedes segments[0] (0..9)"),
        (broken([*SEG, "record_count"], 11), "segments[1].record_count: 11 does not fit offsets 10..19"),
        (
            broken(["topics", 0, "partitions", 1, "partition_id"], 0),
            "topics[0].partitions[1].partition_id: duplicate 0",
        ),
        (broken(["topics", 1, "name"], "orders"), "topics[1].name: duplicate 'orders'"),
        (broken(["topics", 0, "original_partition_count"], 2), "original_partition_count: 2 but the backup holds"),
        (broken([*SEG, "key"], "../../etc/passwd"), "segments[1].key: invalid segment key '../../etc/passwd'"),
        (
            broken(["topics", 0, "partitions", 2, "gaps", 0, "end_offset"], 2),
            "topics[0].partitions[2].gaps[0].end_offset: 2 is below start_offset 4",
        ),
    ],
)
def test_errors_name_key_and_field_path(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ManifestError) as info:
        parse(data)
    assert str(info.value).startswith(f"{KEY}: ")
    assert message in str(info.value)


def test_not_json() -> None:
    with pytest.raises(ManifestError, match=r"^backups/b1/manifest.json: not valid JSON"):
        parse_manifest(b"{nope", KEY)
    with pytest.raises(ManifestError, match=r"^backups/b1/manifest.json: \(root\): expected object"):
        parse_manifest(b"[]", KEY)


def test_load_from_storage(tmp_path: Path) -> None:
    storage = FilesystemStorage(tmp_path)
    with pytest.raises(ManifestError, match=f"backup b1 not found at {tmp_path}/b1/manifest.json"):
        load_manifest(storage, "b1")
    storage.write("b1/manifest.json", json.dumps(OSO).encode())
    assert load_manifest(storage, "b1") == parse(OSO)
    storage.write("b1/manifest.json", json.dumps(broken([*SEG, "end_offset"], "x")).encode())
    with pytest.raises(
        ManifestError, match=r"^b1/manifest.json: topics\[0\]\.partitions\[0\]\.segments\[1\]\.end_offset"
    ):
        load_manifest(storage, "b1")


def test_consumer_group_snapshot_in_oso_shape(tmp_path: Path) -> None:
    storage = FilesystemStorage(tmp_path)
    assert load_group_snapshot(storage, "b1") is None
    raw = {
        "snapshot_time": 1731236400000,
        "groups": [
            {"group_id": "app", "offsets": {"orders": {"0": 12345, "1": 67890}, "payments": {"3": 7}}},
            {"group_id": "idle", "offsets": {}},
        ],
    }
    storage.write("b1/consumer-groups-snapshot.json", json.dumps(raw).encode())
    snap = load_group_snapshot(storage, "b1")
    assert snap == GroupSnapshot(
        1731236400000, {"app": {("orders", 0): 12345, ("orders", 1): 67890, ("payments", 3): 7}, "idle": {}}
    )
    assert json.loads(dump_group_snapshot(snap)) == raw


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"groups": [{"offsets": {}}]}, "k: groups[0].group_id: required"),
        ({"groups": [{"group_id": "g", "offsets": {"t": {"x": 1}}}]}, "k: groups[0].offsets.t.x: partition must be"),
        ({"groups": [{"group_id": "g", "offsets": {"t": {"0": "1"}}}]}, "k: groups[0].offsets.t.0: expected integer"),
        ({"groups": [{"group_id": "g", "offsets": {"t": [1]}}]}, "k: groups[0].offsets.t: expected object"),
    ],
)
def test_consumer_group_snapshot_errors(raw: Any, message: str) -> None:
    with pytest.raises(ManifestError, match="^" + message.replace("[", r"\[").replace("]", r"\]")):
        parse_group_snapshot(json.dumps(raw).encode(), "k")


def test_topic_partition_count_without_original_count() -> None:
    assert TopicBackup("t", [PartitionBackup(4), PartitionBackup(1)]).partition_count() == 5
    assert TopicBackup("t", []).partition_count() == 0
