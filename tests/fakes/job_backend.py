"""An in-memory job backend for controller tests: jobs move through phases only when a test says so."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Any

from restore_jobs.jobs.api import job_id_for as _job_id_for
from restore_jobs.spec.model import TERMINAL_PHASES, KafkaRestore


class FakeJobBackend:
    """Implements controller.backend.JobBackend with the real job id derivation.

    ``submissions`` lists every submit call; ``on_submit`` runs inside submit (to observe what the
    controller had written before submitting, or to fail on purpose).
    """

    def __init__(self, *, cancel_completes: bool = False):
        self._lock = threading.Lock()
        self.jobs: dict[str, dict[str, Any]] = {}
        self.submissions: list[tuple[str, KafkaRestore]] = []
        self.cancels: list[str] = []
        self.cancel_completes = cancel_completes
        self.on_submit: Callable[[KafkaRestore, str], None] | None = None

    def job_id_for(self, namespace: str, name: str, uid: str, generation: int) -> str:
        return _job_id_for(namespace, name, uid, generation)

    def submit(self, resource: KafkaRestore, job_id: str) -> str:
        if self.on_submit is not None:
            self.on_submit(resource, job_id)
        with self._lock:
            self.submissions.append((job_id, resource))
            self.jobs.setdefault(job_id, {"phase": "Pending"})
        return job_id

    def get_status(self, job_id: str) -> dict[str, Any] | None:
        with self._lock:
            job = self.jobs.get(job_id)
            return copy.deepcopy(job) if job is not None else None

    def cancel(self, job_id: str) -> None:
        with self._lock:
            self.cancels.append(job_id)
            job = self.jobs.get(job_id)
            if job is not None and self.cancel_completes and job["phase"] not in TERMINAL_PHASES:
                job.update(phase="Cancelled", message="cancelled")

    # -- test controls ---------------------------------------------------------------------------

    def update(self, job_id: str, **fields: Any) -> None:
        """Set status fields (camelCase, as restore_jobs.jobs.api.get_status returns them)."""
        with self._lock:
            self.jobs[job_id].update(fields)

    def submitted_ids(self) -> list[str]:
        with self._lock:
            return [job_id for job_id, _ in self.submissions]
