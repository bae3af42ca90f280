"""The entry point: kubeconfig loading, HTTP endpoints, clean shutdown releasing the lease."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from controller.config import LeaderElectionSettings, Settings
from controller.main import load_api_client, run
from restore_jobs.embedded import free_port
from tests.fakes.job_backend import FakeJobBackend
from tests.fakes.kube_api import LEASES, RESTORES, FakeKubeApi
from tests.fakes.polling import eventually
from tests.fakes.restores import kafka_restore

pytestmark = pytest.mark.integration


@pytest.fixture
def kubeconfig(fake_api: FakeKubeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "fake",
        "clusters": [{"name": "fake", "cluster": {"server": fake_api.url}}],
        "users": [{"name": "me", "user": {"token": "not-a-secret"}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "me"}}],
    }))
    monkeypatch.setenv("KUBECONFIG", str(path))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    yield path
    client.Configuration.set_default(client.Configuration())


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except urllib.error.URLError:
        return 0, "not listening yet"


def test_run_serves_health_and_metrics_and_releases_the_lease(fake_api: FakeKubeApi, kubeconfig: Path) -> None:
    port = free_port()
    settings = Settings(status_interval=0.2, workers=1, watch_timeout_seconds=3, http_port=port,
                        leader=LeaderElectionSettings(lease_namespace="ops", identity="main-test", lease_duration=2,
                                                      renew_deadline=1.5, retry_period=0.2))
    backend = FakeJobBackend()
    stop = threading.Event()
    runner = threading.Thread(target=run, args=(settings, load_api_client(), stop, backend))
    runner.start()
    try:
        eventually(lambda: _get(f"http://127.0.0.1:{port}/readyz")[0] == 200, what="ready")
        assert _get(f"http://127.0.0.1:{port}/healthz") == (200, "ok\n")
        fake_api.create(RESTORES, kafka_restore("orders"))
        eventually(lambda: backend.submissions, what="a submission through the kubeconfig client")
        code, metrics = _get(f"http://127.0.0.1:{port}/metrics")
        assert code == 200
        assert 'kafka_restore_controller_reconciles_total{result="ok"}' in metrics
        assert "kafka_restore_controller_leader 1.0" in metrics
        assert _get(f"http://127.0.0.1:{port}/nope")[0] == 404
    finally:
        stop.set()
        runner.join(timeout=10)
    assert not runner.is_alive()
    assert fake_api.get(LEASES, "ops", "kafka-restore-controller")["spec"]["holderIdentity"] == ""


def test_only_the_configured_namespaces_are_watched(fake_api: FakeKubeApi, kubeconfig: Path) -> None:
    from controller.manager import RestoreController

    settings = Settings(status_interval=0.2, workers=1, watch_timeout_seconds=3, watch_namespaces=("team-a", "team-c"),
                        leader=LeaderElectionSettings(enabled=False))
    backend = FakeJobBackend()
    controller = RestoreController(load_api_client(), settings, backend).start()
    try:
        fake_api.create(RESTORES, kafka_restore("other", namespace="team-b"))
        fake_api.create(RESTORES, kafka_restore("mine", namespace="team-a"))
        fake_api.create(RESTORES, kafka_restore("also-mine", namespace="team-c"))
        eventually(lambda: len(backend.submissions) == 2)
        eventually(controller.ready)
    finally:
        controller.stop()
    assert sorted(r.metadata.namespace for _, r in backend.submissions) == ["team-a", "team-c"]
    assert (fake_api.get(RESTORES, "team-b", "other") or {}).get("status") is None
