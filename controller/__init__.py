"""Thin Kubernetes controller for KafkaRestore: validate, submit, mirror job state into status,
cancel on delete. All restore logic lives in ``restore_jobs``; see ``controller.main``."""
