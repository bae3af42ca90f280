"""The CustomResourceDefinition, generated from the marshmallow schemas so the two cannot drift.

OpenAPI states the per-field rules (types, enums, ranges, required, defaults) to the API server;
the cross-field rules in rules.py stay in Python, apart from a few cheap CEL checks on pitr.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from marshmallow import fields, validate

from restore_jobs.spec import model
from restore_jobs.spec.fields import Bool, Float, Int, List, Map, Nested, Str, Unsupported
from restore_jobs.spec.schema import ModelSchema, RestoreSpecSchema, RestoreStatusSchema
from restore_jobs.spec.yaml_io import dump_yaml

GROUP, VERSION = model.API_VERSION.split("/")
PLURAL = "kafkarestores"

# Cheap cross-field rules the API server can check itself (constant cost: no loops over maps).
_PITR_RULES = [
    {
        "rule": "!has(self.startTimestamp) || !has(self.startTime)",
        "message": "give the start once: startTimestamp (epoch ms) or startTime (ISO 8601), not both",
    },
    {
        "rule": "!has(self.endTimestamp) || !has(self.endTime)",
        "message": "give the end once: endTimestamp (epoch ms) or endTime (ISO 8601), not both",
    },
    {
        "rule": "!has(self.startTimestamp) || !has(self.endTimestamp) || self.startTimestamp <= self.endTimestamp",
        "message": "startTimestamp is after endTimestamp",
    },
    {
        "rule": "!has(self.startTime) || !has(self.endTime) || timestamp(self.startTime) <= timestamp(self.endTime)",
        "message": "startTime is after endTime",
    },
]
_EXTRA: dict[tuple[type, str], dict[str, Any]] = {
    (RestoreSpecSchema, "pitr"): {"x-kubernetes-validations": _PITR_RULES},
    (RestoreStatusSchema, "conditions"): {
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
    },
}


def object_schema(schema: ModelSchema) -> dict[str, Any]:
    defaults = {f.name: f for f in dataclasses.fields(schema.model)}
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, field in schema.fields.items():
        if isinstance(field, Unsupported):
            continue
        prop = field_schema(field)
        default = _default(defaults[name])
        if default is not None and not field.required:
            prop["default"] = default
        prop.update(_EXTRA.get((type(schema), name), {}))
        properties[field.data_key] = prop
        if field.required:
            required.append(field.data_key)
    result: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        result["required"] = required
    return result


def field_schema(field: fields.Field) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if "description" in field.metadata:
        result["description"] = field.metadata["description"]
    if isinstance(field, Bool):
        result["type"] = "boolean"
    elif isinstance(field, Int):
        result["type"] = "integer"
    elif isinstance(field, Float):
        result["type"] = "number"
    elif isinstance(field, Str):
        result["type"] = "string"
        if not field.allow_empty:
            result["minLength"] = 1
        result.update(field.openapi)
    elif isinstance(field, List):
        result.update(type="array", items=field_schema(field.inner))
    elif isinstance(field, Nested):
        result.update(object_schema(field.schema))
    elif isinstance(field, Map):
        # JSON object keys are strings, so the key rule (topic name, partition number) stays in Python.
        result.update(type="object", additionalProperties=field_schema(field.value_field))
    else:  # pragma: no cover - a new field class must be taught to the generator
        raise TypeError(f"no OpenAPI mapping for {type(field).__name__}")
    for validator in field.validators:
        result.update(_validator_schema(validator, array=result["type"] == "array"))
    return result


def _validator_schema(validator: Any, *, array: bool) -> dict[str, Any]:
    if isinstance(validator, validate.OneOf):
        return {"enum": list(validator.choices)}
    if isinstance(validator, validate.Range):
        bounds = {"minimum": validator.min, "maximum": validator.max}
        return {key: value for key, value in bounds.items() if value is not None}
    if isinstance(validator, validate.Length) and array:
        bounds = {"minItems": validator.min, "maxItems": validator.max}
        return {key: value for key, value in bounds.items() if value is not None}
    return {}


def _default(spec: dataclasses.Field[Any]) -> Any:
    if isinstance(spec.default, bool | int | str):
        return spec.default
    factory = spec.default_factory
    if factory is not dataclasses.MISSING and dataclasses.is_dataclass(factory):
        return {}  # the API server then fills the nested defaults, as our loader does
    return None


def crd_yaml() -> str:
    """The manifest as committed in charts/kafka-restore/crds/ (regenerate with ``kafka-restore crd``)."""
    return f"# Generated by `kafka-restore crd` from restore_jobs/spec: do not edit.\n{dump_yaml(crd_manifest())}"


def crd_manifest() -> dict[str, Any]:
    root = {
        "type": "object",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": {"description": "What to restore, from where, into where", **object_schema(RestoreSpecSchema())},
            "status": {"description": "Written by the controller", **object_schema(RestoreStatusSchema())},
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{PLURAL}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": model.KIND,
                "listKind": f"{model.KIND}List",
                "plural": PLURAL,
                "singular": "kafkarestore",
                "shortNames": ["kr"],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
                        {"name": "Progress", "type": "number", "jsonPath": ".status.progressPercent"},
                        {"name": "Records", "type": "integer", "jsonPath": ".status.recordsRestored"},
                        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                    ],
                    "schema": {"openAPIV3Schema": root},
                }
            ],
        },
    }
