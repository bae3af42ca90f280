"""Job state on a real valkey: the per-batch check-in, phase moves and their end announcement,
and waiting for a job without polling for its end."""

from __future__ import annotations

import threading
import time

import pytest

from restore_jobs.cli.jobs_view import wait_for_job
from restore_jobs.jobs import state
from restore_jobs.jobs.limits import ConcurrencySlots, RateLimiter

pytestmark = pytest.mark.integration


@pytest.fixture
def job(redis_url: str, unique: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("KAFKA_RESTORE_STATE_URL", redis_url)
    assert state.create_job(unique, {"message": "submitted"})
    return unique


def check_in(job_id: str, until: float) -> bool:
    pipe = state.client().pipeline(transaction=False)
    state.check_in(pipe, job_id, "t[0]", until)
    return bool(pipe.execute()[0])


def test_check_in_renews_the_lease_of_a_live_job_only(job: str) -> None:
    assert not check_in(job, 100.0)
    assert state.get_leases(job) == {"t[0]": 100.0}
    state.request_stop(job, "cancelled")
    assert check_in(job, 200.0)
    assert state.get_leases(job) == {"t[0]": 100.0}


def test_check_in_of_a_vanished_job_stops_and_writes_nothing(job: str) -> None:
    state.client().delete(state.job_key(job), state.leases_key(job))
    assert check_in(job, 100.0)
    assert not state.client().exists(state.leases_key(job))


def test_rate_tokens_and_slot_renewal_share_the_check_in(job: str) -> None:
    rate = RateLimiter(f"{state.job_key(job)}:rate", records_per_sec=1000, bytes_per_sec=0)
    slots = ConcurrencySlots(state.client(), f"{state.job_key(job)}:slots", limit=1)
    assert slots.acquire("t[0]")
    pipe = state.client().pipeline(transaction=False)
    state.check_in(pipe, job, "t[0]", time.time())
    slots.renew(pipe, "t[0]")
    taken = rate.take(pipe, records=3000, nbytes=10)
    replies = pipe.execute()
    assert (replies[0], taken, len(replies)) == (0, 1, 3)
    assert 2.9 < RateLimiter.wait(replies[-taken:]) <= 3.0  # a full bucket of 1000, 3000 taken
    assert not slots.acquire("t[1]")  # the renewed slot is still held


def test_set_phase_writes_its_fields_with_it_and_keeps_the_first_start_time(job: str) -> None:
    assert state.set_phase(job, "Running", "preparing")
    first = state.get_job(job)
    assert (first["phase"], first["message"]) == ("Running", "preparing")
    state.update_job(job, start_time="first")
    assert state.set_phase(job, "Running", "restoring")
    assert state.get_job(job)["start_time"] == "first"
    assert state.set_phase(job, "Failed", "unit t[0]: boom")
    assert not state.set_phase(job, "Completed", "too late")
    assert state.set_phase(job, "RolledBack", "rolled back", allow_from={"Failed"})
    ended = state.get_job(job)
    assert (ended["phase"], ended["message"]) == ("RolledBack", "rolled back")
    assert "completion_time" in ended and "completed_at" in ended
    assert state.client().ttl(state.job_key(job)) > 0


def test_add_units_keeps_the_units_already_recorded(job: str) -> None:
    state.set_unit(job, "t[0]", state.UnitState(phase="Completed", records=7))
    state.add_units(job, {"t[0]": state.UnitState(planned_records=9), "t[1]": state.UnitState(planned_records=9)})
    units = state.get_units(job)
    assert (units["t[0]"].phase, units["t[0]"].records) == ("Completed", 7)
    assert (units["t[1]"].phase, units["t[1]"].planned_records) == ("Pending", 9)


def test_wait_for_job_wakes_when_the_job_ends_not_at_the_next_poll(job: str) -> None:
    state.set_phase(job, "Running")
    ender = threading.Timer(0.3, state.set_phase, (job, "Completed", "done"))
    started = time.monotonic()
    ender.start()
    try:
        status = wait_for_job(job, poll=30)
    finally:
        ender.cancel()
    assert status["phase"] == "Completed"
    assert time.monotonic() - started < 5
