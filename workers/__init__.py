"""Worker entry point: ``celery -A workers worker -Q restore,control``.

Queues: ``restore`` carries the per-partition units, ``control`` the short prepare, finalize and
rollback tasks. Run them as separate pools in production so long restores never starve another
job's prepare or finalize (the Helm chart does); one worker may serve both for local use.
Settings come from the environment (see README, "Configuration").
"""

import gc
import logging

from celery.signals import setup_logging, worker_init

from restore_jobs import logs
from restore_jobs.backup.segment import NATIVE_PARSER
from restore_jobs.jobs import tasks  # noqa: F401  (registers the tasks)
from restore_jobs.jobs.app import app
from restore_jobs.jobs.context import min_transaction_bytes

# A malformed setting stops the worker at start, naming it, rather than failing each unit.
min_transaction_bytes()


@setup_logging.connect
def _structured_logs(loglevel: int | str | None = None, **_: object) -> None:
    """Celery's own logs and ours in one structured format (KAFKA_RESTORE_LOG_FORMAT)."""
    logs.configure(level=logging.getLevelName(loglevel) if isinstance(loglevel, int) else loglevel)


@worker_init.connect
def _freeze_startup_heap(**_: object) -> None:
    """The ~90k objects loaded at start (modules, the app) live as long as the process. Frozen out
    of the cyclic collector's reach before the pool forks, they are no longer scanned by the full
    collections a unit triggers every ~20k records it decodes (0.4 s -> 0.13 s of collection per
    100k records), and the pool processes keep sharing their pages with the parent."""
    gc.freeze()


@worker_init.connect
def _report_record_parser(**_: object) -> None:
    if not NATIVE_PARSER:
        logging.getLogger(__name__).warning(
            "the C record parser (restore_jobs.backup._records) is not built: records are decoded in "
            "Python, several times slower; reinstall kafka-restore where a C compiler is available")


__all__ = ["app"]
