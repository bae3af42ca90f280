"""List-then-watch of KafkaRestores in one scope (a namespace, or all), feeding a local cache.

The watch resumes from the last resourceVersion it saw (events and bookmarks), relists on
410 Gone (whether the server answers with a 410 status or an ERROR event), and reconnects with
exponential backoff on connection errors. A relist replaces the scope's cache entries, so a
change made while the watch was down is seen either as a watch event or through the list.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import urllib3
from kubernetes import watch
from kubernetes.client.rest import ApiException
from tenacity import RetryCallState, Retrying, retry_if_exception, wait_exponential

from controller import metrics
from controller.kube import Obj, RestoreApi

log = logging.getLogger(__name__)

OnEvent = Callable[[str, Obj], None]
OnRelist = Callable[[str | None, list[Obj]], None]


def _transient(error: BaseException) -> bool:
    if isinstance(error, ApiException):
        return error.status != 410
    return isinstance(error, urllib3.exceptions.HTTPError | OSError)


class RestoreWatcher:
    def __init__(self, restores: RestoreApi, namespace: str | None, *, on_event: OnEvent, on_relist: OnRelist,
                 timeout_seconds: int, backoff_max: float = 10.0):
        self._restores = restores
        self._namespace = namespace
        self._on_event = on_event
        self._on_relist = on_relist
        self._timeout = timeout_seconds
        self._backoff_max = backoff_max
        self._stop = threading.Event()
        self._watch: watch.Watch | None = None
        self.resource_version: str | None = None
        self.synced = threading.Event()

    @property
    def scope(self) -> str:
        return self._namespace or "*"

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                for attempt in Retrying(retry=retry_if_exception(_transient),
                                        wait=wait_exponential(multiplier=0.2, max=self._backoff_max),
                                        stop=self._stopped, sleep=self._stop.wait,
                                        before_sleep=self._log_retry, reraise=True):
                    with attempt:
                        self._cycle()
            except ApiException as error:
                if error.status != 410:
                    raise
                log.info("watch expired, relisting", extra={"scope": self.scope, "rv": self.resource_version})
                self.resource_version = None
            except Exception:
                if self._stop.is_set():
                    return
                raise

    def stop(self) -> None:
        self._stop.set()
        if self._watch is not None:
            self._watch.stop()

    def _stopped(self, _: RetryCallState) -> bool:
        return self._stop.is_set()

    def _log_retry(self, state: RetryCallState) -> None:
        metrics.ERRORS.labels(where="watch").inc()
        error = state.outcome.exception() if state.outcome else None
        log.warning("watch connection failed, retrying",
                    extra={"scope": self.scope, "attempt": state.attempt_number, "error": repr(error)})

    def _cycle(self) -> None:
        """One list (when needed) and one watch call, until its timeout."""
        if self.resource_version is None:
            listed = self._restores.list(self._namespace)
            self._on_relist(self._namespace, listed.get("items") or [])
            self.resource_version = listed["metadata"]["resourceVersion"]
            self.synced.set()
        func, args = self._restores.list_call(self._namespace)
        self._watch = watch.Watch()
        for event in self._watch.stream(func, *args, resource_version=self.resource_version,
                                        allow_watch_bookmarks=True, timeout_seconds=self._timeout,
                                        _request_timeout=(10, self._timeout + 30)):
            if self._stop.is_set():
                break
            obj: dict[str, Any] = event["raw_object"]
            if event["type"] != "BOOKMARK":
                self._on_event(event["type"], obj)
            self.resource_version = obj["metadata"]["resourceVersion"]
