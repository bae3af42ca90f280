"""The job watchdog: finds the work a dead worker took with it and sends it again.

Redis gives the unacknowledged message of a worker that vanished back only after the visibility
timeout (hours), so a unit or a finalize held by a SIGKILLed worker or a lost node would wait that
long. Instead every held task has a lease in the job's state: renewed when a worker receives its
message (until the countdown ends, for a delayed retry or a unit waiting for a concurrency slot),
when a unit starts, and at every batch. A task whose lease ended more than
``KAFKA_RESTORE_UNIT_LOST_AFTER`` seconds ago is sent again with the same task id. That is safe:
a unit is exactly-once (the new run fences the old producer and resumes from its Kafka checkpoint)
and finalize does nothing for a job that has ended.

A unit whose message no worker has received yet has no lease: it is queued and the broker holds
it, however long the queue. A re-sent unit is queued again (its lease is dropped) so it is not
re-sent while it waits for a free worker.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

from celery.signals import task_received

from restore_jobs.restore.plan import UnitPlan

from . import canvas, state

log = logging.getLogger(__name__)

UNIT_LOST_AFTER = float(os.environ.get("KAFKA_RESTORE_UNIT_LOST_AFTER", "120"))
UNIT_TASK = "restore_jobs.restore_partition"
FINALIZE_TASK = "restore_jobs.finalize"
PREPARE_TASK = "restore_jobs.prepare"
# Leases of the job's prepare and finalize tasks; never unit names (those are topic[p]).
FINALIZE = "@finalize"
PREPARE = "@prepare"
_LEASED_TASKS = {UNIT_TASK: None, FINALIZE_TASK: FINALIZE, PREPARE_TASK: PREPARE}
SETTLED = frozenset({"Completed", "Failed", "Cancelled"})


@dataclass
class Lost:
    units: list[str] = field(default_factory=list)
    finalize: bool = False
    prepare: bool = False


def find_lost(
    phase: str, units: dict[str, state.UnitState], leases: dict[str, float], now: float, lost_after: float
) -> Lost:
    """What a job (in ``phase``) must have sent again: prepare when a worker took it and died before
    it planned the units, units whose holder stopped renewing their lease, and finalize when every
    unit is done but no live worker finalizes the job."""
    lost = Lost()
    if phase in ("Pending", "Running") and not units:
        lost.prepare = PREPARE in leases and leases[PREPARE] + lost_after < now
        return lost
    if phase == "Running":
        lost.units = sorted(
            name for name, u in units.items()
            if u.phase not in SETTLED and name in leases and leases[name] + lost_after < now
        )
    if not units or any(u.phase != "Completed" for u in units.values()):
        return lost
    held = leases.get(FINALIZE, 0.0) + lost_after >= now
    if phase == "Running":
        # The chord sends finalize the moment the last unit ends; a re-sent unit is outside the chord.
        last_finished = max(u.finished for u in units.values())
        lost.finalize = not held and last_finished + lost_after < now
    elif phase == "Finalizing":
        lost.finalize = not held
    return lost


def resend_lost(now: float | None = None, lost_after: float = UNIT_LOST_AFTER) -> list[str]:
    """One watchdog pass over the recent jobs; returns what was sent again (``job/unit``)."""
    now = time.time() if now is None else now
    resent: list[str] = []
    for job_id in state.list_jobs(limit=200):
        job = state.get_job(job_id)
        if job.get("phase") not in ("Pending", "Running", "Finalizing") or "stop" in job:
            continue
        lost = find_lost(job["phase"], state.get_units(job_id), state.get_leases(job_id), now, lost_after)
        if lost.prepare:
            log.warning("prepare lost with its worker (lease expired); sending it again", extra={"job": job_id})
            state.drop_lease(job_id, PREPARE)
            canvas.prepare_signature(job_id).apply_async()
            resent.append(f"{job_id}/{PREPARE}")
        plans: dict[str, Any] = json.loads(job.get("plan_units") or "{}")
        for name in lost.units:
            if name not in plans:
                continue
            log.warning("unit lost with its worker (lease expired); sending it again",
                        extra={"job": job_id, "unit": name})
            state.drop_lease(job_id, name)
            canvas.unit_signature(job_id, UnitPlan.from_dict(plans[name])).apply_async()
            resent.append(f"{job_id}/{name}")
        if lost.finalize:
            log.warning("every unit is done but no worker finalizes the job; sending finalize again",
                        extra={"job": job_id})
            state.renew_lease(job_id, FINALIZE, now)
            canvas.finalize_signature(job_id).apply_async()
            resent.append(f"{job_id}/{FINALIZE}")
    return resent


@task_received.connect
def _on_received(sender: Any = None, request: Any = None, **_: Any) -> None:
    """In the worker's main process, as soon as it holds a message: renew the task's lease until it
    is due to run (a retry's countdown), so a worker that dies holding it is noticed."""
    if request is None or request.task.name not in _LEASED_TASKS or not request.args:
        return
    job_id = str(request.args[0])
    task = _LEASED_TASKS[request.task.name] or str(request.id).removeprefix(f"{job_id}.")
    until = max(time.time(), request.eta.timestamp() if request.eta else 0.0)
    state.renew_lease(job_id, task, until)
