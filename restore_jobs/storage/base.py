"""The one small interface every backup store implements (filesystem, S3)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO, Protocol


class StorageError(Exception):
    """A storage operation failed; the message names the key."""


class NotFoundError(StorageError):
    pass


class InvalidKeyError(StorageError):
    """A key tried to leave the configured root (``..``, absolute path, NUL byte)."""


class BackupStorage(Protocol):
    """Keys are '/'-separated and relative to the store's root (bucket prefix or directory)."""

    def list(self, prefix: str = "") -> Iterator[str]: ...

    def open(self, key: str) -> BinaryIO:
        """A streaming, read-only file object; the caller closes it."""
        ...

    def read(self, key: str) -> bytes: ...

    def write(self, key: str, data: bytes) -> None:
        """Atomic: readers see the old object or the new one, never half of it."""
        ...

    def exists(self, key: str) -> bool: ...

    def size(self, key: str) -> int:
        """The object's length in bytes, without reading it; NotFoundError when it is missing."""
        ...

    def delete(self, key: str) -> None: ...

    def describe(self, key: str) -> str:
        """Where the key lives, for messages and status (``s3://b/p/k``, ``/backups/k``)."""
        ...
