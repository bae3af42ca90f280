"""Opens the store a spec (or a CLI URL) points at."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar
from urllib.parse import unquote, urlparse

from restore_jobs.spec import model
from restore_jobs.spec.model import SecretKeyRef
from restore_jobs.storage.base import BackupStorage, StorageError
from restore_jobs.storage.filesystem import FilesystemStorage
from restore_jobs.storage.keys import check_name, check_prefix
from restore_jobs.storage.s3 import S3Storage
from restore_jobs.storage.secrets import SecretResolver

PVC_ROOT_ENV = "KAFKA_RESTORE_PVC_ROOT"
DEFAULT_PVC_ROOT = "/mnt/pvc"

_T = TypeVar("_T")


def open_storage(storage: model.Storage, secrets: SecretResolver) -> BackupStorage:
    kind = storage.storage_type
    if kind == "filesystem":
        fs = _require(storage.filesystem, kind)
        return FilesystemStorage(Path(fs.path) / check_prefix((fs.prefix or "").strip("/")))
    if kind == "pvc":
        pvc = _require(storage.pvc, kind)
        root = Path(os.environ.get(PVC_ROOT_ENV, DEFAULT_PVC_ROOT))
        sub_path = check_prefix((pvc.sub_path or "").strip("/"), "storage.pvc.subPath")
        return FilesystemStorage(root / check_name(pvc.claim_name, "storage.pvc.claimName") / sub_path)
    if kind == "s3":
        s3 = _require(storage.s3, kind)
        access_key_id = secret_access_key = None
        if s3.credentials_secret is not None:
            cs = s3.credentials_secret
            access_key_id = secrets.get_str(SecretKeyRef(cs.name, cs.access_key_id_key))
            secret_access_key = secrets.get_str(SecretKeyRef(cs.name, cs.secret_access_key_key))
        return S3Storage(
            s3.bucket,
            prefix=s3.prefix,
            region=s3.region,
            endpoint=s3.endpoint,
            path_style=s3.path_style,
            allow_http=s3.allow_http,
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
        )
    raise StorageError(f"storage.storageType {kind!r} is not supported; use pvc, s3 or filesystem")


def open_storage_url(url: str, *, s3_endpoint: str | None = None, s3_region: str | None = None) -> BackupStorage:
    """``file:///abs/path``, a bare path, or ``s3://bucket/prefix`` (default credential chain).

    An endpoint given here is the operator's explicit choice, so plain HTTP is allowed and
    path-style addressing is used, as most S3-compatible servers expect.
    """
    parsed = urlparse(url)
    if parsed.scheme == "s3":
        return S3Storage(
            parsed.netloc,
            prefix=unquote(parsed.path),
            region=s3_region,
            endpoint=s3_endpoint,
            path_style=bool(s3_endpoint),
            allow_http=bool(s3_endpoint),
        )
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise StorageError(f"storage URL {url!r}: file URLs take no host; use file:///abs/path")
        return FilesystemStorage(Path(unquote(parsed.path)))
    if parsed.scheme == "":
        return FilesystemStorage(Path(url))
    raise StorageError(f"storage URL {url!r}: unsupported scheme; use file:///path, a path or s3://bucket/prefix")


def _require(section: _T | None, kind: str) -> _T:
    if section is None:
        raise StorageError(f"storage.{kind}: required when storageType is {kind!r}")
    return section
