"""The restore canvas. Task ids are fixed from the job id, so a cancel can revoke them, Flower
shows readable names (``restore_partition orders[3]``), and a re-sent unit keeps its id."""

from __future__ import annotations

import json

from celery import chord, group
from celery.canvas import Signature

from restore_jobs.restore.plan import RestorePlan, UnitPlan

from . import state
from .app import CONTROL_QUEUE, RESTORE_QUEUE, app


def prepare_signature(job_id: str) -> Signature:
    return app.signature(
        "restore_jobs.prepare", args=(job_id,), queue=CONTROL_QUEUE, task_id=f"{job_id}.prepare", immutable=True
    )


def unit_signature(job_id: str, unit: UnitPlan) -> Signature:
    return app.signature(
        "restore_jobs.restore_partition",
        args=(job_id, unit.to_dict()),
        queue=RESTORE_QUEUE,
        task_id=f"{job_id}.{unit.name}",
        shadow=f"restore_partition {unit.name}",
        argsrepr=repr((job_id, unit.name)),  # the unit's segment list is long; Flower shows this
        immutable=True,
    )


def finalize_signature(job_id: str) -> Signature:
    return app.signature(
        "restore_jobs.finalize", args=(job_id,), queue=CONTROL_QUEUE, task_id=f"{job_id}.finalize", immutable=True
    )


def restore_chord(job_id: str, plan: RestorePlan) -> Signature:
    """chord(restore_partition x N, finalize); recorded in the job state before it is sent."""
    units = [unit_signature(job_id, u) for u in plan.units]
    body = finalize_signature(job_id)
    task_ids = [s.id for s in units] + [body.id]
    state.update_job(
        job_id,
        task_ids=task_ids,
        plan_units={u.name: u.to_dict() for u in plan.units},
    )
    if not units:
        return body
    return chord(group(units), body)


def recorded_task_ids(job_id: str) -> list[str]:
    raw = state.get_job(job_id).get("task_ids")
    return [f"{job_id}.prepare", *(json.loads(raw) if raw else [])]
