"""Every rendered manifest is valid Kubernetes, checked offline against the newest schemas that
kubernetes-validate ships, in strict mode (an unknown or misplaced field is an error)."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest

from tests.unit.chart.conftest import VARIANTS, by_kind
from tests.unit.chart.helm import CHART_DIR

KUBE_VERSION = kubernetes_validate.utils.latest_version()
# Prometheus Operator's CRD: kubernetes-validate has no schema for it; test_workloads checks it.
NOT_IN_KUBERNETES = {("monitoring.coreos.com/v1", "ServiceMonitor")}
CRD_FILE = CHART_DIR / "crds" / "kafkarestores.yaml"


def _identify(doc: dict[str, Any]) -> str:
    return f"{doc['kind']}/{doc['metadata']['name']}"


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_manifest_validates_against_kubernetes_schemas(
    rendered: dict[str, list[dict[str, Any]]], variant: str
) -> None:
    checked = []
    for doc in rendered[variant]:
        if (doc["apiVersion"], doc["kind"]) in NOT_IN_KUBERNETES:
            continue
        try:
            kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{variant}: {_identify(doc)}: {exc.message} at {list(exc.absolute_path)}")
        checked.append(_identify(doc))
    assert len(checked) >= 15


def test_strict_validation_catches_a_misplaced_field(rendered: dict[str, list[dict[str, Any]]]) -> None:
    """Guards the test above: a field in the wrong place must be an error, not silently accepted."""
    deployment = by_kind(rendered["default"], "Deployment")[0]
    broken = {**deployment, "spec": {**deployment["spec"], "readOnlyRootFilesystem": True}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBE_VERSION, strict=True)


def test_crd_is_rendered_and_valid_when_generated(rendered: dict[str, list[dict[str, Any]]]) -> None:
    if not CRD_FILE.is_file():
        pytest.skip(f"{CRD_FILE} not generated yet")
    crds = by_kind(rendered["default"], "CustomResourceDefinition")
    assert [crd["metadata"]["name"] for crd in crds] == ["kafkarestores.kafka.oso.sh"]
    kubernetes_validate.validate(crds[0], KUBE_VERSION, strict=True)
