"""Key safety in one place: every key, prefix and name component that reaches a store passes here.

A key is '/'-separated and relative to the store's root; it may never climb out of it, whatever
backend sits behind it (a directory would follow ``..``; some S3 gateways normalise it too).
"""

from __future__ import annotations

from restore_jobs.storage.base import InvalidKeyError


def check_key(key: str, what: str = "key") -> str:
    """A full object key: non-empty, relative, no ``.``/``..``/empty segments, no backslash or NUL."""
    problem = _key_problem(key)
    if problem:
        raise InvalidKeyError(f"invalid {what} {key!r}: {problem}")
    return key


def check_prefix(prefix: str, what: str = "prefix") -> str:
    """A listing or store prefix: empty, or a key that may end with '/'."""
    body = prefix[:-1] if prefix.endswith("/") else prefix
    if prefix and (problem := _key_problem(body)):
        raise InvalidKeyError(f"invalid {what} {prefix!r}: {problem}")
    return prefix


def check_name(name: str, what: str = "name") -> str:
    """One path segment (a topic, a backup id, a secret name or key)."""
    problem = "contains '/'" if "/" in name else _key_problem(name)
    if problem:
        raise InvalidKeyError(f"invalid {what} {name!r}: {problem}")
    return name


def join_key(*parts: str) -> str:
    """Joins a store prefix and a key, dropping empty parts and the separators at each seam."""
    return "/".join(p.strip("/") for p in parts if p.strip("/"))


def _key_problem(key: str) -> str | None:
    if not key:
        return "empty"
    if "\x00" in key:
        return "contains a NUL byte"
    if "\\" in key:
        return "contains a backslash"
    if key.startswith("/"):
        return "absolute path"
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            return f"segment {segment!r} not allowed"
    return None
