"""What every BackupStorage must do; run against the filesystem here and S3 (moto) in integration."""

from __future__ import annotations

import pytest

from restore_jobs.storage.base import BackupStorage, InvalidKeyError, NotFoundError

TRAVERSALS = ["../x", "/etc/passwd", "a/../../b", "a/b\x00c", "a\\..\\b", "a//b", "./a", ""]


def check_basic_operations(storage: BackupStorage) -> None:
    assert list(storage.list()) == []
    assert not storage.exists("b1/manifest.json")
    storage.write("b1/manifest.json", b"{}")
    storage.write("b1/topics/t/partition=0/segment-1.bin", b"\x00" * 10)
    storage.write("b10/manifest.json", b"{}")
    storage.write("b1/manifest.json", b'{"v": 2}')  # overwrite
    assert storage.exists("b1/manifest.json")
    assert storage.read("b1/manifest.json") == b'{"v": 2}'
    with storage.open("b1/topics/t/partition=0/segment-1.bin") as f:
        assert f.read(4) == b"\x00" * 4
        assert f.read() == b"\x00" * 6
    assert list(storage.list()) == ["b1/manifest.json", "b1/topics/t/partition=0/segment-1.bin", "b10/manifest.json"]
    assert list(storage.list("b1/")) == ["b1/manifest.json", "b1/topics/t/partition=0/segment-1.bin"]
    assert list(storage.list("b1")) == [
        "b1/manifest.json",
        "b1/topics/t/partition=0/segment-1.bin",
        "b10/manifest.json",
    ]
    assert list(storage.list("b1/topics/t/")) == ["b1/topics/t/partition=0/segment-1.bin"]
    assert list(storage.list("nothing/")) == []
    storage.delete("b10/manifest.json")
    storage.delete("b10/manifest.json")  # idempotent
    assert not storage.exists("b10/manifest.json")
    with pytest.raises(NotFoundError) as info:
        storage.read("b10/manifest.json")
    assert storage.describe("b10/manifest.json") in str(info.value)
    with pytest.raises(NotFoundError):
        storage.open("missing")


def check_traversal_refused(storage: BackupStorage) -> None:
    for key in TRAVERSALS:
        for op in (storage.read, storage.open, storage.exists, storage.delete, storage.describe):
            with pytest.raises(InvalidKeyError) as info:
                op(key)
            assert repr(key) in str(info.value)
        with pytest.raises(InvalidKeyError):
            storage.write(key, b"x")
    for prefix in ("../", "/abs/", "a/../../"):
        with pytest.raises(InvalidKeyError):
            list(storage.list(prefix))
