"""consumer-groups-snapshot.json: the source cluster's committed offsets, taken at backup time.

OSO's shape: ``{"snapshot_time": ms, "groups": [{"group_id": g, "offsets": {topic: {"p": offset}}}]}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from restore_jobs.backup import layout
from restore_jobs.backup.fields import FieldError, Obj, is_int
from restore_jobs.backup.manifest import ManifestError
from restore_jobs.storage.base import BackupStorage, NotFoundError

GroupOffsets = dict[tuple[str, int], int]


@dataclass
class GroupSnapshot:
    snapshot_time: int
    groups: dict[str, GroupOffsets] = field(default_factory=dict)  # group -> (topic, partition) -> offset


def load_group_snapshot(storage: BackupStorage, backup_id: str) -> GroupSnapshot | None:
    """None when the backup has no snapshot (it is optional); ManifestError when it is malformed."""
    key = layout.consumer_groups_key(backup_id)
    try:
        raw = storage.read(key)
    except NotFoundError:
        return None
    return parse_group_snapshot(raw, key)


def parse_group_snapshot(raw: bytes, key: str) -> GroupSnapshot:
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{key}: not valid JSON: {exc}") from None
    try:
        root = Obj(data, "")
        entries = root.items("groups", _group, [])
        return GroupSnapshot(snapshot_time=root.integer("snapshot_time", 0), groups=dict(entries))
    except FieldError as exc:
        raise ManifestError(f"{key}: {exc.path}: {exc.problem}") from None


def dump_group_snapshot(snapshot: GroupSnapshot) -> bytes:
    groups = []
    for group_id, offsets in sorted(snapshot.groups.items()):
        by_topic: dict[str, dict[str, int]] = {}
        for (topic, partition), offset in sorted(offsets.items()):
            by_topic.setdefault(topic, {})[str(partition)] = offset
        groups.append({"group_id": group_id, "offsets": by_topic})
    return json.dumps({"snapshot_time": snapshot.snapshot_time, "groups": groups}, indent=2).encode("utf-8")


def _group(o: Obj) -> tuple[str, GroupOffsets]:
    topics = o.get("offsets", lambda v: isinstance(v, dict), "object", {})
    offsets: GroupOffsets = {}
    for topic, partitions in topics.items():
        tpath = o.at(f"offsets.{topic}")
        if not isinstance(partitions, dict):
            raise FieldError(tpath, "expected object of partition -> offset")
        for partition, offset in partitions.items():
            # isdigit alone accepts superscripts and non-ASCII digits.
            if not (partition.isascii() and partition.isdigit()):
                raise FieldError(f"{tpath}.{partition}", "partition must be a non-negative integer")
            if not is_int(offset):
                raise FieldError(f"{tpath}.{partition}", "expected integer offset")
            offsets[(topic, int(partition))] = offset
    return o.string("group_id"), offsets
