"""A unit's record batches read on a thread of their own, ahead of the producer.

The producer waits for the broker at every flush and commit, and zstd decompresses, without
holding the GIL. Reading on another thread fills those gaps, so the next batch is decoded while
the broker acknowledges the last one. Memory stays bounded: at most ``depth`` batches wait, and
the segment reader bounds each batch by one decompressed chunk or one record (the unit also cuts
them to its batch size).
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")

_POLL_S = 0.1
_JOIN_S = 10.0


class _End:
    """The reader's last word: the error it failed with, or None when the items ran out."""

    def __init__(self, error: BaseException | None):
        self.error = error


def read_ahead(items: Iterator[T], *, depth: int = 3, name: str = "read-ahead") -> Iterator[T]:
    """``items`` in order. An error of the reader is raised here, at the point the items stop.
    Closing this generator (the consumer stopped early) stops the reader, which closes ``items``
    on its own thread, so files and connections it holds are released."""
    waiting: queue.Queue[T | _End] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def hand_over(item: T | _End) -> bool:
        while not stop.is_set():
            try:
                waiting.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        error: BaseException | None = None
        try:
            for item in items:
                if not hand_over(item):
                    return
        except BaseException as exc:  # handed to the consumer, which raises it
            error = exc
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()
        hand_over(_End(error))

    reader = threading.Thread(target=contextvars.copy_context().run, args=(read,), name=name, daemon=True)
    reader.start()
    try:
        while True:
            item = waiting.get()
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            yield item
    finally:
        stop.set()
        reader.join(_JOIN_S)
