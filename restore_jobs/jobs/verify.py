"""After a restore: does every target partition hold exactly what the backup and the spec say?

The expected contents are derived with the restore's own plan, window and placement rules, read
straight from the backup; the actual contents are read back from the target (read_committed).
Records are compared by key, value, headers and timestamp, as a multiset per target partition.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from restore_jobs.backup.manifest import load_manifest
from restore_jobs.kafka.client import KafkaAdmin, PartitionReader, TopicPartition
from restore_jobs.kafka.partitioner import RoundRobin
from restore_jobs.restore.plan import plan_restore
from restore_jobs.restore.unit import in_window, placement, stream_records
from restore_jobs.spec.model import RestoreSpec
from restore_jobs.storage.base import BackupStorage

RecordKey = tuple


@dataclass
class PartitionCheck:
    topic: str
    partition: int
    expected: int
    found: int
    missing: int
    unexpected: int

    @property
    def ok(self) -> bool:
        return self.missing == 0 and self.unexpected == 0


@dataclass
class VerifyReport:
    checks: list[PartitionCheck]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def expected(self) -> int:
        return sum(c.expected for c in self.checks)

    @property
    def found(self) -> int:
        return sum(c.found for c in self.checks)

    @property
    def summary(self) -> str:
        bad = [c for c in self.checks if not c.ok]
        if not bad:
            return f"verified: {self.found} records in {len(self.checks)} target partitions, as expected"
        worst = ", ".join(f"{c.topic}[{c.partition}] missing {c.missing} unexpected {c.unexpected}" for c in bad[:5])
        return f"NOT verified: {len(bad)} of {len(self.checks)} target partitions differ: {worst}"


def record_key(key: bytes | None, value: bytes | None, headers: list, timestamp: int) -> RecordKey:
    return (key, value, tuple((k, v) for k, v in headers), timestamp)


def expected_contents(
    spec: RestoreSpec, storage: BackupStorage, backup_id: str, existing_topics: dict[str, int]
) -> dict[TopicPartition, Counter[RecordKey]]:
    plan = plan_restore(spec, load_manifest(storage, backup_id), existing_topics)
    expected: dict[TopicPartition, Counter[RecordKey]] = {tp: Counter() for tp in plan.target_partitions}
    for unit in plan.units:
        place = placement(unit, RoundRobin(unit.target_partitions))
        for rec in stream_records(unit, storage, 0):
            if rec is not None and in_window(unit, rec.timestamp):
                target = (unit.target_topic, place(rec))
                expected.setdefault(target, Counter())[record_key(rec.key, rec.value, rec.headers, rec.timestamp)] += 1
    return expected


def verify_target(
    spec: RestoreSpec, storage: BackupStorage, backup_id: str, admin: KafkaAdmin, reader: PartitionReader,
    idle_timeout_s: float = 3.0, patience_s: float = 30.0,
) -> VerifyReport:
    """``patience_s``: how long to wait for records a partition must hold before calling them
    missing; ``idle_timeout_s``: the silence after them that shows nothing unexpected follows."""
    expected = expected_contents(spec, storage, backup_id, admin.topics())

    def read(tp: TopicPartition) -> Counter[RecordKey]:
        want = expected[tp].total()
        got: Counter[RecordKey] = Counter()
        last = -1
        if want:
            # Wait generously for records that must be there: on a busy machine a new consumer's
            # first fetch can take longer than a short silence, which would read as "missing".
            patience = max(idle_timeout_s, patience_s)
            for r in reader.read(*tp, 0, read_committed=True, idle_timeout_s=patience):
                got[record_key(r.key, r.value, r.headers, r.timestamp)] += 1
                last = r.offset
                if got.total() == want:
                    break
        # Anything after the expected records is unexpected; a short silence ends the check.
        for r in reader.read(*tp, last + 1, read_committed=True, idle_timeout_s=idle_timeout_s):
            got[record_key(r.key, r.value, r.headers, r.timestamp)] += 1
        return got

    # Each read ends only after a silence: read the partitions side by side.
    targets = sorted(expected)
    with ThreadPoolExecutor(max_workers=8) as pool:
        found = list(pool.map(read, targets))
    checks = []
    for (topic, partition), got in zip(targets, found, strict=True):
        want = expected[(topic, partition)]
        checks.append(
            PartitionCheck(
                topic, partition, sum(want.values()), sum(got.values()),
                sum((want - got).values()), sum((got - want).values()),
            )
        )
    return VerifyReport(checks)
