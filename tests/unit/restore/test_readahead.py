from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from restore_jobs.backup.records import BackupRecord
from restore_jobs.restore.readahead import read_ahead
from tests.fakes.polling import eventually


class Source:
    """Records on demand, noting how many were read and whether the reader closed it."""

    def __init__(self, count: int, value: bytes = b"v", fail_at: int | None = None):
        self.count, self.value, self.fail_at = count, value, fail_at
        self.read = 0
        self.closed = threading.Event()
        self.thread: str | None = None

    def __iter__(self) -> Iterator[BackupRecord]:
        try:
            for i in range(self.count):
                if i == self.fail_at:
                    raise OSError(f"segment s{i}: read failed")
                self.read += 1
                yield BackupRecord(i, i, None, self.value)
        finally:
            self.thread = threading.current_thread().name
            self.closed.set()


def test_every_record_in_order_in_chunks_of_the_record_limit() -> None:
    source = Source(2500)
    chunks = list(read_ahead(iter(source), chunk_records=1000))
    assert [len(c) for c in chunks] == [1000, 1000, 500]
    assert [r.offset for c in chunks for r in c] == list(range(2500))
    assert source.closed.is_set()


def test_chunks_close_at_the_byte_limit_too() -> None:
    chunks = list(read_ahead(iter(Source(10, value=b"x" * 100)), chunk_records=1000, chunk_bytes=250))
    assert [len(c) for c in chunks] == [3, 3, 3, 1]


def test_no_records_gives_no_chunks() -> None:
    assert list(read_ahead(iter(Source(0)))) == []


def test_a_reader_error_is_raised_after_the_records_before_it() -> None:
    seen: list[int] = []
    with pytest.raises(OSError, match="segment s25: read failed"):
        for chunk in read_ahead(iter(Source(100, fail_at=25)), chunk_records=10):
            seen += [r.offset for r in chunk]
    assert seen == list(range(20))  # the partial chunk of 20..24 is not handed out as if complete


def test_the_reader_stays_at_most_depth_chunks_ahead() -> None:
    source = Source(100_000)
    chunks = read_ahead(iter(source), chunk_records=100, depth=2)
    next(chunks)
    time.sleep(0.3)
    # one chunk taken, two waiting, one being filled
    assert source.read <= 4 * 100
    chunks.close()


def test_closing_early_stops_the_reader_and_closes_the_source_on_its_thread() -> None:
    source = Source(100_000)
    chunks = read_ahead(iter(source), chunk_records=100, name="read-ahead t")
    next(chunks)
    chunks.close()
    assert source.closed.wait(5)
    assert source.thread == "read-ahead t"
    eventually(lambda: not any(t.name == "read-ahead t" for t in threading.enumerate()), timeout=5)
    assert source.read < 100_000
