"""Workers dying mid-restore: a pool process SIGKILLed, and a whole worker (main process and pool)
SIGKILLed as when its node dies. Either way the job completes with the target exact."""

from __future__ import annotations

import os
import signal
import time

import pytest

from restore_jobs.jobs import state
from tests.reliability.conftest import VISIBILITY_TIMEOUT
from tests.reliability.scenario import Scenario

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow]


def test_pool_process_killed_mid_unit_is_redelivered_and_resumes(make_rig, bootstrap, tmp_path, unique):
    """acks_late + task_reject_on_worker_lost: the worker requeues the unit at once (no beat, no
    watchdog here), and the new run resumes from the Kafka checkpoint."""
    rig = make_rig(bootstrap=bootstrap)
    rig.start_worker("w1", concurrency=2)
    scenario = Scenario.filesystem(tmp_path / "backups", unique, partitions=2, records=300)
    job_id = rig.submit(scenario.spec_file(tmp_path / "r.yaml", bootstrap, records_per_sec=150))
    rig.wait_for("both units mid-way", lambda: all(
        0 < u.records < 300 for u in state.get_units(job_id).values()) and len(state.get_units(job_id)) == 2)
    pool = rig.pool_children("w1")
    assert pool, "no pool process found"
    for pid in pool:
        os.kill(pid, signal.SIGKILL)
    killed_at = rig.records_written(job_id)

    status = rig.wait_ended(job_id)
    assert status["phase"] == "Completed", status["message"]
    assert scenario.assert_exact(rig.bootstrap) == 600
    assert status["recordsRestored"] == 600
    log = rig.worker_log("w1")
    assert "signal 9 (SIGKILL)" in log
    resumed = [line for line in log.splitlines() if "resuming unit at source offset" in line]
    assert resumed, "no unit resumed from its checkpoint"
    assert 0 < killed_at < 600


def test_whole_worker_killed_units_resent_by_watchdog_long_before_visibility_timeout(
    make_rig, bootstrap, tmp_path, unique,
):
    """A node dies with a running unit and a unit it had received but not started (waiting for a
    concurrency slot: Pending, no progress). Redis would give both back only after the visibility
    timeout; the watchdog on the surviving worker re-sends both within a few lease periods."""
    lost_after = 3.0
    rig = make_rig(bootstrap=bootstrap, KAFKA_RESTORE_UNIT_LOST_AFTER=str(lost_after))
    rig.start_worker("w1", concurrency=2)
    scenario = Scenario.filesystem(tmp_path / "backups", unique, partitions=2, records=300)
    spec = scenario.spec_file(
        tmp_path / "r.yaml", bootstrap, rateLimiting={"recordsPerSec": 100, "maxConcurrentPartitions": 1},
    )
    job_id = rig.submit(spec)

    def one_running_one_held() -> bool:
        units = state.get_units(job_id)
        leases = state.get_leases(job_id)
        phases = sorted(u.phase for u in units.values())
        running = [n for n, u in units.items() if u.phase == "Running" and u.records > 0]
        return phases == ["Pending", "Running"] and bool(running) and set(units) <= set(leases)

    rig.wait_for("one unit running, the other held by w1 waiting for a slot", one_running_one_held)
    before = state.get_units(job_id)
    held = next(n for n, u in before.items() if u.phase == "Pending")
    rig.stack.kill("w1")
    killed = time.monotonic()
    written_at_kill = rig.records_written(job_id)
    rig.start_worker("w2", concurrency=2, beat=True)

    status = rig.wait_ended(job_id, timeout=120)
    elapsed = time.monotonic() - killed
    assert status["phase"] == "Completed", status["message"]
    assert scenario.assert_exact(rig.bootstrap) == 600
    units = state.get_units(job_id)
    assert all(u.worker.startswith("w2@") for u in units.values()), {n: u.worker for n, u in units.items()}
    log = rig.worker_log("w2")
    assert log.count("unit lost with its worker") >= 2, log[-4000:]
    assert f"{held}" in log
    # What was left after the kill takes (600 - written) / 100 s at the job's rate; on top of that only
    # the worker start and about one lease period, nothing that grows with the unit's length.
    remaining_work = (600 - written_at_kill) / 100
    assert elapsed < remaining_work + lost_after + 30, (elapsed, remaining_work)
    assert elapsed < VISIBILITY_TIMEOUT / 20
