"""The Celery application, configured from the environment.

Reliability choices, and why:
- ``task_acks_late`` + ``task_reject_on_worker_lost``: a task is acknowledged only when it ends, so
  a unit whose worker dies is delivered again. That is safe because units are exactly-once.
- ``worker_prefetch_multiplier = 1``: a worker holds no queue of long units it cannot start.
- ``visibility_timeout``: how long Redis waits before redelivering an unacknowledged task of a
  worker that vanished. Units checkpoint every batch, and a lost unit is also re-sent by the
  job's watchdog long before this (see ``watchdog``), so it only needs to exceed the
  longest time a healthy unit may run.
- ``broker_connection_retry`` + ``result_backend_always_retry``: a Redis restart or failover
  pauses workers (they reconnect) instead of failing tasks; job state calls retry the same way
  (``state.client``).
- JSON only: task arguments are small, inspectable and never pickled.
- Two queues: ``restore`` for units and ``control`` for prepare/finalize/rollback, so a long
  restore never starves another job's prepare or finalize.
"""

from __future__ import annotations

import os

from celery import Celery
from celery.app.amqp import AMQP

DEFAULT_URL = "redis://127.0.0.1:6379/0"
RESTORE_QUEUE = "restore"
CONTROL_QUEUE = "control"


def _visibility_timeout() -> int:
    raw = os.environ.get("KAFKA_RESTORE_VISIBILITY_TIMEOUT", "21600")
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"KAFKA_RESTORE_VISIBILITY_TIMEOUT: expected seconds, got {raw!r}") from None
    if value <= 0:
        raise ValueError("KAFKA_RESTORE_VISIBILITY_TIMEOUT: must be positive")
    return value


def broker_url() -> str:
    return os.environ.get("KAFKA_RESTORE_BROKER_URL", DEFAULT_URL)


def result_backend_url() -> str:
    return os.environ.get("KAFKA_RESTORE_RESULT_BACKEND") or broker_url()


class ShadowNamedAMQP(AMQP):
    """Gives a task's ``task-sent`` event its readable ``shadow`` name too (``restore_partition
    orders[3]``). The sender publishes that event after the message, so it can reach Flower after
    the worker's ``task-received`` and would otherwise overwrite the readable name."""

    def as_task_v2(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        message = super().as_task_v2(*args, **kwargs)
        shadow = message.headers.get("shadow")
        if shadow and message.sent_event is not None:
            message.sent_event["name"] = shadow
        return message


def create_app() -> Celery:
    app = Celery("kafka_restore", broker=broker_url(), backend=result_backend_url(), amqp=ShadowNamedAMQP)
    transport = {"visibility_timeout": _visibility_timeout()}
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_transport_options=transport,
        result_backend_transport_options=transport,
        broker_connection_retry_on_startup=True,
        broker_connection_retry=True,
        # Results (and the chord counter) are retried across a Redis restart instead of failing the task.
        result_backend_always_retry=True,
        result_backend_max_retries=30,
        task_default_queue=CONTROL_QUEUE,
        task_routes={"restore_jobs.restore_partition": {"queue": RESTORE_QUEUE}},
        worker_send_task_events=True,
        task_send_sent_event=True,
        task_track_started=True,
        result_expires=7 * 24 * 3600,
        result_extended=True,
        worker_hijack_root_logger=False,
        beat_schedule={
            "expire-rollback-snapshots": {
                "task": "restore_jobs.expire_snapshots",
                "schedule": float(os.environ.get("KAFKA_RESTORE_SNAPSHOT_EXPIRY_INTERVAL", "3600")),
            },
            "watch-units": {
                "task": "restore_jobs.watch_units",
                "schedule": float(os.environ.get("KAFKA_RESTORE_WATCHDOG_INTERVAL", "15")),
            },
        },
    )
    # Imported by the worker at start; clients import restore_jobs.jobs.tasks themselves.
    app.conf.imports = ("restore_jobs.jobs.tasks",)
    return app


app = create_app()
