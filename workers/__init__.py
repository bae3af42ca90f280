"""Worker entry point: ``celery -A workers worker -Q restore,control``.

Queues: ``restore`` carries the per-partition units, ``control`` the short prepare, finalize and
rollback tasks. Run them as separate pools in production so long restores never starve another
job's prepare or finalize (the Helm chart does); one worker may serve both for local use.
Settings come from the environment (see README, "Configuration").
"""

import logging

from celery.signals import setup_logging

from restore_jobs import logs
from restore_jobs.jobs import tasks  # noqa: F401  (registers the tasks)
from restore_jobs.jobs.app import app


@setup_logging.connect
def _structured_logs(loglevel: int | str | None = None, **_: object) -> None:
    """Celery's own logs and ours in one structured format (KAFKA_RESTORE_LOG_FORMAT)."""
    logs.configure(level=logging.getLevelName(loglevel) if isinstance(loglevel, int) else loglevel)

__all__ = ["app"]
