"""Interleaved A/B of two source trees on one broker: which of two versions of the code is faster.

    python -m bench.ab --base /tmp/old-tree [--new .] [--path c|d] [--rounds 5] [--records 100000]

Each tree is a directory holding ``restore_jobs`` (and ``bench`` and ``workers``), e.g. an export
of the last commit (``git archive HEAD restore_jobs bench workers | tar -x -C /tmp/old-tree``).
Rounds alternate which tree runs first, so drift of the machine (other load, broker state) hits
both alike; medians per tree are printed (for path c also the CPU time per record). Each run's
target topic is deleted after it, so the broker does not slow down as it fills. Path c runs the
engine (``run_local``) in a child process with the tree first on ``sys.path``; path d starts one
Celery worker from the tree, runs the full job from ``api.submit``, and stops the worker again.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.dataset import Dataset, make_backup
from bench.system import restore_spec, run_job
from restore_jobs.demo.stack import Stack
from restore_jobs.kafka.factory import open_admin
from restore_jobs.spec.model import KafkaCluster

_CHILD = """
import json, sys, time
from pathlib import Path
from bench.dataset import make_backup
from bench.system import restore_spec, run_engine
root, records, partitions, bootstrap, batch = sys.argv[1], *map(int, sys.argv[2:4]), sys.argv[4], int(sys.argv[5])
target = sys.argv[6]
data = make_backup(Path(root), records, partitions)
cpu = time.process_time()
out = run_engine(restore_spec(data, bootstrap, target, batch), data, threads=partitions)
cpu = time.process_time() - cpu
print(json.dumps({"seconds": out.seconds, "records": out.records, "bytes": out.bytes, "cpu": cpu}))
"""


def engine_in(tree: Path, data: Dataset, bootstrap: str, batch: int) -> tuple[float, float]:
    """MB/s of one engine run with ``tree``'s code, in a fresh process, and the CPU time it took
    per record in µs (all its threads, librdkafka's included): the work, which other load on the
    machine disturbs much less than the speed."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    target = f"ab-{time.time_ns()}"
    argv = [sys.executable, "-c", _CHILD, str(data.root), str(data.records), str(data.partitions), bootstrap,
            str(batch), target]
    try:
        out = subprocess.run(argv, env=env, cwd=tree, check=True, capture_output=True, text=True)
    finally:
        _drop(bootstrap, target)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if result["records"] != data.records:
        raise RuntimeError(f"{tree}: {result['records']} records written, expected {data.records}")
    return result["bytes"] / 1e6 / result["seconds"], result["cpu"] / result["records"] * 1e6


def job_in(tree: Path, stack: Stack, data: Dataset, batch: int) -> float:
    """MB/s of one full job on a worker started from ``tree`` (its cwd, so ``-m celery`` imports it)."""
    here = Path.cwd()
    os.chdir(tree)
    try:
        stack.start_worker("ab", concurrency=1, extra_env={"PYTHONPATH": str(tree)})
    finally:
        os.chdir(here)
    try:
        target = f"ab-{time.time_ns()}"
        out = run_job(restore_spec(data, stack.bootstrap, target, batch), target, 600)
    finally:
        stack.kill("ab", signal.SIGTERM)
        _drop(stack.bootstrap, target)
    return out.bytes / 1e6 / out.seconds


def _drop(bootstrap: str, topic: str) -> None:
    """Deletes a run's target topic: a broker holding every earlier run's records in memory slows
    down run after run, which would blur the comparison."""
    admin = open_admin(KafkaCluster([bootstrap]))
    try:
        admin.delete_topics([topic])
    finally:
        admin.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.partition("\n\n")[0])
    p.add_argument("--base", required=True, type=Path, help="tree A (the old code)")
    p.add_argument("--new", default=Path.cwd(), type=Path, help="tree B (default: the current directory)")
    p.add_argument("--path", choices=("c", "d"), default="c")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--records", type=int, default=100_000)
    p.add_argument("--partitions", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=1000)
    args = p.parse_args(argv)
    trees = {"A": args.base.resolve(), "B": args.new.resolve()}
    scratch = Path(tempfile.mkdtemp(prefix="restore-ab-"))
    stack = Stack(scratch)
    try:
        stack.start_servers()
        data = make_backup(scratch / "backup", args.records, args.partitions)
        speeds: dict[str, list[float]] = {"A": [], "B": []}
        cpu: dict[str, list[float]] = {"A": [], "B": []}
        for i in range(args.rounds):
            for name in ("A", "B") if i % 2 == 0 else ("B", "A"):
                if args.path == "c":
                    mbs, us = engine_in(trees[name], data, stack.bootstrap, args.batch_size)
                    cpu[name].append(us)
                else:
                    mbs = job_in(trees[name], stack, data, args.batch_size)
                speeds[name].append(mbs)
                print(f"round {i + 1} {name}: {mbs:.1f} MB/s", file=sys.stderr, flush=True)
        a, b = (statistics.median(speeds[n]) for n in ("A", "B"))
        result = {"path": args.path, "partitions": args.partitions, "records": args.records,
                  "A": [round(v, 1) for v in speeds["A"]], "B": [round(v, 1) for v in speeds["B"]],
                  "median_A": round(a, 1), "median_B": round(b, 1), "B/A": round(b / a, 3)}
        if args.path == "c":
            cpu_a, cpu_b = (statistics.median(cpu[n]) for n in ("A", "B"))
            result |= {"cpu_us_per_record_A": round(cpu_a, 2), "cpu_us_per_record_B": round(cpu_b, 2),
                       "cpu B/A": round(cpu_b / cpu_a, 3)}
        print(json.dumps(result))
        return 0
    finally:
        stack.stop()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
