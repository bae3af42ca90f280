from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from restore_jobs.backup.consumer_groups import GroupSnapshot, dump_group_snapshot
from restore_jobs.backup.records import BackupRecord
from restore_jobs.backup.writer import BackupWriter
from restore_jobs.cli import inspect
from restore_jobs.cli.common import CliError
from restore_jobs.storage.filesystem import FilesystemStorage


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    inspect.register(parser.add_subparsers())
    args = parser.parse_args(["inspect", *argv])
    return args.func(args)


@pytest.fixture
def backup(tmp_path: Path) -> FilesystemStorage:
    storage = FilesystemStorage(tmp_path)
    writer = BackupWriter(storage, "b1", compression="lz4", segment_max_records=2, source_cluster_id="c-1")
    for i in range(5):
        writer.add("orders", 0, BackupRecord(10 + i, 1_700_000_000_000 + i, b"k", b"v" * 100))
    writer.add("orders", 2, BackupRecord(0, 1_700_000_000_000, None, None))
    writer.finish({"orders": 3, "empty": 1})
    storage.write(
        "b1/consumer-groups-snapshot.json", dump_group_snapshot(GroupSnapshot(5, {"app": {("orders", 0): 12}}))
    )
    return storage


def test_json_output(backup: FilesystemStorage, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--storage", f"file://{backup.root}", "--backup-id", "b1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["backup_id"], out["compression"], out["source_cluster_id"]) == ("b1", "lz4", "c-1")
    assert (out["records"], out["segments"], out["consumer_groups"]) == (6, 4, ["app"])
    empty, orders = out["topics"]
    assert empty == {"name": "empty", "partition_count": 1, "partitions": []}
    p0 = orders["partitions"][0]
    assert {k: p0[k] for k in ("partition", "start_offset", "end_offset", "records", "segments")} == {
        "partition": 0,
        "start_offset": 10,
        "end_offset": 14,
        "records": 5,
        "segments": 3,
    }
    assert (p0["start_time"], p0["end_time"]) == ("2023-11-14T22:13:20.000Z", "2023-11-14T22:13:20.004Z")
    assert p0["compressed_bytes"] == sum(len(backup.read(k)) for k in backup.list("b1/topics/orders/partition=0/"))
    assert "verify" not in out


def test_table_output(
    backup: FilesystemStorage, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    assert run(["--storage", str(backup.root), "--backup-id", "b1", "--verify"]) == 0
    out = capsys.readouterr().out
    assert "backup b1 created" in out and "10..14" in out and "2023-11-14T22:13:20.000Z" in out
    assert "verify: ok, 4 segments, 6 records" in out
    assert "consumer-group snapshot: 1 groups" in out


def test_verify_ok_and_corrupted(backup: FilesystemStorage, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--storage", str(backup.root), "--backup-id", "b1", "--json", "--verify"]
    assert run(argv) == 0
    assert json.loads(capsys.readouterr().out)["verify"] == {"ok": True, "segments": 4, "failures": []}

    bad = "b1/topics/orders/partition=0/segment-00000000000000000012.bin.lz4"
    data = bytearray(backup.read(bad))
    data[50] ^= 0xFF
    backup.write(bad, bytes(data))
    gone = "b1/topics/orders/partition=2/segment-00000000000000000000.bin.lz4"
    backup.delete(gone)
    assert run(argv) == 1
    verify = json.loads(capsys.readouterr().out)["verify"]
    assert verify["ok"] is False
    assert [f["key"] for f in verify["failures"]] == [bad, gone]
    assert verify["failures"][0]["error"].startswith(f"segment {bad}: CRC mismatch")
    assert verify["failures"][1]["error"] == f"{backup.root}/{gone}: not found"

    with pytest.raises(CliError) as info:
        run([*argv[:-2], "--verify"])
    assert info.value.exit_code == 1
    assert str(info.value) == f"verify failed for 2 of 4 segments: {bad}, {gone}"


def test_verify_catches_a_manifest_that_lies_about_counts(
    backup: FilesystemStorage, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = json.loads(backup.read("b1/manifest.json"))
    manifest["topics"][1]["partitions"][0]["segments"][0]["record_count"] = 1
    manifest["topics"][1]["partitions"][0]["segments"][0]["end_offset"] = 10
    backup.write("b1/manifest.json", json.dumps(manifest).encode())
    assert run(["--storage", str(backup.root), "--backup-id", "b1", "--json", "--verify"]) == 1
    [failure] = json.loads(capsys.readouterr().out)["verify"]["failures"]
    assert failure["error"] == "holds 2 records, the manifest says 1"


def test_missing_backup_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(CliError) as info:
        run(["--storage", str(tmp_path), "--backup-id", "nope"])
    assert info.value.exit_code == 2
    assert str(info.value) == f"backup nope not found at {tmp_path}/nope/manifest.json"
    with pytest.raises(CliError, match=r"--storage: storage URL 'ftp://x': unsupported scheme"):
        run(["--storage", "ftp://x", "--backup-id", "nope"])
