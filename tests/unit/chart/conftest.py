"""Rendered chart variants, each rendered once per session (helm runs take a few hundred ms)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.unit.chart import helm

ALL_ON = Path(__file__).with_name("values-all-on.yaml")
RELEASE_NAMESPACE = "kafka-restore"

# name -> (values files, --set overrides): the default values, every option on, and the
# alternatives every option cannot hold at once (external Redis, Secret API access, no Flower).
VARIANTS: dict[str, tuple[tuple[Path, ...], dict[str, str]]] = {
    "default": ((), {}),
    "all-on": ((ALL_ON,), {}),
    "all-on-external-redis-url": (
        (ALL_ON,),
        {"redis.enabled": "false", "redis.external.url": "redis://:s3cret@redis.example:6379/0"},
    ),
    "all-on-external-redis-secret": (
        (ALL_ON,),
        {"redis.enabled": "false", "redis.external.existingSecret": "redis-url", "flower.enabled": "false"},
    ),
    "all-on-secret-api": ((ALL_ON,), {"workers.secretAccess": "api"}),
}


def render(variant: str) -> list[dict[str, Any]]:
    files, overrides = VARIANTS[variant]
    return helm.template(files, overrides, namespace=RELEASE_NAMESPACE)


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict[str, Any]]]:
    return {name: render(name) for name in VARIANTS}


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


def named(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [doc for doc in by_kind(docs, kind) if doc["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
    return matches[0]


WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")


def workloads(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] in WORKLOAD_KINDS]
