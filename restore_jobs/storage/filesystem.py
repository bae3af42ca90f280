"""A backup store in a local directory (or a mounted PVC)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from restore_jobs.storage.base import NotFoundError, StorageError
from restore_jobs.storage.keys import check_key, check_prefix

_TEMP_PREFIX = ".tmp-"


class FilesystemStorage:
    def __init__(self, root: Path | str):
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"FilesystemStorage({str(self.root)!r})"

    def list(self, prefix: str = "") -> Iterator[str]:
        """Keys under ``prefix`` (string-prefix match, as S3 does), sorted, without temp files."""
        check_prefix(prefix)
        start = self.root / prefix.rpartition("/")[0]
        if not start.is_dir():
            return
        found = []
        for dirpath, _dirs, files in os.walk(start):
            rel_dir = Path(dirpath).relative_to(self.root).as_posix()
            for name in files:
                key = name if rel_dir == "." else f"{rel_dir}/{name}"
                if not name.startswith(_TEMP_PREFIX) and key.startswith(prefix):
                    found.append(key)
        yield from sorted(found)

    def open(self, key: str) -> BinaryIO:
        path = self._path(key)
        try:
            return open(path, "rb")
        except FileNotFoundError:
            raise NotFoundError(f"{path}: not found") from None
        except OSError as exc:
            raise StorageError(f"{path}: cannot open: {exc.strerror}") from exc

    def read(self, key: str) -> bytes:
        with self.open(key) as f:
            return f.read()

    def write(self, key: str, data: bytes) -> None:
        """Temp file in the same directory, fsync, rename: readers never see half a file."""
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=path.parent)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise StorageError(f"{path}: cannot write: {exc.strerror}") from exc

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        path = self._path(key)
        try:
            return path.stat().st_size
        except FileNotFoundError:
            raise NotFoundError(f"{path}: not found") from None
        except OSError as exc:
            raise StorageError(f"{path}: cannot stat: {exc.strerror}") from exc

    def delete(self, key: str) -> None:
        """Idempotent, like S3's DeleteObject."""
        path = self._path(key)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise StorageError(f"{path}: cannot delete: {exc.strerror}") from exc

    def describe(self, key: str) -> str:
        return str(self._path(key))

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)
