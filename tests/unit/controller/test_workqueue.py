from __future__ import annotations

import time

from controller.workqueue import WorkQueue


def test_keys_are_deduplicated_while_queued() -> None:
    queue = WorkQueue()
    for key in ("ns/a", "ns/b", "ns/a", "ns/a"):
        queue.add(key)
    assert len(queue) == 2
    assert [queue.get(0.1), queue.get(0.1), queue.get(0.01)] == ["ns/a", "ns/b", None]


def test_a_key_added_while_processing_runs_again_after_done() -> None:
    queue = WorkQueue()
    queue.add("ns/a")
    assert queue.get(0.1) == "ns/a"
    queue.add("ns/a")
    assert queue.get(0.01) is None, "never handed to two workers at once"
    queue.done("ns/a")
    assert queue.get(0.1) == "ns/a"


def test_add_after_waits_and_orders_by_due_time() -> None:
    queue = WorkQueue()
    queue.add_after("ns/late", 0.2)
    queue.add_after("ns/soon", 0.05)
    started = time.monotonic()
    assert queue.get(1) == "ns/soon"
    assert queue.get(1) == "ns/late"
    assert time.monotonic() - started >= 0.2


def test_shutdown_wakes_waiters_and_refuses_work() -> None:
    queue = WorkQueue()
    queue.shutdown()
    queue.add("ns/a")
    assert queue.get(5) is None
