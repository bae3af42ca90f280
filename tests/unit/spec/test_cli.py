"""``kafka-restore validate`` and ``kafka-restore crd``: output, stderr and exit codes."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest
import yaml

from restore_jobs.cli import crd, validate
from restore_jobs.cli.common import CliError
from restore_jobs.spec import crd_yaml
from tests.unit.spec.resources import EXAMPLES, MINIMAL


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="kafka-restore")
    commands = parser.add_subparsers(dest="command", required=True)
    validate.register(commands)
    crd.register(commands)
    args = parser.parse_args(argv)
    return args.func(args)


def write(path: Path, *documents: object) -> str:
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False), encoding="utf-8")
    return str(path)


def test_valid_files_print_normalized_yaml(capsys: pytest.CaptureFixture[str]) -> None:
    code = run("validate", str(EXAMPLES / "restore-with-consumer-groups.yaml"), str(EXAMPLES / "full-spec.yaml"))
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    first, second = yaml.safe_load_all(out)
    assert first["metadata"]["name"] == "restore-with-groups"
    assert first["spec"]["rollback"] == {
        "snapshotBeforeRestore": True,
        "snapshotRetentionHours": 24,
        "autoRollbackOnFailure": False,
    }
    assert first["spec"]["kafkaCluster"]["securityProtocol"] == "PLAINTEXT"
    assert (first["spec"]["produceTimeoutMs"], first["spec"]["autoConsumerGroups"]) == (30000, True)
    assert second["metadata"]["name"] == "production-restore"


def test_json_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "two.yaml", MINIMAL, {**MINIMAL, "metadata": {"name": "second"}})
    assert run("validate", "--json", path) == 0
    resources = json.loads(capsys.readouterr().out)
    assert [r["metadata"]["name"] for r in resources] == ["r", "second"]
    assert resources[0]["spec"]["produceBatchSize"] == 1000


def test_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(yaml.safe_dump(MINIMAL)))
    assert run("validate", "-") == 0
    assert yaml.safe_load(capsys.readouterr().out)["spec"]["backupRef"] == {"name": "b"}


def test_invalid_documents_report_every_error_with_file_and_index(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = {**MINIMAL, "spec": {**MINIMAL["spec"], "produceAcks": 5, "dryRun": "no"}}
    path = write(tmp_path / "mixed.yaml", MINIMAL, bad)
    assert run("validate", path) == 1
    out, err = capsys.readouterr()
    assert err.splitlines() == [
        f"{path} document 2: spec.dryRun: must be true or false",
        f"{path} document 2: spec.produceAcks: must be one of -1, 0, 1",
    ]
    assert [doc["metadata"]["name"] for doc in yaml.safe_load_all(out)] == ["r"]  # the valid one still prints


def test_empty_file_is_invalid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("---\n", encoding="utf-8")
    assert run("validate", str(path)) == 1
    assert capsys.readouterr().err == f"{path}: no YAML document\n"


def test_unreadable_file_wins_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.yaml"
    broken = tmp_path / "broken.yaml"
    broken.write_text("spec:\n  topics: [a\n", encoding="utf-8")
    assert run("validate", str(EXAMPLES / "full-spec.yaml"), str(missing), str(broken)) == 2
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert lines[0].startswith(f"{missing}: cannot read: [Errno 2]")
    assert lines[1].startswith(f"{broken}: invalid YAML at line 3, column 1:")
    assert yaml.safe_load(out)["metadata"]["name"] == "production-restore"


def test_crd_prints_the_committed_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("crd") == 0
    out = capsys.readouterr().out
    committed = EXAMPLES.parent / "charts" / "kafka-restore" / "crds" / "kafkarestores.yaml"
    assert out == crd_yaml() == committed.read_text(encoding="utf-8")


def test_crd_writes_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "crd.json"
    assert run("crd", "--json", "--output", str(target)) == 0
    assert capsys.readouterr().out == ""
    assert json.loads(target.read_text(encoding="utf-8"))["spec"]["names"]["shortNames"] == ["kr"]


def test_crd_unwritable_output(tmp_path: Path) -> None:
    with pytest.raises(CliError) as caught:
        run("crd", "--output", str(tmp_path / "no" / "such" / "dir.yaml"))
    assert caught.value.exit_code == 2 and "cannot write" in str(caught.value)
