"""Rules that span several fields, which neither OpenAPI nor a single field can check.

Each function takes the schema's partially loaded data (snake_case keys, defaults applied). A key
is absent when its own field failed: the rule then stays silent rather than pile a second,
misleading error on top of the first.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from restore_jobs.spec.errors import Problem, map_key
from restore_jobs.spec.model import Pitr

SASL_PROTOCOLS = ("SASL_PLAINTEXT", "SASL_SSL")
TLS_PROTOCOLS = ("SSL", "SASL_SSL")
STORAGE_KINDS = ("pvc", "s3", "filesystem")


def storage(data: dict[str, Any]) -> Iterator[Problem]:
    """The object named by storageType must be there, and no other (a forgotten storageType: s3)."""
    chosen = data.get("storage_type")
    if chosen is None:
        return
    for kind in STORAGE_KINDS:
        if kind not in data:
            continue
        if kind == chosen and data[kind] is None:
            yield (kind,), f"required when storageType is {chosen}"
        elif kind != chosen and data[kind] is not None:
            yield (kind,), f"given, but storageType is {chosen}: set storageType: {kind} to use it"


def backup_ref(data: dict[str, Any]) -> Iterator[Problem]:
    if "name" in data and "storage" in data and not data["name"] and data["storage"] is None:
        yield (), 'give either name (a KafkaBackup) or storage (to restore directly); name is ""'


def kafka_cluster(data: dict[str, Any]) -> Iterator[Problem]:
    """Credentials must match the protocol: a silently ignored secret makes auth failures baffling."""
    protocol = data.get("security_protocol")
    if protocol is None:
        return
    if protocol in SASL_PROTOCOLS and "sasl_secret" in data and data["sasl_secret"] is None:
        yield ("saslSecret",), f"required when securityProtocol is {protocol}"
    if protocol not in SASL_PROTOCOLS and data.get("sasl_secret") is not None:
        yield (
            ("saslSecret",),
            (
                f"given, but securityProtocol is {protocol}: SASL credentials are only used with "
                "SASL_PLAINTEXT or SASL_SSL"
            ),
        )
    if protocol not in TLS_PROTOCOLS:
        for key, name in (("tls_secret", "tlsSecret"), ("ca_secret", "caSecret")):
            if data.get(key) is not None:
                yield (name,), f"given, but securityProtocol is {protocol}: TLS is only used with SSL or SASL_SSL"


def tls_secret(data: dict[str, Any]) -> Iterator[Problem]:
    cert, key = data.get("cert_key"), data.get("key_key")
    if cert is not None and key is None and "key_key" in data:
        yield ("keyKey",), "required when certKey is set (a client certificate needs its private key)"
    if key is not None and cert is None and "cert_key" in data:
        yield ("certKey",), "required when keyKey is set (a client key needs its certificate)"


def pitr(data: dict[str, Any]) -> Iterator[Problem]:
    for bound in ("start", "end"):
        if data.get(f"{bound}_timestamp") is not None and data.get(f"{bound}_time") is not None:
            yield (
                (f"{bound}Time",),
                (f"give the {bound} once: either {bound}Timestamp (epoch ms) or {bound}Time (ISO 8601), not both"),
            )
    window = Pitr(**data)
    start, end = window.start_ms, window.end_ms
    if start is not None and end is not None and start > end:
        yield (), f"start ({start} ms) is after end ({end} ms)"


def restore_spec(data: dict[str, Any]) -> Iterator[Problem]:
    topics: list[str] = data.get("topics", [])
    mapping: dict[str, str] | None = data.get("topic_mapping")
    yield from _duplicate_topics(topics)
    if mapping is not None:
        yield from _mapping_sources(topics, mapping)
        yield from _target_collisions(topics, mapping)
        if topics and "repartitioning" in data and "topics" in data:
            yield from _repartitioned_targets(topics, mapping, data["repartitioning"])
    yield from _offset_reset_groups(data)


def _duplicate_topics(topics: list[str]) -> Iterator[Problem]:
    first: dict[str, int] = {}
    for index, topic in enumerate(topics):
        if topic in first:
            yield ("topics", index), f"duplicate: {topic!r} is already topics[{first[topic]}]"
        first.setdefault(topic, index)


def _mapping_sources(topics: list[str], mapping: dict[str, str]) -> Iterator[Problem]:
    if topics:
        for source in mapping:
            if source not in topics:
                yield (
                    ("topicMapping", map_key(source)),
                    (f"source topic {source!r} is not in topics, so this mapping would never apply"),
                )


def _target_collisions(topics: list[str], mapping: dict[str, str]) -> Iterator[Problem]:
    """Two sources into one target would interleave unrelated records and break offset mapping."""
    sources_by_target: dict[str, list[str]] = {}
    for source in dict.fromkeys(topics or mapping):
        sources_by_target.setdefault(mapping.get(source, source), []).append(source)
    for target, sources in sources_by_target.items():
        mapped = [source for source in sources if source in mapping]
        if len(sources) > 1 and mapped:
            yield (
                ("topicMapping", map_key(mapped[-1])),
                (
                    f"topics {', '.join(map(repr, sources))} would all be restored into {target!r}; "
                    "each target topic takes one source topic"
                ),
            )


def _repartitioned_targets(
    topics: list[str], mapping: dict[str, str], repartitioning: dict[str, Any]
) -> Iterator[Problem]:
    targets = [mapping.get(topic, topic) for topic in topics]
    for target in repartitioning:
        if target not in targets:
            yield (
                ("repartitioning", map_key(target)),
                (
                    f"{target!r} is not a target topic of this restore (targets: {', '.join(targets)}); "
                    "repartitioning is keyed by the target topic name"
                ),
            )


def _offset_reset_groups(data: dict[str, Any]) -> Iterator[Problem]:
    reset, auto = data.get("offset_reset"), data.get("auto_consumer_groups")
    if reset is not None and reset.enabled and not reset.consumer_groups and auto is False:
        yield (
            ("offsetReset", "consumerGroups"),
            ("list at least one consumer group when offsetReset.enabled is true (or set autoConsumerGroups: true)"),
        )
