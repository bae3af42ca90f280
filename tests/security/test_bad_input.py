"""Bad input through the whole system (CLI -> Redis -> Celery worker -> Tansu): every job ends
Failed with a message naming the object and the problem, and writes nothing to the target.

Product behaviour these pin down: ``prepare`` checks that every planned segment exists and has the
length the manifest recorded before anything is written (``restore.plan.check_segments``), and a
unit checks a segment's CRC before producing any of its records. Damage found mid-partition leaves
the batches committed before it (exactly once, never partial batches); with
``rollback.autoRollbackOnFailure`` the topics the job created are deleted again.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import boto3
import pytest

from restore_jobs import embedded
from restore_jobs.backup.manifest import dump_manifest, load_manifest
from restore_jobs.backup.sample import SampleBackup, write_sample_backup
from restore_jobs.backup.segment import read_segment
from restore_jobs.jobs import api
from restore_jobs.kafka.factory import open_admin
from restore_jobs.storage.filesystem import FilesystemStorage
from tests.e2e.conftest import run_cli
from tests.e2e.test_restore_e2e import restore_yaml
from tests.helpers import cluster, committed_log
from tests.security.checks import assert_nothing_written, full_logs
from tests.security.conftest import random_secret, write_secret

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def fs_storage(root: Path) -> dict:
    return {"storageType": "filesystem", "filesystem": {"path": str(root)}}


def submit(env: dict[str, str], spec_file: Path, phase: str = "Failed") -> dict:
    result = run_cli(env, "submit", str(spec_file), "--wait", "--json", timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    status = json.loads(result.stdout)
    assert status["phase"] == phase, status
    assert status["message"] in result.stderr  # the CLI's one-line error repeats it
    return status


@pytest.fixture
def watched_group(bootstrap: str, unique: str) -> dict[str, dict]:
    """A consumer group with a commit, named in the failing jobs' offsetReset: it must not move."""
    group, topic = f"{unique}-watched-group", f"{unique}-watched"
    admin = open_admin(cluster(bootstrap))
    try:
        admin.create_topics({topic: 1})
        admin.alter_offsets(group, {(topic, 0): 0})
        return {group: admin.committed(group)}
    finally:
        admin.close()


def failing_yaml(tmp_path: Path, unique: str, bootstrap: str, storage: dict, groups: dict, **spec) -> Path:
    reset = {"enabled": True, "strategy": "auto", "consumerGroups": sorted(groups)}
    return restore_yaml(tmp_path / "restore.yaml", f"bad-{unique}", bootstrap, storage, "b1",
                        offsetReset=reset, produceBatchSize=10, **spec)


def sample(root: Path, unique: str, partitions: int = 2, records: int = 50):
    return write_sample_backup(FilesystemStorage(root), "b1",
                               SampleBackup(topics={unique: partitions}, records_per_partition=records,
                                            segment_max_records=20))


def test_corrupt_first_segment_fails_before_any_record(sec_stack, sec_env, bootstrap, tmp_path, unique,
                                                        watched_group):
    root = tmp_path / "backups"
    key = sample(root, unique, partitions=1).topics[0].partitions[0].segments[0].key
    data = bytearray((root / key).read_bytes())
    data[40] ^= 0xFF
    (root / key).write_bytes(bytes(data))
    status = submit(sec_env, failing_yaml(tmp_path, unique, bootstrap, fs_storage(root), watched_group))
    assert f"segment {key}: CRC mismatch" in status["message"], status["message"]
    assert status["recordsRestored"] == 0
    assert_nothing_written(bootstrap, status["jobId"], [unique], watched_group)


@pytest.mark.parametrize("damage", ["truncated", "missing"])
def test_truncated_or_missing_segment_fails_in_prepare(damage, sec_stack, sec_env, bootstrap, tmp_path, unique,
                                                       watched_group):
    """The damaged segment is partition 1's last: without the preflight, partition 0 and the first
    segments of partition 1 would already be restored when the unit reaches it."""
    root = tmp_path / "backups"
    seg = sample(root, unique).topics[0].partitions[1].segments[-1]
    path = root / seg.key
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:-100])
        problem = f"is {seg.compressed_size - 100} bytes but the manifest records {seg.compressed_size}"
    else:
        path.unlink()
        problem = "is missing"
    status = submit(sec_env, failing_yaml(tmp_path, unique, bootstrap, fs_storage(root), watched_group))
    assert f"segment {path} {problem}" in status["message"], status["message"]
    assert "nothing was restored" in status["message"]
    admin = open_admin(cluster(bootstrap))
    try:
        assert unique not in admin.topics()  # not even created: prepare stopped first
    finally:
        admin.close()
    assert_nothing_written(bootstrap, status["jobId"], [unique], watched_group)


def test_manifest_that_does_not_parse(sec_stack, sec_env, bootstrap, tmp_path, unique, watched_group):
    root = tmp_path / "backups"
    sample(root, unique)
    (root / "b1" / "manifest.json").write_text('{"backup_id": "b1", "topics": [')
    status = submit(sec_env, failing_yaml(tmp_path, unique, bootstrap, fs_storage(root), watched_group))
    assert "b1/manifest.json: not valid JSON" in status["message"], status["message"]
    assert_nothing_written(bootstrap, status["jobId"], [unique], watched_group)


def test_manifest_contradicted_by_its_segment(sec_stack, sec_env, bootstrap, tmp_path, unique, watched_group):
    """The manifest places the segment at offsets 1000-1049; the records inside say 0-49."""
    root = tmp_path / "backups"
    storage = FilesystemStorage(root)
    manifest = write_sample_backup(storage, "b1", SampleBackup(topics={unique: 1}, records_per_partition=50,
                                                               segment_max_records=50))
    part = manifest.topics[0].partitions[0]
    seg = part.segments[0]
    part.segments[0] = replace(seg, start_offset=1000, end_offset=1049)
    storage.write("b1/manifest.json", dump_manifest(manifest))
    status = submit(sec_env, failing_yaml(tmp_path, unique, bootstrap, fs_storage(root), watched_group))
    assert f"segment {seg.key}: record offset 0 is outside the manifest's range 1000-1049" in status["message"]
    assert_nothing_written(bootstrap, status["jobId"], [unique], watched_group)


def test_backup_id_that_does_not_exist(sec_stack, sec_env, bootstrap, tmp_path, unique, watched_group):
    root = tmp_path / "backups"
    sample(root, unique)
    spec_file = failing_yaml(tmp_path, unique, bootstrap, fs_storage(root), watched_group)
    spec_file.write_text(spec_file.read_text().replace("backupId: b1", "backupId: no-such-backup"))
    status = submit(sec_env, spec_file)
    assert f"backup no-such-backup not found at {root}/no-such-backup/manifest.json" in status["message"]
    assert_nothing_written(bootstrap, status["jobId"], [unique], watched_group)


def test_unreachable_bootstrap_servers_fail_in_bounded_time(sec_stack, sec_env, tmp_path, unique):
    """A closed port: each attempt is bounded by circuitBreaker.operationTimeoutMs, and the breaker
    opens after failureThreshold consecutive failures."""
    root = tmp_path / "backups"
    sample(root, unique)
    closed = f"127.0.0.1:{embedded.free_port()}"
    spec_file = restore_yaml(tmp_path / "r.yaml", f"down-{unique}", closed, fs_storage(root), "b1",
                             circuitBreaker={"failureThreshold": 2, "operationTimeoutMs": 2000})
    started = time.monotonic()
    status = submit(sec_env, spec_file)
    elapsed = time.monotonic() - started
    assert f"list topics on {closed}" in status["message"], status["message"]
    assert "circuit breaker open after 2 consecutive failures" in status["message"]
    assert elapsed < 60, f"took {elapsed:.0f}s"  # liveness only: 2 attempts of 2 s plus a 1 s backoff


@pytest.mark.parametrize("missing", ["secret", "key"])
def test_missing_secret_or_key_is_named_never_its_value(missing, sec_stack, sec_env, secrets_root, s3_endpoint,
                                                        bootstrap, tmp_path, unique):
    bucket = f"bad-{unique}".lower()
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    name = f"s3-{unique}"
    present = random_secret("present-access-key")
    if missing == "key":
        write_secret(secrets_root, name, {"AWS_ACCESS_KEY_ID": present})
    storage = {"storageType": "s3", "s3": {"bucket": bucket, "endpoint": s3_endpoint, "allowHttp": True,
                                           "pathStyle": True, "credentialsSecret": {"name": name}}}
    status = submit(sec_env, restore_yaml(tmp_path / "r.yaml", f"nosecret-{unique}", bootstrap, storage, "b1"))
    if missing == "secret":
        assert f"secret {name}/AWS_ACCESS_KEY_ID: secret '{name}' not found under {secrets_root}" in status["message"]
    else:
        assert f"secret {name}/AWS_SECRET_ACCESS_KEY: key 'AWS_SECRET_ACCESS_KEY' not in secret '{name}'" in (
            status["message"])
    assert present not in json.dumps(api.get_status(status["jobId"]))
    assert present not in full_logs(sec_stack)


def test_corruption_mid_partition_keeps_committed_batches_or_rolls_back(sec_stack, sec_env, bootstrap, tmp_path,
                                                                       unique):
    """Segment 2 of 3 is damaged: segment 1's records (two committed batches of 10) stay, exactly
    once; with autoRollbackOnFailure the topic the job created is deleted."""
    root = tmp_path / "backups"
    storage = FilesystemStorage(root)
    manifest = write_sample_backup(storage, "b1", SampleBackup(topics={unique: 1}, records_per_partition=50,
                                                               segment_max_records=20))
    key = manifest.topics[0].partitions[0].segments[1].key
    data = bytearray((root / key).read_bytes())
    data[40] ^= 0xFF
    (root / key).write_bytes(bytes(data))

    kept = restore_yaml(tmp_path / "kept.yaml", f"mid-{unique}", bootstrap, fs_storage(root), "b1",
                        produceBatchSize=10)
    status = submit(sec_env, kept)
    assert f"segment {key}: CRC mismatch" in status["message"]
    restored = committed_log(bootstrap, unique)[0]
    first_segment = manifest.topics[0].partitions[0].segments[0]
    assert [r.value for r in restored] == [
        r.value for r in load_records(storage, first_segment.key)
    ]
    assert status["recordsRestored"] == first_segment.record_count == 20

    target = f"{unique}-rb"
    rolled = restore_yaml(tmp_path / "rb.yaml", f"midrb-{unique}", bootstrap, fs_storage(root), "b1",
                          produceBatchSize=10, topicMapping={unique: target},
                          rollback={"snapshotBeforeRestore": True, "autoRollbackOnFailure": True})
    status = submit(sec_env, rolled, phase="RolledBack")
    assert f"segment {key}: CRC mismatch" in status["message"]
    assert "deleted 0 groups and 1 created topics" in status["message"], status["message"]
    admin = open_admin(cluster(bootstrap))
    try:
        assert target not in admin.topics()
    finally:
        admin.close()


def load_records(storage: FilesystemStorage, key: str) -> list:
    with storage.open(key) as f:
        return list(read_segment(f, key))


def test_sample_backups_record_each_segment_file_length(tmp_path):
    """Guards the fixtures above: a sample backup records each segment's file length, which the
    preflight compares with (OSO records the same: header + body + footer)."""
    root = tmp_path / "b"
    manifest = write_sample_backup(FilesystemStorage(root), "b1", SampleBackup(topics={"t": 1}))
    for seg in manifest.topics[0].partitions[0].segments:
        assert seg.compressed_size == (root / seg.key).stat().st_size > 0
    assert load_manifest(FilesystemStorage(root), "b1") == manifest
