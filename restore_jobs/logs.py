"""Structured logs for every process (workers, controller, CLI).

``KAFKA_RESTORE_LOG_FORMAT=json`` gives one JSON object per line with the context fields a record
carries (job, topic, partition, unit, resource); ``text`` (the default) gives the same fields as
key=value after the message. ``KAFKA_RESTORE_LOG_LEVEL`` sets the level (INFO).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime

CONTEXT_FIELDS = ("job", "topic", "partition", "unit", "resource", "namespace", "name", "group")


def _context(record: logging.LogRecord) -> dict[str, object]:
    return {k: getattr(record, k) for k in CONTEXT_FIELDS if hasattr(record, k)}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_context(record),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = " ".join(f"{k}={v}" for k, v in _context(record).items())
        return f"{line} [{context}]" if context else line


def configure(level: str | None = None, fmt: str | None = None) -> None:
    fmt = (fmt or os.environ.get("KAFKA_RESTORE_LOG_FORMAT", "text")).lower()
    if fmt not in {"json", "text"}:
        raise ValueError(f"KAFKA_RESTORE_LOG_FORMAT: expected json or text, got {fmt!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel((level or os.environ.get("KAFKA_RESTORE_LOG_LEVEL", "INFO")).upper())
