"""The KafkaRestore resource: load and validate it, dump it back, and describe it as a CRD."""

from restore_jobs.spec.codec import (
    dump_resource,
    dump_spec,
    dump_status,
    load_resource,
    load_spec,
    load_status,
)
from restore_jobs.spec.crd import crd_manifest, crd_yaml
from restore_jobs.spec.errors import FieldError, SpecFileError, SpecValidationError
from restore_jobs.spec.yaml_io import dump_yaml, read_yaml_documents

__all__ = [
    "FieldError",
    "SpecFileError",
    "SpecValidationError",
    "crd_manifest",
    "crd_yaml",
    "dump_resource",
    "dump_spec",
    "dump_status",
    "dump_yaml",
    "load_resource",
    "load_spec",
    "load_status",
    "read_yaml_documents",
]
