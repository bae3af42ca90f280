"""The fake must behave like the API server where the controller depends on it."""

from __future__ import annotations

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from tests.fakes.kube_api import RESTORES, FakeKubeApi
from tests.fakes.restores import kafka_restore

G, V, P = "kafka.oso.sh", "v1alpha1", "kafkarestores"


@pytest.fixture
def custom(fake_api: FakeKubeApi) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(fake_api.api_client())


def test_generation_moves_on_spec_changes_only(fake_api: FakeKubeApi, custom: client.CustomObjectsApi) -> None:
    fake_api.create(RESTORES, kafka_restore("r"))
    status = custom.patch_namespaced_custom_object_status(G, V, "team-a", P, "r", {
        "status": {"phase": "Running"}, "spec": {"dryRun": True}})
    assert (status["metadata"]["generation"], status["status"], "dryRun" in status["spec"]) == (1, {"phase": "Running"},
                                                                                               False)
    main = custom.patch_namespaced_custom_object(G, V, "team-a", P, "r", {"spec": {"dryRun": True},
                                                                         "status": {"phase": "Hacked"}})
    assert (main["metadata"]["generation"], main["status"]["phase"]) == (2, "Running")
    labelled = custom.patch_namespaced_custom_object(G, V, "team-a", P, "r", {"metadata": {"labels": {"a": "b"}}})
    assert labelled["metadata"]["generation"] == 2
    assert int(labelled["metadata"]["resourceVersion"]) > int(main["metadata"]["resourceVersion"])
    same = custom.patch_namespaced_custom_object(G, V, "team-a", P, "r", {"metadata": {"labels": {"a": "b"}}})
    assert same["metadata"]["resourceVersion"] == labelled["metadata"]["resourceVersion"], "no-op keeps the version"


def test_finalizers_hold_deletion_and_resource_version_guards_patches(
        fake_api: FakeKubeApi, custom: client.CustomObjectsApi) -> None:
    created = fake_api.create(RESTORES, kafka_restore("r"))
    guarded = {"metadata": {"finalizers": ["x/y"], "resourceVersion": created["metadata"]["resourceVersion"]}}
    held = custom.patch_namespaced_custom_object(G, V, "team-a", P, "r", guarded)
    with pytest.raises(ApiException) as conflict:
        custom.patch_namespaced_custom_object(G, V, "team-a", P, "r", guarded)
    assert conflict.value.status == 409
    custom.delete_namespaced_custom_object(G, V, "team-a", P, "r")
    terminating = fake_api.get(RESTORES, "team-a", "r")
    assert terminating["metadata"]["deletionTimestamp"]
    custom.patch_namespaced_custom_object(G, V, "team-a", P, "r", {"metadata": {
        "finalizers": [], "resourceVersion": terminating["metadata"]["resourceVersion"]}})
    assert fake_api.get(RESTORES, "team-a", "r") is None
    assert held["metadata"]["finalizers"] == ["x/y"]


def test_watch_replays_from_a_version_and_answers_410_when_compacted(
        fake_api: FakeKubeApi, custom: client.CustomObjectsApi) -> None:
    first = fake_api.create(RESTORES, kafka_restore("a"))
    fake_api.create(RESTORES, kafka_restore("b", namespace="team-b"))
    fake_api.delete(RESTORES, "team-a", "a")
    events = [(e["type"], e["raw_object"]["metadata"]["name"]) for e in watch.Watch().stream(
        custom.list_cluster_custom_object, G, V, P, resource_version=first["metadata"]["resourceVersion"],
        timeout_seconds=1)]
    assert events == [("ADDED", "b"), ("DELETED", "a")]
    namespaced = [e["raw_object"]["metadata"]["name"] for e in watch.Watch().stream(
        custom.list_namespaced_custom_object, G, V, "team-b", P, resource_version="1", timeout_seconds=1)]
    assert namespaced == ["b"]
    fake_api.compact()
    with pytest.raises(ApiException) as gone:
        list(watch.Watch().stream(custom.list_cluster_custom_object, G, V, P, resource_version="1",
                                  timeout_seconds=1))
    assert gone.value.status == 410


def test_history_window_is_configurable() -> None:
    with FakeKubeApi(history_limit=2) as fake:
        custom = client.CustomObjectsApi(fake.api_client())
        for name in ("a", "b", "c", "d"):
            fake.create(RESTORES, kafka_restore(name))
        with pytest.raises(ApiException) as gone:
            list(watch.Watch().stream(custom.list_cluster_custom_object, G, V, P, resource_version="1",
                                      timeout_seconds=1))
        assert gone.value.status == 410
        kept = [e["raw_object"]["metadata"]["name"] for e in watch.Watch().stream(
            custom.list_cluster_custom_object, G, V, P, resource_version="2", timeout_seconds=1)]
        assert kept == ["c", "d"]


def test_events_are_recorded(fake_api: FakeKubeApi) -> None:
    core = client.CoreV1Api(fake_api.api_client())
    core.create_namespaced_event("team-a", {"metadata": {"name": "r.1"}, "reason": "Submitted",
                                            "involvedObject": {"name": "r"}})
    assert [e["reason"] for e in fake_api.recorded_events("r")] == ["Submitted"]
