"""Load and dump at the boundary: raw YAML/JSON values in, validated dataclasses out, and back."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError

from restore_jobs.spec.errors import SpecValidationError, flatten
from restore_jobs.spec.model import KafkaRestore, RestoreSpec, RestoreStatus
from restore_jobs.spec.schema import KafkaRestoreSchema, RestoreSpecSchema, RestoreStatusSchema

_RESOURCE = KafkaRestoreSchema()
_SPEC = RestoreSpecSchema()
_STATUS = RestoreStatusSchema()


def _load(schema: Schema, data: Any, *, path: str, source: str) -> Any:
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise SpecValidationError(list(flatten(exc.messages, path)), source) from None


def load_resource(data: Any, *, source: str = "<input>") -> KafkaRestore:
    """A whole KafkaRestore (as YAML or the API gives it); raises SpecValidationError with every error."""
    return _load(_RESOURCE, data, path="", source=source)


def dump_resource(resource: KafkaRestore) -> dict[str, Any]:
    return _RESOURCE.dump(resource)


def load_spec(data: Any, *, source: str = "spec") -> RestoreSpec:
    """The spec alone, e.g. as passed to Celery tasks; error paths still start with ``spec.``."""
    return _load(_SPEC, data, path="spec", source=source)


def dump_spec(spec: RestoreSpec) -> dict[str, Any]:
    """JSON-safe (map keys are strings), so it survives a JSON task serializer unchanged."""
    return _SPEC.dump(spec)


def load_status(data: Any, *, source: str = "status") -> RestoreStatus:
    return _load(_STATUS, data, path="status", source=source)


def dump_status(status: RestoreStatus) -> dict[str, Any]:
    """camelCase, without None fields (a merge patch would otherwise null them out)."""
    return _STATUS.dump(status)
