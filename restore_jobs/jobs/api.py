"""What the controller and the CLI may call: submit, read, cancel a job. Nothing else of
``restore_jobs.jobs`` is theirs to touch.

A job id is fixed before submission, so submitting the same id twice is a no-op that returns the
existing job.
"""

from __future__ import annotations

import hashlib
from typing import Any

from restore_jobs.spec.model import KafkaRestore


def job_id_for(namespace: str, name: str, uid: str, generation: int) -> str:
    """Stable per resource generation: a resubmitted generation maps to the same job."""
    digest = hashlib.sha256(f"{namespace}/{name}/{uid}/{generation}".encode()).hexdigest()[:12]
    return f"{name[:40]}-g{generation}-{digest}"


def submit(resource: KafkaRestore, job_id: str) -> str:
    """Record the job (phase Pending) and send its canvas. Idempotent on ``job_id``."""
    from restore_jobs.jobs import submission

    return submission.submit(resource, job_id)


def get_status(job_id: str) -> dict[str, Any] | None:
    """The job's state in the camelCase status shape of DESIGN.md section 4 (no conditions:
    those are the controller's), or None for an unknown job."""
    from restore_jobs.jobs import state

    return state.status_dict(job_id)


def vanished_status(job_id: str) -> dict[str, Any]:
    """What to report for a job that was followed and is no longer in the job store: Redis lost it
    (restarted without persistence, or flushed)."""
    return {
        "jobId": job_id,
        "phase": "Failed",
        "message": (
            f"job {job_id} is no longer in the job store (was Redis restarted without persistence?); "
            "submit it again: its units resume from their Kafka checkpoints and write nothing twice"
        ),
    }


def cancel(job_id: str) -> bool:
    """Revoke the canvas and ask running units to stop at their next batch. Idempotent: False
    when the job is unknown or already over."""
    from restore_jobs.jobs import submission

    return submission.cancel(job_id)
