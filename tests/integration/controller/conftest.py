from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest

from controller.config import LeaderElectionSettings, Settings
from controller.manager import RestoreController
from tests.fakes.job_backend import FakeJobBackend
from tests.fakes.kube_api import FakeKubeApi

FAST = Settings(status_interval=0.2, workers=2, watch_timeout_seconds=3, cancel_timeout=5.0,
                leader=LeaderElectionSettings(enabled=False, lease_namespace="kafka-system", identity="solo",
                                              lease_duration=1.0, renew_deadline=0.7, retry_period=0.1))

StartController = Callable[..., RestoreController]


@pytest.fixture
def fake_api() -> Iterator[FakeKubeApi]:
    with FakeKubeApi(bookmark_interval=0.5) as fake:
        yield fake


@pytest.fixture
def backend() -> FakeJobBackend:
    return FakeJobBackend()


@pytest.fixture
def start_controller(fake_api: FakeKubeApi, backend: FakeJobBackend) -> Iterator[StartController]:
    """Starts a controller on the fake; ``leader={...}`` overrides leader-election settings."""
    started: list[RestoreController] = []

    def start(leader: dict[str, Any] | None = None, **overrides: Any) -> RestoreController:
        settings = replace(FAST, leader=replace(FAST.leader, **(leader or {})), **overrides)
        controller = RestoreController(fake_api.api_client(settings.leader.identity), settings, backend).start()
        started.append(controller)
        return controller

    yield start
    for controller in started:
        controller.stop()
