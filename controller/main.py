"""``kafka-restore-controller``: the thin Kubernetes controller for KafkaRestore resources.

What it does: watches ``kafkarestores.kafka.oso.sh/v1alpha1`` (all namespaces, or the
comma-separated ``KAFKA_RESTORE_WATCH_NAMESPACES``), validates each new generation with
``restore_jobs.spec.load_resource``, submits it through ``restore_jobs.jobs.api`` and mirrors the
job's state into ``status`` (merge patches of the status subresource, at most one per resource per
``KAFKA_RESTORE_STATUS_INTERVAL`` seconds except phase changes, none when nothing changed) with
Ready / Progressing / Succeeded conditions. It holds no restore logic.

Policies:
- Submission: the status records jobId + observedGeneration + phase Pending *before* submit;
  a status with a jobId re-attaches to its job and is never submitted under a new id, so a
  restarted controller (it lists everything first) picks up running jobs where they are.
- Spec change while a job runs: the job continues; Progressing gets reason SpecChangeIgnored;
  the new generation is validated and submitted (new job id) when the running job ends.
- ``backupRef.name`` without ``backupRef.storage``: the storage comes from that KafkaBackup's
  ``spec.storage`` (in ``backupRef.namespace`` or the restore's namespace). A missing KafkaBackup
  fails the generation with reason BackupNotFound and is looked up again on every resync; when it
  appears, the restore is submitted.
- Deletion: finalizer ``kafka.oso.sh/restore-job`` (added before submitting). A running job is
  cancelled; the finalizer goes once the job is terminal or after ``KAFKA_RESTORE_CANCEL_TIMEOUT``
  seconds (default 300, then a CancelTimeout warning event).
- Leader election on the Lease ``KAFKA_RESTORE_LEASE_NAME`` in ``KAFKA_RESTORE_LEASE_NAMESPACE``
  (default POD_NAMESPACE, else "default"), identity POD_NAME or hostname-pid;
  ``KAFKA_RESTORE_LEADER_ELECTION=false`` disables it. Only the leader writes anything.
- Secrets: the controller never reads Secret values. It passes the spec's references (secret
  name + key) to the job; workers resolve them at use, through the Secret API in-cluster or from
  files mounted under ``KAFKA_RESTORE_SECRETS_DIR``.

HTTP on ``KAFKA_RESTORE_CONTROLLER_HTTP_PORT`` (default 8080): /healthz, /readyz, /metrics.
SIGTERM/SIGINT stop the watches and release the lease.
"""

from __future__ import annotations

import logging
import os
import signal
import threading

from kubernetes import client, config

from controller import health
from controller.backend import JobBackend
from controller.config import Settings
from controller.manager import RestoreController
from restore_jobs import logs

log = logging.getLogger(__name__)


def load_api_client() -> client.ApiClient:
    """In-cluster service account when there is one, else KUBECONFIG / ~/.kube/config."""
    try:
        config.load_incluster_config()
    except config.ConfigException:
        # The client reads KUBECONFIG at import time; read it now so a later setting counts.
        config.load_kube_config(config_file=os.environ.get("KUBECONFIG"))
    return client.ApiClient()


def run(settings: Settings, api_client: client.ApiClient, stop: threading.Event,
        backend: JobBackend | None = None) -> None:
    """Serve until ``stop`` is set, then shut down cleanly (release the lease)."""
    controller = RestoreController(api_client, settings, backend)
    server = health.serve(settings.http_port, healthy=controller.healthy, ready=controller.ready)
    log.info("controller starting", extra={"namespaces": ",".join(settings.watch_namespaces) or "*",
                                           "identity": settings.leader.identity,
                                           "port": server.server_address[1]})
    controller.start()
    try:
        stop.wait()
    finally:
        controller.stop()
        server.shutdown()
        server.server_close()
        log.info("controller stopped")


def main() -> int:
    logs.configure()
    settings = Settings.from_env()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    run(settings, load_api_client(), stop)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
