"""The Kafka broker (Tansu) restarted mid-unit, and down for longer than the retry budget.

Tansu's memory storage would lose the restored records on a restart, so the restart test runs it on
its S3 storage engine (moto): the log, the transactions and the units' checkpoints survive.
"""

from __future__ import annotations

import boto3
import pytest

from restore_jobs.jobs import state
from tests.reliability.scenario import Scenario

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow]

# Short Kafka timeouts so that an attempt against a dead broker fails in seconds.
FAST_FAILING = {"produceTimeoutMs": 2000, "circuitBreaker": {"operationTimeoutMs": 2000, "failureThreshold": 20}}


def _both_mid_way(job_id: str, per_unit: int) -> bool:
    units = state.get_units(job_id).values()
    return len(units) == 2 and all(0 < u.records < per_unit for u in units)


def test_broker_restart_mid_unit_retries_then_completes_exactly_once(make_rig, s3_endpoint, tmp_path, unique):
    bucket = f"tansu-{unique}".lower()
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    rig = make_rig(
        tansu_storage=f"s3://{bucket}/",
        tansu_env={"AWS_ENDPOINT": s3_endpoint, "AWS_ALLOW_HTTP": "true", "AWS_ACCESS_KEY_ID": "testing",
                   "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"},
    )
    rig.start_worker("w1", concurrency=2)
    scenario = Scenario.filesystem(tmp_path / "backups", unique, partitions=2, records=200)
    job_id = rig.submit(scenario.spec_file(tmp_path / "r.yaml", rig.bootstrap, records_per_sec=100, **FAST_FAILING))
    rig.wait_for("both units mid-way", lambda: _both_mid_way(job_id, 200))
    assert rig.tansu is not None
    rig.tansu.kill()  # SIGTERM lets Tansu finish the open requests first
    # Down long enough for a unit to fail its batch and back off; then the broker returns.
    rig.wait_for("a unit to retry", lambda: "transient error, retry in" in rig.worker_log("w1"))
    rig.tansu.start()

    status = rig.wait_ended(job_id, timeout=120)
    assert status["phase"] == "Completed", status["message"]
    assert scenario.assert_exact(rig.bootstrap) == 400
    assert status["recordsRestored"] == 400
    assert any(u.attempts for u in state.get_units(job_id).values())


def test_broker_down_past_retry_budget_fails_naming_the_servers(make_rig, tmp_path, unique):
    rig = make_rig(KAFKA_RESTORE_MAX_RETRIES="1")
    rig.start_worker("w1", concurrency=2)
    scenario = Scenario.filesystem(tmp_path / "backups", unique, partitions=1, records=400)
    job_id = rig.submit(scenario.spec_file(tmp_path / "r.yaml", rig.bootstrap, records_per_sec=100, **FAST_FAILING))
    rig.wait_for("the unit mid-way", lambda: 0 < rig.records_written(job_id) < 400)
    assert rig.tansu is not None
    rig.tansu.kill()

    status = rig.wait_ended(job_id, timeout=120)
    assert status["phase"] == "Failed"
    assert f"unit {unique}[0]" in status["message"]
    assert rig.bootstrap in status["message"], status["message"]
    unit = state.get_units(job_id)[f"{unique}[0]"]
    assert unit.phase == "Failed" and unit.attempts == 2  # the first try and one retry
