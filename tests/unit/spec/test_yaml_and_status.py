"""Reading YAML the way Kubernetes does, and the status contract the controller writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from restore_jobs.spec import (
    SpecFileError,
    SpecValidationError,
    dump_status,
    load_resource,
    load_status,
    read_yaml_documents,
)
from restore_jobs.spec.model import Condition, RestoreStatus, RollbackStatus


def test_timestamps_stay_strings_and_documents_split(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("a: 2026-04-13T10:00:00Z\n---\n---\nb: [1, 2]\n", encoding="utf-8")
    assert read_yaml_documents(str(path)) == [{"a": "2026-04-13T10:00:00Z"}, {"b": [1, 2]}]


def test_unquoted_pitr_time_loads(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(
        "apiVersion: kafka.oso.sh/v1alpha1\nkind: KafkaRestore\nmetadata: {name: r}\n"
        "spec:\n  backupRef: {name: b}\n  kafkaCluster: {bootstrapServers: ['k:9092']}\n"
        "  pitr: {startTime: 2026-04-13T10:00:00Z}\n",
        encoding="utf-8",
    )
    (document,) = read_yaml_documents(str(path))
    assert load_resource(document).spec.pitr.start_ms == 1776074400000


def test_duplicate_key_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("spec:\n  dryRun: true\n  dryRun: false\n", encoding="utf-8")
    with pytest.raises(SpecFileError) as caught:
        read_yaml_documents(str(path))
    assert str(caught.value) == f"{path}: invalid YAML at line 3, column 3: found duplicate key 'dryRun'"


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(SpecFileError, match=r"^.*nope\.yaml: cannot read: "):
        read_yaml_documents(str(tmp_path / "nope.yaml"))
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(SpecFileError, match=r"bin\.yaml: cannot read: "):
        read_yaml_documents(str(binary))


FULL_STATUS = RestoreStatus(
    phase="Completed",
    message="Restore completed successfully",
    start_time="2026-04-13T12:00:00Z",
    completion_time="2026-04-13T12:30:00Z",
    progress_percent=100.0,
    records_restored=1000000,
    bytes_restored=1073741824,
    segments_processed=8,
    current_topic="orders",
    throughput_records_per_sec=555.5,
    eta_ms=0,
    offset_mapping_path="s3://bucket/backup/offset-mapping.json",
    rollback=RollbackStatus("snap-1", "2026-04-13T12:00:00Z", "offset-snapshots/snap-1", True, "2026-04-14T12:00:00Z"),
    observed_generation=2,
    job_id="job-1",
    conditions=[Condition("Succeeded", "True", "Completed", "", "2026-04-13T12:30:00Z", 2)],
)


def test_status_round_trip_camel_case() -> None:
    dumped = dump_status(FULL_STATUS)
    assert dumped["recordsRestored"] == 1000000 and dumped["jobId"] == "job-1"
    assert dumped["rollback"]["rollbackAvailable"] is True and dumped["rollback"]["expiresAt"] == "2026-04-14T12:00:00Z"
    assert dumped["conditions"] == [
        {
            "type": "Succeeded",
            "status": "True",
            "reason": "Completed",
            "message": "",
            "lastTransitionTime": "2026-04-13T12:30:00Z",
            "observedGeneration": 2,
        }
    ]
    assert load_status(dumped) == FULL_STATUS


def test_seed_status_loads_and_none_is_omitted() -> None:
    seed = {
        "phase": "Completed",
        "message": "Restore completed successfully",
        "startTime": "2026-04-13T12:00:00Z",
        "completionTime": "2026-04-13T12:30:00Z",
        "progressPercent": 100,
        "recordsRestored": 1000000,
        "bytesRestored": 1073741824,
        "segmentsProcessed": 8,
        "offsetMappingPath": "/tmp/offset-mapping.json",
    }
    status = load_status(seed)
    assert status.progress_percent == 100 and status.rollback is None and status.conditions == []
    assert dump_status(status) == seed
    assert dump_status(RestoreStatus(phase="Pending")) == {"phase": "Pending"}


def test_status_errors_name_the_field() -> None:
    with pytest.raises(SpecValidationError) as caught:
        load_status({"phase": "Done", "progressPercent": 101, "conditions": [{"type": "Succeeded", "status": "yes"}]})
    assert [str(e) for e in caught.value.errors] == [
        "status.phase: must be one of Pending, Running, Finalizing, Completed, Failed, RolledBack, Cancelled",
        "status.progressPercent: must be from 0 to 100",
        "status.conditions[0].status: must be one of True, False, Unknown",
        "status.conditions[0].reason: required",
    ]
