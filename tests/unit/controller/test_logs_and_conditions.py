from __future__ import annotations

import json
import logging

from controller.conditions import conditions_for, to_wire
from controller.status import changes
from restore_jobs.logs import JsonFormatter, KeyValueFormatter


def test_log_lines_carry_resource_and_job_fields() -> None:
    record = logging.LogRecord("controller.reconcile", logging.INFO, __file__, 1, "job submitted", (), None)
    record.resource = "team-a/orders"
    record.job_id = "orders-g1-abc"
    record.detail = "two words"
    line = KeyValueFormatter().format(record)
    assert line.endswith("level=INFO logger=controller.reconcile msg='job submitted' resource=team-a/orders "
                         "job_id=orders-g1-abc detail='two words'")
    assert json.loads(JsonFormatter().format(record)) | {"time": "T"} == {
        "time": "T", "level": "INFO", "logger": "controller.reconcile", "message": "job submitted",
        "resource": "team-a/orders", "job_id": "orders-g1-abc", "detail": "two words",
    }


def test_to_wire_keeps_times_of_unflipped_conditions_and_foreign_ones() -> None:
    existing = [
        {"type": "Ready", "status": "False", "reason": "RestoreRunning", "lastTransitionTime": "T0"},
        {"type": "Succeeded", "status": "Unknown", "reason": "RestoreRunning", "lastTransitionTime": "T0"},
        {"type": "ExternalCheck", "status": "True", "reason": "Fine", "lastTransitionTime": "T-1"},
    ]
    wire = to_wire(conditions_for("Failed", "RestoreFailed", "boom", 3), existing, "T1")
    assert [(c["type"], c["status"], c["lastTransitionTime"], c["observedGeneration"]) for c in wire[:3]] == [
        ("Ready", "False", "T0", 3), ("Progressing", "False", "T1", 3), ("Succeeded", "False", "T1", 3)]
    assert wire[3] == existing[2]


def test_changes_treats_missing_and_none_alike() -> None:
    assert changes({"phase": "Running"}, {"phase": "Running", "etaMs": None}) == {}
    assert changes({"etaMs": 5}, {"etaMs": None}) == {"etaMs": None}
