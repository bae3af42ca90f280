"""Strict marshmallow fields with messages written for people, not for marshmallow.

Strict, because the Kubernetes API would refuse what a lenient loader accepts ("yes" for a
boolean, 1.5 for an integer): a resource that passes ``kafka-restore validate`` must also pass the
CRD. ``openapi`` on a field holds the OpenAPI keywords that state the same rule to the API server.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, ClassVar

from marshmallow import ValidationError, fields, validate

from restore_jobs.spec.errors import map_key

INT32_MAX = 2**31 - 1
INT16_MAX = 2**15 - 1

_TOPIC = re.compile(r"[a-zA-Z0-9._-]{1,249}")
_K8S_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_HOST_PORT = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):([0-9]{1,5})")
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})")
_DIGITS = re.compile(r"[0-9]+")


class _Common:
    """Shared by every field here: readable messages, OpenAPI keywords, all-or-nothing loading."""

    default_error_messages: ClassVar[dict[str, str]] = {"required": "required", "null": "must not be null"}
    openapi: ClassVar[dict[str, Any]] = {}

    def deserialize(self, *args: Any, **kwargs: Any) -> Any:
        """All or nothing: marshmallow would hand the parent a partial list or object, and the
        cross-field rules (rules.py) rely on a failed field being absent."""
        try:
            return super().deserialize(*args, **kwargs)  # type: ignore[misc]
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None


def at_least(minimum: int, maximum: int | None = None) -> validate.Range:
    message = f"must be >= {minimum}" if maximum is None else f"must be from {minimum} to {maximum}"
    return validate.Range(min=minimum, max=maximum, error=message)


def one_of(choices: list[Any] | tuple[Any, ...]) -> validate.OneOf:
    return validate.OneOf(choices, error="must be one of {choices}")


class Bool(_Common, fields.Boolean):
    """Only true and false: strings like "true" and numbers like 1 are refused, as the API does."""

    default_error_messages = {"invalid": "must be true or false"}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class Int(_Common, fields.Integer):
    default_error_messages = {"invalid": "must be an integer", "too_large": "is too large"}

    def __init__(self, **kwargs: Any):
        super().__init__(strict=True, **kwargs)


class Float(_Common, fields.Float):
    default_error_messages = {"invalid": "must be a number", "special": "must be a finite number"}

    def __init__(self, **kwargs: Any):
        super().__init__(allow_nan=False, **kwargs)


class Str(_Common, fields.String):
    """A string, non-empty unless ``allow_empty``."""

    default_error_messages = {"invalid": "must be a string", "empty": "must not be empty"}

    def __init__(self, *, allow_empty: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        self.allow_empty = allow_empty

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not text and not self.allow_empty:
            raise self.make_error("empty")
        self.check(text)
        return text

    def check(self, text: str) -> None:
        """Subclasses refuse malformed text here."""


class TopicName(Str):
    """A Kafka topic name; it also becomes part of storage keys, so this keeps traversal out."""

    openapi = {"minLength": 1, "maxLength": 249, "pattern": "^[a-zA-Z0-9._-]+$"}

    def check(self, text: str) -> None:
        if not _TOPIC.fullmatch(text) or text in (".", ".."):
            raise ValidationError(
                f"{text!r} is not a valid Kafka topic name (1-249 characters of a-z A-Z 0-9 . _ -, and not '.' or '..')"
            )


class K8sName(Str):
    """A Kubernetes object name (RFC 1123 subdomain)."""

    openapi = {"maxLength": 253, "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"}

    def check(self, text: str) -> None:
        if len(text) > 253 or not _K8S_NAME.fullmatch(text):
            raise ValidationError(
                f"{text!r} is not a valid Kubernetes name (lowercase a-z, 0-9, '-' and '.', "
                "starting and ending with a letter or digit, at most 253 characters)"
            )


class HostPort(Str):
    openapi = {"pattern": r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):[0-9]{1,5}$"}

    def check(self, text: str) -> None:
        match = _HOST_PORT.fullmatch(text)
        if not match or not 1 <= int(match.group(2)) <= 65535:
            raise ValidationError(f"{text!r} is not host:port (for example kafka-0.kafka.svc:9092)")


class StorageKey(Str):
    """A path fragment joined into storage keys: no '..' segment, no NUL, no '/' when ``single``."""

    def __init__(self, *, single: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        self.single = single

    def check(self, text: str) -> None:
        if "\x00" in text:
            raise ValidationError("must not contain a NUL character")
        if self.single and "/" in text:
            raise ValidationError(f"{text!r} must not contain '/'")
        if ".." in (text if self.single else text.split("/")):
            raise ValidationError(f"{text!r} must not contain '..'")


class IsoTime(Str):
    """An RFC 3339 time with a zone, kept as written; the model turns it into epoch ms."""

    openapi = {"format": "date-time", "maxLength": 64}

    def check(self, text: str) -> None:
        try:
            if not _RFC3339.fullmatch(text):  # demands the zone
                raise ValueError
            datetime.fromisoformat(text.replace("Z", "+00:00"))  # as model.Pitr parses it
        except ValueError:
            raise ValidationError(
                f"{text!r} is not an ISO 8601 time with a time zone (for example 2026-04-13T10:00:00Z)"
            ) from None


class PartitionNumber(_Common, fields.Field):
    """A partition id; as a map key it also comes as a digit string (JSON object keys are strings)."""

    default_error_messages = {"invalid": f"must be a partition number (an integer from 0 to {INT32_MAX})"}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, str) and _DIGITS.fullmatch(value):
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= INT32_MAX:
            raise self.make_error("invalid")
        return value

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str:
        return str(value)


class List(_Common, fields.List):
    default_error_messages = {"invalid": "must be a list"}


class Nested(_Common, fields.Nested):
    pass


class Map(_Common, fields.Mapping):
    """A map whose errors are reported per entry, as ``field[key]``, so paths stay readable."""

    mapping_type = dict
    default_error_messages = {"invalid": "must be a map"}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dict[Any, Any]:
        if not isinstance(value, dict):
            raise self.make_error("invalid")
        result: dict[Any, Any] = {}
        errors: dict[str, Any] = {}
        for raw_key, raw_value in value.items():
            where = map_key(raw_key)
            try:
                key = self.key_field.deserialize(raw_key, **kwargs) if self.key_field else raw_key
            except ValidationError as exc:
                errors[where] = [f"key: {message}" for message in _messages(exc)]
                continue
            if key in result:
                errors[where] = [f"duplicate key: {key!r} is already given"]
                continue
            try:
                result[key] = self.value_field.deserialize(raw_value, **kwargs) if self.value_field else raw_value
            except ValidationError as exc:
                errors[where] = exc.messages
        if errors:
            raise ValidationError(errors)
        return result


class Unsupported(_Common, fields.Field):
    """An upstream field we recognise but refuse, with the reason, instead of 'unknown field'."""

    def __init__(self, reason: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.reason = reason

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> None:
        raise ValidationError(self.reason)


def _messages(exc: ValidationError) -> list[str]:
    messages = exc.messages
    return [str(m) for m in messages] if isinstance(messages, list) else [str(messages)]
