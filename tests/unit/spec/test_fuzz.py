"""Whatever YAML a user (or the API server) hands us, the loader answers with a resource or with
SpecValidationError: never a crash. Valid generated specs survive dump -> load unchanged."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from restore_jobs.spec import SpecValidationError, dump_resource, load_resource
from tests.unit.spec.resources import ALL_EXAMPLES, example

SETTINGS = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
keys = st.text(max_size=12) | st.integers() | st.sampled_from(["spec", "kind", "0", "storageType", "s3", "pitr"])
json_like = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=25,
)
BASES = [example(name) for name in ALL_EXAMPLES]


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += paths(child, (*prefix, index))
    return found


def load_or_refuse(document: Any) -> None:
    try:
        resource = load_resource(document)
    except SpecValidationError as exc:
        assert exc.errors and all(error.path and error.message for error in exc.errors)
    else:
        assert load_resource(dump_resource(resource)) == resource


@SETTINGS
@given(json_like)
def test_arbitrary_values(value: Any) -> None:
    load_or_refuse(value)


@SETTINGS
@given(st.data())
def test_mutated_examples(data: st.DataObject) -> None:
    document = copy.deepcopy(data.draw(st.sampled_from(BASES)))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths(document)[1:]))
        *parents, last = path
        node = document
        for key in parents:
            node = node[key]
        if data.draw(st.booleans()):
            node[last] = data.draw(json_like)
        elif isinstance(node, dict):
            del node[last]
        else:
            node.pop(last)
    load_or_refuse(document)


topic = st.from_regex(r"[a-zA-Z0-9._-]{1,20}", fullmatch=True).filter(lambda t: t not in (".", ".."))
positive = st.integers(1, 10_000)


@st.composite
def valid_specs(draw: st.DrawFn) -> dict[str, Any]:
    topics = draw(st.lists(topic, unique=True, max_size=4))
    targets = draw(st.lists(topic, unique=True, min_size=len(topics), max_size=len(topics)))
    renamed = {source: target for source, target in zip(topics, targets, strict=True) if source != target}
    if set(renamed.values()) & (set(topics) - set(renamed)):
        renamed = {}
    spec: dict[str, Any] = {
        "backupRef": {"name": "b", "backupId": draw(topic.filter(lambda t: ".." not in t))},
        "kafkaCluster": {
            "bootstrapServers": draw(st.lists(st.sampled_from(["k:9092", "[::1]:9093", "a.b:1"]), min_size=1))
        },
        "topics": topics,
        "topicMapping": renamed,
        "partitionMapping": draw(st.dictionaries(st.integers(0, 99), st.integers(0, 99), max_size=3)),
        "repartitioning": {
            renamed.get(t, t): {
                "targetPartitions": draw(positive),
                "strategy": draw(st.sampled_from(["murmur2", "automatic"])),
            }
            for t in topics[:1]
        },
        "dryRun": draw(st.booleans()),
        "produceBatchSize": draw(positive),
        "produceAcks": draw(st.sampled_from([-1, 0, 1])),
        "rateLimiting": {"recordsPerSec": draw(st.integers(0, 10**9))},
        "rollback": {"snapshotRetentionHours": draw(positive), "autoRollbackOnFailure": draw(st.booleans())},
    }
    start, length = draw(st.integers(0, 2**41)), draw(st.integers(0, 2**30))
    spec["pitr"] = {"startTimestamp": start, "endTimestamp": start + length}
    return {"apiVersion": "kafka.oso.sh/v1alpha1", "kind": "KafkaRestore", "metadata": {"name": "r"}, "spec": spec}


@SETTINGS
@given(valid_specs())
def test_generated_valid_specs_round_trip(document: dict[str, Any]) -> None:
    resource = load_resource(document)
    assert load_resource(dump_resource(resource)) == resource
    assert resource.spec.pitr.start_ms <= resource.spec.pitr.end_ms
