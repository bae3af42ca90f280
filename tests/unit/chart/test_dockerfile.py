"""The image matches what the chart expects of it (Docker cannot build here, so check the text)."""

from __future__ import annotations

import configparser
import re

import yaml

from tests.unit.chart.helm import CHART_DIR, REPO_ROOT

DOCKERFILE = (REPO_ROOT / "Dockerfile").read_text()
VALUES = yaml.safe_load((CHART_DIR / "values.yaml").read_text())


def _instructions(name: str) -> list[str]:
    return re.findall(rf"^{name} (.+)$", DOCKERFILE, flags=re.MULTILINE)


def test_runs_as_the_chart_uid() -> None:
    security = VALUES["podSecurity"]
    assert _instructions("USER") == [f"{security['runAsUser']}:{security['runAsGroup']}"]
    assert f"--uid {security['runAsUser']}" in DOCKERFILE and f"--gid {security['runAsGroup']}" in DOCKERFILE


def test_slim_python_base_and_runtime_dependencies_only() -> None:
    assert [line.split()[0] for line in _instructions("FROM")] == ["python:3.11-slim", "python:3.11-slim"]
    installs = re.findall(r"pip install (.+)$", DOCKERFILE, flags=re.MULTILINE)
    assert installs == ["."]


def test_default_command_is_the_controller_console_script() -> None:
    setup = configparser.ConfigParser()
    setup.read(REPO_ROOT / "setup.cfg")
    scripts = dict(
        line.split(" = ", 1) for line in setup["options.entry_points"]["console_scripts"].strip().splitlines()
    )
    assert _instructions("CMD") == ['["kafka-restore-controller"]']
    assert scripts["kafka-restore-controller"] == "controller.main:main"


def test_every_installed_package_is_copied_and_tests_stay_out() -> None:
    setup = configparser.ConfigParser()
    setup.read(REPO_ROOT / "setup.cfg")
    packages = {name for name in setup["options.packages.find"]["include"].split() if "." not in name}
    copied = {line.split()[0] for line in _instructions("COPY") if not line.startswith("--from")}
    assert packages <= copied
    ignored = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    assert {"tests", ".git", "charts", "bench"} <= set(ignored)


def test_the_build_stage_compiles_the_record_parser_and_the_image_ships_no_compiler() -> None:
    build, runtime = DOCKERFILE.split("\nFROM ")[1:]
    assert "gcc" in build and "COPY pyproject.toml setup.cfg setup.py" in build
    assert "gcc" not in runtime and "apt-get" not in runtime
