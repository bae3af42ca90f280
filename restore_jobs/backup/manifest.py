"""manifest.json of an OSO kafka-backup backup: typed, checked, and written back in OSO's shape.

Parsing is explicit so that every error names the key and the field path
(``b1/manifest.json: topics[0].partitions[2].segments[1].end_offset: expected integer``); unknown
fields are ignored, as OSO's serde does, so newer backups still read.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from restore_jobs.backup import layout
from restore_jobs.backup.fields import FieldError, Obj
from restore_jobs.storage.base import BackupStorage, InvalidKeyError, NotFoundError


class ManifestError(Exception):
    """The manifest is missing, unreadable or contradicts itself; names the key and field path."""


@dataclass
class SegmentInfo:
    key: str
    start_offset: int
    end_offset: int  # inclusive
    start_timestamp: int  # of the first record, not the minimum
    end_timestamp: int  # of the last record, not the maximum
    record_count: int
    uncompressed_size: int = 0
    compressed_size: int = 0


@dataclass
class Gap:
    start_offset: int
    end_offset: int  # exclusive
    reason: str = ""
    detected_at: int = 0


@dataclass
class PartitionBackup:
    partition_id: int
    segments: list[SegmentInfo] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)

    @property
    def record_count(self) -> int:
        return sum(s.record_count for s in self.segments)


@dataclass
class TopicBackup:
    name: str
    partitions: list[PartitionBackup] = field(default_factory=list)
    original_partition_count: int | None = None

    def partition_count(self) -> int:
        """The source topic's partition count: recorded, else the highest partition id + 1."""
        if self.original_partition_count is not None:
            return self.original_partition_count
        return max((p.partition_id for p in self.partitions), default=-1) + 1

    def partition(self, partition_id: int) -> PartitionBackup | None:
        return next((p for p in self.partitions if p.partition_id == partition_id), None)


@dataclass
class Manifest:
    backup_id: str
    created_at: int
    source_cluster_id: str | None = None
    source_brokers: list[str] = field(default_factory=list)
    compression: str = "zstd"
    topics: list[TopicBackup] = field(default_factory=list)

    def topic(self, name: str) -> TopicBackup | None:
        return next((t for t in self.topics if t.name == name), None)

    def partition_counts(self) -> dict[str, int]:
        return {t.name: t.partition_count() for t in self.topics}

    @property
    def record_count(self) -> int:
        return sum(p.record_count for t in self.topics for p in t.partitions)

    @property
    def segment_count(self) -> int:
        return sum(len(p.segments) for t in self.topics for p in t.partitions)


def load_manifest(storage: BackupStorage, backup_id: str) -> Manifest:
    key = layout.manifest_key(backup_id)
    try:
        raw = storage.read(key)
    except NotFoundError:
        raise ManifestError(f"backup {backup_id} not found at {storage.describe(key)}") from None
    return parse_manifest(raw, key)


def parse_manifest(raw: bytes, key: str) -> Manifest:
    """``key`` only names the source in error messages."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{key}: not valid JSON: {exc}") from None
    try:
        manifest = _manifest(Obj(data, ""))
        _check_manifest(manifest)
    except FieldError as exc:
        raise ManifestError(f"{key}: {exc.path}: {exc.problem}") from None
    return manifest


def dump_manifest(manifest: Manifest) -> bytes:
    return json.dumps(asdict(manifest), indent=2).encode("utf-8")


def _check_manifest(m: Manifest) -> None:
    """Catches a manifest contradicting itself."""
    _unique([t.name for t in m.topics], "topics", "name")
    for ti, topic in enumerate(m.topics):
        tpath = f"topics[{ti}]"
        _unique([p.partition_id for p in topic.partitions], f"{tpath}.partitions", "partition_id")
        count = topic.original_partition_count
        highest = max((p.partition_id for p in topic.partitions), default=-1)
        if count is not None and count <= highest:
            raise FieldError(f"{tpath}.original_partition_count", f"{count} but the backup holds partition {highest}")
        for pi, part in enumerate(topic.partitions):
            _check_partition(part, f"{tpath}.partitions[{pi}]")


def _check_partition(part: PartitionBackup, ppath: str) -> None:
    if part.partition_id < 0:
        raise FieldError(f"{ppath}.partition_id", f"{part.partition_id} is negative")
    previous: SegmentInfo | None = None
    for si, seg in enumerate(part.segments):
        spath = f"{ppath}.segments[{si}]"
        if seg.end_offset < seg.start_offset:
            raise FieldError(f"{spath}.end_offset", f"{seg.end_offset} is below start_offset {seg.start_offset}")
        if not 0 <= seg.record_count <= seg.end_offset - seg.start_offset + 1:
            raise FieldError(
                f"{spath}.record_count",
                f"{seg.record_count} does not fit offsets {seg.start_offset}..{seg.end_offset}",
            )
        if previous is not None and seg.start_offset <= previous.end_offset:
            raise FieldError(
                f"{spath}.start_offset",
                f"{seg.start_offset} overlaps or precedes segments[{si - 1}] "
                f"({previous.start_offset}..{previous.end_offset}); segments must be sorted and disjoint",
            )
        previous = seg
    for gi, gap in enumerate(part.gaps):
        if gap.end_offset < gap.start_offset:
            raise FieldError(
                f"{ppath}.gaps[{gi}].end_offset", f"{gap.end_offset} is below start_offset {gap.start_offset}"
            )


def _unique(values: list[Any], path: str, name: str) -> None:
    seen: set[Any] = set()
    for i, value in enumerate(values):
        if value in seen:
            raise FieldError(f"{path}[{i}].{name}", f"duplicate {value!r}")
        seen.add(value)


def _manifest(o: Obj) -> Manifest:
    brokers = o.get("source_brokers", lambda v: isinstance(v, list), "list of strings", [])
    if not all(isinstance(b, str) for b in brokers):
        raise FieldError(o.at("source_brokers"), "expected list of strings")
    return Manifest(
        backup_id=o.string("backup_id"),
        created_at=o.integer("created_at"),
        source_cluster_id=o.string("source_cluster_id", None),
        source_brokers=list(brokers),
        compression=o.string("compression", ""),
        topics=o.items("topics", _topic),
    )


def _topic(o: Obj) -> TopicBackup:
    count = o.integer("original_partition_count", None)
    if count is not None and count < 1:
        raise FieldError(o.at("original_partition_count"), f"{count} is not a positive integer")
    return TopicBackup(
        name=o.string("name"), partitions=o.items("partitions", _partition), original_partition_count=count
    )


def _partition(o: Obj) -> PartitionBackup:
    return PartitionBackup(
        partition_id=o.integer("partition_id"),
        segments=o.items("segments", _segment),
        gaps=o.items("gaps", _gap, []),
    )


def _segment(o: Obj) -> SegmentInfo:
    key = o.string("key")
    try:
        layout.check_segment_key(key)
    except InvalidKeyError as exc:
        raise FieldError(o.at("key"), str(exc)) from None
    return SegmentInfo(
        key=key,
        start_offset=o.integer("start_offset"),
        end_offset=o.integer("end_offset"),
        start_timestamp=o.integer("start_timestamp"),
        end_timestamp=o.integer("end_timestamp"),
        record_count=o.integer("record_count"),
        uncompressed_size=o.integer("uncompressed_size", 0),
        compressed_size=o.integer("compressed_size", 0),
    )


def _gap(o: Obj) -> Gap:
    return Gap(
        start_offset=o.integer("start_offset"),
        end_offset=o.integer("end_offset"),
        reason=o.string("reason", ""),
        detected_at=o.integer("detected_at", 0),
    )
