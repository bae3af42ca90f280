"""Where a job's rollback snapshots live: ``rollback.snapshotStorage`` (a mounted volume) or
beside the backup."""

from __future__ import annotations

import os
from pathlib import Path

from restore_jobs.storage.base import BackupStorage
from restore_jobs.storage.filesystem import FilesystemStorage

from .context import JobContext


def snapshot_storage(ctx: JobContext) -> BackupStorage:
    target = ctx.spec.rollback.snapshot_storage
    if target is None:
        return ctx.storage
    root = Path(os.environ.get("KAFKA_RESTORE_PVC_ROOT", "/mnt/pvc")) / target.pvc_name
    if target.sub_path:
        root = root / target.sub_path
    return FilesystemStorage(root)
