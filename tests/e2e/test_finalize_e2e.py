"""Consumer-group offsets, rollback snapshots and rollback through the full Celery path (issue 7).

Expected offsets are computed independently of the finalizer: from the target records' own
x-original-offset headers, the position where a group must resume is the first restored record at
or after its committed source offset."""

from __future__ import annotations

import json
import struct
import time

import pytest

from restore_jobs.backup.sample import SampleBackup, write_sample_backup
from restore_jobs.finalize.snapshot import take_snapshot
from restore_jobs.jobs import api, state, tasks
from restore_jobs.kafka.factory import open_admin
from restore_jobs.storage.filesystem import FilesystemStorage
from tests.e2e.conftest import run_cli
from tests.e2e.test_restore_e2e import fs_storage, restore_yaml
from tests.helpers import cluster, committed_log

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def source_offset(record) -> int:
    value = dict(record.headers)["x-original-offset"]
    return struct.unpack("<q", value)[0]


def expected_resume(bootstrap: str, topic: str, partition: int, committed_source: int) -> int:
    records = committed_log(bootstrap, topic)[partition]
    later = [r.offset for r in records if source_offset(r) >= committed_source]
    return min(later) if later else records[-1].offset + 1


def committed(bootstrap: str, group: str) -> dict[tuple[str, int], int]:
    admin = open_admin(cluster(bootstrap))
    try:
        return {tp: c.offset for tp, c in admin.committed(group).items()}
    finally:
        admin.close()


def submit(job_env, spec_file) -> dict:
    result = run_cli(job_env, "submit", str(spec_file), "--wait", "--json")
    status = json.loads(result.stdout)
    assert (result.returncode == 0) == (status["phase"] == "Completed"), result.stderr
    return status


def test_auto_reset_commits_translated_offsets(workers, job_env, bootstrap, tmp_path, unique):
    group = f"g-{unique}"
    root = tmp_path / "b"
    sample = SampleBackup(topics={unique: 2}, records_per_partition=60,
                          groups={group: {(unique, 0): 25, (unique, 1): 60}})
    write_sample_backup(FilesystemStorage(root), "b1", sample)
    spec = restore_yaml(tmp_path / "r.yaml", f"auto-{unique}", bootstrap, fs_storage(root), "b1", produceBatchSize=7,
                        offsetReset={"enabled": True, "consumerGroups": [group], "strategy": "auto"})
    status = submit(job_env, spec)
    assert status["phase"] == "Completed", status
    got = committed(bootstrap, group)
    assert got == {
        (unique, 0): expected_resume(bootstrap, unique, 0, 25),
        (unique, 1): expected_resume(bootstrap, unique, 1, 60),  # all consumed: after the last record
    }
    assert got[(unique, 0)] > 25  # transaction markers shift target offsets past the source ones


def test_auto_reset_with_topic_and_partition_mapping_and_a_time_window(workers, job_env, bootstrap, tmp_path,
                                                                         unique):
    group = f"g-{unique}"
    target = f"{unique}-restored"
    root = tmp_path / "b"
    sample = SampleBackup(topics={unique: 2}, records_per_partition=80,
                          groups={group: {(unique, 0): 30, (unique, 1): 50}})
    write_sample_backup(FilesystemStorage(root), "b1", sample)
    start, end = sample.base_timestamp + 20 * sample.step_ms, sample.base_timestamp + 70 * sample.step_ms
    spec = restore_yaml(
        tmp_path / "r.yaml", f"map-{unique}", bootstrap, fs_storage(root), "b1", produceBatchSize=9,
        topicMapping={unique: target}, partitionMapping={0: 1, 1: 0},
        pitr={"startTimestamp": start, "endTimestamp": end},
        offsetReset={"enabled": True, "consumerGroups": [group], "strategy": "auto"},
    )
    assert submit(job_env, spec)["phase"] == "Completed"
    assert committed(bootstrap, group) == {
        (target, 1): expected_resume(bootstrap, target, 1, 30),
        (target, 0): expected_resume(bootstrap, target, 0, 50),
    }


def test_manual_writes_a_plan_and_changes_no_group(workers, job_env, bootstrap, tmp_path, unique):
    group = f"g-{unique}"
    root = tmp_path / "b"
    write_sample_backup(FilesystemStorage(root), "b1", SampleBackup(topics={unique: 1}, records_per_partition=40,
                                                                    groups={group: {(unique, 0): 10}}))
    spec = restore_yaml(tmp_path / "r.yaml", f"man-{unique}", bootstrap, fs_storage(root), "b1",
                        offsetReset={"enabled": True, "consumerGroups": [group], "strategy": "manual"})
    assert submit(job_env, spec)["phase"] == "Completed"
    assert committed(bootstrap, group) == {}
    plan = json.loads((root / "b1" / "offset-reset-plan.json").read_text())
    text = json.dumps(plan)
    assert group in text and str(expected_resume(bootstrap, unique, 0, 10)) in text
    script = (root / "b1" / "offset-reset.sh").read_text()
    assert f"--group {group}" in script and f"--to-offset {expected_resume(bootstrap, unique, 0, 10)}" in script


def test_dry_run_strategy_changes_nothing_anywhere(workers, job_env, bootstrap, tmp_path, unique):
    group = f"g-{unique}"
    root = tmp_path / "b"
    write_sample_backup(FilesystemStorage(root), "b1", SampleBackup(topics={unique: 1}, records_per_partition=20,
                                                                    groups={group: {(unique, 0): 10}}))
    spec = restore_yaml(tmp_path / "r.yaml", f"dry-{unique}", bootstrap, fs_storage(root), "b1",
                        offsetReset={"enabled": True, "consumerGroups": [group], "strategy": "dry_run"})
    status = submit(job_env, spec)
    assert status["phase"] == "Completed"
    assert committed(bootstrap, group) == {}
    assert not (root / "b1" / "offset-reset-plan.json").exists()
    assert group in status["message"]  # the plan is reported in the status


def _prepared_target(bootstrap: str, existing: str, group: str) -> None:
    """A pre-existing target topic with records, and a group with commits on it."""
    admin = open_admin(cluster(bootstrap))
    try:
        admin.create_topics({existing: 1})
        admin.alter_offsets(group, {(existing, 0): 7})
    finally:
        admin.close()


def test_failure_with_auto_rollback_restores_offsets_and_drops_created_topics(workers, job_env, bootstrap, tmp_path,
                                                                              unique):
    group, existing, created = f"g-{unique}", f"{unique}-existing", f"{unique}-created"
    _prepared_target(bootstrap, existing, group)
    root = tmp_path / "b"
    storage = FilesystemStorage(root)
    manifest = write_sample_backup(storage, "b1", SampleBackup(topics={existing: 1, created: 2},
                                                               records_per_partition=120))
    # Corrupt a late segment of one partition: the other partitions restore, this one fails mid-way.
    bad = next(t for t in manifest.topics if t.name == created).partitions[1].segments[2].key
    data = bytearray((root / bad).read_bytes())
    data[40] ^= 0xFF
    (root / bad).write_bytes(bytes(data))
    spec = restore_yaml(
        tmp_path / "r.yaml", f"rb-{unique}", bootstrap, fs_storage(root), "b1", produceBatchSize=10,
        offsetReset={"enabled": True, "consumerGroups": [group], "strategy": "auto"},
        rollback={"autoRollbackOnFailure": True},
    )
    status = submit(job_env, spec)
    assert status["phase"] == "RolledBack", status
    assert bad in status["message"] and "rolled back" in status["message"]
    assert "cannot be removed" in status["message"] or existing in status["message"]
    assert committed(bootstrap, group) == {(existing, 0): 7}
    admin = open_admin(cluster(bootstrap))
    try:
        topics = admin.topics()
    finally:
        admin.close()
    assert created not in topics and existing in topics
    assert status["rollback"]["rollbackAvailable"] is False


def test_rollback_on_demand_undoes_a_completed_restore(workers, job_env, bootstrap, tmp_path, unique):
    group, existing, created = f"g-{unique}", f"{unique}-existing", f"{unique}-created"
    _prepared_target(bootstrap, existing, group)
    root = tmp_path / "b"
    write_sample_backup(FilesystemStorage(root), "b1", SampleBackup(
        topics={existing: 1, created: 1}, records_per_partition=30, groups={group: {(existing, 0): 20}}))
    spec = restore_yaml(tmp_path / "r.yaml", f"rbd-{unique}", bootstrap, fs_storage(root), "b1",
                        offsetReset={"enabled": True, "consumerGroups": [group], "strategy": "auto"})
    status = submit(job_env, spec)
    assert status["phase"] == "Completed" and status["rollback"]["rollbackAvailable"] is True
    assert committed(bootstrap, group) != {(existing, 0): 7}
    result = run_cli(job_env, "rollback", status["jobId"], "--wait")
    assert result.returncode == 0, result.stderr
    after = api.get_status(status["jobId"])
    assert after["phase"] == "RolledBack"
    assert committed(bootstrap, group) == {(existing, 0): 7}
    admin = open_admin(cluster(bootstrap))
    try:
        assert created not in admin.topics() and existing in admin.topics()
    finally:
        admin.close()


def test_snapshot_expiry_deletes_old_snapshots_and_keeps_fresh_ones(workers, job_env, bootstrap, tmp_path, unique):
    root = tmp_path / "b"
    storage = FilesystemStorage(root)
    write_sample_backup(storage, "b1", SampleBackup(topics={unique: 1}, records_per_partition=5))
    spec = restore_yaml(tmp_path / "r.yaml", f"exp-{unique}", bootstrap, fs_storage(root), "b1")
    status = submit(job_env, spec)
    fresh = status["rollback"]["snapshotId"]
    admin = open_admin(cluster(bootstrap))
    try:
        old = take_snapshot(admin, storage, job_id="old", groups=[], target_partitions=[], topics_created=[],
                            retention_hours=1, now_ms=int(time.time() * 1000) - 2 * 3600 * 1000)
    finally:
        admin.close()
    removed = tasks.expire_snapshots.apply_async(queue="control").get(timeout=60)
    assert any(old.snapshot_id in r for r in removed["removed"])
    remaining = " ".join(storage.list("offset-snapshots"))
    assert fresh in remaining and old.snapshot_id not in remaining
    assert state.get_job(status["jobId"])["snapshot_id"] == fresh
