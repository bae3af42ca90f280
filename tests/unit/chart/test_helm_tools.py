"""The helm helper extracts the binaries once per package version, safely under concurrency."""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path

import pytest

from tests.unit.chart import helm


def test_concurrent_first_use_extracts_one_working_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_RESTORE_TOOLS_CACHE", str(tmp_path))
    with ThreadPoolExecutor(max_workers=3) as pool:
        paths = list(pool.map(lambda _: helm.tool_path("helm"), range(3)))

    version = metadata.version(helm.LAYER_DISTRIBUTION)
    expected = tmp_path / f"{helm.LAYER_DISTRIBUTION}-{version}" / "helm" / "helm"
    assert paths == [expected] * 3
    assert os.access(expected, os.X_OK)
    # Losers of the race leave no staging directories behind.
    assert sorted(p.name for p in tmp_path.iterdir()) == [expected.parents[1].name]
    out = subprocess.run([str(expected), "version", "--short"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("v4.")


def test_cached_copy_is_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_RESTORE_TOOLS_CACHE", str(tmp_path))
    first = helm.tool_path("helm")
    mtime = first.stat().st_mtime_ns
    assert helm.tool_path("helm") == first
    assert first.stat().st_mtime_ns == mtime


def test_unknown_tool_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown tool 'kustomize'"):
        helm.tool_path("kustomize")
