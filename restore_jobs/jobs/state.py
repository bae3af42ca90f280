"""Job state in Redis: one hash per job, one hash of unit counters, offset-mapping chunks.

Units write their own absolute counters (taken from their committed checkpoint) once per batch;
totals are summed when read, so a unit that is retried or re-run never counts twice. Phases only
move forward: once a job is terminal (Completed, Failed, RolledBack, Cancelled) nothing moves it.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.client import Pipeline
from redis.retry import Retry

from restore_jobs.restore.checkpoint import UnitCounters
from restore_jobs.spec.model import TERMINAL_PHASES

PREFIX = "kafka-restore"
# Every command is retried on connection errors for about half a minute, so a Redis restart or
# failover (a few seconds) pauses workers instead of failing their units.
_RETRY = Retry(ExponentialWithJitterBackoff(base=0.2, cap=2.0), retries=20)
JOB_INDEX = f"{PREFIX}:jobs"
# How long an ended job's state stays in Redis (``kafka-restore status``, on-demand rollback).
JOB_RETENTION = int(os.environ.get("KAFKA_RESTORE_JOB_RETENTION", str(7 * 24 * 3600)))

# Only a non-terminal phase may be replaced; the script makes check-and-set atomic and writes the
# phase's fields with it, so no reader sees the new phase beside the previous phase's message.
# KEYS[1] job hash; ARGV phase, n, the n phases that block the move, then field/value pairs
# (start_time is kept once set: the first Running).
_SET_PHASE = """
local current = redis.call('HGET', KEYS[1], 'phase')
if not current then return 0 end
local n = tonumber(ARGV[2])
for i = 3, 2 + n do if current == ARGV[i] then return 0 end end
redis.call('HSET', KEYS[1], 'phase', ARGV[1])
for i = 3 + n, #ARGV, 2 do
  if ARGV[i] == 'start_time' then redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1])
  else redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
return 1
"""

# KEYS job hash, leases hash; ARGV task, lease end. 1 when the job is to stop, else renews the lease.
_CHECK_IN = """
local job = redis.call('HMGET', KEYS[1], 'phase', 'stop')
if not job[1] or job[2] then return 1 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 0
"""


@lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url, decode_responses=True, health_check_interval=30, retry=_RETRY,
        retry_on_error=[redis.exceptions.ConnectionError, redis.exceptions.TimeoutError],
    )


def client() -> redis.Redis:
    from restore_jobs.jobs.app import result_backend_url

    return _client(os.environ.get("KAFKA_RESTORE_STATE_URL") or result_backend_url())


def job_key(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}"


def units_key(job_id: str) -> str:
    return f"{job_key(job_id)}:units"


def mapping_key(job_id: str, unit: str) -> str:
    return f"{job_key(job_id)}:map:{unit}"


def leases_key(job_id: str) -> str:
    return f"{job_key(job_id)}:leases"


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class UnitState:
    """A unit's line in the job: its committed counters plus where and how it runs."""

    phase: str = "Pending"  # Pending, Running, Completed, Failed, Cancelled
    records: int = 0
    bytes: int = 0
    segments: int = 0
    skipped: int = 0
    planned_records: int = 0
    position: int = 0  # committed checkpoint these counters belong to; mapping chunks below it are valid
    round_robin: int = 0
    attempts: int = 0  # failed attempts so far
    worker: str = ""
    started: float = 0.0
    finished: float = 0.0
    heartbeat: float = 0.0
    error: str = ""

    @property
    def considered(self) -> int:
        return self.records + self.skipped


def create_job(job_id: str, fields: dict[str, str]) -> bool:
    """Create the job hash once. False when it already exists (a resubmission)."""
    r = client()
    key = job_key(job_id)
    if not r.hsetnx(key, "phase", "Pending"):
        return False
    pipe = r.pipeline()
    pipe.hset(key, mapping={"created": str(time.time()), "job_id": job_id, **fields})
    pipe.zadd(JOB_INDEX, {job_id: time.time()})
    pipe.execute()
    return True


def get_job(job_id: str) -> dict[str, str]:
    return client().hgetall(job_key(job_id))


def update_job(job_id: str, **fields: Any) -> None:
    values = {k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()}
    client().hset(job_key(job_id), mapping=values)


def set_phase(
    job_id: str, phase: str, message: str | None = None, allow_from: frozenset[str] | set[str] = frozenset()
) -> bool:
    """Move the job to ``phase`` unless it is already terminal (except the terminal phases in
    ``allow_from``, e.g. Failed -> RolledBack). True when it moved."""
    r = client()
    blocked = sorted(TERMINAL_PHASES - set(allow_from))
    fields: dict[str, str] = {}
    if message is not None:
        fields["message"] = message
    if phase in TERMINAL_PHASES:
        fields["completion_time"] = now_iso()
        fields["completed_at"] = str(time.time())
    if phase == "Running":
        fields["start_time"] = now_iso()
    pairs = [item for field in fields.items() for item in field]
    moved = bool(r.eval(_SET_PHASE, 1, job_key(job_id), phase, len(blocked), *blocked, *pairs))
    if moved and phase in TERMINAL_PHASES:
        _end(r, job_id, phase)
    return moved


def ended_channel(job_id: str) -> str:
    """Where ``set_phase`` announces that the job ended, so a waiter need not poll to notice."""
    return f"{job_key(job_id)}:ended"


def _end(r: redis.Redis, job_id: str, phase: str) -> None:
    """An ended job's keys go after JOB_RETENTION, so Redis does not grow with every restore ever
    run. Running the job again afterwards is still a no-op: its units' checkpoints are in Kafka."""
    units = r.hkeys(units_key(job_id))
    pipe = r.pipeline(transaction=False)
    for key in (job_key(job_id), units_key(job_id), leases_key(job_id), *(mapping_key(job_id, u) for u in units)):
        pipe.expire(key, JOB_RETENTION)
    pipe.zremrangebyscore(JOB_INDEX, "-inf", time.time() - JOB_RETENTION)
    pipe.publish(ended_channel(job_id), phase)
    pipe.execute()


def once(job_id: str, name: str) -> bool:
    """True for the first caller only: guards work that must happen once per job (finalize,
    failure handling), however many times Celery delivers it."""
    return bool(client().hsetnx(job_key(job_id), f"once:{name}", now_iso()))


def set_unit(job_id: str, unit: str, state: UnitState) -> None:
    client().hset(units_key(job_id), unit, json.dumps(asdict(state)))


def add_units(job_id: str, units: dict[str, UnitState]) -> None:
    """Record the units not recorded yet, in one round trip: a redelivered prepare keeps the
    counters of the units that ran."""
    pipe = client().pipeline(transaction=False)
    for name, unit in units.items():
        pipe.hsetnx(units_key(job_id), name, json.dumps(asdict(unit)))
    pipe.execute()


def get_unit(job_id: str, unit: str) -> UnitState | None:
    raw = client().hget(units_key(job_id), unit)
    return UnitState(**json.loads(raw)) if raw else None


def get_units(job_id: str) -> dict[str, UnitState]:
    return {name: UnitState(**json.loads(raw)) for name, raw in client().hgetall(units_key(job_id)).items()}


def record_progress(job_id: str, unit: str, state: UnitState, counters: UnitCounters, topic: str) -> None:
    """One round trip per batch: the unit's counters, the current topic, the breaker reset."""
    state.records = counters.records_written
    state.bytes = counters.bytes_written
    state.segments = counters.segments_processed
    state.skipped = counters.records_skipped
    state.position = counters.next_offset
    state.round_robin = counters.round_robin
    state.heartbeat = time.time()
    pipe = client().pipeline(transaction=False)
    pipe.hset(units_key(job_id), unit, json.dumps(asdict(state)))
    pipe.hset(job_key(job_id), mapping={"current_topic": topic, "consecutive_failures": "0"})
    pipe.hset(leases_key(job_id), unit, str(state.heartbeat))
    pipe.execute()


def renew_lease(job_id: str, task: str, until: float) -> None:
    """A worker vouches for ``task`` (a unit name, or ``FINALIZE``) until ``until``: it holds its
    message (received, running, or waiting for a retry's countdown). See ``watchdog``."""
    client().hset(leases_key(job_id), task, str(until))


def drop_lease(job_id: str, task: str) -> None:
    """The task's message is back in the queue: no worker holds it."""
    client().hdel(leases_key(job_id), task)


def get_leases(job_id: str) -> dict[str, float]:
    return {task: float(until) for task, until in client().hgetall(leases_key(job_id)).items()}


def save_mapping(job_id: str, unit: str, start_offset: int, ranges: list[dict[str, Any]]) -> None:
    client().hset(mapping_key(job_id, unit), str(start_offset), json.dumps(ranges, separators=(",", ":")))


def load_mapping(job_id: str, unit: str, position: int) -> list[dict[str, Any]]:
    """Ranges of the batches that committed (they start below the unit's committed position);
    chunks of aborted attempts at or past it are ignored."""
    raw = client().hgetall(mapping_key(job_id, unit))
    out: list[dict[str, Any]] = []
    for start in sorted(raw, key=int):
        if int(start) < position:
            out.extend(json.loads(raw[start]))
    return out


def check_in(pipe: Pipeline, job_id: str, task: str, until: float) -> None:
    """Queue a unit's check-in on ``pipe``, to share one round trip with what else its batch needs
    (rate-limit tokens, its concurrency slot): its reply is 1 when the job is to stop (cancelled,
    failed, or its state vanished), else the lease is renewed. ``EVAL``, not a registered script:
    a pipeline holding scripts asks Redis whether they exist on every execute, a round trip more;
    the server caches the compiled script anyway."""
    pipe.eval(_CHECK_IN, 2, job_key(job_id), leases_key(job_id), task, str(until))


def stopped(job_id: str) -> bool:
    """True when no task may act for the job any more: it ended, was asked to stop, or its state
    vanished (see ``is_lost``). Two fields, not the whole hash with its spec and unit plans."""
    phase, stop = client().hmget(job_key(job_id), ["phase", "stop"])
    return phase is None or phase in TERMINAL_PHASES or stop is not None


def is_lost(job: dict[str, str]) -> bool:
    """A job hash without a phase: Redis lost the job (restarted without persistence) and a
    straggling writer left a few fields behind. Only a resubmission brings it back."""
    return "phase" not in job


def request_stop(job_id: str, reason: str) -> None:
    """Units check this at every batch boundary and abort their open transaction."""
    client().hsetnx(job_key(job_id), "stop", reason)


def incr_failures(job_id: str) -> int:
    return int(client().hincrby(job_key(job_id), "consecutive_failures", 1))


def list_jobs(limit: int = 100) -> list[str]:
    return list(client().zrevrange(JOB_INDEX, 0, limit - 1))


def status_dict(job_id: str) -> dict[str, Any] | None:
    """The job in the camelCase status shape of DESIGN.md section 4 (conditions excluded)."""
    job = get_job(job_id)
    if not job or is_lost(job):
        return None
    units = get_units(job_id)
    records = sum(u.records for u in units.values())
    considered = sum(u.considered for u in units.values())
    planned = sum(u.planned_records for u in units.values())
    phase = job.get("phase", "Pending")
    status: dict[str, Any] = {
        "jobId": job_id,
        "phase": phase,
        "message": job.get("message", ""),
        "recordsRestored": records,
        "bytesRestored": sum(u.bytes for u in units.values()),
        "segmentsProcessed": sum(u.segments for u in units.values()),
    }
    for field, name in (
        ("start_time", "startTime"),
        ("completion_time", "completionTime"),
        ("current_topic", "currentTopic"),
        ("offset_mapping_path", "offsetMappingPath"),
    ):
        if job.get(field):
            status[name] = job[field]
    if job.get("rollback"):
        status["rollback"] = json.loads(job["rollback"])
    if phase == "Completed":
        status["progressPercent"] = 100.0
    elif planned:
        status["progressPercent"] = round(min(99.9, 100.0 * considered / planned), 1)
    elif "units_total" in job:
        status["progressPercent"] = 0.0
    started = min((u.started for u in units.values() if u.started), default=0.0)
    if started and records:
        ended = float(job.get("completed_at") or time.time())
        elapsed = max(ended - started, 1e-3)
        rate = records / elapsed
        status["throughputRecordsPerSec"] = round(rate, 1)
        if phase not in TERMINAL_PHASES and planned and considered:
            status["etaMs"] = int(1000 * (planned - considered) * elapsed / considered)
    if phase in TERMINAL_PHASES:
        status["etaMs"] = 0
    return status
