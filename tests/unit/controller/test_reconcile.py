"""One reconcile pass at a time, against the HTTP fake of the API and the fake job backend."""

from __future__ import annotations

from typing import Any

import pytest

from controller.kube import FINALIZER
from controller.reconcile import NotLeader, Reconciler
from restore_jobs.jobs.api import job_id_for
from tests.fakes.job_backend import FakeJobBackend
from tests.fakes.kube_api import BACKUPS, RESTORES, FakeKubeApi
from tests.fakes.restores import S3_STORAGE, kafka_backup, kafka_restore
from tests.unit.controller.conftest import FakeClock

NS = "team-a"


def _create(fake: FakeKubeApi, name: str, **spec: Any) -> dict[str, Any]:
    return fake.create(RESTORES, kafka_restore(name, NS, **spec))


def _status(fake: FakeKubeApi, name: str) -> dict[str, Any]:
    return (fake.get(RESTORES, NS, name) or {}).get("status") or {}


def _conditions(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


def _event_reasons(fake: FakeKubeApi, name: str) -> list[str]:
    return [e["reason"] for e in fake.recorded_events(name)]


def test_submission_records_job_id_before_submitting(fake_api: FakeKubeApi, backend: FakeJobBackend,
                                                     reconciler: Reconciler) -> None:
    created = _create(fake_api, "orders")
    seen_at_submit: list[dict[str, Any]] = []
    backend.on_submit = lambda resource, job_id: seen_at_submit.append(fake_api.get(RESTORES, NS, "orders"))

    reconciler.reconcile(NS, "orders")

    expected_id = job_id_for(NS, "orders", created["metadata"]["uid"], 1)
    assert backend.submitted_ids() == [expected_id]
    submitted = backend.submissions[0][1]
    assert submitted.spec.topics == ["orders"]
    assert submitted.spec.backup_ref.storage.filesystem.path == "/backups"
    before = seen_at_submit[0]
    assert before["metadata"]["finalizers"] == [FINALIZER]
    assert (before["status"]["jobId"], before["status"]["observedGeneration"], before["status"]["phase"]) == (
        expected_id, 1, "Pending")
    assert _event_reasons(fake_api, "orders") == ["Submitted"]


def test_status_mirrors_job_and_skips_unchanged(fake_api: FakeKubeApi, backend: FakeJobBackend,
                                                reconciler: Reconciler, clock: FakeClock) -> None:
    _create(fake_api, "orders")
    reconciler.reconcile(NS, "orders")
    job_id = backend.submitted_ids()[0]
    backend.update(job_id, phase="Running", startTime="2025-01-01T00:00:00Z", progressPercent=42.0,
                   recordsRestored=420, bytesRestored=4200, segmentsProcessed=3, currentTopic="orders",
                   throughputRecordsPerSec=100.5, etaMs=5800)

    reconciler.reconcile(NS, "orders")
    status = _status(fake_api, "orders")
    assert {k: status[k] for k in ("phase", "progressPercent", "recordsRestored", "bytesRestored",
                                    "segmentsProcessed", "currentTopic", "throughputRecordsPerSec", "etaMs",
                                    "jobId", "observedGeneration")} == {
        "phase": "Running", "progressPercent": 42.0, "recordsRestored": 420, "bytesRestored": 4200,
        "segmentsProcessed": 3, "currentTopic": "orders", "throughputRecordsPerSec": 100.5, "etaMs": 5800,
        "jobId": job_id, "observedGeneration": 1}
    assert _conditions(status) == {"Ready": ("False", "RestoreRunning"), "Progressing": ("True", "RestoreRunning"),
                                   "Succeeded": ("Unknown", "RestoreRunning")}
    assert all(c["observedGeneration"] == 1 for c in status["conditions"])

    patches = len(fake_api.status_patches())
    clock.advance(10)
    assert reconciler.reconcile(NS, "orders") is None
    assert len(fake_api.status_patches()) == patches, "nothing changed, so nothing is patched"

    backend.update(job_id, progressPercent=50.0, recordsRestored=500)
    clock.advance(10)
    reconciler.reconcile(NS, "orders")
    assert fake_api.status_patches()[-1].body == {"status": {"progressPercent": 50.0, "recordsRestored": 500}}


def test_progress_patches_are_rate_limited_but_phase_changes_are_not(
        fake_api: FakeKubeApi, backend: FakeJobBackend, reconciler: Reconciler, clock: FakeClock) -> None:
    _create(fake_api, "orders")
    reconciler.reconcile(NS, "orders")
    job_id = backend.submitted_ids()[0]
    backend.update(job_id, phase="Running", recordsRestored=1)
    reconciler.reconcile(NS, "orders")
    patches = len(fake_api.status_patches())

    clock.advance(0.5)
    backend.update(job_id, recordsRestored=2)
    delay = reconciler.reconcile(NS, "orders")
    assert delay == pytest.approx(1.5)
    assert len(fake_api.status_patches()) == patches

    backend.update(job_id, phase="Completed", recordsRestored=3, completionTime="2025-01-01T00:01:00Z",
                   progressPercent=100.0)
    reconciler.reconcile(NS, "orders")
    status = _status(fake_api, "orders")
    assert (status["phase"], status["recordsRestored"], status["completionTime"]) == (
        "Completed", 3, "2025-01-01T00:01:00Z")
    assert _conditions(status) == {"Ready": ("True", "RestoreSucceeded"),
                                   "Progressing": ("False", "RestoreSucceeded"),
                                   "Succeeded": ("True", "RestoreSucceeded")}
    assert _event_reasons(fake_api, "orders") == ["Submitted", "Completed"]


def test_transition_time_changes_only_when_status_flips(fake_api: FakeKubeApi, backend: FakeJobBackend,
                                                        reconciler: Reconciler, clock: FakeClock) -> None:
    _create(fake_api, "orders")
    reconciler.reconcile(NS, "orders")
    job_id = backend.submitted_ids()[0]
    pending = {c["type"]: c["lastTransitionTime"] for c in _status(fake_api, "orders")["conditions"]}
    backend.update(job_id, phase="Running")
    reconciler.reconcile(NS, "orders")
    running = _status(fake_api, "orders")["conditions"]
    # Pending -> Running: reasons change, statuses do not, so the times stay.
    assert {c["type"]: c["lastTransitionTime"] for c in running} == pending
    assert [c["reason"] for c in running] == ["RestoreRunning"] * 3


def test_dry_run_completes_as_dry_run_passed(fake_api: FakeKubeApi, backend: FakeJobBackend,
                                             reconciler: Reconciler) -> None:
    _create(fake_api, "rehearsal", dryRun=True)
    reconciler.reconcile(NS, "rehearsal")
    backend.update(backend.submitted_ids()[0], phase="Completed")
    reconciler.reconcile(NS, "rehearsal")
    status = _status(fake_api, "rehearsal")
    assert _conditions(status)["Ready"] == ("True", "DryRunPassed")
    assert _conditions(status)["Succeeded"] == ("True", "DryRunPassed")
    assert status["message"].startswith("dry run of job")


def test_invalid_spec_fails_with_field_paths_and_no_job(fake_api: FakeKubeApi, backend: FakeJobBackend,
                                                        reconciler: Reconciler) -> None:
    _create(fake_api, "broken", kafkaCluster={"bootstrapServers": []}, produceAcks=7)
    reconciler.reconcile(NS, "broken")
    status = _status(fake_api, "broken")
    assert status["phase"] == "Failed"
    assert status["observedGeneration"] == 1
    assert "spec.kafkaCluster.bootstrapServers" in status["message"]
    assert "spec.produceAcks" in status["message"]
    assert _conditions(status) == {"Ready": ("False", "ValidationFailed"), "Progressing": ("False", "ValidationFailed"),
                                   "Succeeded": ("False", "ValidationFailed")}
    assert backend.submissions == []
    assert "finalizers" not in fake_api.get(RESTORES, NS, "broken")["metadata"]
    assert _event_reasons(fake_api, "broken") == ["ValidationFailed"]
    patches = len(fake_api.status_patches())
    assert reconciler.reconcile(NS, "broken") is None
    assert len(fake_api.status_patches()) == patches


def test_backup_ref_storage_comes_from_the_kafka_backup(fake_api: FakeKubeApi, backend: FakeJobBackend,
                                                        reconciler: Reconciler) -> None:
    fake_api.create(BACKUPS, kafka_backup("nightly", "backups", storage=S3_STORAGE))
    _create(fake_api, "from-backup", backupRef={"name": "nightly", "namespace": "backups", "backupId": "n-1"})
    reconciler.reconcile(NS, "from-backup")
    [(job_id, resource)] = backend.submissions
    storage = resource.spec.backup_ref.storage
    assert (storage.storage_type, storage.s3.bucket, storage.s3.credentials_secret.name) == (
        "s3", "kafka-backups", "s3-creds")
    assert resource.spec.backup_ref.name == "nightly"
    assert _status(fake_api, "from-backup")["jobId"] == job_id


def test_missing_kafka_backup_fails_clearly_and_is_retried(fake_api: FakeKubeApi, backend: FakeJobBackend,
                                                           reconciler: Reconciler) -> None:
    _create(fake_api, "early", backupRef={"name": "later"})
    reconciler.reconcile(NS, "early")
    status = _status(fake_api, "early")
    assert status["phase"] == "Failed"
    assert "KafkaBackup team-a/later (spec.backupRef.name) not found" in status["message"]
    assert _conditions(status)["Ready"] == ("False", "BackupNotFound")
    assert backend.submissions == []
    assert _event_reasons(fake_api, "early") == ["BackupNotFound"]

    patches = len(fake_api.status_patches())
    reconciler.reconcile(NS, "early")
    assert len(fake_api.status_patches()) == patches

    fake_api.create(BACKUPS, kafka_backup("later", NS, storage=S3_STORAGE))
    reconciler.reconcile(NS, "early")
    assert len(backend.submissions) == 1
    assert _status(fake_api, "early")["phase"] == "Pending"


def test_kafka_backup_with_invalid_storage_names_it(fake_api: FakeKubeApi, backend: FakeJobBackend,
                                                    reconciler: Reconciler) -> None:
    fake_api.create(BACKUPS, kafka_backup("bad", NS, storage={"storageType": "s3", "s3": {"region": "x"}}))
    fake_api.create(BACKUPS, kafka_backup("empty", NS))
    _create(fake_api, "r1", backupRef={"name": "bad"})
    _create(fake_api, "r2", backupRef={"name": "empty"})
    reconciler.reconcile(NS, "r1")
    reconciler.reconcile(NS, "r2")
    assert _status(fake_api, "r1")["message"] == (
        "storage of KafkaBackup team-a/bad is invalid: spec.backupRef.storage.s3.bucket: required")
    assert _status(fake_api, "r2")["message"] == "KafkaBackup team-a/empty has no spec.storage to restore from"
    assert backend.submissions == []


def test_interrupted_submission_is_completed_with_the_same_job_id(fake_api: FakeKubeApi, backend: FakeJobBackend,
                                                                  reconciler: Reconciler) -> None:
    _create(fake_api, "orders")

    def crash(resource: Any, job_id: str) -> None:
        backend.on_submit = None
        raise ConnectionError("redis went away")

    backend.on_submit = crash
    with pytest.raises(ConnectionError):
        reconciler.reconcile(NS, "orders")
    recorded = _status(fake_api, "orders")["jobId"]
    assert backend.jobs == {}

    reconciler.reconcile(NS, "orders")
    assert backend.submitted_ids() == [recorded]
    backend.update(recorded, phase="Running")
    reconciler.reconcile(NS, "orders")
    reconciler.reconcile(NS, "orders")
    assert backend.submitted_ids() == [recorded], "a known job is re-attached, never submitted again"


def test_spec_change_while_running_waits_for_the_job(fake_api: FakeKubeApi, backend: FakeJobBackend,
                                                     reconciler: Reconciler, clock: FakeClock) -> None:
    created = _create(fake_api, "orders")
    reconciler.reconcile(NS, "orders")
    first = backend.submitted_ids()[0]
    backend.update(first, phase="Running")
    reconciler.reconcile(NS, "orders")

    fake_api.apply(RESTORES, kafka_restore("orders", NS, topics=["orders", "payments"]))
    clock.advance(5)
    reconciler.reconcile(NS, "orders")
    status = _status(fake_api, "orders")
    assert backend.submitted_ids() == [first]
    assert (status["jobId"], status["observedGeneration"]) == (first, 1)
    progressing = next(c for c in status["conditions"] if c["type"] == "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("True", "SpecChangeIgnored")
    assert "spec generation 2 waits" in progressing["message"]

    backend.update(first, phase="Completed")
    delay = reconciler.reconcile(NS, "orders")
    assert _status(fake_api, "orders")["phase"] == "Completed"
    assert delay == 0.0
    reconciler.reconcile(NS, "orders")
    second = job_id_for(NS, "orders", created["metadata"]["uid"], 2)
    assert backend.submitted_ids() == [first, second]
    assert backend.submissions[1][1].spec.topics == ["orders", "payments"]
    status = _status(fake_api, "orders")
    assert (status["jobId"], status["observedGeneration"], status["phase"]) == (second, 2, "Pending")
    assert _event_reasons(fake_api, "orders") == ["Submitted", "Completed", "Submitted"]


def test_delete_cancels_then_removes_the_finalizer(fake_api: FakeKubeApi, backend: FakeJobBackend,
                                                   reconciler: Reconciler) -> None:
    _create(fake_api, "orders")
    reconciler.reconcile(NS, "orders")
    job_id = backend.submitted_ids()[0]
    backend.update(job_id, phase="Running")
    fake_api.delete(RESTORES, NS, "orders")

    assert reconciler.reconcile(NS, "orders") == 2.0
    assert backend.cancels == [job_id]
    assert fake_api.get(RESTORES, NS, "orders")["metadata"]["finalizers"] == [FINALIZER]
    reconciler.reconcile(NS, "orders")
    assert backend.cancels == [job_id], "cancel is asked once"

    backend.update(job_id, phase="Cancelled", message="cancelled by request")
    assert reconciler.reconcile(NS, "orders") is None
    assert fake_api.get(RESTORES, NS, "orders") is None
    assert _event_reasons(fake_api, "orders") == ["Submitted", "Cancelled"]


def test_delete_gives_up_waiting_after_the_cancel_timeout(fake_api: FakeKubeApi, backend: FakeJobBackend,
                                                          reconciler: Reconciler, clock: FakeClock) -> None:
    _create(fake_api, "stuck")
    reconciler.reconcile(NS, "stuck")
    backend.update(backend.submitted_ids()[0], phase="Running")
    fake_api.delete(RESTORES, NS, "stuck")
    reconciler.reconcile(NS, "stuck")
    clock.advance(29)
    reconciler.reconcile(NS, "stuck")
    assert fake_api.get(RESTORES, NS, "stuck") is not None
    clock.advance(2)
    reconciler.reconcile(NS, "stuck")
    assert fake_api.get(RESTORES, NS, "stuck") is None
    timeout_event = fake_api.recorded_events("stuck")[-1]
    assert (timeout_event["reason"], timeout_event["type"]) == ("CancelTimeout", "Warning")


def test_delete_without_a_job_just_goes(fake_api: FakeKubeApi, reconciler: Reconciler) -> None:
    _create(fake_api, "invalid", topics="not-a-list")
    reconciler.reconcile(NS, "invalid")
    fake_api.delete(RESTORES, NS, "invalid")
    assert fake_api.get(RESTORES, NS, "invalid") is None
    assert reconciler.reconcile(NS, "invalid") is None


def test_a_replica_without_the_lease_writes_nothing(fake_api: FakeKubeApi, backend: FakeJobBackend,
                                                    reconciler: Reconciler, leader: dict[str, bool]) -> None:
    _create(fake_api, "orders")
    leader["is"] = False
    with pytest.raises(NotLeader):
        reconciler.reconcile(NS, "orders")
    assert fake_api.patches == []
    assert backend.submissions == []


def test_job_lost_from_the_store_fails_the_restore(fake_api: FakeKubeApi, backend: FakeJobBackend,
                                                   reconciler: Reconciler) -> None:
    _create(fake_api, "orders")
    reconciler.reconcile(NS, "orders")
    job_id = backend.submitted_ids()[0]
    backend.update(job_id, phase="Running")
    reconciler.reconcile(NS, "orders")
    del backend.jobs[job_id]
    reconciler.reconcile(NS, "orders")
    status = _status(fake_api, "orders")
    assert (status["phase"], status["message"]) == ("Failed", f"job {job_id} is not in the job store any more")
    assert backend.submitted_ids() == [job_id]


@pytest.mark.parametrize(("phase", "reason", "event_type"), [
    ("Failed", "RestoreFailed", "Warning"),
    ("RolledBack", "RolledBack", "Warning"),
    ("Cancelled", "Cancelled", "Normal"),
])
def test_unsuccessful_endings(fake_api: FakeKubeApi, backend: FakeJobBackend, reconciler: Reconciler,
                              phase: str, reason: str, event_type: str) -> None:
    _create(fake_api, "orders")
    reconciler.reconcile(NS, "orders")
    job_id = backend.submitted_ids()[0]
    rollback = {"snapshotId": "snap-1", "snapshotTime": "2025-01-01T00:00:00Z",
                "snapshotPath": "offset-snapshots/snap-1/snapshot.json", "rollbackAvailable": True}
    backend.update(job_id, phase=phase, message=f"job ended: {phase}", rollback=rollback)
    reconciler.reconcile(NS, "orders")
    status = _status(fake_api, "orders")
    assert (status["phase"], status["message"], status["rollback"]) == (phase, f"job ended: {phase}", rollback)
    assert _conditions(status) == {"Ready": ("False", reason), "Progressing": ("False", reason),
                                   "Succeeded": ("False", reason)}
    event = fake_api.recorded_events("orders")[-1]
    assert (event["reason"], event["type"], event["message"]) == (phase, event_type, f"job ended: {phase}")
    assert event["involvedObject"]["kind"] == "KafkaRestore"
