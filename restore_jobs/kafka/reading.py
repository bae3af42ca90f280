"""The read loop both clients share: batches until nothing arrives for ``idle_timeout_s``."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from restore_jobs.kafka.client import ConsumedRecord

# How long one poll may block; short so the idle deadline is kept closely.
POLL_INTERVAL_S = 0.5


def read_until_idle(poll: Callable[[float], list[ConsumedRecord]], idle_timeout_s: float) -> Iterator[ConsumedRecord]:
    deadline = time.monotonic() + idle_timeout_s
    while (left := deadline - time.monotonic()) > 0:
        batch = poll(min(left, POLL_INTERVAL_S))
        if batch:
            yield from batch
            deadline = time.monotonic() + idle_timeout_s
