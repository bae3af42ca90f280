"""Every container of every workload runs locked down, has probes and bounded resources."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.unit.chart.conftest import VARIANTS, workloads

CONTAINER_SECURITY = {
    "runAsNonRoot": True,
    "readOnlyRootFilesystem": True,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def _pods(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for doc in workloads(docs):
        yield f"{doc['kind']}/{doc['metadata']['name']}", doc["spec"]["template"]["spec"]


def _containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return pod["containers"] + pod.get("initContainers", [])


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_container_is_locked_down(rendered: dict[str, list[dict[str, Any]]], variant: str) -> None:
    pods = dict(_pods(rendered[variant]))
    assert len(pods) >= 4
    for name, pod in pods.items():
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["securityContext"]["runAsUser"] > 0, name
        for container in _containers(pod):
            where = f"{name}/{container['name']}"
            security = container["securityContext"]
            assert {key: security.get(key) for key in CONTAINER_SECURITY} == CONTAINER_SECURITY, where
            assert security.get("runAsUser", pod["securityContext"]["runAsUser"]) == 10001, where
            assert security.get("privileged", False) is False, where
            mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
            assert mounts.get("/tmp") == "tmp", f"{where}: a read-only root needs a writable /tmp"


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_container_has_probes_and_resources(rendered: dict[str, list[dict[str, Any]]], variant: str) -> None:
    for name, pod in _pods(rendered[variant]):
        for container in pod["containers"]:
            where = f"{name}/{container['name']}"
            assert "livenessProbe" in container, where
            if container.get("ports"):
                # Anything serving a port says when it is ready to serve.
                assert "readinessProbe" in container, where
            resources = container["resources"]
            assert set(resources["requests"]) == {"cpu", "memory"}, where
            assert set(resources["limits"]) == {"cpu", "memory"}, where


def test_probes_use_the_documented_endpoints(rendered: dict[str, list[dict[str, Any]]]) -> None:
    probes = {
        container["name"]: (container["livenessProbe"], container.get("readinessProbe"))
        for _, pod in _pods(rendered["default"])
        for container in pod["containers"]
    }
    controller_live, controller_ready = probes["controller"]
    assert controller_live["httpGet"] == {"path": "/healthz", "port": "http"}
    assert controller_ready["httpGet"] == {"path": "/readyz", "port": "http"}
    assert probes["flower"][0]["httpGet"] == {"path": "/healthcheck", "port": "http"}
    assert probes["worker"][0]["exec"]["command"][-1].startswith("celery -A workers inspect ping -d ")
    assert probes["worker"][0]["timeoutSeconds"] >= 30
    assert "celerybeat.pid" in probes["beat"][0]["exec"]["command"][-1]
    assert "ping" in probes["redis"][1]["exec"]["command"][-1]
