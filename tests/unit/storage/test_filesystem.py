from __future__ import annotations

from pathlib import Path

import pytest

from restore_jobs.storage.base import InvalidKeyError, StorageError
from restore_jobs.storage.filesystem import FilesystemStorage
from restore_jobs.storage.keys import check_key, check_name, check_prefix, join_key
from tests.unit.storage.contract import check_basic_operations, check_traversal_refused


def test_contract(tmp_path: Path) -> None:
    storage = FilesystemStorage(tmp_path / "root")
    check_basic_operations(storage)
    assert storage.describe("b1/manifest.json") == f"{tmp_path}/root/b1/manifest.json"


def test_traversal_refused_and_nothing_escapes(tmp_path: Path) -> None:
    (tmp_path / "secret").write_bytes(b"outside")
    storage = FilesystemStorage(tmp_path / "root")
    check_traversal_refused(storage)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret"]


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    storage = FilesystemStorage(tmp_path)
    storage.write("a/b", b"1")

    def crash(src: str, dst: str) -> None:
        assert Path(src).read_bytes() == b"2"  # the new content is complete before the rename
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("restore_jobs.storage.filesystem.os.replace", crash)
    with pytest.raises(StorageError, match=f"^{tmp_path}/a/b: cannot write: No space left on device$"):
        storage.write("a/b", b"2")
    monkeypatch.undo()
    assert storage.read("a/b") == b"1"
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["b"]
    storage.write("a/b", b"3")
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["b"]
    assert storage.read("a/b") == b"3"


def test_list_skips_temp_files(tmp_path: Path) -> None:
    storage = FilesystemStorage(tmp_path)
    storage.write("a/b", b"1")
    (tmp_path / "a" / ".tmp-123").write_bytes(b"half")
    assert list(storage.list()) == ["a/b"]


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("../x", "segment '..' not allowed"),
        ("/etc/passwd", "absolute path"),
        ("a/../../b", "segment '..' not allowed"),
        ("a\x00b", "contains a NUL byte"),
        ("a\\b", "contains a backslash"),
        ("a//b", "segment '' not allowed"),
        ("", "empty"),
    ],
)
def test_key_checks_name_the_key(key: str, problem: str) -> None:
    with pytest.raises(InvalidKeyError) as info:
        check_key(key)
    assert str(info.value) == f"invalid key {key!r}: {problem}"


def test_names_prefixes_and_joins() -> None:
    assert check_name("orders.v1-x") == "orders.v1-x"
    with pytest.raises(InvalidKeyError, match=r"invalid topic 'a/b': contains '/'"):
        check_name("a/b", "topic")
    with pytest.raises(InvalidKeyError, match=r"invalid topic '\.\.'"):
        check_name("..", "topic")
    assert check_prefix("") == "" and check_prefix("a/b/") == "a/b/"
    with pytest.raises(InvalidKeyError, match=r"invalid prefix '/a/'"):
        check_prefix("/a/")
    assert join_key("pre/fix/", "b1/manifest.json") == "pre/fix/b1/manifest.json"
    assert join_key("", "k") == "k"
