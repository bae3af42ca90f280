"""Prometheus metrics of the controller (process-wide, served on /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

RECONCILES = Counter("kafka_restore_controller_reconciles_total", "Reconcile passes by result", ["result"])
STATUS_PATCHES = Counter("kafka_restore_controller_status_patches_total", "Status subresource patches sent")
SUBMISSIONS = Counter("kafka_restore_controller_job_submissions_total", "Jobs submitted")
ERRORS = Counter("kafka_restore_controller_errors_total", "Errors by where they happened", ["where"])
JOBS = Gauge("kafka_restore_controller_restores", "KafkaRestores by status phase", ["phase"])
LEADER = Gauge("kafka_restore_controller_leader", "1 while this replica holds the lease")
