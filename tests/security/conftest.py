"""The security suite's own system: Celery workers and Flower (basic auth) on Redis db 5, so that a
leak scan sees only this suite's keys; a secrets directory the workers resolve references from;
and Tansu brokers behind a TLS / SASL gateway (see gateway.py for why not Tansu's own)."""

from __future__ import annotations

import contextlib
import os
import secrets
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from restore_jobs import embedded
from restore_jobs.demo.stack import Stack
from tests.security.gateway import Gateway
from tests.security.tls import Pki, server_pki

SECURITY_DB = 5
_CELERY_ENV = ("KAFKA_RESTORE_BROKER_URL", "KAFKA_RESTORE_RESULT_BACKEND")


def write_secret(root: Path, name: str, values: dict[str, bytes | str]) -> None:
    """A Secret as Kubernetes mounts it: ``<root>/<name>/<key>`` files."""
    (root / name).mkdir(parents=True, exist_ok=True)
    for key, value in values.items():
        (root / name / key).write_bytes(value.encode() if isinstance(value, str) else value)


def random_secret(prefix: str) -> str:
    return f"{prefix}-{secrets.token_urlsafe(18)}"


@contextlib.contextmanager
def own_stack(workdir: Path, redis_url: str, env: dict[str, str]) -> Iterator[Stack]:
    """A Stack on ``redis_url``; this process's Celery settings are put back afterwards, since
    ``Stack.use_redis`` points the whole test process at its Redis."""
    from restore_jobs.jobs.app import app

    saved_env = {k: os.environ.get(k) for k in _CELERY_ENV}
    saved_conf = {"broker_url": app.conf.broker_url, "result_backend": app.conf.result_backend}
    stack = Stack(workdir)
    stack.env.update(env)
    stack.use_redis(redis_url)
    try:
        yield stack
    finally:
        stack.stop()
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        app.conf.update(saved_conf)


@pytest.fixture(scope="package")
def secrets_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("security-secrets")


@pytest.fixture(scope="package")
def flower_auth() -> tuple[str, str]:
    return "admin", random_secret("flower")


@pytest.fixture(scope="package")
def sec_stack(valkey_server, secrets_root: Path, flower_auth: tuple[str, str],
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One worker process (3 slots: a failure handler waits for units) and Flower behind basic auth."""
    url = f"redis://127.0.0.1:{valkey_server.port}/{SECURITY_DB}"
    redis.Redis.from_url(url).flushdb()
    env = {"KAFKA_RESTORE_SECRETS_DIR": str(secrets_root)}
    with own_stack(tmp_path_factory.mktemp("security-stack"), url, env) as stack:
        stack.start_flower(basic_auth=":".join(flower_auth))
        stack.start_worker("s1", concurrency=3)
        yield stack


@pytest.fixture(scope="package")
def sec_env(sec_stack: Stack) -> dict[str, str]:
    """Environment for CLI subprocesses talking to ``sec_stack``."""
    return sec_stack.child_env()


@pytest.fixture(scope="package")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return server_pki(tmp_path_factory.mktemp("pki"))


@dataclass
class SecureBroker:
    """A Tansu broker reachable only through its gateway, which it advertises."""

    bootstrap: str
    gateway: Gateway


@pytest.fixture(scope="package")
def secure_broker(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., SecureBroker]]:
    """``secure_broker(tls=True, users={"u": "pw"})``: a fresh broker behind TLS and/or SASL/PLAIN."""
    started: list[tuple[embedded.EmbeddedServer, Gateway]] = []

    def start(tls: bool = True, users: dict[str, str] | None = None) -> SecureBroker:
        gateway_port, broker_port = embedded.free_port(), embedded.free_port()
        broker = embedded.tansu(tmp_path_factory.mktemp("secure-tansu"), port=broker_port)
        at = broker.argv.index("--advertised-listener-url") + 1
        broker.argv[at] = f"tcp://127.0.0.1:{gateway_port}"
        broker.start()
        context = None
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(pki.cert_path, pki.key_path)
        gateway = Gateway(("127.0.0.1", broker_port), gateway_port, tls=context, users=users).start()
        started.append((broker, gateway))
        return SecureBroker(f"127.0.0.1:{gateway_port}", gateway)

    yield start
    for broker, gateway in started:
        gateway.stop()
        broker.stop()
