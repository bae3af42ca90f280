"""The watchdog's decisions, from unit phases and leases alone (no servers)."""

from __future__ import annotations

from restore_jobs.jobs import state, watchdog


def _unit(phase: str, finished: float = 0.0) -> state.UnitState:
    return state.UnitState(phase=phase, finished=finished)


def test_lost_units_and_finalize():
    now, after = 1000.0, 10.0
    units = {
        "t[0]": _unit("Running"),      # lease ran out: its worker died
        "t[1]": _unit("Pending"),      # received by a worker that died before starting it
        "t[2]": _unit("Pending"),      # still queued: no lease, the broker holds it
        "t[3]": _unit("Retrying"),     # waiting for its retry's countdown, which has not ended
        "t[4]": _unit("Completed"),
        "t[5]": _unit("Running"),      # renewed recently
    }
    leases = {"t[0]": now - 11, "t[1]": now - 30, "t[3]": now + 50, "t[4]": now - 99, "t[5]": now - 2}
    lost = watchdog.find_lost("Running", units, leases, now, after)
    assert lost.units == ["t[0]", "t[1]"] and not lost.finalize
    assert watchdog.find_lost("Cancelled", units, leases, now, after).units == []

    done = {"t[0]": _unit("Completed", finished=now - 20), "t[1]": _unit("Completed", finished=now - 5)}
    # The chord fires finalize when the last unit ends; only if nothing finalized for a lease period.
    assert not watchdog.find_lost("Running", done, {}, now, after).finalize
    assert watchdog.find_lost("Running", done, {}, now + 6, after).finalize
    assert not watchdog.find_lost("Running", done, {watchdog.FINALIZE: now}, now + 6, after).finalize
    # A finalize that started (Finalizing) and whose worker died.
    assert watchdog.find_lost("Finalizing", done, {watchdog.FINALIZE: now - 11}, now, after).finalize
    assert not watchdog.find_lost("Finalizing", done, {watchdog.FINALIZE: now - 1}, now, after).finalize


def test_lost_prepare():
    now, after = 1000.0, 10.0
    # A worker took prepare and died before it planned any unit.
    assert watchdog.find_lost("Pending", {}, {watchdog.PREPARE: now - 11}, now, after).prepare
    assert watchdog.find_lost("Running", {}, {watchdog.PREPARE: now - 11}, now, after).prepare
    # Still held, or never received (queued: the broker holds it), or already planned.
    assert not watchdog.find_lost("Running", {}, {watchdog.PREPARE: now - 1}, now, after).prepare
    assert not watchdog.find_lost("Pending", {}, {}, now, after).prepare
    planned = {"t[0]": _unit("Running")}
    assert not watchdog.find_lost("Running", planned, {watchdog.PREPARE: now - 99, "t[0]": now}, now, after).prepare
