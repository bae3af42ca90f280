"""The generated CRD: structural, faithful to the schemas, and it agrees with the Python loader."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from restore_jobs.spec import crd_manifest, crd_yaml
from restore_jobs.spec.schema import ModelSchema
from tests.unit.spec.resources import ALL_EXAMPLES, example, minimal

COMMITTED = Path(__file__).resolve().parents[3] / "charts" / "kafka-restore" / "crds" / "kafkarestores.yaml"


def openapi() -> dict[str, Any]:
    return crd_manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def as_json_schema(node: Any) -> Any:
    """Drop Kubernetes extensions; forbid unknown fields as kubectl's strict field validation does."""
    if isinstance(node, list):
        return [as_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    result = {key: as_json_schema(value) for key, value in node.items() if not key.startswith("x-kubernetes-")}
    if "properties" in node:
        result["additionalProperties"] = False
    return result


def validator() -> jsonschema.Validator:
    schema = as_json_schema(openapi())
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def api_form(document: dict[str, Any]) -> Any:
    """What the API server sees after kubectl converts the YAML to JSON (map keys become strings)."""
    return json.loads(json.dumps(document))


def test_committed_file_is_generated() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == crd_yaml()
    assert yaml.safe_load(COMMITTED.read_text(encoding="utf-8")) == crd_manifest()


def test_names_and_columns() -> None:
    crd = crd_manifest()
    assert crd["metadata"]["name"] == "kafkarestores.kafka.oso.sh"
    spec = crd["spec"]
    assert spec["group"] == "kafka.oso.sh" and spec["scope"] == "Namespaced"
    assert spec["names"] == {
        "kind": "KafkaRestore",
        "listKind": "KafkaRestoreList",
        "plural": "kafkarestores",
        "singular": "kafkarestore",
        "shortNames": ["kr"],
    }
    (version,) = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}
    assert [(c["name"], c["type"], c["jsonPath"]) for c in version["additionalPrinterColumns"]] == [
        ("Phase", "string", ".status.phase"),
        ("Progress", "number", ".status.progressPercent"),
        ("Records", "integer", ".status.recordsRestored"),
        ("Age", "date", ".metadata.creationTimestamp"),
    ]


def test_schema_follows_the_marshmallow_schemas() -> None:
    spec = openapi()["properties"]["spec"]
    assert spec["required"] == ["backupRef", "kafkaCluster"]
    props = spec["properties"]
    assert props["produceAcks"] == {
        "description": "-1 all ISR, 1 leader, 0 none",
        "type": "integer",
        "enum": [-1, 0, 1],
        "default": -1,
    }
    assert props["produceBatchSize"] == {"type": "integer", "minimum": 1, "default": 1000}
    assert props["partitionMapping"]["type"] == "object"
    assert props["partitionMapping"]["additionalProperties"] == {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}
    assert props["repartitioning"]["additionalProperties"]["required"] == ["targetPartitions"]
    assert props["repartitioning"]["additionalProperties"]["properties"]["strategy"]["default"] == "murmur2"
    assert props["rollback"]["default"] == {}
    assert props["rollback"]["properties"]["snapshotRetentionHours"]["default"] == 24
    assert props["kafkaCluster"]["properties"]["bootstrapServers"]["minItems"] == 1
    assert props["kafkaCluster"]["properties"]["securityProtocol"]["enum"] == [
        "PLAINTEXT",
        "SSL",
        "SASL_PLAINTEXT",
        "SASL_SSL",
    ]
    storage = props["backupRef"]["properties"]["storage"]["properties"]
    assert storage["storageType"]["enum"] == ["pvc", "s3", "filesystem"]
    assert "azure" not in storage and "gcs" not in storage
    assert props["pitr"]["properties"]["startTime"]["format"] == "date-time"
    assert len(props["pitr"]["x-kubernetes-validations"]) == 4
    status = openapi()["properties"]["status"]["properties"]
    assert status["phase"]["enum"] == [
        "Pending",
        "Running",
        "Finalizing",
        "Completed",
        "Failed",
        "RolledBack",
        "Cancelled",
    ]
    assert status["conditions"]["x-kubernetes-list-map-keys"] == ["type"]
    assert status["conditions"]["items"]["required"] == ["type", "status", "reason"]


def walk(node: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = [(path, node)]
    for key, child in node.get("properties", {}).items():
        found += walk(child, f"{path}.{key}")
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            found += walk(node[key], f"{path}[{key}]")
    return found


def test_schema_is_structural() -> None:
    for path, node in walk(openapi()):
        assert "type" in node, path
        assert "x-kubernetes-preserve-unknown-fields" not in node, path
        assert not ("properties" in node and "additionalProperties" in node), path
        if node["type"] == "object" and path != ".metadata":
            assert "properties" in node or "additionalProperties" in node, path
        if "default" in node:
            assert jsonschema.Draft7Validator(as_json_schema(node)).is_valid(node["default"]), path


def test_manifest_is_a_valid_crd_for_kubernetes() -> None:
    kubernetes_validate.validate(crd_manifest(), kubernetes_validate.latest_version(), strict=True)


@pytest.mark.parametrize("name", ALL_EXAMPLES)
def test_schema_accepts_examples(name: str) -> None:
    validator().validate(api_form(example(name)))


def test_schema_accepts_a_status() -> None:
    status = {
        "phase": "Running",
        "progressPercent": 12.5,
        "conditions": [{"type": "Succeeded", "status": "Unknown", "reason": "Running"}],
    }
    validator().validate(api_form(minimal(status=status)))


REJECTED = {
    "securityProtocol": {"spec.kafkaCluster.securityProtocol": "TLS"},
    "produceBatchSize": {"spec.produceBatchSize": 0},
    "produceAcks": {"spec.produceAcks": 2},
    "no bootstrap": {"spec.kafkaCluster.bootstrapServers": []},
    "bootstrap host only": {"spec.kafkaCluster.bootstrapServers": ["kafka"]},
    "partition value": {"spec.partitionMapping": {"0": "a"}},
    "iso without zone": {"spec.pitr": {"startTime": "2026-04-13T10:00:00"}},
    "azure": {"spec.backupRef.storage": {"storageType": "azure"}},
    "unknown field": {"spec.produceBatchSzie": 1},
    "topic name": {"spec.topics": ["a/b"]},
    "missing backupRef": {"spec.backupRef": None},
    "status phase": {"status": {"phase": "Done"}},
}


@pytest.mark.parametrize("changes", REJECTED.values(), ids=REJECTED.keys())
def test_schema_rejects(changes: dict[str, Any]) -> None:
    document = minimal(**changes)
    if document["spec"].get("backupRef", 1) is None:
        del document["spec"]["backupRef"]
    assert not validator().is_valid(api_form(copy.deepcopy(document)))


def schema_classes(cls: type = ModelSchema) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *schema_classes(sub)]
    return found


@pytest.mark.parametrize("schema_class", schema_classes(), ids=lambda c: c.__name__)
def test_every_model_field_has_a_schema_field(schema_class: type) -> None:
    """A field added to model.py without its schema field would never load: catch it here."""
    assert set(schema_class().fields) == {f.name for f in dataclasses.fields(schema_class.model)}
