"""A unit's records read back in the segment reader's batches, each checked against the manifest."""

from __future__ import annotations

from pathlib import Path

import pytest

from restore_jobs.backup.records import BackupRecord
from restore_jobs.backup.segment import encode_segment
from restore_jobs.restore.plan import SegmentRef, UnitPlan
from restore_jobs.restore.unit import BackupDataError, stream_batches, stream_records
from restore_jobs.storage.filesystem import FilesystemStorage


def _unit(tmp_path: Path, segments: list[tuple[int, int, list[int]]]) -> tuple[UnitPlan, FilesystemStorage]:
    """Segments as (manifest start, manifest end, offsets the file holds)."""
    refs = []
    for i, (start, end, offsets) in enumerate(segments):
        key = f"b/seg-{i}.bin"
        records = [BackupRecord(o, o, b"key-%d" % o, b"v" * 2000) for o in offsets]
        (tmp_path / "b").mkdir(exist_ok=True)
        (tmp_path / key).write_bytes(encode_segment(records, "zstd"))
        refs.append(SegmentRef(key, start, end, 0, 0, len(offsets), 0))
    unit = UnitPlan("orders", 0, "orders", 0, None, 1, tuple(refs))
    return unit, FilesystemStorage(tmp_path)


def test_every_record_from_the_resume_point_in_order_in_several_batches(tmp_path: Path) -> None:
    unit, storage = _unit(tmp_path, [(0, 1999, list(range(2000))), (2000, 3999, list(range(2000, 4000)))])
    batches = list(stream_batches(unit, storage, 1234))
    assert len(batches) > 2  # 2 KB values: a 1 MiB chunk holds about 500
    assert [r.offset for b in batches for r in b] == list(range(1234, 4000))
    assert [r.offset for r in stream_records(unit, storage, 3999)] == [3999]
    assert list(stream_batches(unit, storage, 4000)) == []


@pytest.mark.parametrize(
    ("segments", "message"),
    [
        ([(0, 9, [0, 1, 2, 5, 4, 6])], "record offset 4 is outside the manifest's range 0-9 or out of order (after 5)"),
        ([(0, 9, [0, 1, 1])], "record offset 1 is outside the manifest's range 0-9 or out of order (after 1)"),
        ([(0, 9, [0, 1, 10])], "record offset 10 is outside the manifest's range 0-9"),
        ([(5, 9, [4, 5])], "record offset 4 is outside the manifest's range 5-9 or out of order (after -1)"),
    ],
    ids=["backwards", "repeated", "past-the-end", "before-the-start"],
)
def test_offsets_the_manifest_does_not_allow_name_the_segment_and_offset(
    tmp_path: Path, segments: list[tuple[int, int, list[int]]], message: str
) -> None:
    unit, storage = _unit(tmp_path, segments)
    with pytest.raises(BackupDataError) as info:
        list(stream_batches(unit, storage, 0))
    assert str(info.value).startswith("segment b/seg-0.bin: ") and message in str(info.value)


def test_a_record_out_of_order_in_a_later_batch_is_found(tmp_path: Path) -> None:
    offsets = list(range(1000))
    offsets[700] = 100  # far from the first batch's records
    unit, storage = _unit(tmp_path, [(0, 999, offsets)])
    with pytest.raises(BackupDataError, match=r"record offset 100 is outside .* out of order \(after 699\)"):
        list(stream_batches(unit, storage, 0))
