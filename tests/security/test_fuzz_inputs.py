"""Fuzzing what tests/unit/spec/test_fuzz.py and tests/unit/backup/test_segment_errors.py leave out:
YAML *text* through the CLI's reader into the loader, the backup manifest and the consumer-groups
snapshot parsers. Whatever the input: our own error type or a value, never a crash, a hang (the
hypothesis deadline) or an unbounded allocation (tracemalloc peaks)."""

from __future__ import annotations

import copy
import json
import os
import tempfile
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from restore_jobs.backup.consumer_groups import GroupSnapshot, dump_group_snapshot, parse_group_snapshot
from restore_jobs.backup.manifest import ManifestError, dump_manifest, parse_manifest
from restore_jobs.backup.sample import SampleBackup, write_sample_backup
from restore_jobs.spec import SpecFileError, SpecValidationError, load_resource, read_yaml_documents
from restore_jobs.storage.filesystem import FilesystemStorage
from tests.unit.spec.resources import ALL_EXAMPLES
from tests.unit.spec.resources import example as example_resource
from tests.unit.spec.test_fuzz import json_like, paths

FUZZ = settings(max_examples=200, deadline=2000, database=None, suppress_health_check=[HealthCheck.too_slow])
MAX_PEAK = 32 << 20

YAML_EXAMPLES = [yaml.safe_dump(example_resource(name)) for name in ALL_EXAMPLES]
YAML_TOKENS = st.sampled_from(
    [": ", "- ", "\n", "  ", "&a ", "*a", "!!python/object:os.system ", "!!binary ", "{", "}", "[", "]", "---\n",
     "? ", "|", ">", "'", '"', "#", "%YAML 1.1\n", "<<: *a", "~", "0x", "1e999", "\t", "\x00", "\ufeff"]
)


@pytest.fixture(scope="module")
def yaml_file() -> Iterator[Path]:
    fd, name = tempfile.mkstemp(suffix=".yaml")
    os.close(fd)
    yield Path(name)
    Path(name).unlink()


def load_yaml_text(path: Path, text: str) -> None:
    """The CLI's path: read the file, then load each document; only our two error types may escape."""
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        documents = read_yaml_documents(str(path))
    except SpecFileError as exc:
        assert str(exc).startswith(f"{path}: ")
        return
    for document in documents:
        try:
            load_resource(document, source=str(path))
        except SpecValidationError as exc:
            assert exc.errors


@FUZZ
@given(text=st.text(max_size=300))
def test_arbitrary_yaml_text(yaml_file: Path, text: str) -> None:
    load_yaml_text(yaml_file, text)


@FUZZ
@given(data=st.data())
def test_spliced_example_yaml(yaml_file: Path, data: st.DataObject) -> None:
    """Real examples with YAML syntax (anchors, tags, merges, flow collections) spliced in."""
    text = data.draw(st.sampled_from(YAML_EXAMPLES))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(text)))
        text = text[:at] + data.draw(YAML_TOKENS | st.text(max_size=8)) + text[at:]
    load_yaml_text(yaml_file, text)


def _bomb(levels: int, placement: str) -> str:
    """A billion-laughs document: ``levels`` of ten aliases each, placed where the spec reads it."""
    anchors = ['  a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    anchors += [f"  a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, levels)]
    return ("apiVersion: kafka.oso.sh/v1alpha1\nkind: KafkaRestore\nx-bomb:\n" + "\n".join(anchors) + "\n"
            + placement.replace("BOMB", f"*a{levels - 1}") + "\n")


@pytest.mark.parametrize(
    "placement",
    ["spec:\n  topics: BOMB", "metadata:\n  labels:\n    x: BOMB", "spec:\n  topicMapping: BOMB",
     "metadata:\n  annotations: BOMB", "spec:\n  backupRef: BOMB"],
)
def test_alias_bomb_is_refused_cheaply(yaml_file: Path, placement: str) -> None:
    """10^9 strings if expanded: the loader must refuse it without walking or copying them."""
    yaml_file.write_text(_bomb(9, placement))
    tracemalloc.start()
    try:
        with pytest.raises(SpecValidationError):
            load_resource(read_yaml_documents(str(yaml_file))[0], source=str(yaml_file))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MAX_PEAK, f"peak {peak >> 20} MiB"


# ---------------------------------------------------------------------------- manifest


def _valid_manifest() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as root:
        manifest = write_sample_backup(FilesystemStorage(root), "b1",
                                       SampleBackup(topics={"orders": 2, "pay": 1}, records_per_partition=30,
                                                    segment_max_records=10))
    return json.loads(dump_manifest(manifest))


VALID_MANIFEST = _valid_manifest()


def only_our_error(parse: Callable[[bytes, str], object], raw: bytes, error: type[Exception], key: str) -> None:
    tracemalloc.start()
    try:
        try:
            parse(raw, key)
        except error as exc:
            assert str(exc).startswith(key), exc
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MAX_PEAK + 64 * len(raw), f"peak {peak >> 20} MiB for {len(raw)} bytes"


@FUZZ
@given(raw=st.binary(max_size=512))
def test_manifest_arbitrary_bytes(raw: bytes) -> None:
    only_our_error(parse_manifest, raw, ManifestError, "b1/manifest.json")


@FUZZ
@given(value=json_like)
def test_manifest_arbitrary_json(value: Any) -> None:
    only_our_error(parse_manifest, json.dumps(value).encode(), ManifestError, "b1/manifest.json")


@FUZZ
@given(data=st.data())
def test_manifest_mutated(data: st.DataObject) -> None:
    """A real manifest with 1-3 fields replaced by arbitrary values or removed."""
    document = copy.deepcopy(VALID_MANIFEST)
    for _ in range(data.draw(st.integers(1, 3))):
        *parents, last = data.draw(st.sampled_from(paths(document)[1:]))
        node = document
        for step in parents:
            node = node[step]
        if data.draw(st.booleans()):
            node[last] = data.draw(json_like | st.integers(-(2**70), 2**70))
        elif isinstance(node, dict):
            del node[last]
        else:
            node.pop(last)
    only_our_error(parse_manifest, json.dumps(document).encode(), ManifestError, "b1/manifest.json")


def test_mutation_keeps_valid_manifests_valid() -> None:
    """The fuzz base must parse, or the mutations above would only ever test the first error."""
    manifest = parse_manifest(json.dumps(VALID_MANIFEST).encode(), "b1/manifest.json")
    assert manifest.segment_count == 9


# ---------------------------------------------------------------------------- consumer-groups snapshot


GROUPS_KEY = "b1/consumer-groups-snapshot.json"
VALID_GROUPS = json.loads(dump_group_snapshot(GroupSnapshot(1, {"g": {("orders", 0): 5, ("orders", 1): 7}})))


@FUZZ
@given(raw=st.binary(max_size=256) | json_like.map(lambda v: json.dumps(v).encode()))
def test_group_snapshot_arbitrary_input(raw: bytes) -> None:
    only_our_error(parse_group_snapshot, raw, ManifestError, GROUPS_KEY)


@FUZZ
@given(partition=st.text(st.characters(categories=["Nd", "No", "Lu"]), max_size=3) | st.text(max_size=6),
       offset=json_like)
@example(partition="\u00b2", offset=1)  # superscript two: str.isdigit() says yes, int() says no
def test_group_snapshot_mutated(partition: str, offset: Any) -> None:
    """Any partition key (unicode digits included) and any offset value in a real snapshot."""
    document = copy.deepcopy(VALID_GROUPS)
    document["groups"][0]["offsets"]["orders"][partition] = offset
    only_our_error(parse_group_snapshot, json.dumps(document).encode(), ManifestError, GROUPS_KEY)
