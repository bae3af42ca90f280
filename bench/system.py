"""Our restore, measured two ways: the engine in this process (``run_local``, no Celery) and the
full path (``api.submit``, Celery workers, Redis job state, polling until the job ends), plus the
worker processes' peak memory read from /proc.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from bench.dataset import BACKUP_ID, SOURCE_TOPIC, Dataset
from restore_jobs.demo.stack import Stack
from restore_jobs.jobs import api
from restore_jobs.jobs.app import CONTROL_QUEUE, RESTORE_QUEUE, app
from restore_jobs.jobs.local import run_local
from restore_jobs.kafka.client import ClientName
from restore_jobs.spec import model


@dataclass
class Outcome:
    seconds: float
    records: int
    bytes: int


def restore_spec(data: Dataset, bootstrap: str, target: str, batch_size: int) -> model.RestoreSpec:
    """Every partition of the backup into ``target`` (created with the same partition count)."""
    storage = model.Storage("filesystem", filesystem=model.FilesystemStorage(str(data.root)))
    return model.RestoreSpec(
        backup_ref=model.BackupRef(backup_id=BACKUP_ID, storage=storage),
        kafka_cluster=model.KafkaCluster([bootstrap]),
        topic_mapping={SOURCE_TOPIC: target},
        create_topics=True,
        produce_batch_size=batch_size,
    )


def run_engine(
    spec: model.RestoreSpec, data: Dataset, threads: int, client: ClientName = "confluent", txn_bytes: int | None = None
) -> Outcome:
    """(c): plan, create the topic, one thread and one transactional producer per partition, finalize.
    ``txn_bytes``: the minimum transaction size, else the environment's (as a worker)."""
    result = run_local(spec, data.storage, BACKUP_ID, job_id=f"bench-{time.time_ns()}", client=client,
                       threads=threads, min_transaction_bytes=txn_bytes)
    return Outcome(result.seconds, result.records, result.bytes)


def run_job(spec: model.RestoreSpec, name: str, timeout: float) -> Outcome:
    """(d): from ``api.submit`` until the job's phase is Completed, polled every 50 ms."""
    from restore_jobs.cli.jobs_view import wait_for_job

    job_id = f"{name}-{time.time_ns()}"
    started = time.perf_counter()
    api.submit(model.KafkaRestore(model.ObjectMeta(name=name), spec), job_id)
    status = wait_for_job(job_id, poll=0.05, timeout=timeout)
    elapsed = time.perf_counter() - started
    if status.get("phase") != "Completed":
        raise RuntimeError(f"job {job_id} ended {status.get('phase')}: {status.get('message')}")
    return Outcome(elapsed, status["recordsRestored"], status["bytesRestored"])


class Workers:
    """W Celery worker processes (one pool process each) on ``stack``, all with one Kafka client.

    ``serve(w)`` lets only the first w of them take tasks (Celery's remote control cancels and
    adds queue consumers), so runs with different W can alternate without restarting workers:
    drift of a shared machine then hits every W alike."""

    def __init__(self, stack: Stack):
        self.stack = stack
        self.names: list[str] = []
        self.serving = 0

    def start(self, count: int, client: ClientName) -> None:
        for i in range(len(self.names), count):
            name = f"bench-{client}-w{i + 1}"
            self.stack.start_worker(name, concurrency=1, extra_env={"KAFKA_RESTORE_KAFKA_CLIENT": client})
            self.names.append(name)
        self.serving = len(self.names)

    def serve(self, count: int) -> None:
        if count == self.serving:
            return
        for i, name in enumerate(self.names):
            if (i < count) != (i < self.serving):
                node = [f"{name}@{socket.gethostname()}"]
                for queue in (RESTORE_QUEUE, CONTROL_QUEUE):
                    change = app.control.add_consumer if i < count else app.control.cancel_consumer
                    if not change(queue, destination=node, reply=True, timeout=10):
                        raise RuntimeError(f"worker {name} did not answer a change of its {queue} consumer")
        self.serving = count

    def stop(self) -> None:
        for name in self.names:
            self.stack.kill(name, signal.SIGTERM)
        self.names.clear()
        self.serving = 0

    def all_pids(self) -> list[int]:
        """Main and pool processes of every worker."""
        mains = [self.stack.procs[name].pid for name in self.names]
        return [pid for main in mains for pid in (main, *_children(main))]

    def pool_pids(self) -> dict[str, list[int]]:
        """Serving worker's name -> pids of its pool processes (children of the worker's main process)."""
        return {name: _children(self.stack.procs[name].pid) for name in self.names[: self.serving]}

    def reset_peaks(self) -> None:
        """Linux resets VmHWM to the current RSS on ``echo 5 > /proc/PID/clear_refs``."""
        for pids in self.pool_pids().values():
            for pid in pids:
                Path(f"/proc/{pid}/clear_refs").write_text("5")

    def peaks_mb(self) -> dict[str, float]:
        """Worker name -> largest VmHWM among its pool processes, in MiB."""
        return {name: max((_vm_hwm_kib(pid) for pid in pids), default=0) / 1024
                for name, pids in self.pool_pids().items()}


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes (all their threads) so far; ended ones count 0."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # the process ended while we looked
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return sorted(found)


def _vm_hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0
