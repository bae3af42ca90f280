"""Validation errors that name the exact field, so a user can fix every problem in one pass."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from marshmallow.exceptions import SCHEMA


@dataclass(frozen=True)
class FieldError:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class SpecValidationError(Exception):
    """Every problem found in one resource (never just the first), each with its field path."""

    def __init__(self, errors: list[FieldError], source: str = "<input>"):
        self.errors = errors
        self.source = source
        super().__init__("\n".join(f"{source}: {error}" for error in errors))


class SpecFileError(Exception):
    """A file that cannot be read or parsed as YAML; the message names the file (and line)."""


def join_path(parent: str, key: Any) -> str:
    """``spec`` + ``topics`` -> ``spec.topics``; list indexes and map keys render as ``[...]``."""
    if key == SCHEMA:
        return parent
    if isinstance(key, int) and not isinstance(key, bool):
        return f"{parent}[{key}]"
    text = str(key)
    if text.startswith("["):
        return f"{parent}{text}"
    return f"{parent}.{text}" if parent else text


def map_key(key: Any) -> str:
    """How a map entry (``topicMapping``, ``repartitioning``...) appears in a path."""
    return f"[{key}]"


def flatten(messages: Any, path: str) -> Iterator[FieldError]:
    """Turn marshmallow's nested error dict into one FieldError per problem."""
    if isinstance(messages, dict):
        for key, value in messages.items():
            yield from flatten(value, join_path(path, key))
    elif isinstance(messages, list):
        for message in messages:
            yield from flatten(message, path)
    else:
        yield FieldError(path or "<root>", str(messages))


Problem = tuple[tuple[Any, ...], str]
"""A cross-field problem: the path below the schema that found it (data keys), and the message."""


def nest(problems: list[Problem]) -> dict[Any, Any]:
    """Problems -> marshmallow's nested message dict, so they merge with the field errors."""
    tree: dict[Any, Any] = {}
    for path, message in problems:
        node = tree
        *parents, last = path or (SCHEMA,)
        for key in parents:
            node = node.setdefault(key, {})
        node.setdefault(last, []).append(message)
    return tree
