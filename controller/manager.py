"""Wires the pieces: watchers fill a cache and a work queue, workers reconcile, a resync loop
polls running jobs, and (optionally) a lease decides whether this replica may act at all."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from typing import Any

from kubernetes import client

from controller import conditions, metrics
from controller.backend import JobBackend, default_backend
from controller.config import Settings
from controller.kube import EventRecorder, Obj, RestoreApi, key_of
from controller.leader import LeaderElector, LeaseLock
from controller.reconcile import NotLeader, Reconciler
from controller.watch import RestoreWatcher
from controller.workqueue import WorkQueue
from restore_jobs.spec.model import TERMINAL_PHASES

log = logging.getLogger(__name__)

_MAX_BACKOFF = 30.0


class RestoreController:
    def __init__(self, api_client: client.ApiClient, settings: Settings, backend: JobBackend | None = None):
        self.settings = settings
        self._stop = threading.Event()
        self._queue = WorkQueue()
        self._cache: dict[str, Obj] = {}
        self._cache_lock = threading.Lock()
        self._failures: dict[str, int] = {}
        self._threads: list[threading.Thread] = []
        restores = RestoreApi(api_client)
        self.elector: LeaderElector | None = None
        if settings.leader.enabled:
            lock = LeaseLock(api_client, settings.leader.lease_namespace, settings.leader.lease_name)
            self.elector = LeaderElector(lock, settings.leader, on_started=self._enqueue_all)
        self.reconciler = Reconciler(restores, EventRecorder(api_client, settings.leader.identity),
                                     backend or default_backend(), status_interval=settings.status_interval,
                                     cancel_timeout=settings.cancel_timeout, may_act=self.may_act)
        scopes: list[str | None] = list(settings.watch_namespaces) or [None]
        self.watchers = [RestoreWatcher(restores, ns, on_event=self._on_event, on_relist=self._on_relist,
                                        timeout_seconds=settings.watch_timeout_seconds) for ns in scopes]

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> RestoreController:
        if self.elector is not None:
            self._spawn("leader", self.elector.run)
        for watcher in self.watchers:
            self._spawn(f"watch-{watcher.scope}", watcher.run)
        for number in range(self.settings.workers):
            self._spawn(f"worker-{number}", self._work)
        self._spawn("resync", self._resync)
        return self

    def stop(self, *, release_lease: bool = True) -> None:
        """Stop acting at once; ``release_lease=False`` leaves the lease to expire, as a crash would."""
        self._stop.set()
        if self.elector is not None:
            self.elector.stop(release=release_lease)
        for watcher in self.watchers:
            watcher.stop()
        self._queue.shutdown()

    def may_act(self) -> bool:
        if self._stop.is_set():
            return False
        return self.elector is None or self.elector.is_leader()

    def healthy(self) -> bool:
        return not self._stop.is_set() and all(t.is_alive() for t in self._threads)

    def ready(self) -> bool:
        return self.healthy() and all(w.synced.is_set() for w in self.watchers)

    def _spawn(self, name: str, target: Any) -> None:
        thread = threading.Thread(target=target, name=f"kafka-restore-{name}", daemon=True)
        thread.start()
        self._threads.append(thread)

    # -- cache and queue ---------------------------------------------------------------------

    def _on_event(self, event_type: str, obj: Obj) -> None:
        key = key_of(obj)
        with self._cache_lock:
            if event_type == "DELETED":
                self._cache.pop(key, None)
            else:
                self._cache[key] = obj
        self._queue.add(key)

    def _on_relist(self, namespace: str | None, items: list[Obj]) -> None:
        fresh = {key_of(obj): obj for obj in items}
        with self._cache_lock:
            gone = [k for k in self._cache if namespace in (None, k.split("/", 1)[0]) and k not in fresh]
            for key in gone:
                del self._cache[key]
            self._cache.update(fresh)
        for key in [*gone, *fresh]:
            self._queue.add(key)

    def _enqueue_all(self) -> None:
        with self._cache_lock:
            keys = list(self._cache)
        for key in keys:
            self._queue.add(key)

    def _resync(self) -> None:
        """Every status interval: poll the jobs of resources that still need us; refresh the gauge."""
        while not self._stop.wait(self.settings.status_interval):
            with self._cache_lock:
                objects = list(self._cache.items())
            phases = Counter((obj.get("status") or {}).get("phase") or "New" for _, obj in objects)
            for phase in ("New", "Pending", "Running", "Finalizing", *sorted(TERMINAL_PHASES)):
                metrics.JOBS.labels(phase=phase).set(phases.get(phase, 0))
            for key, obj in objects:
                if _needs_attention(obj):
                    self._queue.add(key)

    def _work(self) -> None:
        while not self._stop.is_set():
            key = self._queue.get(timeout=0.5)
            if key is None:
                continue
            try:
                self._process(key)
            finally:
                self._queue.done(key)

    def _process(self, key: str) -> None:
        if not self.may_act():
            return
        namespace, name = key.split("/", 1)
        try:
            delay = self.reconciler.reconcile(namespace, name)
        except NotLeader:
            metrics.RECONCILES.labels(result="not_leader").inc()
            return
        except Exception as error:
            failures = self._failures.get(key, 0) + 1
            self._failures[key] = failures
            metrics.RECONCILES.labels(result="error").inc()
            metrics.ERRORS.labels(where="reconcile").inc()
            conflict = getattr(error, "status", None) == 409
            backoff = 0.0 if conflict else min(0.2 * 2 ** (failures - 1), _MAX_BACKOFF)
            log.warning("reconcile failed", extra={"resource": key, "retry_in": backoff, "error": repr(error)},
                        exc_info=not conflict)
            self._queue.add_after(key, backoff)
            return
        self._failures.pop(key, None)
        metrics.RECONCILES.labels(result="ok").inc()
        if delay is not None:
            self._queue.add_after(key, delay)


def _needs_attention(obj: Obj) -> bool:
    status = obj.get("status") or {}
    meta = obj["metadata"]
    return bool(
        meta.get("deletionTimestamp")
        or status.get("observedGeneration") != meta.get("generation")
        or status.get("phase") not in TERMINAL_PHASES
        or conditions.reason_of(status) == conditions.BACKUP_NOT_FOUND
    )
