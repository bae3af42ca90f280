"""The rollback snapshot: what a restore job may change, recorded before it writes anything.

Stored as OSO kafka-backup stores its offset snapshots, ``offset-snapshots/{id}/snapshot.json`` and a
light ``metadata.json`` for listing, with ids ``snap-<ms>-<hex>``. OSO's fields are kept (a snapshot
we write reads as an OSO snapshot); ours are added beside them: the target partitions' end offsets
before the restore, the topics this job will create, and an expiry time, after which
``expire_snapshots`` deletes it.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from restore_jobs.backup.layout import SNAPSHOTS_DIR, new_snapshot_id, snapshot_key, snapshot_metadata_key
from restore_jobs.kafka.client import Committed, KafkaAdmin, TopicPartition
from restore_jobs.spec.model import RollbackStatus
from restore_jobs.storage.base import BackupStorage, NotFoundError

log = logging.getLogger(__name__)

_HOUR_MS = 3_600_000


class SnapshotError(Exception):
    """A rollback snapshot is missing or unreadable; the message names its key."""


@dataclass
class RollbackSnapshot:
    snapshot_id: str
    job_id: str
    created_at_ms: int
    expires_at_ms: int
    # group -> (topic, partition) -> commit; an empty dict: the group had no commits before the job.
    group_offsets: dict[str, dict[TopicPartition, Committed]]
    end_offsets: dict[TopicPartition, int]
    topics_created: list[str]
    cluster_id: str | None = None
    bootstrap_servers: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "snapshot_id": self.snapshot_id,
            "created_at": iso_ms(self.created_at_ms),
            "group_offsets": {
                group: {
                    "group_id": group,
                    "offsets": _nest(
                        (tp, {"offset": c.offset, "metadata": c.metadata or None, "timestamp": None})
                        for tp, c in offsets.items()
                    ),
                    "partition_count": len(offsets),
                }
                for group, offsets in self.group_offsets.items()
            },
            "restore_id": self.job_id,
            "cluster_id": self.cluster_id,
            "bootstrap_servers": self.bootstrap_servers,
            "description": f"before restore job {self.job_id}",
            "created_at_ms": self.created_at_ms,
            "expires_at": iso_ms(self.expires_at_ms),
            "expires_at_ms": self.expires_at_ms,
            "end_offsets": _nest(self.end_offsets.items()),
            "topics_created": self.topics_created,
        }

    def metadata_json(self) -> dict[str, Any]:
        return {
            "snapshot_id": self.snapshot_id,
            "created_at": iso_ms(self.created_at_ms),
            "group_count": len(self.group_offsets),
            "offset_count": sum(len(o) for o in self.group_offsets.values()),
            "restore_id": self.job_id,
            "description": f"before restore job {self.job_id}",
            "expires_at": iso_ms(self.expires_at_ms),
            "expires_at_ms": self.expires_at_ms,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str) -> RollbackSnapshot:
        try:
            return cls(
                snapshot_id=data["snapshot_id"],
                job_id=data.get("restore_id") or "",
                created_at_ms=data.get("created_at_ms") or _parse_iso_ms(data["created_at"]),
                expires_at_ms=data["expires_at_ms"],
                group_offsets={
                    group: {
                        tp: Committed(int(v["offset"]), v.get("metadata") or "")
                        for tp, v in _flatten(state.get("offsets", {}))
                    }
                    for group, state in data.get("group_offsets", {}).items()
                },
                end_offsets={tp: int(v) for tp, v in _flatten(data.get("end_offsets", {}))},
                topics_created=list(data.get("topics_created", [])),
                cluster_id=data.get("cluster_id"),
                bootstrap_servers=list(data.get("bootstrap_servers", [])),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SnapshotError(f"rollback snapshot {where}: malformed ({exc!r})") from exc


@dataclass(frozen=True)
class SnapshotRef:
    """What status.rollback shows about a stored snapshot."""

    snapshot_id: str
    snapshot_time: str
    snapshot_path: str
    expires_at: str
    rollback_available: bool

    def to_status(self) -> RollbackStatus:
        return RollbackStatus(
            snapshot_id=self.snapshot_id,
            snapshot_time=self.snapshot_time,
            snapshot_path=self.snapshot_path,
            rollback_available=self.rollback_available,
            expires_at=self.expires_at,
        )


def take_snapshot(
    admin: KafkaAdmin,
    storage: BackupStorage,
    *,
    job_id: str,
    groups: Sequence[str],
    target_partitions: Sequence[TopicPartition],
    topics_created: Sequence[str],
    retention_hours: int,
    now_ms: int,
    bootstrap_servers: Sequence[str] = (),
) -> SnapshotRef:
    """Record every affected group's commits and the target partitions' end offsets, then store them.

    Call before the job writes anything. ``storage`` is the backup's store, or for
    ``rollback.snapshotStorage`` a FilesystemStorage rooted at the mounted volume.
    """
    existing = admin.topics()
    present = [tp for tp in target_partitions if tp[0] in existing]
    snapshot = RollbackSnapshot(
        snapshot_id=new_snapshot_id(now_ms),
        job_id=job_id,
        created_at_ms=now_ms,
        expires_at_ms=now_ms + retention_hours * _HOUR_MS,
        group_offsets={g: dict(admin.committed(g)) for g in dict.fromkeys(groups)},
        end_offsets=dict(admin.end_offsets(present)) if present else {},
        topics_created=list(dict.fromkeys(topics_created)),
        cluster_id=admin.cluster_id(),
        bootstrap_servers=list(bootstrap_servers),
    )
    key = snapshot_key(snapshot.snapshot_id)
    storage.write(key, _dump(snapshot.to_json()))
    storage.write(snapshot_metadata_key(snapshot.snapshot_id), _dump(snapshot.metadata_json()))
    log.info(
        "rollback snapshot stored",
        extra={
            "job_id": job_id,
            "snapshot_id": snapshot.snapshot_id,
            "groups": len(snapshot.group_offsets),
            "partitions": len(snapshot.end_offsets),
            "path": storage.describe(key),
        },
    )
    return SnapshotRef(
        snapshot_id=snapshot.snapshot_id,
        snapshot_time=iso_ms(snapshot.created_at_ms),
        snapshot_path=storage.describe(key),
        expires_at=iso_ms(snapshot.expires_at_ms),
        rollback_available=True,
    )


def load_snapshot(storage: BackupStorage, snapshot_id: str) -> RollbackSnapshot:
    key = snapshot_key(snapshot_id)
    try:
        data = json.loads(storage.read(key))
    except NotFoundError as exc:
        raise SnapshotError(f"rollback snapshot {snapshot_id!r} not found at {storage.describe(key)}") from exc
    except ValueError as exc:
        raise SnapshotError(f"rollback snapshot {storage.describe(key)}: not JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise SnapshotError(f"rollback snapshot {storage.describe(key)}: expected a JSON object")
    return RollbackSnapshot.from_json(data, storage.describe(key))


def expire_snapshots(storage: BackupStorage, now_ms: int) -> list[str]:
    """Delete snapshots past their expiry; returns their ids. Snapshots without an expiry (OSO's
    own) are kept: they are not ours to delete."""
    ids = sorted({key.split("/")[1] for key in storage.list(f"{SNAPSHOTS_DIR}/") if key.count("/") == 2})
    expired: list[str] = []
    for snapshot_id in ids:
        expires = _expiry(storage, snapshot_id)
        if expires is None or expires > now_ms:
            continue
        for key in (snapshot_key(snapshot_id), snapshot_metadata_key(snapshot_id)):
            with contextlib.suppress(NotFoundError):
                storage.delete(key)
        log.info("rollback snapshot expired", extra={"snapshot_id": snapshot_id, "expires_at_ms": expires})
        expired.append(snapshot_id)
    return expired


def _expiry(storage: BackupStorage, snapshot_id: str) -> int | None:
    for key in (snapshot_metadata_key(snapshot_id), snapshot_key(snapshot_id)):
        try:
            data = json.loads(storage.read(key))
        except NotFoundError:
            continue
        except ValueError:
            log.warning("unreadable rollback snapshot file kept", extra={"key": storage.describe(key)})
            return None
        expires = data.get("expires_at_ms") if isinstance(data, dict) else None
        return expires if isinstance(expires, int) else None
    return None


def iso_ms(ms: int) -> str:
    """Epoch ms as RFC 3339 UTC with milliseconds (what OSO's snapshots and our status use)."""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_iso_ms(value: str) -> int:
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


def _nest(items: Iterable[tuple[TopicPartition, Any]]) -> dict[str, dict[str, Any]]:
    """(topic, partition) -> v as OSO nests it: topic -> "partition" -> v."""
    out: dict[str, dict[str, Any]] = {}
    for (topic, partition), value in items:
        out.setdefault(topic, {})[str(partition)] = value
    return out


def _flatten(nested: dict[str, dict[str, Any]]) -> Iterable[tuple[TopicPartition, Any]]:
    for topic, partitions in nested.items():
        for partition, value in partitions.items():
            yield (topic, int(partition)), value


def _dump(data: dict[str, Any]) -> bytes:
    return json.dumps(data, indent=2, sort_keys=True).encode()
