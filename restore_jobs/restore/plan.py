"""Spec + backup manifest -> the units of a restore, decided once in ``prepare``.

A unit is one source topic-partition. Everything a unit needs to run anywhere (segment keys, target
placement, time window) is in its ``UnitPlan``, a small JSON-safe value: Celery carries it as the
task's argument, so a unit never re-reads the manifest or the spec's mapping rules.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from restore_jobs.backup.manifest import Manifest, SegmentInfo
from restore_jobs.spec.model import RestoreSpec
from restore_jobs.storage.base import BackupStorage, NotFoundError


class PlanError(Exception):
    """The spec cannot be applied to this backup or target cluster; nothing has been written."""


@dataclass(frozen=True)
class SegmentRef:
    key: str
    start_offset: int
    end_offset: int
    start_timestamp: int
    end_timestamp: int
    record_count: int
    uncompressed_size: int
    compressed_size: int = 0  # the file's length, as OSO records it; 0 when unknown


@dataclass(frozen=True)
class UnitPlan:
    source_topic: str
    source_partition: int
    target_topic: str
    # Fixed target partition, or None when the records are repartitioned.
    target_partition: int | None
    # "murmur2" or "automatic" with the target's partition count, when repartitioned.
    strategy: str | None
    target_partitions: int
    segments: tuple[SegmentRef, ...]
    start_ms: int | None = None
    end_ms: int | None = None
    # Another unit writes to one of this unit's target partitions (repartitioning, or several
    # sources mapped onto one partition): their transactions on it interleave.
    shares_target: bool = False

    @property
    def name(self) -> str:
        return f"{self.source_topic}[{self.source_partition}]"

    @property
    def records_upper_bound(self) -> int:
        return sum(s.record_count for s in self.segments)

    @property
    def bytes_upper_bound(self) -> int:
        return sum(s.uncompressed_size for s in self.segments)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["segments"] = [asdict(s) for s in self.segments]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UnitPlan:
        values = dict(data)
        values["segments"] = tuple(SegmentRef(**s) for s in data["segments"])
        return cls(**values)


@dataclass
class RestorePlan:
    backup_id: str
    units: list[UnitPlan]
    # Target topics missing from the cluster that this job creates: name -> partition count.
    topics_to_create: dict[str, int] = field(default_factory=dict)
    # Every target topic-partition the job may write to.
    target_partitions: list[tuple[str, int]] = field(default_factory=list)

    @property
    def records_upper_bound(self) -> int:
        return sum(u.records_upper_bound for u in self.units)

    @property
    def segment_count(self) -> int:
        return sum(len(u.segments) for u in self.units)


def segment_may_hold_window(seg: SegmentInfo | SegmentRef, start_ms: int | None, end_ms: int | None) -> bool:
    """False only when the manifest proves no record of the segment is inside the window.

    A segment's timestamps are those of its first and last record, not its min and max: records in
    between may lie anywhere. Only a segment of at most two records is fully described by them.
    """
    if start_ms is None and end_ms is None:
        return True
    if seg.record_count > 2:
        return True
    if seg.record_count == 0:
        return False

    def inside(ts: int) -> bool:
        return (start_ms is None or ts >= start_ms) and (end_ms is None or ts <= end_ms)

    return inside(seg.start_timestamp) or inside(seg.end_timestamp)


def plan_restore(spec: RestoreSpec, manifest: Manifest, existing_topics: dict[str, int]) -> RestorePlan:
    """``existing_topics``: the target cluster's topics and partition counts, read just before."""
    available = {t.name: t for t in manifest.topics}
    wanted = spec.topics or sorted(available)
    missing = [t for t in wanted if t not in available]
    if missing:
        raise PlanError(
            f"spec.topics: {', '.join(missing)} not in backup {manifest.backup_id} "
            f"(it holds: {', '.join(sorted(available)) or 'no topics'})"
        )
    start_ms = spec.pitr.start_ms if spec.pitr else None
    end_ms = spec.pitr.end_ms if spec.pitr else None

    units: list[UnitPlan] = []
    needed: dict[str, int] = {}
    for name in wanted:
        topic = available[name]
        target = spec.target_topic(name)
        repart = spec.repartitioning.get(target)
        if repart is not None:
            partition_count = repart.target_partitions
        else:
            mapped = [spec.target_partition(p.partition_id) for p in topic.partitions]
            partition_count = max([topic.partition_count(), *(p + 1 for p in mapped)])
        needed[target] = max(needed.get(target, 0), partition_count)
        for part in sorted(topic.partitions, key=lambda p: p.partition_id):
            segments = tuple(
                _segment_ref(s)
                for s in sorted(part.segments, key=lambda s: s.start_offset)
                if segment_may_hold_window(s, start_ms, end_ms)
            )
            units.append(
                UnitPlan(
                    source_topic=name,
                    source_partition=part.partition_id,
                    target_topic=target,
                    target_partition=None if repart else spec.target_partition(part.partition_id),
                    strategy=repart.strategy if repart else None,
                    target_partitions=partition_count,
                    segments=segments,
                    start_ms=start_ms,
                    end_ms=end_ms,
                )
            )

    to_create: dict[str, int] = {}
    for target, count in needed.items():
        have = existing_topics.get(target)
        repart = spec.repartitioning.get(target)
        if have is None:
            if not spec.create_topics:
                raise PlanError(
                    f"target topic {target} does not exist in the target cluster; "
                    "set spec.createTopics: true or create it first"
                )
            to_create[target] = count
        elif repart is not None and have != repart.target_partitions:
            raise PlanError(
                f"spec.repartitioning.{target}.targetPartitions is {repart.target_partitions} "
                f"but target topic {target} has {have} partitions"
            )
        elif have < count:
            raise PlanError(
                f"target topic {target} has {have} partitions but the restore writes to partition "
                f"{count - 1}; add partitions or change spec.partitionMapping"
            )

    writers = Counter(tp for u in units for tp in _targets(u))
    units = [replace(u, shares_target=any(writers[tp] > 1 for tp in _targets(u))) for u in units]
    return RestorePlan(manifest.backup_id, units, to_create, sorted(writers))


def _targets(unit: UnitPlan) -> list[tuple[str, int]]:
    """The target partitions a unit may write to."""
    if unit.strategy is not None:
        return [(unit.target_topic, p) for p in range(unit.target_partitions)]
    return [(unit.target_topic, unit.target_partition)] if unit.target_partition is not None else []


def _segment_ref(seg: SegmentInfo) -> SegmentRef:
    return SegmentRef(
        key=seg.key,
        start_offset=seg.start_offset,
        end_offset=seg.end_offset,
        start_timestamp=seg.start_timestamp,
        end_timestamp=seg.end_timestamp,
        record_count=seg.record_count,
        uncompressed_size=seg.uncompressed_size,
        compressed_size=seg.compressed_size,
    )


_SHOWN_PROBLEMS = 5


def check_segments(plan: RestorePlan, storage: BackupStorage, parallel: int = 16) -> None:
    """Before anything is written: every planned segment exists and has the length the manifest
    recorded, so a missing or truncated segment fails the job with nothing restored.

    One stat (a HEAD on S3) per segment, run in parallel. Damage that keeps the length (a flipped
    byte) is caught later by the segment's CRC, before any of its records is produced."""
    refs = [seg for unit in plan.units for seg in unit.segments]
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        problems = [p for p in pool.map(lambda seg: _segment_problem(seg, storage), refs) if p]
    if problems:
        shown = "; ".join(problems[:_SHOWN_PROBLEMS])
        more = f"; and {len(problems) - _SHOWN_PROBLEMS} more" if len(problems) > _SHOWN_PROBLEMS else ""
        raise PlanError(f"backup {plan.backup_id} is incomplete, nothing was restored: {shown}{more}")


def _segment_problem(seg: SegmentRef, storage: BackupStorage) -> str | None:
    try:
        size = storage.size(seg.key)
    except NotFoundError:
        return f"segment {storage.describe(seg.key)} is missing"
    if seg.compressed_size and size != seg.compressed_size:
        return (
            f"segment {storage.describe(seg.key)} is {size} bytes but the manifest records "
            f"{seg.compressed_size} (truncated or replaced)"
        )
    return None
