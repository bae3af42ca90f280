"""Restore throughput and memory against bare producers, on one fresh Tansu broker and valkey.

    python -m bench.restore_bench [--records 100000] [--partitions 1,4,8] [--workers 1,2] ...

Paths, each writing the same records to its own target topic:
  a  a bare confluent-kafka producer (acks=all, idempotent) writing the records from memory
  t  the same producer in transactions of KAFKA_RESTORE_MIN_TRANSACTION_BYTES per partition: what
     exactly-once costs on this broker by itself (not a target; c/t is the engine's own share)
  b  a bare kafka-python producer, likewise
  c  our restore engine in this process, without Celery (restore_jobs.jobs.local.run_local)
  d  the full path: api.submit, Celery workers (one pool process each), polled until Completed;
     also with KAFKA_RESTORE_KAFKA_CLIENT=kafka-python in the workers, against b
Then: a sweep of c over the minimum transaction size, py-spy profiles of c and d, and peak RSS per worker while
restoring backups of growing size. Results: bench/results/latest.{json,md} (git-ignored).
"""

from __future__ import annotations

import argparse
import functools
import gc
import itertools
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench import producers
from bench.dataset import Dataset, Row, make_backup, payload_bytes, records_for
from bench.profile import sampled
from bench.report import MIB, MemoryCheck, Results, Run, machine
from bench.system import Outcome, Workers, cpu_seconds, restore_spec, run_engine, run_job
from restore_jobs.demo.stack import Stack
from restore_jobs.jobs.context import min_transaction_bytes
from restore_jobs.kafka.client import ClientName
from restore_jobs.kafka.config import ClientConfig
from restore_jobs.kafka.confluent_client import producer_settings
from restore_jobs.kafka.factory import open_admin
from restore_jobs.spec import model

WARMUP_TOPIC = "bench-warmup"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def int_list(text: str) -> list[int]:
    return sorted({int(v) for v in text.split(",") if v.strip()})


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    head, _, tail = __doc__.partition("\n\n")
    p = argparse.ArgumentParser(description=head, epilog=tail.partition("\n\n")[2],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--records", type=int, default=100_000, help="records per backup for a, c, d (default 100000)")
    p.add_argument("--value-bytes", type=int, default=1024, help="value size (default 1024)")
    p.add_argument("--partitions", type=int_list, default=[1, 4, 8], help="partition counts P (default 1,4,8)")
    p.add_argument("--workers", type=int_list, default=[1, 2], help="worker process counts W (default 1,2)")
    p.add_argument("--repeats", type=int, default=3, help="repeats per configuration; medians reported (default 3)")
    p.add_argument("--batch-size", type=int, default=1000, help="produceBatchSize for c and d (default 1000)")
    p.add_argument("--txn-sweep", type=int_list, default=[0, 1, 16],
                   help="minimum transaction sizes in MiB for the transaction-size sweep of c, beside the "
                        "worker default ('' to skip; default 0,1,16)")
    p.add_argument("--kp-records", type=int, default=20_000,
                   help="records for b and d with kafka-python (default 20000)")
    p.add_argument("--kp-partitions", type=int, default=1, help="partitions for the kafka-python runs (default 1)")
    p.add_argument("--memory-mib", type=int_list, default=[256, 1024],
                   help="uncompressed backup sizes for the memory check, MiB ('' to skip; default 256,1024)")
    p.add_argument("--memory-partitions", type=int, default=4, help="partitions of the memory-check backups")
    p.add_argument("--no-profile", action="store_true", help="skip the py-spy profiles")
    p.add_argument("--no-kafka-python", action="store_true", help="skip b and d with kafka-python")
    p.add_argument("--dir", help="backups and server files here, kept for reuse (default: a temp dir, removed)")
    p.add_argument("--out", default=str(Path(__file__).parent / "results"), help="output directory")
    p.add_argument("--timeout", type=float, default=600, help="give up on a job after this many seconds")
    return p.parse_args(argv)


class Bench:
    def __init__(self, args: argparse.Namespace, stack: Stack, scratch: Path):
        self.args, self.stack, self.scratch = args, stack, scratch
        self.bootstrap = stack.bootstrap
        self.admin = open_admin(model.KafkaCluster([self.bootstrap]))
        self.workers = Workers(stack)
        self.names = itertools.count(1)
        engine = producer_settings(ClientConfig(), "restore-unit", -1, 30000, args.batch_size)
        self.results = Results(machine(), {
            "records": args.records, "value_bytes": args.value_bytes, "partitions": args.partitions,
            "workers": args.workers, "repeats": args.repeats, "batch_size": args.batch_size,
            "min_txn_bytes": min_transaction_bytes(), "txn_sweep_mib": args.txn_sweep,
            "sweep_partitions": args.partitions[0],
            "kp_records": args.kp_records, "kp_partitions": args.kp_partitions,
            "memory_mib": args.memory_mib, "memory_partitions": args.memory_partitions,
            "a_confluent_settings": producers.CONFLUENT_SETTINGS,
            "b_kafka_python_settings": producers.KAFKA_PYTHON_SETTINGS,
            "engine_confluent_settings": dict(engine),
            "engine_threads": "one per partition (c); one pool process per worker, concurrency 1 (d)",
        })

    # ------------------------------------------------------------------ one measurement

    def dataset(self, records: int, partitions: int) -> Dataset:
        root = self.scratch / f"backup-n{records}-p{partitions}-v{self.args.value_bytes}"
        return make_backup(root, records, partitions, self.args.value_bytes)

    def measure(self, path: str, client: ClientName, data: Dataset, workers: int, batch: int, txn_bytes: int,
                go: Callable[[str], Outcome]) -> Run:
        """Runs ``go(target_topic)`` on a fresh topic, checks every record arrived, drops the topic."""
        target = f"bench-{path}-{client}-p{data.partitions}-w{workers}-{next(self.names)}"
        if workers:
            self.workers.reset_peaks()
        broker = next(server.proc.pid for server in self.stack.servers if server.name == "tansu" and server.proc)
        groups = {"broker": [broker], "bench": [os.getpid()], "workers": self.workers.all_pids()}
        before = {name: cpu_seconds(pids) for name, pids in groups.items()}
        outcome = go(target)
        cpu = {name: round(cpu_seconds(pids) - before[name], 2) for name, pids in groups.items()}
        if outcome.records != data.records:
            raise RuntimeError(f"{path} into {target}: {outcome.records} records written, expected {data.records}")
        run = Run(path, client, data.partitions, workers, batch, txn_bytes, outcome.seconds, outcome.records,
                  outcome.bytes, self.workers.peaks_mb() if workers else {}, cpu)
        self.admin.delete_topics([target])
        self.results.runs.append(run)
        log(f"{path} {client} P={data.partitions} W={workers} batch={batch} txn>={txn_bytes / MIB:g}MiB: "
            f"{outcome.seconds:.2f}s "
            f"{outcome.bytes / 1e6 / outcome.seconds:.1f} MB/s")
        return run

    def bare(self, path: str, client: ClientName, data: Dataset, rows: list[Row], payload: int) -> Run:
        """a and b; t: a's producer in transactions as large per partition as a unit's."""
        produce = producers.produce_confluent if client == "confluent" else producers.produce_kafka_python
        if path == "t":
            produce = functools.partial(producers.produce_confluent_transactional,
                                        txn_bytes=min_transaction_bytes() * data.partitions)

        def go(target: str) -> Outcome:
            self.admin.create_topics({target: data.partitions, WARMUP_TOPIC: 1})
            return Outcome(produce(self.bootstrap, target, rows, WARMUP_TOPIC), len(rows), payload)

        return self.measure(path, client, data, 0, 0, 0, go)

    def engine(self, data: Dataset, txn_bytes: int | None = None) -> Run:
        batch, txn_bytes = self.args.batch_size, min_transaction_bytes() if txn_bytes is None else txn_bytes
        return self.measure("c", "confluent", data, 0, batch, txn_bytes, lambda t: run_engine(
            restore_spec(data, self.bootstrap, t, batch), data, threads=data.partitions, txn_bytes=txn_bytes))

    def job(self, data: Dataset, workers: int, client: ClientName) -> Run:
        batch = self.args.batch_size  # the workers' minimum transaction size is their environment's
        return self.measure("d", client, data, workers, batch, min_transaction_bytes(), lambda t: run_job(
            restore_spec(data, self.bootstrap, t, batch), t, self.args.timeout))

    # ------------------------------------------------------------------ phases

    def run(self) -> Results:
        a = self.args
        self.workers.start(max(a.workers), "confluent")
        for p in a.partitions:
            data = self.dataset(a.records, p)
            rows = data.rows()
            # The bare producers' records, held here for the runs, would otherwise be rescanned by
            # every full collection c triggers; a worker freezes its startup heap the same way.
            gc.freeze()
            payload = payload_bytes(rows)
            for _ in range(a.repeats):
                self.bare("a", "confluent", data, rows, payload)
                self.bare("t", "confluent", data, rows, payload)
                self.engine(data)
                for w in a.workers:
                    self.workers.serve(w)
                    self.job(data, w, "confluent")
            del rows
        self.workers.serve(len(self.workers.names))
        sweep_data = self.dataset(a.records, a.partitions[0])
        for mib in a.txn_sweep:
            if mib * MIB != min_transaction_bytes():
                for _ in range(a.repeats):
                    self.engine(sweep_data, mib * MIB)
        if not a.no_profile:
            self.profiles(sweep_data)
        for size in a.memory_mib:
            self.memory_check(size)
        self.workers.stop()
        if not a.no_kafka_python:
            self.kafka_python()
        return self.results

    def profiles(self, data: Dataset) -> None:
        log("profiling c and d with py-spy")
        out = self.scratch / "profile"
        _, found = sampled([os.getpid()], out.with_suffix(".c"), lambda: self.engine(data))
        self.results.runs.pop()  # profiled runs are slower; keep them out of the medians
        for thread, profile in found.items():
            self.results.profiles[f"c (engine in one process), P={data.partitions} {thread}".strip()] = profile
        pids = [pid for group in self.workers.pool_pids().values() for pid in group]
        _, found = sampled(pids, out.with_suffix(".d"), lambda: self.job(data, len(self.workers.names), "confluent"))
        self.results.runs.pop()
        for thread, profile in found.items():
            self.results.profiles[f"d (worker pool process), P={data.partitions} {thread}".strip()] = profile

    def memory_check(self, size_mib: int) -> None:
        records = records_for(size_mib * MIB, self.args.value_bytes)
        log(f"memory check: writing a {size_mib} MiB backup ({records} records)")
        data = self.dataset(records, self.args.memory_partitions)
        run = self.job(data, len(self.workers.names), "confluent")
        self.results.runs.pop()
        self.results.memory.append(MemoryCheck(size_mib, data.file_bytes / MIB, records, data.partitions,
                                               run.workers, run.seconds, run.peak_rss_mib))

    def kafka_python(self) -> None:
        a = self.args
        self.workers.start(1, "kafka-python")
        data = self.dataset(a.kp_records, a.kp_partitions)
        rows = data.rows()
        payload = payload_bytes(rows)
        for _ in range(a.repeats):
            self.bare("b", "kafka-python", data, rows, payload)
            self.job(data, 1, "kafka-python")
        self.workers.stop()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so the servers and workers (own sessions) are always stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    scratch = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="restore-bench-"))
    scratch.mkdir(parents=True, exist_ok=True)
    stack = Stack(Path(tempfile.mkdtemp(prefix="servers-", dir=scratch)))
    started = time.perf_counter()
    try:
        stack.start_servers()
        log(f"valkey {stack.redis_url}, Tansu {stack.bootstrap}; work dir {scratch}")
        results = Bench(args, stack, scratch).run()
        json_path, md_path = results.write(Path(args.out))
        print(md_path.read_text())
        log(f"done in {time.perf_counter() - started:.0f}s: {md_path}, {json_path}")
        return 0
    finally:
        stack.stop()
        if not args.dir:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
