"""Transport security through the whole system: Kafka over TLS with a verified CA, SASL logins,
Redis with a password, Flower behind basic auth."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import redis

from restore_jobs import embedded
from restore_jobs.backup.sample import SampleBackup, write_sample_backup
from restore_jobs.jobs import api
from restore_jobs.spec.model import CaSecret, KafkaCluster, SaslSecret
from restore_jobs.storage.filesystem import FilesystemStorage
from restore_jobs.storage.secrets import DirectorySecretSource, SecretResolver
from tests.e2e.conftest import run_cli
from tests.e2e.test_restore_e2e import restore_yaml
from tests.helpers import assert_restored, backup_records, consume_topic
from tests.security.checks import consume_secured, full_logs, topics_on
from tests.security.conftest import own_stack, random_secret, write_secret
from tests.security.tls import other_ca_pem

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

TIMEOUTS = {"failureThreshold": 1, "operationTimeoutMs": 3000}


def fs_backup(root: Path, topic: str) -> dict:
    write_sample_backup(FilesystemStorage(root), "b1", SampleBackup(topics={topic: 2}, records_per_partition=30))
    return {"storageType": "filesystem", "filesystem": {"path": str(root)}}


def run_job(env: dict[str, str], spec_file: Path) -> tuple[int, dict]:
    result = run_cli(env, "submit", str(spec_file), "--wait", "--json", timeout=120)
    return result.returncode, json.loads(result.stdout)


def test_tls_restore_verifies_the_broker_certificate(sec_stack, sec_env, secrets_root, secure_broker, pki,
                                                     tmp_path, unique):
    broker = secure_broker(tls=True)
    write_secret(secrets_root, "kafka-tls", {"ca.crt": pki.ca_pem})
    write_secret(secrets_root, "other-ca", {"ca.crt": other_ca_pem()})
    storage = fs_backup(tmp_path / "backups", unique)
    tls = {"bootstrapServers": [broker.bootstrap], "securityProtocol": "SSL", "tlsSecret": {"name": "kafka-tls"}}
    code, status = run_job(sec_env, restore_yaml(tmp_path / "ok.yaml", f"tls-{unique}", broker.bootstrap, storage,
                                                 "b1", kafkaCluster=tls))
    assert code == 0 and status["phase"] == "Completed", status
    secrets = SecretResolver(DirectorySecretSource(secrets_root), None)
    secured = KafkaCluster([broker.bootstrap], security_protocol="SSL", ca_secret=CaSecret("kafka-tls"))
    expected = backup_records(FilesystemStorage(tmp_path / "backups"), "b1", unique)
    assert assert_restored(expected, consume_secured(secured, secrets, unique)) == 60

    target = f"{unique}-wrong-ca"
    wrong = {"bootstrapServers": [broker.bootstrap], "securityProtocol": "SSL", "caSecret": {"name": "other-ca"}}
    code, status = run_job(sec_env, restore_yaml(tmp_path / "bad.yaml", f"tlsbad-{unique}", broker.bootstrap,
                                                 storage, "b1", kafkaCluster=wrong, topicMapping={unique: target},
                                                 circuitBreaker=TIMEOUTS))
    assert code == 1 and status["phase"] == "Failed", status
    assert f"list topics on {broker.bootstrap}" in status["message"], status["message"]
    assert "certificate verify failed" in status["message"], status["message"]
    assert target not in topics_on(secured, secrets)


def test_sasl_wrong_password_fails_clearly_without_the_password(sec_stack, sec_env, secrets_root, secure_broker,
                                                               pki, tmp_path, unique):
    right, wrong = random_secret("right"), random_secret("wrong")
    broker = secure_broker(tls=True, users={"restorer": right})
    write_secret(secrets_root, f"sasl-{unique}", {"username": "restorer", "password": wrong})
    write_secret(secrets_root, f"ca-{unique}", {"ca.crt": pki.ca_pem})
    cluster = {"bootstrapServers": [broker.bootstrap], "securityProtocol": "SASL_SSL",
               "caSecret": {"name": f"ca-{unique}"}, "saslSecret": {"name": f"sasl-{unique}", "mechanism": "PLAIN"}}
    spec_file = restore_yaml(tmp_path / "r.yaml", f"sasl-{unique}", broker.bootstrap,
                             fs_backup(tmp_path / "backups", unique), "b1", kafkaCluster=cluster,
                             circuitBreaker=TIMEOUTS)
    code, status = run_job(sec_env, spec_file)
    assert code == 1 and status["phase"] == "Failed", status
    assert f"list topics on {broker.bootstrap}" in status["message"]
    assert "SASL authentication error" in status["message"], status["message"]
    assert broker.gateway.failed_logins >= 1
    shown = json.dumps(api.get_status(status["jobId"])) + full_logs(sec_stack)
    assert wrong not in shown and right not in shown
    write_secret(secrets_root, f"sasl-ok-{unique}", {"username": "restorer", "password": right})
    secured = KafkaCluster([broker.bootstrap], security_protocol="SASL_SSL", ca_secret=CaSecret(f"ca-{unique}"),
                           sasl_secret=SaslSecret(f"sasl-ok-{unique}", "PLAIN"))
    assert unique not in topics_on(secured, SecretResolver(DirectorySecretSource(secrets_root), None))


def test_redis_password_stays_out_of_logs_and_status(sec_stack, bootstrap, tmp_path_factory, tmp_path, unique):
    password = random_secret("redis")
    server = embedded.valkey(tmp_path_factory.mktemp("valkey-auth"), password=password).start()
    try:
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=server.port).ping()
        url = f"redis://:{password}@127.0.0.1:{server.port}/0"
        with own_stack(tmp_path_factory.mktemp("auth-stack"), url, {}) as stack:
            stack.start_worker("r1", concurrency=2)
            spec_file = restore_yaml(tmp_path / "r.yaml", f"redisauth-{unique}", bootstrap,
                                     fs_backup(tmp_path / "backups", unique), "b1")
            code, status = run_job(stack.child_env(), spec_file)
            assert code == 0 and status["phase"] == "Completed", status
            assert sum(len(r) for r in consume_topic(bootstrap, unique).values()) == 60
            logs = full_logs(stack)
            assert f"redis://:**@127.0.0.1:{server.port}/0" in logs  # the worker's banner, masked
            assert password not in logs
            assert password not in json.dumps(api.get_status(status["jobId"]))
    finally:
        server.stop()


def test_flower_api_refuses_unauthenticated_requests(sec_stack, flower_auth):
    url = f"{sec_stack.flower_url}/api/tasks"
    user, password = flower_auth
    for credentials in (None, f"{user}:wrong-{password}"):
        request = urllib.request.Request(url)
        if credentials:
            request.add_header("Authorization", "Basic " + base64.b64encode(credentials.encode()).decode())
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 401
    request = urllib.request.Request(url)
    request.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200 and isinstance(json.loads(response.read()), dict)
