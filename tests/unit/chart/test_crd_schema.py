"""The generated KafkaRestore CRD accepts the seed's specification and examples, and rejects
broken resources, the way the API server would (its openAPIV3Schema mapped to JSON Schema)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.unit.chart.helm import CHART_DIR, REPO_ROOT

CRD_FILE = CHART_DIR / "crds" / "kafkarestores.yaml"
EXAMPLES = sorted((REPO_ROOT / "examples").glob("*.yaml"))
FULL_SPEC = REPO_ROOT / "examples" / "full-spec.yaml"
_SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf")


def to_json_schema(node: dict[str, Any]) -> dict[str, Any]:
    """Kubernetes structural schema -> JSON Schema: nullable becomes a "null" type, int-or-string a
    type pair, and objects with declared properties reject unknown fields (kubectl's strict field
    validation) unless they preserve unknown fields. CEL rules (x-kubernetes-validations) are not
    evaluated here; restore_jobs.spec enforces the same rules in Python."""
    out: dict[str, Any] = {k: v for k, v in node.items() if not k.startswith("x-kubernetes-") and k != "nullable"}
    if node.get("x-kubernetes-int-or-string"):
        out["type"] = ["integer", "string"]
    if node.get("nullable") and "type" in out:
        out["type"] = [*([out["type"]] if isinstance(out["type"], str) else out["type"]), "null"]
    if "properties" in node:
        out["properties"] = {name: to_json_schema(child) for name, child in node["properties"].items()}
        if "additionalProperties" not in node and not node.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
    if isinstance(node.get("additionalProperties"), dict):
        out["additionalProperties"] = to_json_schema(node["additionalProperties"])
    if "items" in node:
        out["items"] = to_json_schema(node["items"])
    for key in _SUBSCHEMA_LISTS:
        if key in node:
            out[key] = [to_json_schema(child) for child in node[key]]
    return out


def as_api_server_sees_it(path: Path) -> dict[str, Any]:
    """YAML as kubectl sends it: JSON, so integer map keys (partitionMapping) become strings."""
    return json.loads(json.dumps(yaml.safe_load(path.read_text()), default=str))


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    if not CRD_FILE.is_file():
        pytest.skip(f"{CRD_FILE} is not generated yet (kafka-restore crd --output ...)")
    crd = yaml.safe_load(CRD_FILE.read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["storage"]]
    schema = to_json_schema(version["schema"]["openAPIV3Schema"])
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def _errors(validator: jsonschema.Draft7Validator, resource: dict[str, Any]) -> list[str]:
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(resource)]


def test_examples_exist() -> None:
    names = {path.name for path in EXAMPLES}
    if not names:
        pytest.skip("examples/*.yaml not written yet")
    assert {
        "full-spec.yaml",
        "restore-from-kafkabackup.yaml",
        "restore-from-direct-storage.yaml",
        "restore-with-consumer-groups.yaml",
    } <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_is_accepted(validator: jsonschema.Draft7Validator, path: Path) -> None:
    resource = as_api_server_sees_it(path)
    assert resource["kind"] == "KafkaRestore"
    assert _errors(validator, resource) == []


def _set(resource: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    broken = copy.deepcopy(resource)
    *parents, leaf = dotted.split(".")
    node = broken
    for key in parents:
        node = node[key]
    node[leaf] = value
    return broken


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("spec.kafkaCluster.securityProtocol", "TLS", "spec.kafkaCluster.securityProtocol: 'TLS' is not one of"),
        ("spec.offsetReset.strategy", "latest", "spec.offsetReset.strategy: 'latest' is not one of"),
        (
            "spec.repartitioning.restored-orders.targetPartitions",
            -1,
            "spec.repartitioning.restored-orders.targetPartitions: -1 is less than the minimum of 1",
        ),
        ("spec.repartitioning.restored-orders.strategy", "random", "'random' is not one of"),
        ("spec.produceBatchSize", "many", "spec.produceBatchSize: 'many' is not of type 'integer'"),
        ("spec.kafkaCluster.bootstrapServers", "kafka:9092", "is not of type 'array'"),
        ("spec.dryRun", "yes", "spec.dryRun: 'yes' is not of type 'boolean'"),
        ("spec.partitionMapping", {"0": "zero"}, "spec.partitionMapping.0: 'zero' is not of type 'integer'"),
        ("spec.restoreEverything", True, "Additional properties are not allowed ('restoreEverything' was unexpected)"),
        ("spec.rollback.keepForever", True, "('keepForever' was unexpected)"),
    ],
)
def test_broken_resources_are_rejected(
    validator: jsonschema.Draft7Validator, field: str, value: Any, error: str
) -> None:
    if not FULL_SPEC.is_file():
        pytest.skip(f"{FULL_SPEC} not written yet")
    resource = as_api_server_sees_it(FULL_SPEC)
    assert _errors(validator, resource) == []
    errors = _errors(validator, _set(resource, field, value))
    assert any(error in message for message in errors), errors


def test_a_restore_without_kafka_cluster_is_rejected(validator: jsonschema.Draft7Validator) -> None:
    resource = {
        "apiVersion": "kafka.oso.sh/v1alpha1",
        "kind": "KafkaRestore",
        "metadata": {"name": "r"},
        "spec": {"backupRef": {"name": "b"}},
    }
    assert any("'kafkaCluster' is a required property" in message for message in _errors(validator, resource))
