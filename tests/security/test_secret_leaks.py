"""A restore that uses S3 credentials, a SASL password and a CA, all resolved by the worker from
the secrets directory; afterwards no secret value may be found anywhere the system stores or shows
things: every Redis key and value of every database (Celery's messages, results with their args
and kwargs, our job hashes), the worker and Flower logs, the job status, Flower's task API.

The scan must be able to fail: the job's id (a non-secret marker) has to be found in every one of
those places, and a secret planted inside a Celery-encoded message has to be found too."""

from __future__ import annotations

import base64
import json
import time
import urllib.request
import uuid

import boto3
import pytest
import redis

from restore_jobs.backup.sample import SampleBackup, write_sample_backup
from restore_jobs.jobs import api
from restore_jobs.spec.model import CaSecret, KafkaCluster, SaslSecret
from restore_jobs.storage.s3 import S3Storage
from restore_jobs.storage.secrets import DirectorySecretSource, SecretResolver
from tests.e2e.conftest import run_cli
from tests.e2e.test_restore_e2e import restore_yaml
from tests.helpers import assert_restored, backup_records
from tests.security.checks import consume_secured, found_in, redis_texts, texts
from tests.security.conftest import random_secret, write_secret

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def flower_tasks(flower_url: str, auth: tuple[str, str]) -> dict:
    request = urllib.request.Request(f"{flower_url}/api/tasks")
    request.add_header("Authorization", "Basic " + base64.b64encode(":".join(auth).encode()).decode())
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def log_lines(stack) -> list[tuple[str, str]]:
    return [(f"{path.name}:{n}", line) for path in sorted(stack.workdir.glob("*.log"))
            for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1)]


def test_no_secret_value_is_stored_or_shown(sec_stack, sec_env, secrets_root, secure_broker, pki, flower_auth,
                                            s3_endpoint, tmp_path, unique):
    access_key, secret_key, sasl_password = (random_secret("AKIA"), random_secret("s3-secret"),
                                             random_secret("sasl"))
    names = {"s3": f"s3-{unique}", "sasl": f"sasl-{unique}", "ca": f"ca-{unique}"}
    write_secret(secrets_root, names["s3"], {"AWS_ACCESS_KEY_ID": access_key, "AWS_SECRET_ACCESS_KEY": secret_key})
    write_secret(secrets_root, names["sasl"], {"username": "restorer", "password": sasl_password})
    write_secret(secrets_root, names["ca"], {"ca.crt": pki.ca_pem})
    broker = secure_broker(tls=True, users={"restorer": sasl_password})

    bucket = f"leak-{unique}".lower()
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    store = S3Storage(bucket, endpoint=s3_endpoint, allow_http=True, path_style=True,
                      access_key_id=access_key, secret_access_key=secret_key)
    write_sample_backup(store, "b1", SampleBackup(topics={unique: 2}, records_per_partition=40))
    storage = {"storageType": "s3", "s3": {"bucket": bucket, "endpoint": s3_endpoint, "allowHttp": True,
                                           "pathStyle": True, "credentialsSecret": {"name": names["s3"]}}}
    kafka = {"bootstrapServers": [broker.bootstrap], "securityProtocol": "SASL_SSL",
             "caSecret": {"name": names["ca"]}, "saslSecret": {"name": names["sasl"], "mechanism": "PLAIN"}}
    marker = f"leak-{uuid.uuid4().hex[:12]}"
    spec_file = restore_yaml(tmp_path / "r.yaml", marker, broker.bootstrap, storage, "b1", kafkaCluster=kafka)
    result = run_cli(sec_env, "submit", str(spec_file), "--wait", "--json", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    status = json.loads(result.stdout)
    job_id = status["jobId"]
    assert marker in job_id and status["phase"] == "Completed", status

    secured = KafkaCluster([broker.bootstrap], security_protocol="SASL_SSL", ca_secret=CaSecret(names["ca"]),
                           sasl_secret=SaslSecret(names["sasl"], "PLAIN"))
    restored = consume_secured(secured, SecretResolver(DirectorySecretSource(secrets_root), None), unique)
    assert assert_restored(backup_records(store, "b1", unique), restored) == 80

    deadline = time.monotonic() + 20
    while not found_in(job_id, [("flower", t) for t in texts(flower_tasks(sec_stack.flower_url, flower_auth))]):
        assert time.monotonic() < deadline, "Flower never listed the job's tasks"
        time.sleep(0.5)

    sources = {
        "redis": list(redis_texts(sec_stack.redis_url)),
        "logs": log_lines(sec_stack),
        "status": [("status", t) for t in texts(api.get_status(job_id))],
        "flower": [("flower", t) for t in texts(flower_tasks(sec_stack.flower_url, flower_auth))],
    }
    for kind, found in sources.items():
        assert found_in(job_id, found), f"the scan of {kind} does not even see the job id"
    # The result backend keeps each task's args (result_extended): the scan saw real task arguments.
    assert any(where.split("/", 1)[1].startswith("celery-task-meta-") for where in found_in(job_id, sources["redis"]))
    for secret in (access_key, secret_key, sasl_password):
        leaks = {kind: found_in(secret, found) for kind, found in sources.items()}
        assert not any(leaks.values()), f"a secret value leaked: {leaks}"


def test_the_scan_sees_through_celery_message_encoding(valkey_server):
    """A secret inside a kombu envelope (JSON whose body is base64 of JSON args) is found."""
    secret = random_secret("planted")
    body = base64.b64encode(json.dumps([["job-1", {"password": secret}], {}, {}]).encode()).decode()
    envelope = json.dumps({"body": body, "content-encoding": "utf-8", "headers": {"task": "x"}})
    url = f"redis://127.0.0.1:{valkey_server.port}/7"
    client = redis.Redis.from_url(url)
    client.lpush("planted-queue", envelope)
    try:
        assert found_in(secret, redis_texts(url)) == ["7/planted-queue"]
    finally:
        client.delete("planted-queue")
