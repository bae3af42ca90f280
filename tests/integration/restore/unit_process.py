"""A restore unit in its own process, for the kill tests: prints BEGIN n before each batch is
produced and COMMIT n after its transaction commits, so the test can SIGKILL it at chosen points.

usage: python -m tests.integration.restore.unit_process BOOTSTRAP BACKUP_ROOT JOB_ID TOPIC CLIENT [MIN_BYTES]

MIN_BYTES: the unit's minimum transaction size (``UnitRunner.min_batch_bytes``), 0 by default.
"""

from __future__ import annotations

import sys
from pathlib import Path

from restore_jobs.backup.manifest import load_manifest
from restore_jobs.jobs.local import MemoryHooks
from restore_jobs.kafka.factory import open_admin, open_producer
from restore_jobs.restore.plan import plan_restore
from restore_jobs.restore.unit import UnitRunner
from restore_jobs.spec import model
from restore_jobs.storage.filesystem import FilesystemStorage


class PrintingHooks(MemoryHooks):
    def __init__(self) -> None:
        super().__init__()
        self.n = 0

    def before_batch(self, records: int, nbytes: int) -> None:
        self.n += 1
        print(f"BEGIN {self.n}", flush=True)

    def on_progress(self, counters) -> None:
        print(f"COMMIT {counters.batches}", flush=True)

    def load_counters(self, position: int):
        return None  # a new process remembers nothing: resume recomputes from the backup


def main() -> None:
    bootstrap, root, job_id, topic, client = sys.argv[1:6]
    min_bytes = int(sys.argv[6]) if len(sys.argv) > 6 else 0
    storage = FilesystemStorage(Path(root))
    cluster = model.KafkaCluster([bootstrap])
    spec = model.RestoreSpec(backup_ref=model.BackupRef(backup_id="b1"), kafka_cluster=cluster, produce_batch_size=10)
    admin = open_admin(cluster, client=client)
    plan = plan_restore(spec, load_manifest(storage, "b1"), admin.topics())
    unit = next(u for u in plan.units if u.source_topic == topic)

    def producer(tid: str):
        return open_producer(cluster, None, tid, batch_size=10, client=client)

    runner = UnitRunner(storage, admin, producer, job_id, batch_size=10, min_batch_bytes=min_bytes)
    counters = runner.run(unit, PrintingHooks())
    print(f"DONE {counters.records_written}", flush=True)
    admin.close()


if __name__ == "__main__":
    main()
