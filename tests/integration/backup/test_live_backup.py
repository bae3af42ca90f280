"""A backup of a live Tansu topic through the CLI, read back record for record, then inspected."""

from __future__ import annotations

import argparse
import json
import struct
from pathlib import Path

import confluent_kafka as ck
import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from restore_jobs.backup.consumer_groups import load_group_snapshot
from restore_jobs.backup.manifest import load_manifest
from restore_jobs.backup.records import BackupRecord
from restore_jobs.backup.segment import read_segment
from restore_jobs.cli import backup as backup_cli
from restore_jobs.cli import inspect as inspect_cli
from restore_jobs.cli.common import CliError
from restore_jobs.storage.filesystem import FilesystemStorage

pytestmark = pytest.mark.integration


def run_cli(module: object, name: str, argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    module.register(parser.add_subparsers())  # type: ignore[attr-defined]
    args = parser.parse_args([name, *argv])
    return args.func(args)


def produce(bootstrap: str, topic: str) -> dict[int, list[BackupRecord]]:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 2, 1)])[topic].result(30)
    producer = ck.Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    sent: list[tuple[int, bytes | None, bytes | None, list[tuple[str, bytes | None]], int]] = []
    for i in range(30):
        key = None if i % 10 == 3 else b"key-%d" % i
        value = None if i == 7 else b"value-%d-" % i + bytes([i]) * i
        headers = [("trace", b"t-%d" % i), ("bin", b"\x00\xff"), ("none", None)] if i % 2 else []
        sent.append((i % 2, key, value, headers, 1_600_000_000_000 + 1000 * i))
    delivered: list[ck.Message] = []
    for partition, key, value, headers, ts in sent:
        producer.produce(
            topic,
            value,
            key,
            partition=partition,
            headers=headers,
            timestamp=ts,
            on_delivery=lambda e, m: delivered.append(m),
        )
    assert producer.flush(30) == 0
    by_value = {m.value(): m.offset() for m in delivered if m.value() is not None}
    null_value_offset = next(m.offset() for m in delivered if m.value() is None)
    expected: dict[int, list[BackupRecord]] = {0: [], 1: []}
    for partition, key, value, headers, ts in sent:
        offset = by_value[value] if value is not None else null_value_offset
        extra = [("x-original-offset", struct.pack("<q", offset)), ("x-original-timestamp", struct.pack("<q", ts))]
        expected[partition].append(BackupRecord(offset, ts, key, value, [*headers, *extra]))
    return expected


def commit_group(bootstrap: str, group: str, topic: str, offset: int) -> None:
    consumer = ck.Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    consumer.commit(offsets=[ck.TopicPartition(topic, 0, offset)], asynchronous=False)
    consumer.close()


def test_backup_of_a_live_topic_reads_back_exactly(
    bootstrap: str, unique: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    topic, group = f"orders-{unique}", f"app-{unique}"
    expected = produce(bootstrap, topic)
    commit_group(bootstrap, group, topic, 4)

    argv = [
        "--bootstrap-servers", bootstrap, "--storage", f"file://{tmp_path}", "--backup-id", "b1",
        "--topic", topic, "--groups", group, "--compression", "lz4", "--segment-max-bytes", "600",
        "--idle-timeout", "2", "--json",
    ]  # fmt: skip
    assert run_cli(backup_cli, "backup", argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["backup_id"], summary["records"]) == ("b1", 30)

    storage = FilesystemStorage(tmp_path)
    manifest = load_manifest(storage, "b1")
    [topic_backup] = manifest.topics
    assert (topic_backup.name, topic_backup.original_partition_count) == (topic, 2)
    assert manifest.source_brokers == [bootstrap] and manifest.compression == "lz4"
    for part in topic_backup.partitions:
        assert len(part.segments) > 1  # rotation by size happened
        got = [r for s in part.segments for r in read_segment(storage.open(s.key), s.key)]
        assert got == expected[part.partition_id]
    snapshot = load_group_snapshot(storage, "b1")
    assert snapshot is not None and snapshot.groups == {group: {(topic, 0): 4}}

    # an existing backup id is refused, nothing overwritten
    with pytest.raises(CliError, match="backup b1 already exists") as info:
        run_cli(backup_cli, "backup", argv)
    assert info.value.exit_code == 2

    inspect_argv = ["--storage", str(tmp_path), "--backup-id", "b1", "--json", "--verify"]
    assert run_cli(inspect_cli, "inspect", inspect_argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["verify"] == {"ok": True, "segments": manifest.segment_count, "failures": []}
    assert [p["records"] for p in out["topics"][0]["partitions"]] == [15, 15]
    assert out["consumer_groups"] == [group]

    victim = topic_backup.partitions[1].segments[0].key
    data = bytearray(storage.read(victim))
    data[-9] ^= 0x40
    storage.write(victim, bytes(data))
    assert run_cli(inspect_cli, "inspect", inspect_argv) == 1
    failures = json.loads(capsys.readouterr().out)["verify"]["failures"]
    assert [f["key"] for f in failures] == [victim]
    assert "CRC mismatch" in failures[0]["error"]


def test_unknown_topic_is_a_usage_error(bootstrap: str, unique: str, tmp_path: Path) -> None:
    argv = [
        "--bootstrap-servers",
        bootstrap,
        "--storage",
        str(tmp_path),
        "--backup-id",
        "b",
        "--topic",
        f"nope-{unique}",
    ]
    with pytest.raises(CliError, match=f"topics not found in the source cluster: nope-{unique}") as info:
        run_cli(backup_cli, "backup", argv)
    assert info.value.exit_code == 2
    assert not (tmp_path / "b").exists()
