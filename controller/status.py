"""The status the controller wants a KafkaRestore to have, and the merge patch that gets it there.

Every desired status names all fields the controller owns, with None for "absent", so a diff
against the current status is both the patch (None deletes in a merge patch) and the answer to
"did anything change?".
"""

from __future__ import annotations

from typing import Any

from controller import conditions
from restore_jobs.spec.model import TERMINAL_PHASES, Condition

# Fields copied from restore_jobs.jobs.api.get_status (DESIGN.md section 4).
JOB_FIELDS = (
    "phase", "message", "startTime", "completionTime", "progressPercent", "recordsRestored", "bytesRestored",
    "segmentsProcessed", "currentTopic", "throughputRecordsPerSec", "etaMs", "offsetMappingPath", "rollback",
)

Status = dict[str, Any]


def for_job(job: dict[str, Any], *, job_id: str, generation: int | None, dry_run: bool,
            pending_generation: int | None, existing: Status, now: str) -> Status:
    """Mirror of a job's state; ``pending_generation`` is a newer spec waiting for this job to end."""
    phase = job.get("phase") or "Pending"
    reason = conditions.reason_for(phase, dry_run=dry_run)
    message = job.get("message") or _default_message(phase, job_id, dry_run)
    progressing = None
    if pending_generation is not None and phase not in TERMINAL_PHASES:
        progressing = (conditions.SPEC_CHANGE_IGNORED,
                       f"spec generation {pending_generation} waits: job {job_id} (generation {generation}) "
                       "keeps running and the new spec is processed when it ends")
    fields = {name: job.get(name) for name in JOB_FIELDS}
    fields.update(phase=phase, message=message)
    return _status(fields, job_id, generation, existing, now,
                   conditions.conditions_for(phase, reason, message, generation, progressing=progressing))


def for_submission(job_id: str, generation: int, existing: Status, now: str) -> Status:
    message = f"job {job_id} submitted"
    fields: Status = {"phase": "Pending", "message": message}
    return _status(fields, job_id, generation, existing, now,
                   conditions.conditions_for("Pending", conditions.reason_for("Pending", dry_run=False),
                                             message, generation))


def for_rejection(reason: str, message: str, generation: int, existing: Status, now: str) -> Status:
    """A generation that gets no job (invalid spec, missing KafkaBackup)."""
    fields: Status = {"phase": "Failed", "message": message, "completionTime": now}
    if existing.get("observedGeneration") == generation and existing.get("phase") == "Failed":
        fields["completionTime"] = existing.get("completionTime") or now
    return _status(fields, None, generation, existing, now,
                   conditions.conditions_for("Failed", reason, message, generation))


def changes(current: Status, desired: Status) -> Status:
    """The merge patch from ``current`` to ``desired``; empty when nothing changed."""
    return {name: value for name, value in desired.items() if current.get(name) != value}


def _status(fields: Status, job_id: str | None, generation: int | None, existing: Status, now: str,
            wanted: list[Condition]) -> Status:
    status: Status = dict.fromkeys(JOB_FIELDS)
    status.update(fields)
    status.update(jobId=job_id, observedGeneration=generation,
                  conditions=conditions.to_wire(wanted, existing.get("conditions") or [], now))
    return status


def _default_message(phase: str, job_id: str, dry_run: bool) -> str:
    if phase == "Completed":
        return f"dry run of job {job_id} passed" if dry_run else f"job {job_id} completed"
    return f"job {job_id} is {phase.lower()}"
