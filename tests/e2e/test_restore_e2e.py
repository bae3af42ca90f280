"""A KafkaRestore through the whole system: CLI -> Redis -> two Celery workers -> Tansu."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from restore_jobs.backup.sample import SampleBackup, write_sample_backup
from restore_jobs.jobs import api, state
from restore_jobs.storage.filesystem import FilesystemStorage
from tests.e2e.conftest import run_cli
from tests.helpers import assert_restored, backup_records, consume_topic

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def fs_storage(root: Path) -> dict:
    """The spec storage of a backup in directory ``root``."""
    return {"storageType": "filesystem", "filesystem": {"path": str(root)}}


def restore_yaml(path: Path, name: str, bootstrap: str, storage: dict, backup_id: str, **spec) -> Path:
    doc = {
        "apiVersion": "kafka.oso.sh/v1alpha1",
        "kind": "KafkaRestore",
        "metadata": {"name": name},
        "spec": {
            "backupRef": {"name": "", "backupId": backup_id, "storage": storage},
            "kafkaCluster": {"bootstrapServers": [bootstrap]},
            "createTopics": True,
            **spec,
        },
    }
    path.write_text(yaml.safe_dump(doc))
    return path


def test_filesystem_backup_restored_through_workers(workers, job_env, bootstrap, tmp_path, unique):
    root = tmp_path / "backups"
    sample = SampleBackup(topics={f"{unique}-a": 4, f"{unique}-b": 4, f"{unique}-c": 4}, records_per_partition=300)
    write_sample_backup(FilesystemStorage(root), "b1", sample)
    mapping = {t: f"restored-{t}" for t in sample.topics}
    spec_file = restore_yaml(
        tmp_path / "restore.yaml", f"fs-{unique}", bootstrap,
        fs_storage(root), "b1", topicMapping=mapping,
    )
    result = run_cli(job_env, "submit", str(spec_file), "--wait", "--json")
    assert result.returncode == 0, result.stderr + workers.logs()[-5000:]
    status = json.loads(result.stdout)
    assert status["phase"] == "Completed"
    total = 0
    for topic, target in mapping.items():
        expected = backup_records(FilesystemStorage(root), "b1", topic)
        total += assert_restored(expected, consume_topic(bootstrap, target))
    assert status["recordsRestored"] == total == 3 * 4 * 300
    assert status["progressPercent"] == 100.0
    assert status["segmentsProcessed"] == sum(
        len(p.segments) for t in api_manifest(root, "b1").topics for p in t.partitions
    )
    # The offset mapping was written beside the backup and its path reported.
    assert Path(status["offsetMappingPath"]).exists()


def api_manifest(root: Path, backup_id: str):
    from restore_jobs.backup.manifest import load_manifest

    return load_manifest(FilesystemStorage(root), backup_id)


def test_units_run_in_parallel_across_workers(workers, job_env, bootstrap, tmp_path, unique):
    root = tmp_path / "backups"
    sample = SampleBackup(topics={f"{unique}-p": 8}, records_per_partition=1500, segment_max_records=500)
    write_sample_backup(FilesystemStorage(root), "b1", sample)
    spec_file = restore_yaml(
        tmp_path / "restore.yaml", f"par-{unique}", bootstrap,
        fs_storage(root), "b1", produceBatchSize=100,
    )
    result = run_cli(job_env, "submit", str(spec_file), "--wait", "--json")
    assert result.returncode == 0, result.stderr
    job_id = json.loads(result.stdout)["jobId"]
    units = state.get_units(job_id)
    assert len(units) == 8 and all(u.phase == "Completed" for u in units.values())
    workers_used = {u.worker.split("@")[0] for u in units.values()}
    assert workers_used == {"w1", "w2"}, workers_used
    windows = sorted((u.started, u.finished, u.worker) for u in units.values())
    overlapping = [
        (a, b) for i, a in enumerate(windows) for b in windows[i + 1:]
        if b[0] < a[1] and a[2] != b[2]
    ]
    assert overlapping, f"no two units on different workers overlapped: {windows}"


def test_resubmitting_the_same_file_attaches_to_the_same_job(workers, job_env, bootstrap, tmp_path, unique):
    root = tmp_path / "backups"
    write_sample_backup(FilesystemStorage(root), "b1", SampleBackup(topics={unique: 1}, records_per_partition=20))
    spec_file = restore_yaml(
        tmp_path / "r.yaml", f"same-{unique}", bootstrap,
        fs_storage(root), "b1",
    )
    first = run_cli(job_env, "submit", str(spec_file), "--wait", "--json")
    second = run_cli(job_env, "submit", str(spec_file), "--wait", "--json")
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert json.loads(first.stdout)["jobId"] == json.loads(second.stdout)["jobId"]
    assert sum(len(r) for r in consume_topic(bootstrap, unique).values()) == 20


def test_permanent_unit_failure_fails_the_job_with_its_error(workers, job_env, bootstrap, tmp_path, unique):
    root = tmp_path / "backups"
    storage = FilesystemStorage(root)
    manifest = write_sample_backup(storage, "b1", SampleBackup(topics={unique: 2}, records_per_partition=50))
    bad = manifest.topics[0].partitions[1].segments[0].key
    data = bytearray((root / bad).read_bytes())
    data[40] ^= 0xFF  # inside the compressed body: the CRC no longer matches
    (root / bad).write_bytes(bytes(data))
    spec_file = restore_yaml(
        tmp_path / "r.yaml", f"bad-{unique}", bootstrap,
        fs_storage(root), "b1",
    )
    result = run_cli(job_env, "submit", str(spec_file), "--wait", "--json")
    assert result.returncode == 1
    status = json.loads(result.stdout)
    assert status["phase"] == "Failed"
    assert f"unit {unique}[1]" in status["message"] and bad in status["message"]
    assert "CRC" in status["message"] or "crc" in status["message"]
    job = state.get_job(status["jobId"])
    assert "once:failure" in job  # the failure path ran
    assert "kafka-restore: job" in result.stderr.splitlines()[0]


def test_status_and_list_commands(workers, job_env, bootstrap, tmp_path, unique):
    root = tmp_path / "backups"
    write_sample_backup(FilesystemStorage(root), "b1", SampleBackup(topics={unique: 1}, records_per_partition=10))
    spec_file = restore_yaml(
        tmp_path / "r.yaml", f"st-{unique}", bootstrap,
        fs_storage(root), "b1",
    )
    job_id = json.loads(run_cli(job_env, "submit", str(spec_file), "--wait", "--json").stdout)["jobId"]
    status = run_cli(job_env, "status", job_id, "--json")
    assert status.returncode == 0 and json.loads(status.stdout)["recordsRestored"] == 10
    listed = run_cli(job_env, "list", "--json")
    assert job_id in [s["jobId"] for s in json.loads(listed.stdout)]
    missing = run_cli(job_env, "status", "no-such-job")
    assert missing.returncode == 1 and "not found" in missing.stderr
    assert api.get_status(job_id)["phase"] == "Completed"
    # An ended job's state expires from Redis, mapping chunks included.
    r = state.client()
    assert 0 < r.ttl(state.job_key(job_id)) <= state.JOB_RETENTION
    assert 0 < r.ttl(state.mapping_key(job_id, f"{unique}[0]")) <= state.JOB_RETENTION


def test_manual_submission_with_celery_call(workers, job_env, bootstrap, tmp_path, unique):
    import subprocess
    import sys
    import time

    from restore_jobs.jobs.submission import default_job_id
    from restore_jobs.spec import load_resource

    root = tmp_path / "backups"
    write_sample_backup(FilesystemStorage(root), "b1", SampleBackup(topics={unique: 2}, records_per_partition=15))
    spec_file = restore_yaml(
        tmp_path / "r.yaml", f"call-{unique}", bootstrap,
        fs_storage(root), "b1",
    )
    doc = yaml.safe_load(spec_file.read_text())
    called = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "workers", "call", "restore_jobs.submit", f"--args={json.dumps([doc])}"],
        env=job_env, capture_output=True, text=True, timeout=60,
    )
    assert called.returncode == 0, called.stderr
    job_id = default_job_id(load_resource(doc))
    deadline = time.monotonic() + 60
    while (api.get_status(job_id) or {}).get("phase") != "Completed" and time.monotonic() < deadline:
        time.sleep(0.3)
    assert api.get_status(job_id)["recordsRestored"] == 30
    assert_restored(backup_records(FilesystemStorage(root), "b1", unique), consume_topic(bootstrap, unique))
