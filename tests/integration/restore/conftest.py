from __future__ import annotations

import pytest

from restore_jobs.storage.filesystem import FilesystemStorage


@pytest.fixture
def storage(tmp_path) -> FilesystemStorage:
    """A fresh backup directory per test."""
    return FilesystemStorage(tmp_path / "backups")
