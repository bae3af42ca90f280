from __future__ import annotations

from collections.abc import Iterator

import pytest

from controller.kube import EventRecorder, RestoreApi
from controller.reconcile import Reconciler
from tests.fakes.job_backend import FakeJobBackend
from tests.fakes.kube_api import FakeKubeApi


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def fake_api() -> Iterator[FakeKubeApi]:
    with FakeKubeApi() as fake:
        yield fake


@pytest.fixture
def backend() -> FakeJobBackend:
    return FakeJobBackend()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def leader() -> dict[str, bool]:
    return {"is": True}


@pytest.fixture
def reconciler(fake_api: FakeKubeApi, backend: FakeJobBackend, clock: FakeClock,
               leader: dict[str, bool]) -> Reconciler:
    api_client = fake_api.api_client()
    return Reconciler(RestoreApi(api_client), EventRecorder(api_client, "test"), backend, status_interval=2.0,
                      cancel_timeout=30.0, may_act=lambda: leader["is"], clock=clock)
