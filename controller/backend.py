"""The job system as the controller sees it: four calls, injectable so tests can drive phases."""

from __future__ import annotations

from typing import Any, Protocol

from restore_jobs.spec.model import KafkaRestore


class JobBackend(Protocol):
    def job_id_for(self, namespace: str, name: str, uid: str, generation: int) -> str: ...

    def submit(self, resource: KafkaRestore, job_id: str) -> str: ...

    def get_status(self, job_id: str) -> dict[str, Any] | None: ...

    def cancel(self, job_id: str) -> None: ...


def default_backend() -> JobBackend:
    """``restore_jobs.jobs.api``: the module itself satisfies the protocol."""
    from restore_jobs.jobs import api

    return api
