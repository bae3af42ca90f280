"""What each process is started with: commands, the environment contract, volumes, Secrets."""

from __future__ import annotations

import base64
import json
from typing import Any

from tests.unit.chart.conftest import RELEASE_NAMESPACE, by_kind, named

CELERY_ENV = [
    "KAFKA_RESTORE_BROKER_URL",
    "KAFKA_RESTORE_RESULT_BACKEND",
    "KAFKA_RESTORE_LOG_LEVEL",
    "KAFKA_RESTORE_LOG_FORMAT",
    "POD_NAMESPACE",
]


def _container(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (container,) = named(docs, kind, name)["spec"]["template"]["spec"]["containers"]
    return container


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in container["env"]}


def _env_names(container: dict[str, Any]) -> list[str]:
    return [item["name"] for item in container["env"]]


def _secret_value(docs: list[dict[str, Any]], name: str, key: str) -> str:
    return base64.b64decode(named(docs, "Secret", name)["data"][key]).decode()


def test_controller_environment(rendered: dict[str, list[dict[str, Any]]]) -> None:
    container = _container(rendered["all-on"], "Deployment", "kr-controller")
    env = _env(container)
    assert container["command"] == ["kafka-restore-controller"]
    assert {
        key: env[key]
        for key in (
            "KAFKA_RESTORE_WATCH_NAMESPACES",
            "KAFKA_RESTORE_LEADER_ELECTION",
            "KAFKA_RESTORE_LEASE_NAME",
            "KAFKA_RESTORE_LEASE_NAMESPACE",
            "KAFKA_RESTORE_STATUS_INTERVAL",
            "KAFKA_RESTORE_CONTROLLER_HTTP_PORT",
            "KAFKA_RESTORE_LOG_LEVEL",
            "KAFKA_RESTORE_LOG_FORMAT",
        )
    } == {
        "KAFKA_RESTORE_WATCH_NAMESPACES": "team-a,team-b",
        "KAFKA_RESTORE_LEADER_ELECTION": "true",
        "KAFKA_RESTORE_LEASE_NAME": "kafka-restore-leader",
        "KAFKA_RESTORE_LEASE_NAMESPACE": RELEASE_NAMESPACE,
        "KAFKA_RESTORE_STATUS_INTERVAL": "5",
        "KAFKA_RESTORE_CONTROLLER_HTTP_PORT": "9090",
        "KAFKA_RESTORE_LOG_LEVEL": "DEBUG",
        "KAFKA_RESTORE_LOG_FORMAT": "text",
    }
    assert env["POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["POD_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert container["ports"] == [{"name": "http", "containerPort": 9090, "protocol": "TCP"}]
    assert named(rendered["all-on"], "Deployment", "kr-controller")["spec"]["replicas"] == 3

    default = _env(_container(rendered["default"], "Deployment", "kr-kafka-restore-controller"))
    assert default["KAFKA_RESTORE_WATCH_NAMESPACES"] == ""
    assert default["KAFKA_RESTORE_LEASE_NAME"] == "kr-kafka-restore-controller"


def test_worker_pools_consume_their_own_queue(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["all-on"]
    for pool, replicas, concurrency, grace in (("restore", 6, "8", 600), ("control", 2, "1", 120)):
        deployment = named(docs, "Deployment", f"kr-worker-{pool}")
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert deployment["spec"]["replicas"] == replicas
        assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == grace
        assert container["command"] == [
            "celery",
            "-A",
            "workers",
            "worker",
            "-Q",
            pool,
            "--concurrency",
            concurrency,
            "--loglevel",
            "DEBUG",
            "-n",
            f"{pool}@%h",
        ]
        assert container["livenessProbe"]["exec"]["command"] == [
            "sh",
            "-c",
            f'celery -A workers inspect ping -d {pool}@"$HOSTNAME" --timeout 10',
        ]
        env = _env(container)
        assert _env_names(container)[: len(CELERY_ENV) + 1] == ["REDIS_PASSWORD", *CELERY_ENV]
        assert {
            key: env[key]
            for key in (
                "KAFKA_RESTORE_KAFKA_CLIENT",
                "KAFKA_RESTORE_PVC_ROOT",
                "KAFKA_RESTORE_SECRETS_DIR",
                "KAFKA_RESTORE_VISIBILITY_TIMEOUT",
            )
        } == {
            "KAFKA_RESTORE_KAFKA_CLIENT": "kafka-python",
            "KAFKA_RESTORE_PVC_ROOT": "/mnt/backups",
            "KAFKA_RESTORE_SECRETS_DIR": "/var/run/secrets/restore",
            "KAFKA_RESTORE_VISIBILITY_TIMEOUT": "7200",
        }


def test_default_workers_use_the_secret_api(rendered: dict[str, list[dict[str, Any]]]) -> None:
    container = _container(rendered["default"], "Deployment", "kr-kafka-restore-worker-restore")
    env = _env(container)
    assert "KAFKA_RESTORE_SECRETS_DIR" not in env
    assert env["KAFKA_RESTORE_KAFKA_CLIENT"] == "confluent"
    assert env["KAFKA_RESTORE_PVC_ROOT"] == "/mnt/pvc"
    assert env["KAFKA_RESTORE_MIN_TRANSACTION_BYTES"] == "4194304"
    assert [mount["mountPath"] for mount in container["volumeMounts"]] == ["/tmp"]


def test_worker_volumes_backups_read_only_snapshots_writable_secrets_mounted(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    pod = named(rendered["all-on"], "Deployment", "kr-worker-restore")["spec"]["template"]["spec"]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    mounts = {
        mount["mountPath"]: (mount["name"], mount.get("readOnly", False))
        for mount in pod["containers"][0]["volumeMounts"]
    }
    assert mounts == {
        "/tmp": ("tmp", False),
        "/mnt/backups/kafka-backups": ("backup-0", True),
        "/mnt/backups/archive.backups": ("backup-1", True),
        "/mnt/backups/restore-snapshots": ("snapshot-0", False),
        "/var/run/secrets/restore/s3-credentials": ("secret-0", True),
        "/var/run/secrets/restore/kafka-tls": ("secret-1", True),
        "/var/run/secrets/restore/kafka-credentials": ("secret-2", True),
    }
    assert volumes["backup-1"]["persistentVolumeClaim"] == {"claimName": "archive.backups", "readOnly": True}
    assert volumes["snapshot-0"]["persistentVolumeClaim"] == {"claimName": "restore-snapshots"}
    assert volumes["secret-2"]["secret"]["secretName"] == "kafka-credentials"


def test_broker_url_is_assembled_from_the_password_secret(rendered: dict[str, list[dict[str, Any]]]) -> None:
    env = _env(_container(rendered["default"], "Deployment", "kr-kafka-restore-beat"))
    assert env["REDIS_PASSWORD"] == {"secretKeyRef": {"name": "kr-kafka-restore-redis", "key": "redis-password"}}
    assert env["KAFKA_RESTORE_BROKER_URL"] == (
        f"redis://:$(REDIS_PASSWORD)@kr-kafka-restore-redis.{RELEASE_NAMESPACE}.svc:6379/0"
    )
    assert env["KAFKA_RESTORE_RESULT_BACKEND"] == "$(KAFKA_RESTORE_BROKER_URL)"
    assert len(_secret_value(rendered["default"], "kr-kafka-restore-redis", "redis-password")) == 32


def test_external_redis_url_comes_from_a_secret(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["all-on-external-redis-url"]
    assert by_kind(docs, "StatefulSet") == []
    env = _env(_container(docs, "Deployment", "kr-worker-control"))
    assert "REDIS_PASSWORD" not in env
    assert env["KAFKA_RESTORE_BROKER_URL"] == {"secretKeyRef": {"name": "kr-redis-url", "key": "url"}}
    assert _secret_value(docs, "kr-redis-url", "url") == "redis://:s3cret@redis.example:6379/0"

    existing = rendered["all-on-external-redis-secret"]
    env = _env(_container(existing, "Deployment", "kr-beat"))
    assert env["KAFKA_RESTORE_BROKER_URL"] == {"secretKeyRef": {"name": "redis-url", "key": "url"}}
    assert by_kind(existing, "Secret") == []


def test_built_in_redis(rendered: dict[str, list[dict[str, Any]]]) -> None:
    statefulset = named(rendered["all-on"], "StatefulSet", "kr-redis")
    container = statefulset["spec"]["template"]["spec"]["containers"][0]
    assert statefulset["spec"]["replicas"] == 1
    assert container["image"] == "redis:7.4"
    assert container["command"] == [
        "redis-server",
        "--port",
        "6380",
        "--dir",
        "/data",
        "--requirepass",
        "$(REDIS_PASSWORD)",
        "--maxmemory-policy",
        "noeviction",
        "--maxmemory",
        "512mb",
        "--appendonly",
        "yes",
    ]
    assert _env(container)["REDIS_PASSWORD"] == {"secretKeyRef": {"name": "redis-auth", "key": "password"}}
    (claim,) = statefulset["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "data"
    assert claim["spec"] == {
        "accessModes": ["ReadWriteOnce"],
        "storageClassName": "fast-ssd",
        "resources": {"requests": {"storage": "20Gi"}},
    }
    default = named(rendered["default"], "StatefulSet", "kr-kafka-restore-redis")
    assert "volumeClaimTemplates" not in default["spec"]
    assert default["spec"]["template"]["spec"]["containers"][0]["command"][-2:] == ["--appendonly", "no"]


def test_beat_is_a_single_recreated_replica(rendered: dict[str, list[dict[str, Any]]]) -> None:
    beat = named(rendered["default"], "Deployment", "kr-kafka-restore-beat")
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    assert beat["spec"]["template"]["spec"]["containers"][0]["command"][:4] == ["celery", "-A", "workers", "beat"]


def test_flower_basic_auth_from_a_secret(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["all-on"]
    container = _container(docs, "Deployment", "kr-flower")
    env = _env(container)
    assert container["command"] == ["celery", "-A", "workers", "flower", "--port=5556"]
    assert env["FLOWER_BASIC_AUTH"] == {"secretKeyRef": {"name": "kr-flower", "key": "basic-auth"}}
    assert "FLOWER_UNAUTHENTICATED_API" not in env
    assert _secret_value(docs, "kr-flower", "basic-auth") == "ops:not-a-real-password"
    service = named(docs, "Service", "kr-flower")
    assert service["spec"]["type"] == "LoadBalancer"
    assert service["spec"]["ports"] == [{"name": "http", "port": 5556, "targetPort": "http", "protocol": "TCP"}]
    assert by_kind(rendered["all-on-external-redis-secret"], "Service") == [
        named(rendered["all-on-external-redis-secret"], "Service", "kr-controller")
    ]


def test_service_monitors_scrape_controller_and_flower(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["all-on"]
    monitors = {doc["metadata"]["name"]: doc for doc in by_kind(docs, "ServiceMonitor")}
    assert set(monitors) == {"kr-controller", "kr-flower"}
    for name, monitor in monitors.items():
        service = named(docs, "Service", name)
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        assert monitor["metadata"]["labels"]["release"] == "prometheus"
        assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
        assert monitor["spec"]["endpoints"] == [
            {"port": "http", "path": "/metrics", "interval": "15s", "scrapeTimeout": "5s"}
        ]
    assert by_kind(rendered["default"], "ServiceMonitor") == []


def test_network_policies(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["all-on"]
    policies = {doc["metadata"]["name"]: doc["spec"] for doc in by_kind(docs, "NetworkPolicy")}
    assert set(policies) == {
        "kr-worker-restore",
        "kr-worker-control",
        "kr-beat",
        "kr-controller",
        "kr-flower",
        "kr-redis",
    }
    assert "ingress" not in policies["kr-beat"] and policies["kr-beat"]["policyTypes"] == ["Ingress"]
    assert policies["kr-redis"]["ingress"] == [
        {
            "ports": [{"port": 6380, "protocol": "TCP"}],
            "from": [
                {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "kr", "app.kubernetes.io/instance": "kr"}}}
            ],
        }
    ]
    assert policies["kr-flower"]["ingress"][0]["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ops"}}}
    ]
    assert by_kind(rendered["default"], "NetworkPolicy") == []


def test_pod_disruption_budgets_cover_each_pool(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["all-on"]
    budgets = {doc["metadata"]["name"]: doc["spec"] for doc in by_kind(docs, "PodDisruptionBudget")}
    assert set(budgets) == {"kr-worker-restore", "kr-worker-control"}
    for name, budget in budgets.items():
        pod_labels = named(docs, "Deployment", name)["spec"]["template"]["metadata"]["labels"]
        assert budget["maxUnavailable"] == 2
        assert budget["selector"]["matchLabels"].items() <= pod_labels.items()


def test_common_labels_and_scheduling(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["all-on"]
    for doc in docs:
        if doc["kind"] == "CustomResourceDefinition":
            continue
        labels = doc["metadata"]["labels"]
        assert labels["app.kubernetes.io/instance"] == "kr", doc["metadata"]["name"]
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["team"] == "data-platform"
    pod = named(docs, "Deployment", "kr-worker-restore")["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"node-pool": "restore"}
    assert pod["imagePullSecrets"] == [{"name": "registry-credentials"}]
    assert pod["containers"][0]["image"] == "registry.example.com/kafka-restore:0.1.0-test"
    control = named(docs, "Deployment", "kr-worker-control")["spec"]["template"]["spec"]
    assert control["nodeSelector"] == {"node-pool": "control"}
    template = named(docs, "Deployment", "kr-worker-restore")["spec"]["template"]
    assert template["metadata"]["annotations"] == {"example.com/pool": "restore"}


def test_credentials_appear_only_in_secrets(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for variant, password in (("all-on", "not-a-real-password"), ("all-on-external-redis-url", "s3cret")):
        holders = [
            f"{doc['kind']}/{doc['metadata']['name']}"
            for doc in rendered[variant]
            if password in json.dumps(doc) or base64.b64encode(password.encode()).decode() in json.dumps(doc)
        ]
        assert holders and all(holder.startswith("Secret/") for holder in holders), holders
