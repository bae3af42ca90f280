"""One level-triggered, idempotent pass over one KafkaRestore.

Policies (also in ``controller.main``'s docstring):
- A generation is submitted at most once: jobId and observedGeneration go into the status
  *before* submit, and a status holding a jobId re-attaches to that job. Only a job the job store
  has never heard of while the status still says Pending is submitted again, with the same id
  (submit is idempotent on it): that is a submission interrupted by a crash.
- A spec change while a job runs does not touch the job; Progressing says SpecChangeIgnored and
  the new generation gets a new job once the running one ends.
- A missing KafkaBackup fails the generation with reason BackupNotFound, and the periodic resync
  keeps looking: when the KafkaBackup appears, the restore is submitted.
- Deleting a restore with a running job cancels the job and keeps the finalizer until the job is
  terminal, or until ``cancel_timeout`` has passed (then a CancelTimeout warning event is raised).
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from controller import conditions, metrics, status
from controller.backend import JobBackend
from controller.kube import FINALIZER, EventRecorder, Obj, RestoreApi, now_iso
from restore_jobs.spec import SpecValidationError, load_resource
from restore_jobs.spec.model import TERMINAL_PHASES, KafkaRestore

log = logging.getLogger(__name__)

_TERMINAL_EVENTS = {"Completed": False, "Failed": True, "RolledBack": True, "Cancelled": False}


class NotLeader(Exception):
    """Raised before any write once this replica may no longer act."""


class _Rejected(Exception):
    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass
class _Written:
    obj: Obj
    patched: bool
    delay: float | None = None


class Reconciler:
    def __init__(self, restores: RestoreApi, events: EventRecorder, backend: JobBackend, *,
                 status_interval: float, cancel_timeout: float, may_act: Callable[[], bool],
                 clock: Callable[[], float] = time.monotonic):
        self._restores = restores
        self._events = events
        self._backend = backend
        self._interval = status_interval
        self._cancel_timeout = cancel_timeout
        self._may_act = may_act
        self._clock = clock
        self._last_patch: dict[str, float] = {}
        self._cancel_requested: dict[str, tuple[str, float]] = {}

    def reconcile(self, namespace: str, name: str) -> float | None:
        """Returns seconds until this resource wants another pass, or None."""
        key = f"{namespace}/{name}"
        obj = self._restores.get(namespace, name)
        if obj is None:
            self.forget(key)
            return None
        if obj["metadata"].get("deletionTimestamp"):
            return self._finalize(key, obj)
        current = obj.get("status") or {}
        generation = obj["metadata"].get("generation")
        job_id = current.get("jobId")
        if not job_id:
            handled = current.get("observedGeneration") == generation
            if handled and conditions.reason_of(current) != conditions.BACKUP_NOT_FOUND:
                return None
            return self._process(key, obj)
        job = self._backend.get_status(job_id)
        phase = current.get("phase")
        if job is None:
            if phase in (None, "Pending"):
                return self._process(key, obj)
            if phase in TERMINAL_PHASES:
                return None if current.get("observedGeneration") == generation else self._process(key, obj)
            job = {"phase": "Failed", "message": f"job {job_id} is not in the job store any more"}
        ended = job.get("phase") in TERMINAL_PHASES
        if ended and phase == job.get("phase") and current.get("observedGeneration") != generation:
            return self._process(key, obj)
        return self._mirror(key, obj, job_id, job).delay

    def forget(self, key: str) -> None:
        self._last_patch.pop(key, None)
        self._cancel_requested.pop(key, None)

    # -- a new generation --------------------------------------------------------------------

    def _process(self, key: str, obj: Obj) -> float | None:
        meta = obj["metadata"]
        generation = meta.get("generation") or 1
        existing = obj.get("status") or {}
        try:
            resource = self._load(key, obj)
        except _Rejected as rejected:
            desired = status.for_rejection(rejected.reason, str(rejected), generation, existing, now_iso())
            written = self._write(key, obj, desired, force=True)
            if written.patched:
                log.warning("restore rejected", extra={"resource": key, "reason": rejected.reason,
                                                       "detail": str(rejected)})
                self._events.record(obj, rejected.reason, str(rejected), warning=True)
            return None
        job_id = self._backend.job_id_for(meta["namespace"], meta["name"], meta["uid"], generation)
        obj = self._ensure_finalizer(obj)
        self._write(key, obj, status.for_submission(job_id, generation, existing, now_iso()), force=True)
        self._guard()
        self._backend.submit(resource, job_id)
        metrics.SUBMISSIONS.inc()
        log.info("job submitted", extra={"resource": key, "job_id": job_id, "generation": generation})
        self._events.record(obj, "Submitted", f"job {job_id} submitted for generation {generation}")
        return self._interval

    def _load(self, key: str, obj: Obj) -> KafkaRestore:
        data = {name: copy.deepcopy(obj[name]) for name in ("apiVersion", "kind", "metadata", "spec") if name in obj}
        source = f"KafkaRestore {key}"
        resource = _validated(data, source, "invalid spec")
        ref = resource.spec.backup_ref
        if not ref.name or ref.storage is not None:
            return resource
        namespace = ref.namespace or obj["metadata"]["namespace"]
        backup = self._restores.get_backup(namespace, ref.name)
        if backup is None:
            raise _Rejected(conditions.BACKUP_NOT_FOUND,
                            f"KafkaBackup {namespace}/{ref.name} (spec.backupRef.name) not found; "
                            "the restore starts when it appears")
        storage = (backup.get("spec") or {}).get("storage")
        if not storage:
            raise _Rejected(conditions.VALIDATION_FAILED,
                            f"KafkaBackup {namespace}/{ref.name} has no spec.storage to restore from")
        data["spec"]["backupRef"]["storage"] = storage
        return _validated(data, source, f"storage of KafkaBackup {namespace}/{ref.name} is invalid")

    def _ensure_finalizer(self, obj: Obj) -> Obj:
        finalizers = obj["metadata"].get("finalizers") or []
        if FINALIZER in finalizers:
            return obj
        self._guard()
        return self._restores.set_finalizers(obj, [*finalizers, FINALIZER])

    # -- a running job -----------------------------------------------------------------------

    def _mirror(self, key: str, obj: Obj, job_id: str, job: dict[str, Any]) -> _Written:
        current = obj.get("status") or {}
        job_generation = current.get("observedGeneration")
        generation = obj["metadata"].get("generation")
        pending = generation if generation != job_generation else None
        desired = status.for_job(job, job_id=job_id, generation=job_generation,
                                 dry_run=bool((obj.get("spec") or {}).get("dryRun")),
                                 pending_generation=pending, existing=current, now=now_iso())
        written = self._write(key, obj, desired)
        phase = desired["phase"]
        if written.patched and current.get("phase") != phase and phase in TERMINAL_PHASES:
            log.info("job ended", extra={"resource": key, "job_id": job_id, "phase": phase})
            self._events.record(obj, phase, desired["message"], warning=_TERMINAL_EVENTS[phase])
            if pending is not None:
                written.delay = 0.0
        return written

    def _write(self, key: str, obj: Obj, desired: status.Status, *, force: bool = False) -> _Written:
        """Patch what changed; at most once per interval unless the phase changes or ``force``."""
        diff = status.changes(obj.get("status") or {}, desired)
        if not diff:
            return _Written(obj, patched=False)
        if not force and "phase" not in diff:
            wait = self._last_patch.get(key, float("-inf")) + self._interval - self._clock()
            if wait > 0:
                return _Written(obj, patched=False, delay=wait)
        self._guard()
        meta = obj["metadata"]
        patched = self._restores.patch_status(meta["namespace"], meta["name"], diff)
        self._last_patch[key] = self._clock()
        metrics.STATUS_PATCHES.inc()
        return _Written(patched, patched=True)

    # -- deletion ----------------------------------------------------------------------------

    def _finalize(self, key: str, obj: Obj) -> float | None:
        finalizers = obj["metadata"].get("finalizers") or []
        if FINALIZER not in finalizers:
            self.forget(key)
            return None
        job_id = (obj.get("status") or {}).get("jobId")
        job = self._backend.get_status(job_id) if job_id else None
        if job_id and job is not None:
            obj = self._mirror(key, obj, job_id, job).obj
            if job.get("phase") not in TERMINAL_PHASES:
                delay = self._await_cancel(key, obj, job_id)
                if delay is not None:
                    return delay
        self._guard()
        self._restores.set_finalizers(obj, [f for f in finalizers if f != FINALIZER])
        log.info("finalizer removed", extra={"resource": key, "job_id": job_id})
        self.forget(key)
        return None

    def _await_cancel(self, key: str, obj: Obj, job_id: str) -> float | None:
        """Seconds until the next look, or None once waiting is over."""
        requested = self._cancel_requested.get(key)
        if requested is None or requested[0] != job_id:
            self._guard()
            self._backend.cancel(job_id)
            self._cancel_requested[key] = (job_id, self._clock())
            log.info("job cancel requested", extra={"resource": key, "job_id": job_id})
            return self._interval
        if self._clock() - requested[1] < self._cancel_timeout:
            return self._interval
        message = (f"job {job_id} did not stop within {self._cancel_timeout:g}s of cancellation; "
                   "removing the finalizer anyway")
        log.warning("cancel timed out", extra={"resource": key, "job_id": job_id})
        self._events.record(obj, "CancelTimeout", message, warning=True)
        return None

    def _guard(self) -> None:
        if not self._may_act():
            raise NotLeader("this replica does not hold the lease")


def _validated(data: dict[str, Any], source: str, context: str) -> KafkaRestore:
    try:
        return load_resource(data, source=source)
    except SpecValidationError as error:
        details = "; ".join(str(e) for e in error.errors) or str(error)
        raise _Rejected(conditions.VALIDATION_FAILED, f"{context}: {details}") from None
