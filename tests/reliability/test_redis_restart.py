"""The Redis server (Celery broker, result backend and job state) restarted mid-job.

With persistence (append-only file) nothing is lost: workers reconnect and the job completes.
Without it the job's state and queued tasks are gone: the running units notice at their next batch
and stop, whoever follows the job is told to submit it again, and the resubmission completes from
the units' Kafka checkpoints without writing anything twice.
"""

from __future__ import annotations

import json

import pytest
import redis

from restore_jobs.jobs import state
from tests.helpers import committed_log
from tests.reliability.scenario import Scenario

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow]


def _run_id(port: int) -> str:
    return redis.Redis(port=port).info("server")["run_id"]


def _both_mid_way(job_id: str) -> bool:
    units = state.get_units(job_id).values()
    return len(units) == 2 and all(0 < u.records < 300 for u in units)


def test_restart_with_persistence_job_completes(make_rig, bootstrap, tmp_path, unique):
    rig = make_rig(bootstrap=bootstrap, valkey_args=("--appendonly", "yes", "--appendfsync", "always"))
    rig.start_worker("w1", concurrency=2)
    scenario = Scenario.filesystem(tmp_path / "backups", unique, partitions=2, records=300)
    job_id = rig.submit(scenario.spec_file(tmp_path / "r.yaml", bootstrap, records_per_sec=150))
    rig.wait_for("units mid-way", lambda: 0 < rig.records_written(job_id) < 300)
    before = _run_id(rig.valkey.port)
    rig.valkey.restart()
    assert _run_id(rig.valkey.port) != before

    status = rig.wait_ended(job_id)
    assert status["phase"] == "Completed", status["message"]
    assert scenario.assert_exact(rig.bootstrap) == 600
    assert status["recordsRestored"] == 600


def test_restart_without_persistence_fails_clearly_and_resubmission_completes_exactly_once(
    make_rig, bootstrap, tmp_path, unique,
):
    rig = make_rig(bootstrap=bootstrap)
    rig.start_worker("w1", concurrency=2)
    scenario = Scenario.filesystem(tmp_path / "backups", unique, partitions=2, records=300)
    spec_file = scenario.spec_file(tmp_path / "r.yaml", bootstrap, records_per_sec=150)
    follower = rig.submit_and_wait(spec_file)
    job_id = rig.wait_for("the job", lambda: next(iter(state.list_jobs()), None))
    rig.wait_for("both units mid-way", lambda: _both_mid_way(job_id))
    rig.valkey.restart()  # no persistence: Redis comes back empty

    out, err = follower.communicate(timeout=60)
    assert follower.returncode == 1, out + err
    lost = json.loads(out)
    assert lost["phase"] == "Failed"
    assert "no longer in the job store" in lost["message"] and "submit it again" in lost["message"]
    rig.wait_for("the running units to stop", lambda: rig.worker_log("w1").count("unit stopped") == 2)
    assert state.status_dict(job_id) is None
    written_before = sum(len(r) for r in committed_log(rig.bootstrap, scenario.topic).values())
    assert 0 < written_before < 600

    again = rig.submit(spec_file)
    assert again == job_id
    status = rig.wait_ended(job_id)
    assert status["phase"] == "Completed", status["message"]
    assert scenario.assert_exact(rig.bootstrap) == 600
    assert status["recordsRestored"] == 600
    assert rig.worker_log("w1").count("resuming unit at source offset") == 2
