"""The few Kubernetes calls the controller makes, in one place: KafkaRestore read/patch,
KafkaBackup read, Events. Everything returns plain dicts (custom objects have no models)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException

GROUP = "kafka.oso.sh"
VERSION = "v1alpha1"
RESTORES = "kafkarestores"
BACKUPS = "kafkabackups"
KIND = "KafkaRestore"
FINALIZER = "kafka.oso.sh/restore-job"
COMPONENT = "kafka-restore-controller"
REQUEST_TIMEOUT = 30

log = logging.getLogger(__name__)

Obj = dict[str, Any]


def key_of(obj: Obj) -> str:
    meta = obj["metadata"]
    return f"{meta.get('namespace', '')}/{meta['name']}"


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class RestoreApi:
    def __init__(self, api_client: client.ApiClient):
        self._custom = client.CustomObjectsApi(api_client)

    def list_call(self, namespace: str | None) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        """The list function and its positional arguments, for listing and for ``Watch.stream``."""
        if namespace is None:
            return self._custom.list_cluster_custom_object, (GROUP, VERSION, RESTORES)
        return self._custom.list_namespaced_custom_object, (GROUP, VERSION, namespace, RESTORES)

    def list(self, namespace: str | None) -> Obj:
        func, args = self.list_call(namespace)
        return func(*args, _request_timeout=REQUEST_TIMEOUT)

    def get(self, namespace: str, name: str) -> Obj | None:
        return self._get(namespace, RESTORES, name)

    def get_backup(self, namespace: str, name: str) -> Obj | None:
        return self._get(namespace, BACKUPS, name)

    def _get(self, namespace: str, plural: str, name: str) -> Obj | None:
        try:
            return self._custom.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name,
                                                             _request_timeout=REQUEST_TIMEOUT)
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def patch_status(self, namespace: str, name: str, status: Obj) -> Obj:
        """Merge patch of the status subresource: send only changed fields, null removes one."""
        return self._custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, RESTORES, name, {"status": status}, _request_timeout=REQUEST_TIMEOUT)

    def set_finalizers(self, obj: Obj, finalizers: list[str]) -> Obj:
        """Merge patch guarded by resourceVersion: a concurrent change makes it fail with 409."""
        meta = obj["metadata"]
        body = {"metadata": {"finalizers": finalizers, "resourceVersion": meta["resourceVersion"]}}
        return self._custom.patch_namespaced_custom_object(
            GROUP, VERSION, meta["namespace"], RESTORES, meta["name"], body, _request_timeout=REQUEST_TIMEOUT)


class EventRecorder:
    """Kubernetes Events on a KafkaRestore; failures are logged, never fatal to a reconcile."""

    def __init__(self, api_client: client.ApiClient, instance: str):
        self._core = client.CoreV1Api(api_client)
        self._instance = instance

    def record(self, obj: Obj, reason: str, message: str, *, warning: bool = False) -> None:
        meta = obj["metadata"]
        stamp = now_iso()
        body = {
            "metadata": {"name": f"{meta['name']}.{uuid.uuid4().hex[:16]}", "namespace": meta["namespace"]},
            "involvedObject": {"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, "name": meta["name"],
                               "namespace": meta["namespace"], "uid": meta.get("uid"),
                               "resourceVersion": meta.get("resourceVersion")},
            "reason": reason,
            "message": message,
            "type": "Warning" if warning else "Normal",
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "reportingInstance": self._instance,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
        }
        try:
            self._core.create_namespaced_event(meta["namespace"], body, _request_timeout=REQUEST_TIMEOUT)
        except Exception:
            log.warning("event not recorded", extra={"resource": key_of(obj), "reason": reason}, exc_info=True)
