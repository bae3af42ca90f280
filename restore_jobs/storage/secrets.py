"""Resolves secret references (name + key) at the point of use, never earlier.

Values stay in this process's memory, cached per resolver; messages name the reference
(namespace/name/key), never the value.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path
from typing import Protocol

from restore_jobs.spec.model import SecretKeyRef
from restore_jobs.storage.base import InvalidKeyError
from restore_jobs.storage.keys import check_name

SECRETS_DIR_ENV = "KAFKA_RESTORE_SECRETS_DIR"
_SA_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


class SecretError(Exception):
    """A secret reference could not be resolved; names the reference, never a value."""


class SecretSource(Protocol):
    def read(self, name: str, key: str) -> bytes: ...


class SecretResolver:
    def __init__(self, source: SecretSource, namespace: str | None):
        self.namespace = namespace
        self._source = source
        self._cache: dict[SecretKeyRef, bytes] = {}

    def __repr__(self) -> str:
        return f"SecretResolver(namespace={self.namespace!r}, source={type(self._source).__name__})"

    @classmethod
    def for_namespace(cls, namespace: str | None) -> SecretResolver:
        """A mounted-secrets directory when configured, else the Kubernetes API when in a cluster."""
        directory = os.environ.get(SECRETS_DIR_ENV)
        if directory:
            return cls(DirectorySecretSource(Path(directory), namespace), namespace)
        if os.environ.get("KUBERNETES_SERVICE_HOST"):
            if namespace is None and _SA_NAMESPACE.is_file():
                namespace = _SA_NAMESPACE.read_text().strip()
            return cls(KubernetesSecretSource(namespace or "default"), namespace or "default")
        return cls(_NoSecretSource(), namespace)

    def get(self, ref: SecretKeyRef) -> bytes:
        if ref not in self._cache:
            self._cache[ref] = self._source.read(ref.name, ref.key)
        return self._cache[ref]

    def get_str(self, ref: SecretKeyRef) -> str:
        try:
            return self.get(ref).decode("utf-8")
        except UnicodeDecodeError:
            raise SecretError(f"secret {_where(self.namespace, ref.name, ref.key)}: not UTF-8 text") from None


class DirectorySecretSource:
    """``<root>/<name>/<key>``: the layout of a Secret mounted as a volume (one dir per secret)."""

    def __init__(self, root: Path, namespace: str | None = None):
        self.root = root
        self.namespace = namespace

    def read(self, name: str, key: str) -> bytes:
        where = _where(self.namespace, name, key)
        try:
            check_name(name, "secret name")
            check_name(key, "secret key")
        except InvalidKeyError as exc:
            raise SecretError(f"secret {where}: {exc}") from None
        if not (self.root / name).is_dir():
            raise SecretError(f"secret {where}: secret {name!r} not found under {self.root}")
        try:
            return (self.root / name / key).read_bytes()
        except FileNotFoundError:
            raise SecretError(f"secret {where}: key {key!r} not in secret {name!r}") from None
        except OSError as exc:
            raise SecretError(f"secret {where}: unreadable: {exc.strerror}") from None


class KubernetesSecretSource:
    """Reads a Secret through the API with the pod's service account."""

    def __init__(self, namespace: str):
        self.namespace = namespace
        self._api = None

    def read(self, name: str, key: str) -> bytes:
        from kubernetes.client.exceptions import ApiException

        where = _where(self.namespace, name, key)
        try:
            secret = self._core().read_namespaced_secret(name, self.namespace)
        except ApiException as exc:
            if exc.status == 404:
                raise SecretError(f"secret {where}: secret {name!r} not found") from None
            raise SecretError(f"secret {where}: API error {exc.status} {exc.reason}") from None
        data = secret.data or {}
        if key not in data:
            raise SecretError(f"secret {where}: key {key!r} not in secret {name!r}")
        try:
            return base64.b64decode(data[key], validate=True)
        except (binascii.Error, ValueError):
            raise SecretError(f"secret {where}: value is not valid base64") from None

    def _core(self):  # type: ignore[no-untyped-def]
        if self._api is None:
            from kubernetes import client, config

            config.load_incluster_config()
            self._api = client.CoreV1Api()
        return self._api


class _NoSecretSource:
    def read(self, name: str, key: str) -> bytes:
        raise SecretError(f"secret {name}/{key}: no secret source: set {SECRETS_DIR_ENV} or run inside Kubernetes")


def _where(namespace: str | None, name: str, key: str) -> str:
    return f"{namespace}/{name}/{key}" if namespace else f"{name}/{key}"
