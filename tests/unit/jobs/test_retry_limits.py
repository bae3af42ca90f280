"""Tasks that retry do so under the job's own limits; Celery's default cap must not cut them short."""

from __future__ import annotations

from restore_jobs.jobs import tasks
from restore_jobs.jobs.app import app


def test_tasks_that_retry_have_no_celery_retry_cap() -> None:
    retrying = {"restore_jobs.prepare", "restore_jobs.restore_partition", "restore_jobs.finalize"}
    assert {name for name in retrying if app.tasks[name].max_retries is not None} == set()
    assert tasks.MAX_TRANSIENT_RETRIES > 3  # above Celery's default, which these tasks would have hit
