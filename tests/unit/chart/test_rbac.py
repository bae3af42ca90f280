"""The chart grants exactly the permissions the controller and workers need, and nothing else."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.chart.conftest import RELEASE_NAMESPACE, by_kind

Grant = tuple[str, str, str]  # (apiGroup, resource, verb)

CONTROLLER_WATCHED: set[Grant] = {
    *{("kafka.oso.sh", "kafkarestores", v) for v in ("get", "list", "watch", "patch", "update")},
    *{("kafka.oso.sh", "kafkarestores/status", v) for v in ("get", "patch", "update")},
    ("kafka.oso.sh", "kafkarestores/finalizers", "update"),
    ("kafka.oso.sh", "kafkabackups", "get"),
    ("", "events", "create"),
    ("", "events", "patch"),
}
CONTROLLER_LEASES: set[Grant] = {("coordination.k8s.io", "leases", v) for v in ("get", "create", "update")}
WORKER_SECRETS: set[Grant] = {("", "secrets", "get")}


def _grants(role: dict[str, Any]) -> set[Grant]:
    grants: set[Grant] = set()
    for rule in role["rules"]:
        assert set(rule) == {"apiGroups", "resources", "verbs"}, f"unexpected rule fields in {rule}"
        grants |= {(g, r, v) for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]}
    return grants


def _grants_by_subject(docs: list[dict[str, Any]]) -> dict[tuple[str, str | None], set[Grant]]:
    """(service account, namespace of the grant or None for cluster-wide) -> what it may do."""
    roles = {
        (doc["kind"], doc["metadata"].get("namespace"), doc["metadata"]["name"]): doc
        for doc in docs
        if doc["kind"] in ("Role", "ClusterRole")
    }
    result: dict[tuple[str, str | None], set[Grant]] = {}
    for binding in by_kind(docs, "RoleBinding") + by_kind(docs, "ClusterRoleBinding"):
        namespace = binding["metadata"].get("namespace")
        ref = binding["roleRef"]
        role = roles[(ref["kind"], namespace if ref["kind"] == "Role" else None, ref["name"])]
        for subject in binding["subjects"]:
            assert subject["kind"] == "ServiceAccount"
            assert subject["namespace"] == RELEASE_NAMESPACE
            result.setdefault((subject["name"], namespace), set()).update(_grants(role))
    return result


def test_no_wildcards_anywhere(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for variant, docs in rendered.items():
        for role in by_kind(docs, "Role") + by_kind(docs, "ClusterRole"):
            for grant in _grants(role):
                assert "*" not in grant, f"{variant}: {role['metadata']['name']} grants {grant}"


def test_cluster_wide_by_default(rendered: dict[str, list[dict[str, Any]]]) -> None:
    assert _grants_by_subject(rendered["default"]) == {
        ("kr-kafka-restore-controller", None): CONTROLLER_WATCHED,
        ("kr-kafka-restore-controller", RELEASE_NAMESPACE): CONTROLLER_LEASES,
        ("kr-kafka-restore-worker", None): WORKER_SECRETS,
    }


def test_watch_namespaces_give_roles_only_there_and_mounted_secrets_give_workers_nothing(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    docs = rendered["all-on"]
    assert by_kind(docs, "ClusterRole") == [] and by_kind(docs, "ClusterRoleBinding") == []
    assert _grants_by_subject(docs) == {
        ("restore-controller", "team-a"): CONTROLLER_WATCHED,
        ("restore-controller", "team-b"): CONTROLLER_WATCHED,
        ("restore-controller", RELEASE_NAMESPACE): CONTROLLER_LEASES,
    }


def test_secret_api_access_is_limited_to_watched_namespaces(rendered: dict[str, list[dict[str, Any]]]) -> None:
    grants = _grants_by_subject(rendered["all-on-secret-api"])
    assert {key: value for key, value in grants.items() if key[0] == "restore-worker"} == {
        ("restore-worker", "team-a"): WORKER_SECRETS,
        ("restore-worker", "team-b"): WORKER_SECRETS,
    }


@pytest.mark.parametrize(("variant", "automount"), [("default", True), ("all-on", False)])
def test_workers_get_an_api_token_only_with_secret_api_access(
    rendered: dict[str, list[dict[str, Any]]], variant: str, automount: bool
) -> None:
    pods = {
        doc["metadata"]["name"]: doc["spec"]["template"]["spec"]
        for doc in by_kind(rendered[variant], "Deployment") + by_kind(rendered[variant], "StatefulSet")
    }
    tokens = {name: spec["automountServiceAccountToken"] for name, spec in pods.items()}
    workers = {name for name in tokens if "-worker-" in name}
    controllers = {name for name in tokens if name.endswith("-controller")}
    assert len(workers) == 2 and len(controllers) == 1
    assert {tokens[name] for name in workers} == {automount}
    assert {tokens[name] for name in controllers} == {True}
    # beat, Flower and Redis never talk to the API server.
    assert {tokens[name] for name in tokens.keys() - workers - controllers} == {False}
