"""A unit's records read on a thread of their own, ahead of the producer.

The producer waits for the broker at every flush and commit, and zstd decompresses, without
holding the GIL. Reading on another thread fills those gaps, so the next batch is decoded while
the broker acknowledges the last one. Memory stays bounded: at most ``depth`` chunks wait, each
closed at ``chunk_records`` records or ``chunk_bytes`` bytes of payload, whichever comes first.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Iterator

from restore_jobs.backup.records import BackupRecord

_POLL_S = 0.1
_JOIN_S = 10.0


class _End:
    """The reader's last word: the error it failed with, or None when the records ran out."""

    def __init__(self, error: BaseException | None):
        self.error = error


def read_ahead(
    records: Iterator[BackupRecord],
    *,
    chunk_records: int = 1000,
    chunk_bytes: int = 4 << 20,
    depth: int = 2,
    name: str = "read-ahead",
) -> Iterator[list[BackupRecord]]:
    """``records`` in order, in chunks. An error of the reader is raised here, at the point the
    records stop. Closing this generator (the consumer stopped early) stops the reader, which
    closes ``records`` on its own thread, so files and connections it holds are released."""
    waiting: queue.Queue[list[BackupRecord] | _End] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def hand_over(item: list[BackupRecord] | _End) -> bool:
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
            chunk: list[BackupRecord] = []
            nbytes = 0
            for rec in records:
                chunk.append(rec)
                nbytes += rec.size
                if len(chunk) >= chunk_records or nbytes >= chunk_bytes:
                    if not hand_over(chunk):
                        return
                    chunk, nbytes = [], 0
            if chunk and not hand_over(chunk):
                return
        except BaseException as exc:  # handed to the consumer, which raises it
            error = exc
        finally:
            close = getattr(records, "close", None)
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
