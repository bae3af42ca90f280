from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from restore_jobs.finalize.snapshot import (
    SnapshotError,
    expire_snapshots,
    load_snapshot,
    take_snapshot,
)
from restore_jobs.kafka.client import Committed
from restore_jobs.spec.model import RollbackStatus
from restore_jobs.storage.filesystem import FilesystemStorage
from tests.unit.finalize.fakes import FakeAdmin

NOW = 1_700_000_000_000  # 2023-11-14T22:13:20Z
HOUR = 3_600_000


def snap(admin: FakeAdmin, storage: FilesystemStorage, now_ms: int = NOW, retention_hours: int = 24):
    return take_snapshot(
        admin,
        storage,
        job_id="job-1",
        groups=["billing", "fresh", "billing"],
        target_partitions=[("orders", 0), ("orders", 1), ("new-topic", 0)],
        topics_created=["new-topic"],
        retention_hours=retention_hours,
        now_ms=now_ms,
        bootstrap_servers=["k1:9092"],
    )


@pytest.fixture
def admin() -> FakeAdmin:
    a = FakeAdmin(topics={"orders": 2, "other": 1}, end_offsets={("orders", 0): 40, ("orders", 1): 7})
    a.commit("billing", {("orders", 0): 12, ("other", 0): 5})
    return a


def test_snapshot_records_commits_end_offsets_and_created_topics(admin: FakeAdmin, tmp_path: Path):
    storage = FilesystemStorage(tmp_path)
    ref = snap(admin, storage)
    assert re.fullmatch(rf"snap-{NOW}-[0-9a-f]{{8}}", ref.snapshot_id)
    key = f"offset-snapshots/{ref.snapshot_id}/snapshot.json"
    assert ref.snapshot_path == storage.describe(key)
    assert ref.to_status() == RollbackStatus(
        snapshot_id=ref.snapshot_id,
        snapshot_time="2023-11-14T22:13:20.000Z",
        snapshot_path=storage.describe(key),
        rollback_available=True,
        expires_at="2023-11-15T22:13:20.000Z",
    )

    doc = json.loads((tmp_path / key).read_text())
    # OSO's OffsetSnapshot fields, readable by its tooling
    assert doc["snapshot_id"] == ref.snapshot_id
    assert doc["created_at"] == "2023-11-14T22:13:20.000Z"
    assert doc["restore_id"] == "job-1"
    assert doc["cluster_id"] == "fake-cluster"
    assert doc["bootstrap_servers"] == ["k1:9092"]
    assert doc["group_offsets"] == {
        "billing": {
            "group_id": "billing",
            "offsets": {
                "orders": {"0": {"offset": 12, "metadata": None, "timestamp": None}},
                "other": {"0": {"offset": 5, "metadata": None, "timestamp": None}},
            },
            "partition_count": 2,
        },
        "fresh": {"group_id": "fresh", "offsets": {}, "partition_count": 0},
    }
    # ours: the topic to be created has no end offsets yet
    assert doc["end_offsets"] == {"orders": {"0": 40, "1": 7}}
    assert doc["topics_created"] == ["new-topic"]
    assert doc["expires_at_ms"] == NOW + 24 * HOUR

    meta = json.loads((tmp_path / f"offset-snapshots/{ref.snapshot_id}/metadata.json").read_text())
    assert meta == {
        "snapshot_id": ref.snapshot_id,
        "created_at": "2023-11-14T22:13:20.000Z",
        "group_count": 2,
        "offset_count": 2,
        "restore_id": "job-1",
        "description": "before restore job job-1",
        "expires_at": "2023-11-15T22:13:20.000Z",
        "expires_at_ms": NOW + 24 * HOUR,
    }

    loaded = load_snapshot(storage, ref.snapshot_id)
    assert loaded.group_offsets == {
        "billing": {("orders", 0): Committed(12), ("other", 0): Committed(5)},
        "fresh": {},
    }
    assert loaded.end_offsets == {("orders", 0): 40, ("orders", 1): 7}
    assert (loaded.job_id, loaded.created_at_ms, loaded.topics_created) == ("job-1", NOW, ["new-topic"])


def test_load_missing_snapshot_names_the_path(tmp_path: Path):
    storage = FilesystemStorage(tmp_path)
    with pytest.raises(SnapshotError) as err:
        load_snapshot(storage, "snap-1-deadbeef")
    assert str(err.value) == (
        f"rollback snapshot 'snap-1-deadbeef' not found at "
        f"{storage.describe('offset-snapshots/snap-1-deadbeef/snapshot.json')}"
    )


def test_load_malformed_snapshot_names_the_path(tmp_path: Path):
    storage = FilesystemStorage(tmp_path)
    storage.write("offset-snapshots/snap-1-ab/snapshot.json", b'{"snapshot_id": "snap-1-ab"}')
    with pytest.raises(SnapshotError, match=r"rollback snapshot .*snap-1-ab/snapshot.json: malformed"):
        load_snapshot(storage, "snap-1-ab")


def test_expiry_deletes_old_and_keeps_fresh(admin: FakeAdmin, tmp_path: Path):
    storage = FilesystemStorage(tmp_path)
    old = snap(admin, storage, now_ms=NOW, retention_hours=1)
    fresh = snap(admin, storage, now_ms=NOW + 2 * HOUR, retention_hours=24)
    # a snapshot OSO wrote: no expiry of ours, not ours to delete
    storage.write("offset-snapshots/snap-oso/snapshot.json", b'{"snapshot_id": "snap-oso"}')
    storage.write("offset-snapshots/snap-oso/metadata.json", b'{"snapshot_id": "snap-oso"}')

    assert expire_snapshots(storage, now_ms=NOW + HOUR - 1) == []
    assert expire_snapshots(storage, now_ms=NOW + 3 * HOUR) == [old.snapshot_id]
    left = sorted(storage.list("offset-snapshots/"))
    assert left == sorted(
        [
            "offset-snapshots/snap-oso/metadata.json",
            "offset-snapshots/snap-oso/snapshot.json",
            f"offset-snapshots/{fresh.snapshot_id}/metadata.json",
            f"offset-snapshots/{fresh.snapshot_id}/snapshot.json",
        ]
    )
    assert expire_snapshots(storage, now_ms=NOW + 3 * HOUR) == []
    assert expire_snapshots(storage, now_ms=NOW + 26 * HOUR) == [fresh.snapshot_id]
