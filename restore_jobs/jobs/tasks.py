"""The Celery tasks of a restore job.

``prepare`` plans the job and sends the restore chord (one ``restore_partition`` per source
topic-partition, then ``finalize``); a unit that fails for good calls ``fail_job``,
which stops the other units at their next batch and runs ``handle_failure`` once (rollback when
asked). Every task is safe to deliver twice.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import OrderedDict
from dataclasses import asdict
from typing import Any

import botocore.exceptions
import redis.exceptions
from celery import Task

from restore_jobs.finalize.rollback import rollback as rollback_offsets
from restore_jobs.finalize.snapshot import expire_snapshots as expire_stored_snapshots
from restore_jobs.finalize.snapshot import load_snapshot
from restore_jobs.kafka.client import FencedError, KafkaError
from restore_jobs.restore.checkpoint import UnitCounters
from restore_jobs.restore.offset_mapping import MappingRange, OffsetMapping
from restore_jobs.restore.plan import RestorePlan, UnitPlan, check_segments, plan_restore
from restore_jobs.restore.unit import UnitCancelled, UnitRunner, count_unit, final_position
from restore_jobs.spec import dump_status
from restore_jobs.spec.model import CircuitBreaker, RestoreStatus
from restore_jobs.storage.base import BackupStorage

from . import canvas, state, steps, submission, watchdog
from .app import CONTROL_QUEUE, app
from .context import JobContext, min_transaction_bytes
from .limits import ConcurrencySlots, RateLimiter
from .snapshots import snapshot_storage

log = logging.getLogger(__name__)

MAX_TRANSIENT_RETRIES = int(os.environ.get("KAFKA_RESTORE_MAX_RETRIES", "8"))
SLOT_WAIT_SECONDS = 2.0
_EVENT_INTERVAL_S = 0.5

_contexts: OrderedDict[str, JobContext] = OrderedDict()


def context(job_id: str) -> JobContext:
    """One context per job per worker process: Kafka and storage clients are reused by its units."""
    ctx = _contexts.get(job_id)
    if ctx is None:
        ctx = _contexts[job_id] = JobContext.load(job_id)
        while len(_contexts) > 8:
            _contexts.popitem(last=False)[1].close()
    _contexts.move_to_end(job_id)
    return ctx


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, KafkaError):
        return exc.retriable and not isinstance(exc, FencedError)
    # botocore's HTTPClientError covers a connection closed mid-response or a read timing out: it
    # is no ConnectionError, yet it is what the last of botocore's attempts may end with.
    if isinstance(exc, (ConnectionError, TimeoutError, botocore.exceptions.ConnectionError,
                        botocore.exceptions.HTTPClientError, botocore.exceptions.IncompleteReadError)):
        return True
    if isinstance(exc, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)):
        return True
    if isinstance(exc, botocore.exceptions.ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return status >= 500 or code in {"Throttling", "ThrottlingException", "SlowDown", "RequestTimeout"}
    cause = exc.__cause__
    return cause is not None and is_transient(cause)


def backoff(attempt: int) -> float:
    return min(2.0 ** attempt, 60.0)


def fail_job(ctx: JobContext, message: str) -> None:
    """Stop the job's units and run the failure path once. A job that will roll back stays
    Finalizing until the rollback ends, so no one reads Failed while offsets are being restored."""
    job_id = ctx.job_id
    log.error("job failed: %s", message, extra={"job": job_id})
    state.request_stop(job_id, "failed")
    if ctx.spec.rollback.auto_rollback_on_failure and not ctx.spec.dry_run:
        moved = state.set_phase(job_id, "Finalizing", f"{message}; rolling back")
    else:
        moved = state.set_phase(job_id, "Failed", message)
    if moved and state.once(job_id, "failure"):
        handle_failure.apply_async((job_id, message), queue=CONTROL_QUEUE, task_id=f"{job_id}.failure")


def _breaker(ctx: JobContext) -> CircuitBreaker:
    return ctx.spec.circuit_breaker or CircuitBreaker()


def _retry_or_fail(task: Task, ctx: JobContext, what: str, exc: Exception, attempt: int) -> None:
    """Retry a transient failure with backoff, unless the job's circuit breaker opens or the
    retries run out; then fail the job with ``what``'s error."""
    job_id = ctx.job_id
    if is_transient(exc):
        failures = state.incr_failures(job_id)
        breaker = _breaker(ctx)
        if breaker.enabled and failures >= breaker.failure_threshold:
            fail_job(ctx, f"{what}: circuit breaker open after {failures} consecutive failures; "
                          f"last: {_describe(ctx, exc)}")
            return
        if attempt < MAX_TRANSIENT_RETRIES:
            delay = backoff(attempt)
            log.warning("%s: transient error, retry in %.0fs: %s", what, delay, exc, extra={"job": job_id})
            raise task.retry(exc=exc, countdown=delay)
    fail_job(ctx, f"{what}: {_describe(ctx, exc)}")


def _describe(ctx: JobContext, exc: Exception) -> str:
    """The error, naming the Kafka cluster when it is the cluster that failed: client errors
    rarely say which servers they tried."""
    text = str(exc)
    servers = ",".join(ctx.spec.kafka_cluster.bootstrap_servers)
    if isinstance(exc, KafkaError) and servers not in text:
        text += f" (Kafka bootstrap servers {servers})"
    return text


# ---------------------------------------------------------------------------------------------
# prepare


# prepare, the units and finalize retry under limits of their own (KAFKA_RESTORE_MAX_RETRIES and the
# circuit breaker for errors; slot waits and the wait for re-sent units end with the job), so they
# set no Celery retry cap: its default of 3 turned the 4th retry, a slot wait included, into a task
# failure outside the job's state, and the job never ended.
@app.task(bind=True, name="restore_jobs.prepare", max_retries=None)
def prepare(self: Task, job_id: str) -> dict[str, Any]:
    if state.stopped(job_id):
        return {"job": job_id, "skipped": True}
    state.set_phase(job_id, "Running", "preparing: reading the backup manifest")
    state.renew_lease(job_id, watchdog.PREPARE, time.time())
    ctx = context(job_id)
    try:
        plan = _prepare(ctx)
    except Exception as exc:
        _retry_or_fail(self, ctx, "prepare", exc, self.request.retries)
        raise
    state.set_phase(job_id, "Running", f"restoring {len(plan.units)} partitions")
    # Sent, not ``replace``d: prepare then ends SUCCESS in Flower. Sent twice (a redelivered
    # prepare), the units find themselves Completed and finalize finds the job over.
    canvas.restore_chord(job_id, plan).apply_async()
    return {"job": job_id, "units": len(plan.units)}


def _prepare(ctx: JobContext) -> RestorePlan:
    job_id, spec = ctx.job_id, ctx.spec
    manifest = ctx.manifest
    state.update_job(job_id, backup_id=manifest.backup_id)
    plan = plan_restore(spec, manifest, ctx.admin.topics())
    check_segments(plan, ctx.storage)
    if not spec.dry_run and "prepared" not in state.get_job(job_id):
        if spec.rollback.snapshot_before_restore:
            groups = steps.affected_groups(spec, ctx.storage, manifest.backup_id)
            ref = steps.take_rollback_snapshot(
                spec, plan, ctx.admin, snapshot_storage(ctx), job_id, groups, int(time.time() * 1000)
            )
            rollback_status = dump_status(RestoreStatus(rollback=ref.to_status()))["rollback"]
            state.update_job(job_id, rollback=rollback_status, snapshot_id=ref.snapshot_id)
        steps.prepare_target(spec, plan, ctx.admin, job_id)
        state.update_job(job_id, topics_created=sorted(plan.topics_to_create), prepared="true")
    state.add_units(job_id, {u.name: state.UnitState(planned_records=u.records_upper_bound) for u in plan.units})
    state.update_job(job_id, units_total=str(len(plan.units)))
    return plan


# ---------------------------------------------------------------------------------------------
# restore_partition


class _TaskHooks:
    """Connects a running unit to its job: rate limits, cancellation, mapping, progress."""

    def __init__(self, task: Task, ctx: JobContext, unit: UnitPlan, ustate: state.UnitState):
        self.task, self.ctx, self.unit, self.ustate = task, ctx, unit, ustate
        limits = ctx.spec.rate_limiting
        self.rate = RateLimiter(f"{state.job_key(ctx.job_id)}:rate", limits.records_per_sec, limits.bytes_per_sec) \
            if limits and (limits.records_per_sec > 0 or limits.bytes_per_sec > 0) else None
        # A rate limit sleeps in before_batch: the unit then keeps no transaction open while it waits.
        self.may_wait = self.rate is not None
        self.slots = _slots(ctx)
        self._last_event = float("-inf")

    def before_batch(self, records: int, nbytes: int) -> None:
        """One round trip: cancel check, lease and slot renewal and, with a rate limit, the batch's
        tokens. Streamed batches are sent by now, so it overlaps the flush's wait for the broker."""
        if self._check_in(records, nbytes) > 0:
            # A cancel that lands while the rate limit holds this batch back must stop it, not let it commit.
            self._check_in()

    def _check_in(self, records: int = 0, nbytes: int = 0) -> float:
        """Raises UnitCancelled (the open transaction is aborted) when the job is to stop; else sleeps
        as long as the job's rates require for ``records`` and ``nbytes``, and returns that wait."""
        pipe = state.client().pipeline(transaction=False)
        state.check_in(pipe, self.ctx.job_id, self.unit.name, time.time())
        self.slots.renew(pipe, self.unit.name)
        taken = self.rate.take(pipe, records, nbytes) if self.rate is not None else 0
        replies = pipe.execute()
        if replies[0]:
            raise UnitCancelled(self.unit.name)
        wait = RateLimiter.wait(replies[len(replies) - taken:])
        if wait > 0:
            time.sleep(wait)
        return wait

    def save_mapping(self, start_offset: int, ranges: list[MappingRange]) -> None:
        state.save_mapping(self.ctx.job_id, self.unit.name, start_offset, [asdict(r) for r in ranges])

    def on_progress(self, counters: UnitCounters) -> None:
        state.record_progress(self.ctx.job_id, self.unit.name, self.ustate, counters, self.unit.source_topic)
        # Flower's progress needs no more than a few events a second; each costs a publish.
        now = time.monotonic()
        if counters.done or now - self._last_event >= _EVENT_INTERVAL_S:
            self._last_event = now
            self.task.send_event(
                "task-progress",
                job=self.ctx.job_id,
                unit=self.unit.name,
                records=counters.records_written,
                planned=self.ustate.planned_records,
            )

    def load_counters(self, position: int) -> UnitCounters | None:
        u = self.ustate
        if u.position != position:
            return None
        return UnitCounters(
            next_offset=position, records_written=u.records, bytes_written=u.bytes, segments_processed=u.segments,
            records_skipped=u.skipped, round_robin=u.round_robin, done=position >= final_position(self.unit),
        )


def _slots(ctx: JobContext) -> ConcurrencySlots:
    limits = ctx.spec.rate_limiting
    return ConcurrencySlots(
        state.client(), f"{state.job_key(ctx.job_id)}:slots", limits.max_concurrent_partitions if limits else 0
    )


@app.task(bind=True, name="restore_jobs.restore_partition", max_retries=None)
def restore_partition(self: Task, job_id: str, unit: dict[str, Any]) -> dict[str, Any]:
    plan = UnitPlan.from_dict(unit)
    name = plan.name
    ustate = state.get_unit(job_id, name) or state.UnitState(planned_records=plan.records_upper_bound)
    if state.stopped(job_id):
        if ustate.phase != "Completed":
            ustate.phase = "Cancelled"
            state.set_unit(job_id, name, ustate)
        return {"unit": name, "phase": ustate.phase}
    if ustate.phase == "Completed":
        return {"unit": name, "phase": "Completed", "records": ustate.records}
    ctx = context(job_id)
    slots = _slots(ctx)
    if not slots.acquire(name):
        # Wait for a free slot without holding this worker: the message goes back with a delay.
        raise self.retry(countdown=SLOT_WAIT_SECONDS)
    ustate.phase = "Running"
    ustate.worker = self.request.hostname or ""
    ustate.started = ustate.started or time.time()
    ustate.heartbeat = time.time()
    state.set_unit(job_id, name, ustate)
    state.renew_lease(job_id, name, ustate.heartbeat)
    extra = {"job": job_id, "topic": plan.source_topic, "partition": plan.source_partition}
    superseded = False
    log.info("unit started on %s", ustate.worker, extra=extra)
    try:
        if ctx.spec.dry_run:
            counters = count_unit(plan, ctx.storage)
        else:
            runner = UnitRunner(ctx.storage, ctx.admin, ctx.producer, job_id, ctx.spec.produce_batch_size,
                                min_transaction_bytes())
            counters = runner.run(plan, _TaskHooks(self, ctx, plan, ustate))
    except UnitCancelled:
        ustate.phase = "Cancelled"
        state.set_unit(job_id, name, ustate)
        log.info("unit stopped: job cancelled or failed", extra=extra)
        return {"unit": name, "phase": "Cancelled"}
    except FencedError:
        # A newer run of this same unit took over (the watchdog re-sent it); it finishes the work
        # and holds the unit's concurrency slot, which this run must not release.
        log.warning("unit superseded by a newer run of itself", extra=extra)
        superseded = True
        return {"unit": name, "phase": "Superseded"}
    except Exception as exc:
        ustate.error = str(exc)
        ustate.attempts += 1
        ustate.phase = "Retrying" if is_transient(exc) else "Failed"
        state.set_unit(job_id, name, ustate)
        _retry_or_fail(self, ctx, f"unit {name}", exc, ustate.attempts - 1)
        ustate.phase = "Failed"
        state.set_unit(job_id, name, ustate)
        raise
    finally:
        if not superseded:
            slots.release(name)
    ustate.phase = "Completed"
    ustate.error = ""
    ustate.finished = time.time()
    state.record_progress(job_id, name, ustate, counters, plan.source_topic)
    if not self.request.chord and not self.request.callbacks and _all_completed(job_id):
        # Sent again by the watchdog, so outside the chord: nothing else will start finalize.
        canvas.finalize_signature(job_id).apply_async()
    return {"unit": name, "phase": "Completed", "records": counters.records_written}


def _all_completed(job_id: str) -> bool:
    return all(u.phase == "Completed" for u in state.get_units(job_id).values())


# ---------------------------------------------------------------------------------------------
# finalize


@app.task(bind=True, name="restore_jobs.finalize", max_retries=None)
def finalize(self: Task, job_id: str) -> dict[str, Any]:
    if state.stopped(job_id):
        return {"job": job_id, "skipped": True}
    units = state.get_units(job_id)
    failed = {n: u for n, u in units.items() if u.phase == "Failed"}
    if failed:
        name, unit = next(iter(failed.items()))
        fail_job(context(job_id), f"unit {name}: {unit.error}")
        return {"job": job_id, "phase": "Failed"}
    if any(u.phase != "Completed" for u in units.values()):
        # A re-sent unit is still running (see watch_units); its twin's return fired the chord early.
        raise self.retry(countdown=5)
    state.set_phase(job_id, "Finalizing", "finalizing: offset mapping and consumer group offsets")
    ctx = context(job_id)
    try:
        message = _finalize(ctx, units)
    except Exception as exc:
        _retry_or_fail(self, ctx, "finalize", exc, self.request.retries)
        raise
    state.set_phase(job_id, "Completed", message)
    return {"job": job_id, "phase": "Completed"}


def _finalize(ctx: JobContext, units: dict[str, state.UnitState]) -> str:
    job_id, spec = ctx.job_id, ctx.spec
    records = sum(u.records for u in units.values())
    if spec.dry_run:
        skipped = sum(u.skipped for u in units.values())
        return (
            f"dry run: would restore {records} records from {len(units)} partitions "
            f"({skipped} outside the time window); nothing was written"
        )
    mapping = OffsetMapping()
    for name, unit in units.items():
        mapping.add([MappingRange(**r) for r in state.load_mapping(job_id, name, unit.position)])
    done = steps.finalize_restore(
        spec, mapping, ctx.admin, ctx.storage, ctx.manifest, job_id, records, len(units), int(time.time() * 1000)
    )
    if done.offset_mapping_key:
        state.update_job(job_id, offset_mapping_path=ctx.storage.describe(done.offset_mapping_key))
    return done.message


# ---------------------------------------------------------------------------------------------
# failure, rollback, cancel support


@app.task(bind=True, name="restore_jobs.handle_failure")
def handle_failure(self: Task, job_id: str, message: str) -> dict[str, Any]:
    """Runs once per failed job: waits for running units to stop, then rolls back if asked."""
    deadline = time.time() + 120
    while time.time() < deadline and any(u.phase == "Running" for u in state.get_units(job_id).values()):
        time.sleep(1)
    ctx = context(job_id)
    if ctx.spec.rollback.auto_rollback_on_failure and not ctx.spec.dry_run:
        return _rollback(ctx, reason=message)
    return {"job": job_id, "phase": "Failed"}


@app.task(bind=True, name="restore_jobs.rollback")
def rollback(self: Task, job_id: str) -> dict[str, Any]:
    """On demand (``kafka-restore rollback JOB``): undo what the job changed."""
    ctx = context(job_id)
    state.request_stop(job_id, "rolled back")
    return _rollback(ctx, reason="rollback requested")


def _rollback(ctx: JobContext, reason: str) -> dict[str, Any]:
    job_id = ctx.job_id
    snapshot_id = state.get_job(job_id).get("snapshot_id")
    if not snapshot_id:
        message = f"{reason}; no rollback snapshot was taken (rollback.snapshotBeforeRestore is false)"
        state.set_phase(job_id, "Failed", message, allow_from={"Failed"})
        return {"job": job_id, "phase": "Failed"}
    snapshot = load_snapshot(snapshot_storage(ctx), snapshot_id)
    outcome = rollback_offsets(ctx.admin, snapshot)
    rollback_status = json.loads(state.get_job(job_id).get("rollback") or "{}")
    rollback_status["rollbackAvailable"] = False
    state.update_job(job_id, rollback=rollback_status)
    message = f"{reason}; rolled back: {outcome.summary}"
    state.set_phase(job_id, "RolledBack", message, allow_from={"Failed", "Completed", "Cancelled"})
    return {"job": job_id, "phase": "RolledBack"}


@app.task(name="restore_jobs.expire_snapshots")
def expire_snapshots() -> dict[str, Any]:
    """Periodic (Celery beat): delete rollback snapshots past their retention, job by job storage."""
    removed: list[str] = []
    seen: set[str] = set()
    for job_id in state.list_jobs(limit=1000):
        job = state.get_job(job_id)
        if "snapshot_id" not in job:
            continue
        try:
            store: BackupStorage = snapshot_storage(context(job_id))
        except Exception as exc:
            log.warning("cannot open snapshot storage: %s", exc, extra={"job": job_id})
            continue
        where = store.describe("offset-snapshots")
        if where in seen:
            continue
        seen.add(where)
        removed += expire_stored_snapshots(store, int(time.time() * 1000))
    return {"removed": removed}


@app.task(name="restore_jobs.watch_units")
def watch_units() -> dict[str, Any]:
    """Periodic (Celery beat): sends again the units and finalize tasks a dead worker took with it,
    instead of waiting hours for Redis's visibility timeout (see ``watchdog``)."""
    return {"resent": watchdog.resend_lost()}


@app.task(name="restore_jobs.submit")
def submit(resource: dict[str, Any], job_id: str | None = None) -> str:
    """For ``celery -A workers call restore_jobs.submit --args='[{...KafkaRestore...}]'``."""
    from restore_jobs.spec import load_resource

    restore = load_resource(resource, source="celery call")
    return submission.submit(restore, job_id or submission.default_job_id(restore))
