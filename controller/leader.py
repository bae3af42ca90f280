"""Leader election on a coordination.k8s.io/v1 Lease (client 36 only ships a ConfigMap lock).

Same rules as client-go: a lease is free when its holder is empty or when its record has not
changed for leaseDurationSeconds *as observed by us* (local monotonic clock, so no cross-node
clock skew); the holder renews every retry period and stops leading as soon as it has not renewed
within the renew deadline, which is shorter than the lease duration others wait for.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from kubernetes import client
from kubernetes.client.rest import ApiException

from controller import metrics
from controller.config import LeaderElectionSettings

log = logging.getLogger(__name__)


class LeaseLock:
    """Read, create and compare-and-swap one Lease object."""

    def __init__(self, api_client: client.ApiClient, namespace: str, name: str):
        self._api = client.CoordinationV1Api(api_client)
        self.namespace = namespace
        self.name = name

    def get(self) -> client.V1Lease | None:
        try:
            return self._api.read_namespaced_lease(self.name, self.namespace, _request_timeout=10)
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def create(self, spec: client.V1LeaseSpec) -> client.V1Lease:
        body = client.V1Lease(metadata=client.V1ObjectMeta(name=self.name, namespace=self.namespace), spec=spec)
        return self._api.create_namespaced_lease(self.namespace, body, _request_timeout=10)

    def update(self, lease: client.V1Lease) -> client.V1Lease:
        """Replace guarded by the lease's resourceVersion: a concurrent writer gets 409."""
        return self._api.replace_namespaced_lease(self.name, self.namespace, lease, _request_timeout=10)


class LeaderElector:
    def __init__(self, lock: LeaseLock, settings: LeaderElectionSettings, *,
                 on_started: Callable[[], None] = lambda: None, on_stopped: Callable[[], None] = lambda: None,
                 clock: Callable[[], float] = time.monotonic):
        self._lock = lock
        self._settings = settings
        self._on_started = on_started
        self._on_stopped = on_stopped
        self._clock = clock
        self._leading = False
        self._last_renew = float("-inf")
        self._observed: tuple[object, ...] | None = None
        self._observed_at = 0.0
        self._stop = threading.Event()

    @property
    def identity(self) -> str:
        return self._settings.identity

    def is_leader(self) -> bool:
        return self._leading and self._clock() - self._last_renew < self._settings.renew_deadline

    def run(self) -> None:
        while not self._stop.is_set():
            self.step()
            self._stop.wait(self._settings.retry_period)

    def stop(self, *, release: bool = True) -> None:
        """Stop campaigning; with ``release`` hand the lease back so another replica takes over now."""
        self._stop.set()
        was_leading = self._leading
        self._set_leading(False)
        if release and was_leading:
            try:
                self._release()
            except Exception:
                log.warning("lease release failed", extra={"lease": self._lock.name}, exc_info=True)

    def step(self) -> None:
        """One acquire-or-renew attempt and its consequences for leadership."""
        try:
            held = self._try_acquire_or_renew()
        except Exception:
            metrics.ERRORS.labels(where="leader").inc()
            log.warning("lease update failed", extra={"lease": self._lock.name}, exc_info=True)
            if self._leading and not self.is_leader():
                self._set_leading(False)
            return
        if held:
            self._last_renew = self._clock()
        if held != self._leading and not self._stop.is_set():
            self._set_leading(held)

    def _set_leading(self, leading: bool) -> None:
        if leading == self._leading:
            return
        self._leading = leading
        metrics.LEADER.set(1 if leading else 0)
        log.info("leadership %s", "acquired" if leading else "lost",
                 extra={"lease": self._lock.name, "identity": self.identity})
        (self._on_started if leading else self._on_stopped)()

    def _try_acquire_or_renew(self) -> bool:
        now = datetime.now(UTC)
        duration = math.ceil(self._settings.lease_duration)
        lease = self._lock.get()
        if lease is None:
            try:
                self._lock.create(client.V1LeaseSpec(holder_identity=self.identity, lease_duration_seconds=duration,
                                                     acquire_time=now, renew_time=now, lease_transitions=0))
            except ApiException as error:
                if error.status == 409:
                    return False
                raise
            return True
        spec = lease.spec or client.V1LeaseSpec()
        record = (spec.holder_identity, spec.renew_time, spec.lease_duration_seconds, lease.metadata.resource_version)
        if record != self._observed:
            self._observed, self._observed_at = record, self._clock()
        holder = spec.holder_identity
        expired = self._clock() >= self._observed_at + (spec.lease_duration_seconds or duration)
        if holder and holder != self.identity and not expired:
            return False
        if holder != self.identity:
            spec.acquire_time = now
            spec.lease_transitions = (spec.lease_transitions or 0) + 1
        spec.holder_identity = self.identity
        spec.renew_time = now
        spec.lease_duration_seconds = duration
        lease.spec = spec
        try:
            self._lock.update(lease)
        except ApiException as error:
            if error.status == 409:
                return False
            raise
        return True

    def _release(self) -> None:
        lease = self._lock.get()
        if lease is None or lease.spec is None or lease.spec.holder_identity != self.identity:
            return
        lease.spec.holder_identity = ""
        lease.spec.lease_duration_seconds = 1
        lease.spec.renew_time = datetime.now(UTC)
        self._lock.update(lease)
