"""Turning each client's native exceptions into ``KafkaError`` with the operation in the message."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from restore_jobs.kafka.client import KafkaError
from restore_jobs.kafka.config import ClientConfig

T = TypeVar("T")
# Maps one native exception to our error, given "what was being done" for the message.
ErrorMapper = Callable[[BaseException, str], KafkaError]


@contextmanager
def translated(what: str, mapper: ErrorMapper, native: tuple[type[BaseException], ...]) -> Iterator[None]:
    try:
        yield
    except KafkaError:
        raise
    except native as exc:
        raise mapper(exc, what) from exc


def build_client(settings: ClientConfig, what: str, mapper: ErrorMapper, build: Callable[[], T]) -> T:
    """Create a client; config errors may echo values, so the message is redacted and the native
    exception (whose text is unredacted) is not chained."""
    try:
        return build()
    except Exception as exc:
        mapped = mapper(exc, what)
        raise type(mapped)(settings.redact(str(mapped)), mapped.retriable) from None
