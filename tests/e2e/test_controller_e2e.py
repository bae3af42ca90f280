"""The controller end to end: the real kubernetes client against the HTTP fake of the API, the
default job backend (restore_jobs.jobs.api), two real Celery workers on valkey, and Tansu."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from controller.kube import FINALIZER
from controller.manager import RestoreController
from restore_jobs.backup.sample import SampleBackup, write_sample_backup
from restore_jobs.jobs import api, state
from restore_jobs.storage.filesystem import FilesystemStorage
from tests.e2e.test_restore_e2e import fs_storage
from tests.fakes.kube_api import BACKUPS, RESTORES, SECRETS, FakeKubeApi
from tests.fakes.polling import eventually
from tests.fakes.restores import kafka_backup, kafka_restore
from tests.helpers import assert_restored, backup_records, committed_log, consume_topic
from tests.integration.controller.conftest import FAST

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

NS = "e2e"
BACKUP_ID = "b1"
SETTINGS = replace(FAST, status_interval=0.3, cancel_timeout=60.0)
JOB_TIMEOUT = 60.0
# A batch whose transaction was already committing when the cancel landed may still finish.
IN_FLIGHT = 0.2

StartController = Callable[[], RestoreController]


@pytest.fixture
def kube() -> Iterator[FakeKubeApi]:
    with FakeKubeApi(bookmark_interval=0.5) as fake:
        yield fake


@pytest.fixture
def start_controller(kube: FakeKubeApi, workers) -> Iterator[StartController]:
    """Controllers with the default job backend; each has its own user agent (``ctl-<n>``)."""
    started: list[RestoreController] = []

    def start() -> RestoreController:
        controller = RestoreController(kube.api_client(f"ctl-{len(started)}"), SETTINGS).start()
        started.append(controller)
        return controller

    yield start
    for controller in started:
        controller.stop()


@pytest.fixture
def submissions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Job ids passed to restore_jobs.jobs.api.submit, which still does the real submission."""
    calls: list[str] = []
    real = api.submit

    def counted(resource, job_id: str) -> str:
        calls.append(job_id)
        return real(resource, job_id)

    monkeypatch.setattr(api, "submit", counted)
    return calls


def write_backup(root: Path, sample: SampleBackup) -> None:
    write_sample_backup(FilesystemStorage(root), BACKUP_ID, sample)


def apply_restore(kube: FakeKubeApi, name: str, bootstrap: str, root: Path, topics: list[str], **spec: Any
                  ) -> dict[str, Any]:
    spec.setdefault("backupRef", {"name": "", "backupId": BACKUP_ID, "storage": fs_storage(root)})
    return kube.create(RESTORES, kafka_restore(name, NS, kafkaCluster={"bootstrapServers": [bootstrap]},
                                               topics=topics, createTopics=True, **spec))


def status_of(kube: FakeKubeApi, name: str) -> dict[str, Any]:
    return (kube.get(RESTORES, NS, name) or {}).get("status") or {}


def wait_phase(kube: FakeKubeApi, name: str, phase: str, workers) -> dict[str, Any]:
    try:
        return eventually(lambda: (s := status_of(kube, name)).get("phase") == phase and s,
                          timeout=JOB_TIMEOUT, interval=0.1, what=f"{name} {phase}")
    except AssertionError as error:
        raise AssertionError(f"{error}\nstatus: {status_of(kube, name)}\n{workers.logs()[-6000:]}") from None


def conditions(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status.get("conditions") or []}


def jobs_named(name: str) -> list[str]:
    return [j for j in state.list_jobs(limit=1000) if state.get_job(j).get("name") == name]


def deliveries(stack, task_id: str) -> int:
    """How many times the workers received the task ``task_id`` (their INFO log says so)."""
    return sum(log.read_text(errors="replace").count(f"[{task_id}] received") for log in stack.workdir.glob("*.log"))


def restored_count(bootstrap: str, topic: str) -> int:
    return sum(len(records) for records in committed_log(bootstrap, topic).values())


def test_restore_completes_with_full_status_and_exact_records(kube, start_controller, submissions, workers, bootstrap,
                                                             tmp_path, unique, secrets_dir):
    root = tmp_path / "backups"
    source, target = f"{unique}-src", f"{unique}-dst"
    write_backup(root, SampleBackup(topics={source: 3}, records_per_partition=120))
    expected = backup_records(FilesystemStorage(root), BACKUP_ID, source)
    # A Secret in the restore's namespace and in the workers' secret directory: nothing may echo it.
    secret_value = f"pw-{unique}-do-not-show"
    kube.create(SECRETS, {"metadata": {"name": "kafka-creds", "namespace": NS},
                          "stringData": {"password": secret_value}})
    (secrets_dir / "kafka-creds").mkdir(exist_ok=True)
    (secrets_dir / "kafka-creds" / "password").write_text(secret_value)

    start_controller()
    created = apply_restore(kube, f"ok-{unique}", bootstrap, root, [source], topicMapping={source: target})
    status = wait_phase(kube, f"ok-{unique}", "Completed", workers)

    job_id = api.job_id_for(NS, f"ok-{unique}", created["metadata"]["uid"], 1)
    records = assert_restored(expected, consume_topic(bootstrap, target))
    assert records == 3 * 120
    assert status["jobId"] == job_id and submissions == [job_id]
    assert status["recordsRestored"] == records
    assert status["bytesRestored"] == sum(r.size for part in expected.values() for r in part)
    assert status["segmentsProcessed"] == 3 * 3  # 120 records per partition, 40 per segment
    assert status["progressPercent"] == 100.0
    assert status["observedGeneration"] == 1
    assert status["startTime"] <= status["completionTime"]
    mapping = json.loads(Path(status["offsetMappingPath"]).read_text())
    assert set(mapping["entries"]) == {f"{target}/{p}" for p in range(3)}
    assert conditions(status) == {"Ready": ("True", "RestoreSucceeded"), "Progressing": ("False", "RestoreSucceeded"),
                                  "Succeeded": ("True", "RestoreSucceeded")}
    assert kube.get(RESTORES, NS, f"ok-{unique}")["metadata"]["finalizers"] == [FINALIZER]
    # The event follows the status patch that reports the phase.
    eventually(lambda: [e["reason"] for e in kube.recorded_events(f"ok-{unique}")] == ["Submitted", "Completed"],
               what="Submitted and Completed events")
    job = state.get_job(job_id)
    assert job["phase"] == "Completed" and job["units_total"] == "3"

    written = json.dumps([p.body for p in kube.status_patches()] + kube.recorded_events() + [job])
    assert secret_value not in written


def test_invalid_restore_fails_validation_without_a_job(kube, start_controller, submissions, workers, tmp_path,
                                                        unique):
    start_controller()
    name = f"bad-{unique}"
    created = kube.create(RESTORES, kafka_restore(name, NS, kafkaCluster={"bootstrapServers": ["no-port"]},
                                                  backupRef={"name": "", "backupId": BACKUP_ID,
                                                             "storage": fs_storage(tmp_path)}))
    status = wait_phase(kube, name, "Failed", workers)

    assert "spec.kafkaCluster.bootstrapServers[0]" in status["message"]
    assert conditions(status)["Ready"] == ("False", "ValidationFailed")
    assert conditions(status)["Succeeded"] == ("False", "ValidationFailed")
    assert status["observedGeneration"] == 1 and "jobId" not in status
    time.sleep(3 * SETTINGS.status_interval)  # resyncs pass over it: still nothing submitted
    assert submissions == []
    assert state.get_job(api.job_id_for(NS, name, created["metadata"]["uid"], 1)) == {}
    assert jobs_named(name) == []


def test_controller_killed_mid_job_reattaches_without_resubmitting(kube, start_controller, submissions, workers,
                                                                   bootstrap, tmp_path, unique):
    root = tmp_path / "backups"
    topic = unique
    write_backup(root, SampleBackup(topics={topic: 2}, records_per_partition=300, segment_max_records=100))
    expected = backup_records(FilesystemStorage(root), BACKUP_ID, topic)
    name = f"kill-{unique}"
    first = start_controller()
    apply_restore(kube, name, bootstrap, root, [topic], produceBatchSize=25,
                  rateLimiting={"recordsPerSec": 120, "maxConcurrentPartitions": 0})
    eventually(lambda: status_of(kube, name).get("recordsRestored", 0) > 0, timeout=JOB_TIMEOUT,
               what="first progress in status")
    first.stop(release_lease=False)  # abrupt: no hand-over, threads just stop acting
    at_kill = status_of(kube, name)
    assert at_kill["phase"] == "Running", at_kill

    start_controller()
    status = wait_phase(kube, name, "Completed", workers)
    job_id = status["jobId"]
    assert job_id == at_kill["jobId"]
    assert submissions == [job_id]
    assert jobs_named(name) == [job_id]
    job = state.get_job(job_id)
    assert job["sent"] == "true" and job["units_total"] == "2"
    units = state.get_units(job_id)
    assert len(units) == 2
    assert deliveries(workers, f"{job_id}.prepare") == 1
    assert [deliveries(workers, f"{job_id}.{unit}") for unit in units] == [1, 1]
    # The restarted controller kept mirroring progress, not only the end.
    restarted = [p.body["status"] for p in kube.status_patches(NS, name) if p.user_agent == "ctl-1"]
    seen = [s["recordsRestored"] for s in restarted if "recordsRestored" in s]
    assert any(at_kill["recordsRestored"] < n < 600 for n in seen), (at_kill["recordsRestored"], seen)
    assert status["recordsRestored"] == assert_restored(expected, committed_log(bootstrap, topic)) == 600


def test_deleting_a_running_restore_cancels_its_job(kube, start_controller, bootstrap, tmp_path, unique):
    root = tmp_path / "backups"
    topic = unique
    write_backup(root, SampleBackup(topics={topic: 2}, records_per_partition=400, segment_max_records=100))
    expected = backup_records(FilesystemStorage(root), BACKUP_ID, topic)
    name = f"del-{unique}"
    start_controller()
    # Units spend most of their time held back by the rate limit: a cancel lands in that wait.
    apply_restore(kube, name, bootstrap, root, [topic], produceBatchSize=50,
                  rateLimiting={"recordsPerSec": 100, "maxConcurrentPartitions": 0})
    job_id = eventually(lambda: (s := status_of(kube, name)).get("recordsRestored", 0) >= 100 and s["jobId"],
                        timeout=JOB_TIMEOUT, what="progress")
    kube.delete(RESTORES, NS, name)

    eventually(lambda: state.get_job(job_id).get("phase") == "Cancelled", timeout=10, what="job Cancelled in Redis")
    time.sleep(IN_FLIGHT)
    at_cancel = restored_count(bootstrap, topic)
    eventually(lambda: all(u.phase in ("Cancelled", "Completed") for u in state.get_units(job_id).values()),
               timeout=10, what="units stopped")
    time.sleep(2.0)
    log = committed_log(bootstrap, topic)
    assert sum(map(len, log.values())) == at_cancel, "a unit kept writing after the job was cancelled"
    assert 100 <= at_cancel < 800
    for partition, records in log.items():  # what was written is a prefix of the backup, each record once
        assert [(r.key, r.value) for r in records] == [(r.key, r.value) for r in expected[partition][:len(records)]]

    eventually(lambda: kube.get(RESTORES, NS, name) is None, timeout=10, what="object gone")
    phases = [p.body["status"].get("phase") for p in kube.status_patches(NS, name)]
    assert phases[-1] == "Cancelled", phases
    assert [e["reason"] for e in kube.recorded_events(name)][-1] == "Cancelled"


def test_backup_ref_name_resolved_through_kafka_backup(kube, start_controller, submissions, workers, bootstrap,
                                                       tmp_path, unique):
    root = tmp_path / "backups"
    topic = unique
    write_backup(root, SampleBackup(topics={topic: 2}, records_per_partition=30))
    kube.create(BACKUPS, kafka_backup(f"nightly-{unique}", NS, storage=fs_storage(root)))
    start_controller()
    name = f"ref-{unique}"
    apply_restore(kube, name, bootstrap, root, [topic],
                  backupRef={"name": f"nightly-{unique}", "backupId": BACKUP_ID})
    status = wait_phase(kube, name, "Completed", workers)

    assert status["recordsRestored"] == 60
    expected = backup_records(FilesystemStorage(root), BACKUP_ID, topic)
    assert assert_restored(expected, consume_topic(bootstrap, topic)) == 60
    assert json.loads(state.get_job(status["jobId"])["spec"])["backupRef"]["storage"] == fs_storage(root)
    assert submissions == [status["jobId"]]
