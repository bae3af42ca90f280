"""values.schema.json rejects wrong values at install time, and values.yaml is fully documented."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
import pytest
import yaml

from tests.unit.chart import helm

SCHEMA_ERROR = "values don't meet the specifications of the schema"
SCHEMA = json.loads((helm.CHART_DIR / "values.schema.json").read_text())
VALUES_TEXT = (helm.CHART_DIR / "values.yaml").read_text()


@pytest.mark.parametrize(
    ("overrides", "path", "message"),
    [
        ({"controller.replicas": "two"}, "/controller/replicas", "got string, want integer"),
        ({"redis.persistence.enabled": "maybe"}, "/redis/persistence/enabled", "want boolean"),
        ({"workers.kafkaClient": "librdkafka"}, "/workers/kafkaClient", "'confluent', 'kafka-python'"),
        ({"workers.minTransactionBytes": "-1"}, "/workers/minTransactionBytes", "minimum"),
        ({"workers.secretAccess": "env"}, "/workers/secretAccess", "'api', 'mounted'"),
        ({"logging.format": "yaml"}, "/logging/format", "'json', 'text'"),
        ({"workers.restore.concurrency": "0"}, "/workers/restore/concurrency", "minimum"),
        ({"controller.httpPort": "70000"}, "/controller/httpPort", "maximum"),
        ({"workers.restoer.replicas": "1"}, "/workers", "additional properties 'restoer' not allowed"),
        ({"bogus": "1"}, "", "additional properties 'bogus' not allowed"),
        ({"redis.auth.password": "p@ss/word"}, "/redis/auth/password", "does not match"),
    ],
)
def test_invalid_values_fail_with_the_schema_error(overrides: dict[str, str], path: str, message: str) -> None:
    with pytest.raises(helm.HelmError) as caught:
        helm.template(set_values=overrides)
    assert SCHEMA_ERROR in caught.value.output
    assert f"at '{path}'" in caught.value.output
    assert message in caught.value.output


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"redis.enabled": "false"}, "set redis.external.url or redis.external.existingSecret"),
        (
            {"redis.enabled": "false", "redis.external.url": "redis://r:6379/0", "redis.external.existingSecret": "s"},
            "set only one of redis.external.url and redis.external.existingSecret",
        ),
        ({"workers.secretAccess": "mounted"}, "workers.mountedSecrets is empty"),
        ({"controller.leaderElection.enabled": "false"}, "controller.replicas > 1 needs controller.leaderElection"),
        (
            {"workers.backupClaims[0]": "shared", "workers.snapshotClaims[0]": "shared"},
            'claim "shared" is in both backupClaims',
        ),
    ],
)
def test_inconsistent_values_fail_with_a_clear_message(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(helm.HelmError) as caught:
        helm.template(set_values=overrides)
    assert message in caught.value.output


def test_values_yaml_satisfies_its_own_schema() -> None:
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    jsonschema.validate(yaml.safe_load(VALUES_TEXT), SCHEMA)


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = SCHEMA["definitions"][node["$ref"].rsplit("/", 1)[1]]
    return node


# Kubernetes' own shapes (requests/limits) are documented once, at the key that holds them.
KUBERNETES_SHAPES = {"#/definitions/resources"}


def _schema_keys(node: dict[str, Any], prefix: str = "") -> set[str]:
    """Dotted paths of every key the chart defines (objects with properties, not free-form maps)."""
    keys: set[str] = set()
    for name, child in _resolve(node).get("properties", {}).items():
        if name == "global":
            continue
        keys.add(prefix + name)
        if child.get("$ref") not in KUBERNETES_SHAPES:
            keys |= _schema_keys(child, f"{prefix}{name}.")
    return keys


def _documented_keys() -> dict[str, bool]:
    """Dotted key path -> whether a comment line sits directly above it in values.yaml."""
    found: dict[str, bool] = {}
    stack: list[tuple[int, str]] = []
    previous = ""
    for line in VALUES_TEXT.splitlines():
        match = re.match(r"^( *)([A-Za-z][\w.-]*):", line)
        if match and not line.lstrip().startswith("-"):
            indent = len(match.group(1))
            while stack and stack[-1][0] >= indent:
                stack.pop()
            path = ".".join([name for _, name in stack] + [match.group(2)])
            found[path] = previous.lstrip().startswith("#")
            stack.append((indent, match.group(2)))
        if line.strip():
            previous = line
    return found


def test_every_chart_key_is_in_values_yaml_with_a_comment() -> None:
    documented = _documented_keys()
    expected = _schema_keys(SCHEMA)
    assert sorted(expected - documented.keys()) == []
    assert sorted(key for key in expected if not documented[key]) == []
