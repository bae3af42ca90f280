"""Kubernetes-style conditions for a bounded job: Ready, Progressing and Succeeded.

Succeeded is Unknown while the job runs and True/False at the end (API conventions for jobs);
Ready mirrors "completed successfully" for tools that only look at Ready. lastTransitionTime
changes only when a condition's status flips, so an unchanged job yields an identical list.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from restore_jobs.spec import dump_status
from restore_jobs.spec.model import TERMINAL_PHASES, Condition, RestoreStatus

READY = "Ready"
PROGRESSING = "Progressing"
SUCCEEDED = "Succeeded"
OURS = (READY, PROGRESSING, SUCCEEDED)

PHASE_REASONS = {
    "Pending": "RestorePending",
    "Running": "RestoreRunning",
    "Finalizing": "RestoreRunning",
    "Completed": "RestoreSucceeded",
    "Failed": "RestoreFailed",
    "RolledBack": "RolledBack",
    "Cancelled": "Cancelled",
}
DRY_RUN_PASSED = "DryRunPassed"
VALIDATION_FAILED = "ValidationFailed"
BACKUP_NOT_FOUND = "BackupNotFound"
SPEC_CHANGE_IGNORED = "SpecChangeIgnored"


def reason_for(phase: str, *, dry_run: bool) -> str:
    if phase == "Completed" and dry_run:
        return DRY_RUN_PASSED
    return PHASE_REASONS.get(phase, "RestoreRunning")


def conditions_for(phase: str, reason: str, message: str, generation: int | None, *,
                   progressing: tuple[str, str] | None = None) -> list[Condition]:
    """``progressing`` overrides the Progressing reason and message (e.g. SpecChangeIgnored)."""
    running = phase not in TERMINAL_PHASES
    succeeded = phase == "Completed"
    outcome = "Unknown" if running else ("True" if succeeded else "False")
    progressing_reason, progressing_message = progressing or (reason, message)
    return [
        Condition(READY, "True" if succeeded else "False", reason, message, observed_generation=generation),
        Condition(PROGRESSING, "True" if running else "False", progressing_reason, progressing_message,
                  observed_generation=generation),
        Condition(SUCCEEDED, outcome, reason, message, observed_generation=generation),
    ]


def to_wire(desired: list[Condition], existing: list[dict[str, Any]], now: str) -> list[dict[str, Any]]:
    """The full conditions list for a merge patch: ours with stable transition times, then any
    condition another writer added."""
    previous = {c.get("type"): c for c in existing}
    stamped = []
    for condition in desired:
        old = previous.get(condition.type)
        unchanged = old is not None and old.get("status") == condition.status and old.get("lastTransitionTime")
        stamped.append(replace(condition, last_transition_time=old["lastTransitionTime"] if unchanged else now))
    foreign = [c for c in existing if c.get("type") not in OURS]
    return dump_status(RestoreStatus(conditions=stamped)).get("conditions", []) + foreign


def reason_of(status: dict[str, Any], condition_type: str = READY) -> str | None:
    for condition in status.get("conditions") or []:
        if condition.get("type") == condition_type:
            return condition.get("reason")
    return None
