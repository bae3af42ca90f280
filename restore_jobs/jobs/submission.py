"""Submitting and cancelling jobs; used by the controller, the CLI and ``celery call``."""

from __future__ import annotations

import hashlib
import json
import logging

from restore_jobs.spec import dump_spec
from restore_jobs.spec.model import KafkaRestore

from . import api, canvas, state
from .app import app

log = logging.getLogger(__name__)


def default_job_id(resource: KafkaRestore) -> str:
    """For submissions outside Kubernetes: the same resource (name and spec) maps to the same job,
    so submitting a file twice attaches to the first job instead of restoring twice."""
    digest = hashlib.sha256(json.dumps(dump_spec(resource.spec), sort_keys=True).encode()).hexdigest()[:16]
    meta = resource.metadata
    return api.job_id_for(meta.namespace or "default", meta.name, digest, meta.generation or 1)


def submit(resource: KafkaRestore, job_id: str) -> str:
    """Record the job (phase Pending) and send its canvas. Idempotent on ``job_id``: a job that
    exists is not sent again, except one recorded but never sent (a crash between the two)."""
    meta = resource.metadata
    created = state.create_job(
        job_id,
        {
            "name": meta.name,
            "namespace": meta.namespace or "",
            "generation": str(meta.generation or 0),
            "spec": json.dumps(dump_spec(resource.spec)),
            "dry_run": "true" if resource.spec.dry_run else "false",
            "message": "submitted",
        },
    )
    job = state.get_job(job_id)
    if created or "sent" not in job:
        canvas.prepare_signature(job_id).apply_async()
        state.update_job(job_id, sent="true")
        log.info("job submitted", extra={"job": job_id, "resource": f"{meta.namespace}/{meta.name}"})
    return job_id


def cancel(job_id: str) -> bool:
    """Stop the job: queued tasks are revoked, running units abort at their next batch.
    False when the job is unknown or already over."""
    if not state.get_job(job_id):
        return False
    state.request_stop(job_id, "cancelled")
    moved = state.set_phase(job_id, "Cancelled", "cancelled; running units stop at their next batch")
    app.control.revoke(canvas.recorded_task_ids(job_id))
    return moved
