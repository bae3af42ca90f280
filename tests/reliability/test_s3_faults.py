"""S3 answering 500, 503 SlowDown or nothing, injected at the HTTP level between the workers and
moto's S3 server. Short errors are retried (by botocore, then by the unit from its checkpoint) and
the restore is exact; an outage longer than the retry budget fails the job naming the object."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from restore_jobs.storage.s3 import S3Storage
from tests.fakes.flaky_proxy import FlakyProxy
from tests.reliability.conftest import write_secret
from tests.reliability.scenario import BACKUP_ID, Scenario

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow]

SEGMENTS = r"/segment-"
# Three attempts per request in botocore, one retry of the unit: a budget a test can exhaust.
SMALL_BUDGET = {"AWS_MAX_ATTEMPTS": "3", "KAFKA_RESTORE_MAX_RETRIES": "2"}


@pytest.fixture
def proxy(s3_endpoint: str) -> Iterator[FlakyProxy]:
    p = FlakyProxy(s3_endpoint).start()
    yield p
    p.stop()


def s3_scenario(s3_endpoint: str, proxy: FlakyProxy, secrets_dir: Path, unique: str, records: int) -> Scenario:
    """The backup in a fresh bucket; workers reach it through the proxy with credentials from a secret."""
    bucket = f"rel-{unique}".lower()
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    write_secret(secrets_dir, "backup-s3", {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
    spec = {
        "storageType": "s3",
        "s3": {"bucket": bucket, "region": "us-east-1", "endpoint": proxy.url, "pathStyle": True, "allowHttp": True,
               "credentialsSecret": {"name": "backup-s3"}},
    }
    storage = S3Storage(bucket, region="us-east-1", endpoint=s3_endpoint, path_style=True, allow_http=True)
    return Scenario.write(unique, storage, spec, partitions=2, records=records)


def _mid_way(rig, job_id: str, total: int) -> bool:
    return 0 < rig.records_written(job_id) < total // 2


def test_s3_errors_and_throttling_for_a_while_restore_exact(
    make_rig, bootstrap, s3_endpoint, proxy, secrets_dir, tmp_path, unique,
):
    rig = make_rig(bootstrap=bootstrap, **SMALL_BUDGET)
    rig.start_worker("w1", concurrency=2)
    scenario = s3_scenario(s3_endpoint, proxy, secrets_dir, unique, records=300)
    job_id = rig.submit(scenario.spec_file(tmp_path / "r.yaml", bootstrap, records_per_sec=200))
    rig.wait_for("the restore under way", lambda: _mid_way(rig, job_id, 600))
    proxy.fail(SEGMENTS, 3, status=500)
    proxy.fail(SEGMENTS, 3, status=503)  # SlowDown: throttling
    proxy.fail(SEGMENTS, 1, status=0)  # connection dropped

    status = rig.wait_ended(job_id)
    assert status["phase"] == "Completed", status["message"]
    assert proxy.injected == 7
    assert scenario.assert_exact(bootstrap) == 600
    assert status["recordsRestored"] == 600
    assert "transient error, retry in" in rig.worker_log("w1")  # more than botocore alone absorbed


def test_s3_outage_past_retry_budget_fails_naming_the_key(
    make_rig, bootstrap, s3_endpoint, proxy, secrets_dir, tmp_path, unique,
):
    rig = make_rig(bootstrap=bootstrap, **SMALL_BUDGET)
    rig.start_worker("w1", concurrency=2)
    scenario = s3_scenario(s3_endpoint, proxy, secrets_dir, unique, records=300)
    job_id = rig.submit(scenario.spec_file(tmp_path / "r.yaml", bootstrap, records_per_sec=200))
    rig.wait_for("the restore under way", lambda: _mid_way(rig, job_id, 600))
    proxy.fail(SEGMENTS, 10**6, status=503)

    status = rig.wait_ended(job_id)
    assert status["phase"] == "Failed"
    bucket = scenario.storage_spec["s3"]["bucket"]
    assert f"s3://{bucket}/{BACKUP_ID}/topics/{unique}/partition=" in status["message"], status["message"]
    assert "SlowDown" in status["message"] and "testing" not in status["message"]
