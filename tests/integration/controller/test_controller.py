"""The whole controller (watch threads, work queue, workers, resync, lease) driven through the real
kubernetes client against the HTTP fake of the API, with the fake job backend."""

from __future__ import annotations

import time
from typing import Any

import pytest

from controller.kube import FINALIZER
from restore_jobs.jobs.api import job_id_for
from tests.fakes.job_backend import FakeJobBackend
from tests.fakes.kube_api import BACKUPS, RESTORES, FakeKubeApi
from tests.fakes.polling import eventually
from tests.fakes.restores import S3_STORAGE, kafka_backup, kafka_restore
from tests.integration.controller.conftest import StartController

pytestmark = pytest.mark.integration

NS = "team-a"


def _status(fake: FakeKubeApi, name: str, namespace: str = NS) -> dict[str, Any]:
    return (fake.get(RESTORES, namespace, name) or {}).get("status") or {}


def _phase_is(fake: FakeKubeApi, name: str, phase: str, namespace: str = NS) -> Any:
    return lambda: _status(fake, name, namespace).get("phase") == phase


def _conditions(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status.get("conditions") or []}


def _submitted(backend: FakeJobBackend, count: int = 1) -> list[str]:
    return eventually(lambda: len(backend.submitted_ids()) >= count and backend.submitted_ids(),
                      what=f"{count} submission(s)")


def test_restore_is_submitted_once_and_mirrored_to_completion(fake_api: FakeKubeApi, backend: FakeJobBackend,
                                                              start_controller: StartController) -> None:
    start_controller()
    created = fake_api.create(RESTORES, kafka_restore("orders"))
    [job_id] = _submitted(backend)
    assert job_id == job_id_for(NS, "orders", created["metadata"]["uid"], 1)

    backend.update(job_id, phase="Running", startTime="2025-01-01T00:00:00Z", progressPercent=40.0,
                   recordsRestored=400, bytesRestored=40_000, segmentsProcessed=2, currentTopic="orders")
    eventually(lambda: _status(fake_api, "orders").get("recordsRestored") == 400, what="running counters")
    backend.update(job_id, phase="Completed", completionTime="2025-01-01T00:10:00Z", progressPercent=100.0,
                   recordsRestored=1000, bytesRestored=100_000, segmentsProcessed=5, currentTopic=None,
                   offsetMappingPath="s3://b/daily-1/offset-mapping.json")
    eventually(_phase_is(fake_api, "orders", "Completed"), what="Completed")

    status = _status(fake_api, "orders")
    assert {k: status.get(k) for k in ("recordsRestored", "bytesRestored", "segmentsProcessed", "progressPercent",
                                       "startTime", "completionTime", "offsetMappingPath", "currentTopic",
                                       "jobId", "observedGeneration")} == {
        "recordsRestored": 1000, "bytesRestored": 100_000, "segmentsProcessed": 5, "progressPercent": 100.0,
        "startTime": "2025-01-01T00:00:00Z", "completionTime": "2025-01-01T00:10:00Z",
        "offsetMappingPath": "s3://b/daily-1/offset-mapping.json", "currentTopic": None,
        "jobId": job_id, "observedGeneration": 1}
    assert _conditions(status) == {"Ready": ("True", "RestoreSucceeded"),
                                   "Progressing": ("False", "RestoreSucceeded"),
                                   "Succeeded": ("True", "RestoreSucceeded")}
    time.sleep(0.6)
    assert backend.submitted_ids() == [job_id]
    assert [e["reason"] for e in fake_api.recorded_events("orders")] == ["Submitted", "Completed"]
    assert fake_api.get(RESTORES, NS, "orders")["metadata"]["finalizers"] == [FINALIZER]


def test_dry_run_passes_and_invalid_spec_fails_without_a_job(fake_api: FakeKubeApi, backend: FakeJobBackend,
                                                             start_controller: StartController) -> None:
    start_controller()
    fake_api.create(RESTORES, kafka_restore("rehearsal", dryRun=True))
    fake_api.create(RESTORES, kafka_restore("broken", kafkaCluster={"bootstrapServers": ["no-port"]}))
    [job_id] = _submitted(backend)
    backend.update(job_id, phase="Completed")
    eventually(_phase_is(fake_api, "rehearsal", "Completed"))
    assert _conditions(_status(fake_api, "rehearsal"))["Ready"] == ("True", "DryRunPassed")

    eventually(_phase_is(fake_api, "broken", "Failed"))
    broken = _status(fake_api, "broken")
    assert "spec.kafkaCluster.bootstrapServers[0]" in broken["message"]
    assert _conditions(broken)["Ready"] == ("False", "ValidationFailed")
    assert broken["observedGeneration"] == 1
    assert [name for _, r in backend.submissions for name in [r.metadata.name]] == ["rehearsal"]
    assert [e["reason"] for e in fake_api.recorded_events("broken")] == ["ValidationFailed"]


def test_backup_ref_resolved_and_missing_backup_picked_up_when_it_appears(
        fake_api: FakeKubeApi, backend: FakeJobBackend, start_controller: StartController) -> None:
    start_controller()
    fake_api.create(BACKUPS, kafka_backup("nightly", NS, storage=S3_STORAGE))
    fake_api.create(RESTORES, kafka_restore("from-nightly", backupRef={"name": "nightly"}))
    fake_api.create(RESTORES, kafka_restore("from-weekly", backupRef={"name": "weekly"}))
    [(_, resource)] = eventually(lambda: backend.submissions)
    assert resource.metadata.name == "from-nightly"
    assert resource.spec.backup_ref.storage.s3.bucket == "kafka-backups"

    eventually(_phase_is(fake_api, "from-weekly", "Failed"))
    assert "KafkaBackup team-a/weekly (spec.backupRef.name) not found" in _status(fake_api, "from-weekly")["message"]
    fake_api.create(BACKUPS, kafka_backup("weekly", NS, storage=S3_STORAGE))
    _submitted(backend, 2)
    assert backend.submissions[1][1].metadata.name == "from-weekly"


def test_restarted_controller_reattaches_without_resubmitting(fake_api: FakeKubeApi, backend: FakeJobBackend,
                                                              start_controller: StartController) -> None:
    first = start_controller()
    fake_api.create(RESTORES, kafka_restore("orders"))
    [job_id] = _submitted(backend)
    backend.update(job_id, phase="Running", recordsRestored=10)
    eventually(lambda: _status(fake_api, "orders").get("recordsRestored") == 10)
    first.stop(release_lease=False)

    backend.update(job_id, recordsRestored=70, progressPercent=70.0)
    time.sleep(0.5)
    assert _status(fake_api, "orders")["recordsRestored"] == 10, "nobody is watching"
    start_controller()
    eventually(lambda: _status(fake_api, "orders").get("recordsRestored") == 70, what="re-attached progress")
    backend.update(job_id, phase="Completed", recordsRestored=100)
    eventually(_phase_is(fake_api, "orders", "Completed"))
    assert _status(fake_api, "orders")["recordsRestored"] == 100
    assert backend.submitted_ids() == [job_id]


def test_broken_watch_resumes_and_misses_nothing(fake_api: FakeKubeApi, backend: FakeJobBackend,
                                                 start_controller: StartController) -> None:
    start_controller()
    fake_api.create(RESTORES, kafka_restore("before"))
    _submitted(backend, 1)
    lists = len(fake_api.list_requests)
    with fake_api.outage():
        fake_api.create(RESTORES, kafka_restore("during"))
        time.sleep(0.5)
    _submitted(backend, 2)
    fake_api.break_watches()
    fake_api.create(RESTORES, kafka_restore("after"))
    ids = _submitted(backend, 3)
    assert [r.metadata.name for _, r in backend.submissions] == ["before", "during", "after"]
    assert len(ids) == 3
    assert len(fake_api.list_requests) == lists, "resumed from the last resourceVersion, no relist"
    assert int(fake_api.watch_requests[-1]["resourceVersion"]) > 1


@pytest.mark.parametrize("gone_as_status", [False, True], ids=["error-event", "http-410"])
def test_410_gone_relists_and_misses_nothing(fake_api: FakeKubeApi, backend: FakeJobBackend,
                                             start_controller: StartController, gone_as_status: bool) -> None:
    fake_api.gone_as_status = gone_as_status
    start_controller()
    fake_api.create(RESTORES, kafka_restore("before"))
    _submitted(backend, 1)
    lists = len(fake_api.list_requests)
    with fake_api.outage():
        fake_api.create(RESTORES, kafka_restore("during"))
        fake_api.create(RESTORES, kafka_restore("bumped"))
        fake_api.compact()
    eventually(lambda: len(fake_api.list_requests) > lists, what="a relist after 410")
    _submitted(backend, 3)
    assert sorted(r.metadata.name for _, r in backend.submissions) == ["before", "bumped", "during"]


def test_deleting_a_running_restore_cancels_then_releases(fake_api: FakeKubeApi, backend: FakeJobBackend,
                                                          start_controller: StartController) -> None:
    start_controller()
    fake_api.create(RESTORES, kafka_restore("orders"))
    [job_id] = _submitted(backend)
    backend.update(job_id, phase="Running")
    eventually(_phase_is(fake_api, "orders", "Running"))
    fake_api.delete(RESTORES, NS, "orders")

    eventually(lambda: backend.cancels == [job_id], what="cancel")
    time.sleep(0.5)
    assert fake_api.get(RESTORES, NS, "orders")["metadata"]["finalizers"] == [FINALIZER], "waits for the job"
    backend.update(job_id, phase="Cancelled", message="cancelled")
    eventually(lambda: fake_api.get(RESTORES, NS, "orders") is None, what="object gone")
    assert [e["reason"] for e in fake_api.recorded_events("orders")] == ["Submitted", "Cancelled"]
    assert backend.submitted_ids() == [job_id]


def test_spec_change_while_running_is_deferred(fake_api: FakeKubeApi, backend: FakeJobBackend,
                                               start_controller: StartController) -> None:
    start_controller()
    created = fake_api.create(RESTORES, kafka_restore("orders"))
    [first] = _submitted(backend)
    backend.update(first, phase="Running")
    fake_api.apply(RESTORES, kafka_restore("orders", topics=["orders", "refunds"]))

    def progressing_reason() -> str | None:
        return dict(_conditions(_status(fake_api, "orders"))).get("Progressing", (None, None))[1]

    eventually(lambda: progressing_reason() == "SpecChangeIgnored", what="SpecChangeIgnored")
    assert backend.submitted_ids() == [first]
    backend.update(first, phase="Completed")
    second = job_id_for(NS, "orders", created["metadata"]["uid"], 2)
    eventually(lambda: backend.submitted_ids() == [first, second], what="second generation submitted")
    assert backend.submissions[1][1].spec.topics == ["orders", "refunds"]
    eventually(lambda: _status(fake_api, "orders").get("jobId") == second)
    assert _status(fake_api, "orders")["observedGeneration"] == 2


def test_only_the_leader_acts_and_the_other_takes_over(fake_api: FakeKubeApi, backend: FakeJobBackend,
                                                       start_controller: StartController) -> None:
    first = start_controller(leader={"enabled": True, "identity": "replica-a"})
    eventually(first.may_act, what="replica-a leads")
    second = start_controller(leader={"enabled": True, "identity": "replica-b"})
    fake_api.create(RESTORES, kafka_restore("orders"))
    [job_id] = _submitted(backend)
    backend.update(job_id, phase="Completed")
    eventually(_phase_is(fake_api, "orders", "Completed"))
    assert not second.may_act()
    assert {p.user_agent for p in fake_api.patches if p.resource == RESTORES} == {"replica-a"}
    assert {e["reportingInstance"] for e in fake_api.recorded_events()} == {"replica-a"}

    first.stop(release_lease=False)  # a crash: the lease must expire before replica-b takes over
    eventually(second.may_act, timeout=5, what="replica-b takes over")
    lease = fake_api.get("coordination.k8s.io/v1/leases", "kafka-system", "kafka-restore-controller")
    assert (lease["spec"]["holderIdentity"], lease["spec"]["leaseTransitions"]) == ("replica-b", 1)
    fake_api.create(RESTORES, kafka_restore("payments"))
    _submitted(backend, 2)
    eventually(_phase_is(fake_api, "payments", "Pending"))
    assert {p.user_agent for p in fake_api.patches if p.name == "payments"} == {"replica-b"}
    assert backend.submitted_ids()[0] == job_id and len(backend.submitted_ids()) == 2


def test_graceful_stop_hands_the_lease_over_at_once(fake_api: FakeKubeApi, start_controller: StartController) -> None:
    first = start_controller(leader={"enabled": True, "identity": "replica-a", "lease_duration": 30.0,
                                     "renew_deadline": 20.0})
    eventually(first.may_act)
    second = start_controller(leader={"enabled": True, "identity": "replica-b", "lease_duration": 30.0,
                                      "renew_deadline": 20.0})
    time.sleep(0.3)
    assert not second.may_act()
    first.stop()
    eventually(second.may_act, timeout=3, what="takeover well before the 30 s lease expires")


def test_no_patch_when_nothing_changes(fake_api: FakeKubeApi, backend: FakeJobBackend,
                                       start_controller: StartController) -> None:
    start_controller()
    fake_api.create(RESTORES, kafka_restore("orders"))
    [job_id] = _submitted(backend)
    backend.update(job_id, phase="Running", recordsRestored=5)
    eventually(lambda: _status(fake_api, "orders").get("recordsRestored") == 5)
    time.sleep(0.3)
    idle = len(fake_api.status_patches(NS, "orders"))
    time.sleep(1.2)  # six status intervals of an unchanged running job
    assert len(fake_api.status_patches(NS, "orders")) == idle

    # Counters move every 30 ms and every step also fires a watch event (an annotation edit), so
    # without the rate limit each step would be patched.
    manifest = kafka_restore("orders")
    started = time.monotonic()
    for records in range(6, 40):
        backend.update(job_id, recordsRestored=records)
        manifest["metadata"]["annotations"] = {"step": str(records)}
        fake_api.apply(RESTORES, manifest)
        time.sleep(0.03)
    elapsed = time.monotonic() - started
    busy = len(fake_api.status_patches(NS, "orders")) - idle
    assert 1 <= busy <= elapsed / 0.2 + 1, f"{busy} patches in {elapsed:.2f}s at one per 0.2s"
