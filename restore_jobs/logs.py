"""Structured logs for every process (workers, controller, CLI).

Every ``extra=`` field a record carries (job, topic, partition, resource, ...) is written out:
``KAFKA_RESTORE_LOG_FORMAT=text`` (the default) gives ``key=value`` lines, ``json`` one JSON
object per line. ``KAFKA_RESTORE_LOG_LEVEL`` sets the level (INFO).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def context(record: logging.LogRecord) -> dict[str, object]:
    """The record's ``extra=`` fields."""
    return {k: v for k, v in vars(record).items() if k not in _STANDARD}


class KeyValueFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s level=%(levelname)s logger=%(name)s msg=%(message)r")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = " ".join(f"{k}={_value(v)}" for k, v in context(record).items())
        return f"{line} {fields}" if fields else line


def _value(value: object) -> str:
    text = str(value)
    return repr(text) if not text or any(c.isspace() or c in "\"'=" for c in text) else text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **context(record),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(level: str | None = None, fmt: str | None = None) -> None:
    fmt = (fmt or os.environ.get("KAFKA_RESTORE_LOG_FORMAT", "text")).lower()
    if fmt not in {"json", "text"}:
        raise ValueError(f"KAFKA_RESTORE_LOG_FORMAT: expected json or text, got {fmt!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else KeyValueFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel((level or os.environ.get("KAFKA_RESTORE_LOG_LEVEL", "INFO")).upper())
