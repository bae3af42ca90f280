"""Real servers for the integration tests, started once per session on loopback ports.

valkey (Redis), Tansu (Kafka) and moto's S3 server are real processes speaking their real
protocols; each test takes fresh topic names, buckets or key prefixes so tests stay independent.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from restore_jobs import embedded

_counter = itertools.count()

# Tests reason about transactions of exactly produceBatchSize records (kill points, progress,
# cancels): no minimum transaction size here, nor in the workers the tests start, unless a test
# asks for one. The demo test runs with the production default (it clears every KAFKA_RESTORE_
# setting), as do the benchmarks.
os.environ.setdefault("KAFKA_RESTORE_MIN_TRANSACTION_BYTES", "0")


@pytest.fixture(scope="session")
def server_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("servers")


@pytest.fixture(scope="session")
def valkey_server(server_dir: Path) -> Iterator[embedded.EmbeddedServer]:
    server = embedded.valkey(server_dir).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_url(valkey_server: embedded.EmbeddedServer) -> str:
    return f"redis://127.0.0.1:{valkey_server.port}/0"


@pytest.fixture(scope="session")
def tansu_broker(server_dir: Path) -> Iterator[embedded.EmbeddedServer]:
    server = embedded.tansu(server_dir).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def bootstrap(tansu_broker: embedded.EmbeddedServer) -> str:
    return f"127.0.0.1:{tansu_broker.port}"


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = embedded.free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="session", autouse=True)
def _s3_test_credentials() -> None:
    # moto accepts any key; these keep boto3 from looking for real credentials.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture
def unique() -> str:
    """A short name no other test uses: for topics, groups, buckets, backup ids."""
    return f"t{next(_counter)}-{uuid.uuid4().hex[:8]}"
