"""Lease-based leader election, one step at a time with a controlled clock."""

from __future__ import annotations

from typing import Any

from controller.config import LeaderElectionSettings
from controller.leader import LeaderElector, LeaseLock
from tests.fakes.kube_api import LEASES, FakeKubeApi
from tests.unit.controller.conftest import FakeClock

SETTINGS = LeaderElectionSettings(lease_name="ctl", lease_namespace="ops", lease_duration=15, renew_deadline=10,
                                  retry_period=2)


def _elector(fake: FakeKubeApi, identity: str, clock: FakeClock, log: list[str]) -> LeaderElector:
    settings = LeaderElectionSettings(**{**SETTINGS.__dict__, "identity": identity})
    return LeaderElector(LeaseLock(fake.api_client(), "ops", "ctl"), settings, clock=clock,
                         on_started=lambda: log.append(f"{identity} started"),
                         on_stopped=lambda: log.append(f"{identity} stopped"))


def _lease(fake: FakeKubeApi) -> dict[str, Any]:
    return fake.get(LEASES, "ops", "ctl")["spec"]


def test_first_comer_leads_and_the_other_waits_for_expiry(fake_api: FakeKubeApi, clock: FakeClock) -> None:
    log: list[str] = []
    a, b = _elector(fake_api, "a", clock, log), _elector(fake_api, "b", clock, log)
    a.step()
    b.step()
    assert (a.is_leader(), b.is_leader()) == (True, False)
    assert (_lease(fake_api)["holderIdentity"], _lease(fake_api)["leaseDurationSeconds"]) == ("a", 15)

    clock.advance(10)
    a.step()  # renewed: b observes a changed record and restarts its wait
    clock.advance(10)
    b.step()
    assert not b.is_leader()

    clock.advance(16)  # a stops renewing (hung, partitioned)
    assert not a.is_leader(), "past the renew deadline a leader stops acting before anyone takes over"
    b.step()
    assert b.is_leader()
    assert (_lease(fake_api)["holderIdentity"], _lease(fake_api)["leaseTransitions"]) == ("b", 1)
    a.step()
    assert not a.is_leader()
    assert log == ["a started", "b started", "a stopped"]


def test_renewal_failure_ends_leadership_at_the_renew_deadline(fake_api: FakeKubeApi, clock: FakeClock) -> None:
    log: list[str] = []
    a = _elector(fake_api, "a", clock, log)
    a.step()
    with fake_api.outage():
        clock.advance(5)
        a.step()
        assert a.is_leader(), "one failed renewal within the deadline keeps the lease"
        clock.advance(6)
        a.step()
        assert not a.is_leader()
    assert log == ["a started", "a stopped"]


def test_release_lets_the_other_take_over_at_once(fake_api: FakeKubeApi, clock: FakeClock) -> None:
    log: list[str] = []
    a, b = _elector(fake_api, "a", clock, log), _elector(fake_api, "b", clock, log)
    a.step()
    b.step()
    a.stop(release=True)
    assert _lease(fake_api)["holderIdentity"] == ""
    b.step()
    assert b.is_leader()
    assert not a.is_leader()


def test_concurrent_takeover_conflicts_and_only_one_wins(fake_api: FakeKubeApi, clock: FakeClock) -> None:
    log: list[str] = []
    a, b = _elector(fake_api, "a", clock, log), _elector(fake_api, "b", clock, log)
    a.step()
    b.step()
    clock.advance(16)
    lock = LeaseLock(fake_api.api_client(), "ops", "ctl")
    stale = lock.get()
    b.step()  # b takes over first
    stale.spec.holder_identity = "c"
    try:
        lock.update(stale)
        raise AssertionError("a replace with a stale resourceVersion must conflict")
    except Exception as error:
        assert getattr(error, "status", None) == 409
    assert _lease(fake_api)["holderIdentity"] == "b"
