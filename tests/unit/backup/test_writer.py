from __future__ import annotations

import struct
from pathlib import Path

import pytest

from restore_jobs.backup import layout
from restore_jobs.backup.manifest import load_manifest
from restore_jobs.backup.records import BackupRecord
from restore_jobs.backup.segment import read_segment
from restore_jobs.backup.writer import BackupWriter
from restore_jobs.storage.base import InvalidKeyError
from restore_jobs.storage.filesystem import FilesystemStorage


def with_original_headers(r: BackupRecord) -> BackupRecord:
    extra = [
        ("x-original-offset", struct.pack("<q", r.offset)),
        ("x-original-timestamp", struct.pack("<q", r.timestamp)),
    ]
    return BackupRecord(r.offset, r.timestamp, r.key, r.value, [*r.headers, *extra])


def make_records(n: int, start: int = 0) -> list[BackupRecord]:
    return [
        BackupRecord(start + 2 * i, 1_000 + (i % 7), b"k%d" % i if i % 3 else None, b"v" * (i % 50), [("h", b"%d" % i)])
        for i in range(n)
    ]


class RecordingStorage(FilesystemStorage):
    def __init__(self, root: Path):
        super().__init__(root)
        self.writes: list[str] = []

    def write(self, key: str, data: bytes) -> None:
        self.writes.append(key)
        super().write(key, data)


@pytest.mark.parametrize("compression", ["none", "zstd", "lz4"])
def test_writer_manifest_reader_round_trip(tmp_path: Path, compression: str) -> None:
    storage = RecordingStorage(tmp_path)
    writer = BackupWriter(
        storage,
        "b1",
        compression=compression,
        segment_max_records=40,
        source_cluster_id="c1",
        source_brokers=["k:9092"],
    )
    produced = {
        ("orders", 0): make_records(100),
        ("orders", 2): make_records(7, start=1000),
        ("audit", 0): make_records(3),
    }
    for (topic, partition), records in produced.items():
        for r in records:
            writer.add(topic, partition, r)
    returned = writer.finish({"orders": 4, "audit": 1, "empty": 2})

    assert storage.writes[-1] == "b1/manifest.json"  # the commit point comes last
    manifest = load_manifest(storage, "b1")
    assert manifest == returned
    assert (manifest.compression, manifest.source_cluster_id, manifest.source_brokers) == (
        compression,
        "c1",
        ["k:9092"],
    )
    assert [t.name for t in manifest.topics] == ["audit", "empty", "orders"]
    assert manifest.partition_counts() == {"audit": 1, "empty": 2, "orders": 4}
    orders = manifest.topic("orders")
    assert orders is not None
    p0 = orders.partition(0)
    assert p0 is not None
    assert [(s.start_offset, s.end_offset, s.record_count) for s in p0.segments] == [
        (0, 78, 40),
        (80, 158, 40),
        (160, 198, 20),
    ]
    suffix = {"none": "", "zstd": ".zst", "lz4": ".lz4"}[compression]
    assert p0.segments[1].key == f"b1/topics/orders/partition=0/segment-00000000000000000080.bin{suffix}"
    assert p0.segments[0].start_timestamp == 1000 and p0.segments[0].end_timestamp == 1000 + 39 % 7

    for topic in manifest.topics:
        for part in topic.partitions:
            got = [r for s in part.segments for r in read_segment(storage.open(s.key), s.key)]
            assert got == [with_original_headers(r) for r in produced[(topic.name, part.partition_id)]]
            for s in part.segments:
                assert s.compressed_size == len(storage.read(s.key))


def test_rotation_by_size(tmp_path: Path) -> None:
    storage = FilesystemStorage(tmp_path)
    writer = BackupWriter(storage, "b", compression="none", segment_max_bytes=1000, include_offset_headers=False)
    for i in range(10):
        writer.add("t", 0, BackupRecord(i, 0, None, b"x" * 300))
    manifest = writer.finish()
    sizes = [s.uncompressed_size for s in manifest.topics[0].partitions[0].segments]
    assert sizes == [990, 990, 990, 330]  # 330 bytes per encoded record: a 4th would exceed 1000
    one_big = BackupWriter(FilesystemStorage(tmp_path / "2"), "b", compression="none", segment_max_bytes=10)
    one_big.add("t", 0, BackupRecord(0, 0, None, b"x" * 300))  # a record larger than the limit still gets a segment
    assert one_big.finish().topics[0].partitions[0].segments[0].record_count == 1


def test_existing_offset_headers_are_kept(tmp_path: Path) -> None:
    writer = BackupWriter(FilesystemStorage(tmp_path), "b", compression="none")
    original = [("x-original-offset", struct.pack("<q", 77)), ("x-source-cluster", b"prod")]
    writer.add("t", 0, BackupRecord(5, 9, None, None, list(original)))
    seg = writer.finish().topics[0].partitions[0].segments[0]
    [rec] = read_segment(FilesystemStorage(tmp_path).open(seg.key), seg.key)
    assert rec.headers == [*original, ("x-original-timestamp", struct.pack("<q", 9))]


def test_out_of_order_and_unsafe_names_are_refused(tmp_path: Path) -> None:
    writer = BackupWriter(FilesystemStorage(tmp_path), "b")
    writer.add("t", 0, BackupRecord(5, 0, None, None))
    with pytest.raises(ValueError, match="t/0: offset 5 after 5"):
        writer.add("t", 0, BackupRecord(5, 0, None, None))
    with pytest.raises(InvalidKeyError, match=r"invalid topic '\.\./x'"):
        writer.add("../x", 0, BackupRecord(0, 0, None, None))
    with pytest.raises(InvalidKeyError, match="invalid backup id 'a/b'"):
        BackupWriter(FilesystemStorage(tmp_path), "a/b")
    with pytest.raises(ValueError, match="compression 'snappy'"):
        BackupWriter(FilesystemStorage(tmp_path), "b", compression="snappy")


def test_layout_keys() -> None:
    assert layout.manifest_key("b1") == "b1/manifest.json"
    assert (
        layout.segment_key("b1", "orders", 3, 42, "zstd")
        == "b1/topics/orders/partition=3/segment-00000000000000000042.bin.zst"
    )
    assert layout.segment_key("b1", "orders", 3, 42, "none").endswith("segment-00000000000000000042.bin")
    assert layout.consumer_groups_key("b1") == "b1/consumer-groups-snapshot.json"
    assert layout.offset_mapping_key("b1") == "b1/offset-mapping.json"
    sid = layout.new_snapshot_id(1700000000000)
    assert sid.startswith("snap-1700000000000-") and len(sid) == len("snap-1700000000000-") + 8
    assert layout.snapshot_key(sid) == f"offset-snapshots/{sid}/snapshot.json"
    assert layout.snapshot_metadata_key(sid) == f"offset-snapshots/{sid}/metadata.json"
    for bad in ("..", "a/b", "a\\b", "a\x00", ""):
        with pytest.raises(InvalidKeyError):
            layout.manifest_key(bad)
        with pytest.raises(InvalidKeyError):
            layout.segment_key("b", bad, 0, 0, "none")
