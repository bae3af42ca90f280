"""`helm lint --strict` must pass with the default values and with every option on."""

from __future__ import annotations

import pytest

from tests.unit.chart import helm
from tests.unit.chart.conftest import VARIANTS


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_helm_lint_passes(variant: str) -> None:
    files, overrides = VARIANTS[variant]
    out = helm.lint(files, overrides)
    assert "1 chart(s) linted, 0 chart(s) failed" in out
    assert "[ERROR]" not in out and "[WARNING]" not in out


def test_chart_metadata() -> None:
    import yaml

    chart = yaml.safe_load((helm.CHART_DIR / "Chart.yaml").read_text())
    assert (chart["apiVersion"], chart["name"], chart["appVersion"]) == ("v2", "kafka-restore", "0.1.0")


def test_notes_tell_how_to_apply_a_restore_and_open_flower() -> None:
    out = helm.notes()
    assert "kubectl apply -n <namespace> -f restore.yaml" in out
    assert "kubectl port-forward -n kafka-restore svc/kr-kafka-restore-flower 5555:5555" in out
    assert "kubectl get secret -n kafka-restore kr-kafka-restore-flower -o jsonpath='{.data.password}'" in out
    assert "kubectl apply -f charts/kafka-restore/crds/" in out
    assert "Flower" not in helm.notes(set_values={"flower.enabled": "false"})
