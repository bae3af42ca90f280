"""Typed access to parsed JSON that names the field path on error (``topics[0].partitions[2].x``).

Shared by the readers of the backup's JSON files (manifest, consumer-group snapshot).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

_T = TypeVar("_T")
_MISSING: Any = object()


class FieldError(Exception):
    def __init__(self, path: str, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class Obj:
    """A JSON object at ``path``. A getter with a default also accepts null for the field."""

    def __init__(self, data: Any, path: str):
        if not isinstance(data, dict):
            raise FieldError(path or "(root)", "expected object")
        self.data = data
        self.path = path

    def at(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def get(self, name: str, check: Callable[[Any], bool], expected: str, default: Any = _MISSING) -> Any:
        value = self.data.get(name, _MISSING)
        if value is _MISSING or (value is None and default is not _MISSING):
            if default is _MISSING:
                raise FieldError(self.at(name), "required")
            return default
        if not check(value):
            raise FieldError(self.at(name), f"expected {expected}")
        return value

    def integer(self, name: str, default: Any = _MISSING) -> Any:
        return self.get(name, is_int, "integer", default)

    def string(self, name: str, default: Any = _MISSING) -> Any:
        return self.get(name, lambda v: isinstance(v, str), "string", default)

    def items(self, name: str, item: Callable[[Obj], _T], default: Any = _MISSING) -> list[_T]:
        values = self.get(name, lambda v: isinstance(v, list), "list", default)
        return [item(Obj(v, f"{self.at(name)}[{i}]")) for i, v in enumerate(values)]
