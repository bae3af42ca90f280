from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from restore_jobs.restore.readahead import read_ahead
from tests.fakes.polling import eventually


class Source:
    """Batches of offsets on demand, noting how many were read and whether the reader closed it."""

    def __init__(self, count: int, fail_at: int | None = None):
        self.count, self.fail_at = count, fail_at
        self.read = 0
        self.closed = threading.Event()
        self.thread: str | None = None

    def __iter__(self) -> Iterator[list[int]]:
        try:
            for i in range(self.count):
                if i == self.fail_at:
                    raise OSError(f"segment s{i}: read failed")
                self.read += 1
                yield [i]
        finally:
            self.thread = threading.current_thread().name
            self.closed.set()


def test_every_batch_in_order() -> None:
    source = Source(2500)
    assert list(read_ahead(iter(source))) == [[i] for i in range(2500)]
    assert source.closed.is_set()


def test_nothing_gives_nothing() -> None:
    assert list(read_ahead(iter(Source(0)))) == []


def test_a_reader_error_is_raised_after_the_batches_before_it() -> None:
    seen: list[int] = []
    with pytest.raises(OSError, match="segment s25: read failed"):
        for batch in read_ahead(iter(Source(100, fail_at=25))):
            seen += batch
    assert seen == list(range(25))


def test_the_reader_stays_at_most_depth_batches_ahead() -> None:
    source = Source(100_000)
    batches = read_ahead(iter(source), depth=2)
    next(batches)
    time.sleep(0.3)
    # one batch taken, two waiting, one read and waiting for room
    assert source.read <= 4
    batches.close()


def test_closing_early_stops_the_reader_and_closes_the_source_on_its_thread() -> None:
    source = Source(100_000)
    batches = read_ahead(iter(source), name="read-ahead t")
    next(batches)
    batches.close()
    assert source.closed.wait(5)
    assert source.thread == "read-ahead t"
    eventually(lambda: not any(t.name == "read-ahead t" for t in threading.enumerate()), timeout=5)
    assert source.read < 100_000
