"""The job system's promises through real workers: S3 backups, retries of transient failures,
cancellation, Flower, job-wide rate limits and partition concurrency."""

from __future__ import annotations

import itertools
import json
import time
import urllib.request

import boto3
import pytest

from restore_jobs.backup.sample import SampleBackup, write_sample_backup
from restore_jobs.jobs import api, state
from restore_jobs.storage.filesystem import FilesystemStorage
from restore_jobs.storage.s3 import S3Storage
from tests.e2e.conftest import run_cli
from tests.e2e.test_restore_e2e import fs_storage, restore_yaml
from tests.fakes.flaky_proxy import FlakyProxy
from tests.fakes.polling import eventually
from tests.helpers import assert_restored, backup_records, committed_log, consume_topic

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def s3_backup(endpoint: str, secrets_dir, bucket: str, sample: SampleBackup) -> tuple[S3Storage, dict]:
    """A backup in a fresh bucket, and the spec storage that reads it with a credentials secret."""
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    store = S3Storage(bucket, prefix="prod", region="us-east-1", endpoint=endpoint, path_style=True, allow_http=True)
    write_sample_backup(store, "b1", sample)
    secret = secrets_dir / f"{bucket}-creds"
    secret.mkdir()
    (secret / "AWS_ACCESS_KEY_ID").write_text("testing")
    (secret / "AWS_SECRET_ACCESS_KEY").write_text("testing")
    return store, {
        "storageType": "s3",
        "s3": {
            "bucket": bucket, "region": "us-east-1", "prefix": "prod", "endpoint": endpoint,
            "pathStyle": True, "allowHttp": True, "credentialsSecret": {"name": f"{bucket}-creds"},
        },
    }


def test_s3_backup_of_three_topics_by_four_partitions(workers, job_env, bootstrap, tmp_path, unique, s3_endpoint,
                                                       secrets_dir):
    topics = {f"{unique}-{t}": 4 for t in "xyz"}
    store, storage = s3_backup(s3_endpoint, secrets_dir, unique, SampleBackup(topics=topics, records_per_partition=80))
    spec_file = restore_yaml(tmp_path / "r.yaml", f"s3-{unique}", bootstrap, storage, "b1")
    result = run_cli(job_env, "submit", str(spec_file), "--wait", "--json")
    assert result.returncode == 0, result.stderr + workers.logs()[-3000:]
    assert json.loads(result.stdout)["recordsRestored"] == 3 * 4 * 80
    for topic in topics:
        assert_restored(backup_records(store, "b1", topic), consume_topic(bootstrap, topic))
    assert json.loads(result.stdout)["offsetMappingPath"].startswith(f"s3://{unique}/prod/b1/restores/")


def test_transient_storage_failure_is_retried_and_the_job_completes(workers, job_env, bootstrap, tmp_path, unique,
                                                                      s3_endpoint, secrets_dir):
    proxy = FlakyProxy(s3_endpoint).start()
    try:
        store, storage = s3_backup(proxy.url, secrets_dir, unique, SampleBackup(topics={unique: 2},
                                                                                 records_per_partition=60))
        # More 503s on one segment than botocore's own attempts (3 here) absorb: the unit must retry.
        proxy.fail(rf"/{unique}/prod/b1/topics/{unique}/partition=1/segment-", times=5, status=503)
        spec_file = restore_yaml(tmp_path / "r.yaml", f"retry-{unique}", bootstrap, storage, "b1")
        result = run_cli(job_env, "submit", str(spec_file), "--wait", "--json")
    finally:
        proxy.stop()
    assert result.returncode == 0, result.stderr + workers.logs()[-3000:]
    status = json.loads(result.stdout)
    assert proxy.injected == 5
    assert state.get_unit(status["jobId"], f"{unique}[1]").attempts >= 1  # a Celery-level retry happened
    assert_restored(backup_records(store, "b1", unique), committed_log(bootstrap, unique))


def slow_job(tmp_path, bootstrap, unique, records_per_sec: int, partitions: int = 4, n: int = 400, **spec):
    root = tmp_path / "backups"
    write_sample_backup(FilesystemStorage(root), "b1",
                        SampleBackup(topics={unique: partitions}, records_per_partition=n))
    return restore_yaml(
        tmp_path / "r.yaml", f"slow-{unique}", bootstrap, fs_storage(root), "b1",
        produceBatchSize=50, rateLimiting={"recordsPerSec": records_per_sec, "maxConcurrentPartitions": 0}, **spec,
    ), root


def test_cancel_stops_a_running_job_and_no_unit_keeps_writing(workers, job_env, bootstrap, tmp_path, unique):
    spec_file, _ = slow_job(tmp_path, bootstrap, unique, records_per_sec=200)
    job_id = run_cli(job_env, "submit", str(spec_file)).stdout.strip()
    eventually(lambda: (api.get_status(job_id) or {}).get("recordsRestored", 0) >= 100, timeout=60)
    result = run_cli(job_env, "cancel", job_id)
    assert result.returncode == 0, result.stderr
    assert api.get_status(job_id)["phase"] == "Cancelled"
    eventually(lambda: not any(u.phase == "Running" for u in state.get_units(job_id).values()), timeout=60)
    written = sum(len(r) for r in committed_log(bootstrap, unique).values())
    time.sleep(2)
    assert sum(len(r) for r in committed_log(bootstrap, unique).values()) == written
    assert written < 1600
    again = run_cli(job_env, "cancel", job_id)
    assert again.returncode == 1 and "already Cancelled" in again.stderr


def test_flower_lists_the_jobs_tasks_with_readable_names(workers, job_env, bootstrap, tmp_path, unique):
    url = workers.flower_url or workers.start_flower()
    root = tmp_path / "backups"
    write_sample_backup(FilesystemStorage(root), "b1", SampleBackup(topics={unique: 2}, records_per_partition=20))
    spec_file = restore_yaml(tmp_path / "r.yaml", f"fl-{unique}", bootstrap, fs_storage(root), "b1")
    job_id = json.loads(run_cli(job_env, "submit", str(spec_file), "--wait", "--json").stdout)["jobId"]

    def names():
        with urllib.request.urlopen(f"{url}/api/tasks?limit=1000", timeout=10) as resp:
            tasks = json.load(resp)
        return {t["name"] for tid, t in tasks.items() if tid.startswith(job_id)}

    expected = {"restore_jobs.prepare", f"restore_partition {unique}[0]", f"restore_partition {unique}[1]",
                "restore_jobs.finalize"}
    eventually(lambda: expected <= names(), timeout=30, interval=0.2, what=f"Flower to list {sorted(expected)}")


def test_job_wide_records_per_second_holds_across_two_workers(workers, job_env, bootstrap, tmp_path, unique):
    # 4 partitions x 500 records at 1,000 records/s for the whole job: about 2 s of throttled work.
    spec_file, _ = slow_job(tmp_path, bootstrap, unique, records_per_sec=1000, n=500)
    result = run_cli(job_env, "submit", str(spec_file), "--wait", "--json")
    assert result.returncode == 0, result.stderr
    job_id = json.loads(result.stdout)["jobId"]
    units = state.get_units(job_id).values()
    assert len({u.worker for u in units}) == 2  # shared by both workers
    elapsed = max(u.finished for u in units) - min(u.started for u in units)
    implied = 2000 / 1000
    assert implied * 0.8 <= elapsed <= implied * 1.2 + 1.0, elapsed


def test_max_concurrent_partitions_one_never_overlaps_units(workers, job_env, bootstrap, tmp_path, unique):
    """About 2 s per unit: the last unit waits for a slot 4 times or more, past Celery's default
    cap of 3 retries, which must not apply."""
    root = tmp_path / "backups"
    write_sample_backup(FilesystemStorage(root), "b1", SampleBackup(topics={unique: 5}, records_per_partition=150))
    spec_file = restore_yaml(
        tmp_path / "r.yaml", f"mcp-{unique}", bootstrap, fs_storage(root), "b1", produceBatchSize=30,
        rateLimiting={"maxConcurrentPartitions": 1, "recordsPerSec": 75},
    )
    result = run_cli(job_env, "submit", str(spec_file), "--wait", "--json")
    assert result.returncode == 0, result.stderr
    windows = sorted((u.started, u.finished) for u in state.get_units(json.loads(result.stdout)["jobId"]).values())
    assert len(windows) == 5
    for (_, end), (start, _) in itertools.pairwise(windows):
        assert start >= end, windows


def test_submit_wait_that_times_out_is_not_success(workers, job_env, bootstrap, tmp_path, unique):
    spec_file, _ = slow_job(tmp_path, bootstrap, unique, records_per_sec=100, partitions=1, n=300)
    result = run_cli(job_env, "submit", str(spec_file), "--wait", "--timeout", "1", "--json")
    assert result.returncode == 1
    first = result.stderr.splitlines()[0]
    assert "still" in first and "kafka-restore status" in first, first
    job_id = json.loads(result.stdout)["jobId"]
    assert api.cancel(job_id)
