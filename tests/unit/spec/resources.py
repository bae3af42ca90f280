"""Resources the spec tests start from, and small helpers to bend them."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from restore_jobs.spec import FieldError, SpecValidationError, load_resource, read_yaml_documents

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
SEED_EXAMPLES = (
    "full-spec.yaml",
    "restore-from-kafkabackup.yaml",
    "restore-from-direct-storage.yaml",
    "restore-with-consumer-groups.yaml",
)
ALL_EXAMPLES = (*SEED_EXAMPLES, "filesystem-restore.yaml")
DELETE = object()

MINIMAL: dict[str, Any] = {
    "apiVersion": "kafka.oso.sh/v1alpha1",
    "kind": "KafkaRestore",
    "metadata": {"name": "r"},
    "spec": {"backupRef": {"name": "b"}, "kafkaCluster": {"bootstrapServers": ["kafka:9092"]}},
}


def example(name: str) -> dict[str, Any]:
    (document,) = read_yaml_documents(str(EXAMPLES / name))
    return document


def minimal(**changes: Any) -> dict[str, Any]:
    """MINIMAL with ``changes``: dotted path -> value (DELETE removes the key)."""
    document = copy.deepcopy(MINIMAL)
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        node = document
        for key in parents:
            node = node.setdefault(key, {})
        if value is DELETE:
            del node[last]
        else:
            node[last] = value
    return document


def errors_of(document: Any) -> list[FieldError]:
    try:
        load_resource(document)
    except SpecValidationError as exc:
        return exc.errors
    raise AssertionError("the resource was accepted")
