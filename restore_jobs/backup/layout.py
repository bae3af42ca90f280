"""Where OSO kafka-backup puts each object of a backup: the key scheme in one place.

Segment keys are always taken from the manifest when reading (older backups named segments by
sequence number); ``segment_key`` is what our writer produces, as OSO v0.17 does.
"""

from __future__ import annotations

import secrets

from restore_jobs.storage.keys import check_key, check_name

COMPRESSIONS = ("none", "zstd", "lz4")
_SUFFIX = {"none": "", "zstd": ".zst", "lz4": ".lz4"}
SNAPSHOTS_DIR = "offset-snapshots"


def manifest_key(backup_id: str) -> str:
    return f"{check_name(backup_id, 'backup id')}/manifest.json"


def topic_prefix(backup_id: str, topic: str) -> str:
    return f"{check_name(backup_id, 'backup id')}/topics/{check_name(topic, 'topic')}/"


def segment_key(backup_id: str, topic: str, partition: int, start_offset: int, compression: str) -> str:
    if compression not in _SUFFIX:
        raise ValueError(f"unknown compression {compression!r}; expected one of {', '.join(COMPRESSIONS)}")
    if partition < 0 or start_offset < 0:
        raise ValueError(f"negative partition {partition} or start offset {start_offset}")
    return (
        f"{topic_prefix(backup_id, topic)}partition={partition}/segment-{start_offset:020d}.bin{_SUFFIX[compression]}"
    )


def consumer_groups_key(backup_id: str) -> str:
    return f"{check_name(backup_id, 'backup id')}/consumer-groups-snapshot.json"


def offset_mapping_key(backup_id: str) -> str:
    return f"{check_name(backup_id, 'backup id')}/offset-mapping.json"


def new_snapshot_id(now_ms: int) -> str:
    return f"snap-{now_ms}-{secrets.token_hex(4)}"


def snapshot_key(snapshot_id: str) -> str:
    return f"{SNAPSHOTS_DIR}/{check_name(snapshot_id, 'snapshot id')}/snapshot.json"


def snapshot_metadata_key(snapshot_id: str) -> str:
    return f"{SNAPSHOTS_DIR}/{check_name(snapshot_id, 'snapshot id')}/metadata.json"


def check_segment_key(key: str) -> str:
    """A key read from a manifest: it must stay inside the store like any other."""
    return check_key(key, "segment key")
