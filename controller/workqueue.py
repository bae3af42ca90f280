"""A deduplicating work queue keyed by namespace/name (client-go semantics).

A key is handed to one worker at a time; adding a key that is queued is a no-op, and adding one
that is being processed runs it again once that worker is done. Delayed adds wait in a heap.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import deque


class WorkQueue:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: deque[str] = deque()
        self._dirty: set[str] = set()
        self._processing: set[str] = set()
        self._delayed: list[tuple[float, int, str]] = []
        self._seq = itertools.count()
        self._shut = False

    def add(self, key: str) -> None:
        with self._cond:
            self._add(key)

    def add_after(self, key: str, delay: float) -> None:
        if delay <= 0:
            self.add(key)
            return
        with self._cond:
            heapq.heappush(self._delayed, (time.monotonic() + delay, next(self._seq), key))
            self._cond.notify()

    def get(self, timeout: float) -> str | None:
        """The next key, or None after ``timeout`` seconds or on shutdown. Call done(key) after."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._shut:
                now = time.monotonic()
                while self._delayed and self._delayed[0][0] <= now:
                    self._add(heapq.heappop(self._delayed)[2])
                if self._queue:
                    key = self._queue.popleft()
                    self._dirty.discard(key)
                    self._processing.add(key)
                    return key
                wait = deadline - now
                if wait <= 0:
                    return None
                if self._delayed:
                    wait = min(wait, self._delayed[0][0] - now)
                self._cond.wait(wait)
            return None

    def done(self, key: str) -> None:
        with self._cond:
            self._processing.discard(key)
            if key in self._dirty:
                self._queue.append(key)
                self._cond.notify()

    def shutdown(self) -> None:
        with self._cond:
            self._shut = True
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._queue)

    def _add(self, key: str) -> None:
        if self._shut or key in self._dirty:
            return
        self._dirty.add(key)
        if key not in self._processing:
            self._queue.append(key)
            self._cond.notify()
