"""Helpers shared by integration and end-to-end tests: reading a target topic back, and the
records a backup says a restore must produce."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from restore_jobs.backup.manifest import load_manifest
from restore_jobs.backup.records import BackupRecord
from restore_jobs.backup.segment import read_segment
from restore_jobs.kafka.client import ConsumedRecord, TransactionalProducer
from restore_jobs.kafka.factory import open_admin, open_reader
from restore_jobs.spec.model import KafkaCluster
from restore_jobs.storage.base import BackupStorage


def send(
    producer: TransactionalProducer, topic: str, partition: int, key: bytes | None, value: bytes | None,
    headers: list[tuple[str, bytes | None]], timestamp_ms: int,
) -> None:
    """One record, as a chunk of one (its offset in the backup does not matter here)."""
    producer.send_many(topic, [(BackupRecord(-1, timestamp_ms, key, value, headers), partition)])


def cluster(bootstrap: str) -> KafkaCluster:
    return KafkaCluster(bootstrap_servers=[bootstrap])


def consume_topic(bootstrap: str, topic: str, client: str | None = None, idle: float = 2.0
                  ) -> dict[int, list[ConsumedRecord]]:
    """Every committed record of every partition of ``topic`` (read_committed). Partitions are read
    in parallel, one reader each: each read ends only after ``idle`` seconds without records."""
    admin = open_admin(cluster(bootstrap), client=client)
    try:
        partitions = admin.topics()[topic]
    finally:
        admin.close()

    def read(partition: int) -> list[ConsumedRecord]:
        reader = open_reader(cluster(bootstrap), client=client)
        try:
            return list(reader.read(topic, partition, 0, read_committed=True, idle_timeout_s=idle))
        finally:
            reader.close()

    with ThreadPoolExecutor(max_workers=min(partitions, 8)) as pool:
        return dict(enumerate(pool.map(read, range(partitions))))


def committed_log(bootstrap: str, topic: str) -> dict[int, list]:
    """Every partition of ``topic`` as Kafka's read_committed rules define it, read from the log
    itself (aborted transactions dropped). Tansu serves aborted records to read_committed
    consumers, so exactly-once checks use this instead of a consumer."""
    from tests.kafka_log import read_committed

    admin = open_admin(cluster(bootstrap))
    try:
        partitions = admin.topics()[topic]
    finally:
        admin.close()
    return {p: read_committed(bootstrap, topic, p) for p in range(partitions)}


def backup_records(storage: BackupStorage, backup_id: str, topic: str) -> dict[int, list[BackupRecord]]:
    """What the backup holds for ``topic``, per source partition, in offset order."""
    manifest = load_manifest(storage, backup_id)
    out: dict[int, list[BackupRecord]] = defaultdict(list)
    entry = manifest.topic(topic)
    assert entry is not None, f"{topic} not in backup {backup_id}"
    for part in entry.partitions:
        for seg in part.segments:
            with storage.open(seg.key) as f:
                out[part.partition_id].extend(read_segment(f, seg.key))
    return dict(out)


def as_tuple(rec: BackupRecord | ConsumedRecord) -> tuple:
    """The parts of a record a restore must preserve exactly."""
    return (rec.key, rec.value, tuple((k, v) for k, v in rec.headers), rec.timestamp)


def assert_restored(
    expected: dict[int, list[BackupRecord]],
    actual: dict[int, list[ConsumedRecord]],
    place: Callable[[int, BackupRecord], int] = lambda p, rec: p,
) -> int:
    """Every expected record is in the target exactly once, in source order per target partition.
    ``place(source_partition, record)`` gives the target partition. Returns the record count."""
    want: dict[int, list[tuple]] = defaultdict(list)
    for source_partition, records in sorted(expected.items()):
        for rec in records:
            want[place(source_partition, rec)].append(as_tuple(rec))
    got = {p: [as_tuple(r) for r in records] for p, records in actual.items() if records}
    assert set(got) == set(want), f"target partitions {sorted(got)} != expected {sorted(want)}"
    for partition, records in want.items():
        if len(set(map(repr, records))) == len(records):
            assert got[partition] == records, f"partition {partition} differs"
        else:
            assert sorted(map(repr, got[partition])) == sorted(map(repr, records))
    return sum(len(r) for r in want.values())
