"""What the security tests assert with: that a failed job wrote nothing, and where a string can be
found in everything the system stores or prints (Redis, logs, status, Flower)."""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

import redis

from restore_jobs.kafka.client import ConsumedRecord
from restore_jobs.kafka.factory import open_admin, open_reader
from restore_jobs.spec.model import KafkaCluster
from restore_jobs.storage.secrets import SecretResolver
from tests.helpers import cluster, committed_log

_BASE64 = re.compile(r"[A-Za-z0-9+/]{12,}={0,2}")
_MAX_DEPTH = 5


def assert_nothing_written(bootstrap: str, job_id: str, topics: Iterable[str],
                           groups: dict[str, dict] | None = None) -> None:
    """Each target topic is absent or empty (read from the log itself), the job left no checkpoint
    group, and ``groups`` (name -> committed offsets before the job) still hold those offsets."""
    admin = open_admin(cluster(bootstrap))
    try:
        existing = admin.topics()
        for topic in topics:
            if topic in existing:
                held = sum(len(records) for records in committed_log(bootstrap, topic).values())
                assert held == 0, f"target topic {topic} holds {held} records"
        ours = [g for g in admin.groups() if job_id in g]
        assert not ours, f"job {job_id} left consumer groups {ours}"
        for group, before in (groups or {}).items():
            assert admin.committed(group) == before, f"group {group} changed"
    finally:
        admin.close()


def topics_on(secured: KafkaCluster, secrets: SecretResolver) -> dict[str, int]:
    admin = open_admin(secured, secrets)
    try:
        return admin.topics()
    finally:
        admin.close()


def consume_secured(secured: KafkaCluster, secrets: SecretResolver, topic: str) -> dict[int, list[ConsumedRecord]]:
    """Every record of ``topic`` read through TLS/SASL. ``tests.helpers.committed_log`` speaks plain
    TCP to the advertised (secured) address, so it cannot be used here; the restores read this way
    ran once without failures, so they hold no aborted transaction a consumer could wrongly see."""
    partitions = topics_on(secured, secrets)[topic]
    reader = open_reader(secured, secrets)
    try:
        return {p: list(reader.read(topic, p, 0, read_committed=True, idle_timeout_s=1.5)) for p in range(partitions)}
    finally:
        reader.close()


def texts(value: Any, depth: int = 0) -> Iterator[str]:
    """Every text inside ``value``: itself, and what JSON or base64 within it decodes to, the way
    Celery wraps task messages (a JSON envelope whose body is base64 of JSON)."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, dict):
        for key, item in value.items():
            yield from texts(key, depth)
            yield from texts(item, depth)
    elif isinstance(value, (list, tuple, set)):
        for item in value:
            yield from texts(item, depth)
    elif isinstance(value, str):
        yield value
        if depth >= _MAX_DEPTH:
            return
        stripped = value.strip()
        if stripped[:1] in ("{", "[", '"'):
            with contextlib.suppress(ValueError):
                yield from texts(json.loads(stripped), depth + 1)
        for match in _BASE64.findall(stripped):
            try:
                decoded = base64.b64decode(match + "=" * (-len(match) % 4), validate=True)
            except (binascii.Error, ValueError):
                continue
            yield from texts(decoded, depth + 1)
    elif value is not None:
        yield str(value)


def redis_texts(url: str) -> Iterator[tuple[str, str]]:
    """(``db/key``, text) for every key and value of every database of the server at ``url``."""
    server = redis.Redis.from_url(url)
    base = urlsplit(url)
    for db_name in server.info("keyspace"):
        db = int(db_name.removeprefix("db"))
        client = redis.Redis.from_url(base._replace(path=f"/{db}").geturl())  # from_url(db=...) keeps the URL's
        for key in client.scan_iter(count=500):
            kind = client.type(key).decode()
            values: Any
            if kind == "string":
                values = client.get(key)
            elif kind == "hash":
                values = client.hgetall(key)
            elif kind == "list":
                values = client.lrange(key, 0, -1)
            elif kind == "set":
                values = list(client.smembers(key))
            elif kind == "zset":
                values = client.zrange(key, 0, -1)
            elif kind == "stream":
                values = [fields for _id, fields in client.xrange(key)]
            else:
                values = []
            where = f"{db}/{key.decode(errors='replace')}"
            for text in texts([key, values]):
                yield where, text


def full_logs(stack: Any) -> str:
    """Every log file of a Stack, whole (``Stack.logs()`` keeps only each file's tail)."""
    return "\n".join(path.read_text(errors="replace") for path in sorted(stack.workdir.glob("*.log")))


def found_in(needle: str, sources: Iterable[tuple[str, str]]) -> list[str]:
    """The places (deduplicated, in order) whose text contains ``needle``."""
    places: list[str] = []
    for where, text in sources:
        if needle in text and where not in places:
            places.append(where)
    return places
