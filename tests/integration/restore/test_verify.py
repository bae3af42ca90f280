"""The verifier tells an exact restore from one with extra or missing records."""

from __future__ import annotations

import pytest
from confluent_kafka import Producer

from restore_jobs.backup.sample import SampleBackup, write_sample_backup
from restore_jobs.jobs.local import run_local
from restore_jobs.jobs.verify import verify_target
from restore_jobs.kafka.factory import open_admin, open_reader
from tests.helpers import cluster
from tests.integration.restore.test_engine import make_spec

pytestmark = pytest.mark.integration


def verify(bootstrap, storage, spec):
    admin, reader = open_admin(cluster(bootstrap)), open_reader(cluster(bootstrap))
    try:
        return verify_target(spec, storage, "b1", admin, reader, idle_timeout_s=1.0, patience_s=2.0)
    finally:
        reader.close()
        admin.close()


def test_verify_accepts_an_exact_restore_and_flags_extra_and_missing_records(bootstrap, storage, unique):
    write_sample_backup(storage, "b1", SampleBackup(topics={unique: 2}, records_per_partition=30))
    spec = make_spec(bootstrap, storage)
    run_local(spec, storage, "b1")
    report = verify(bootstrap, storage, spec)
    assert report.ok and report.found == report.expected == 60, report.summary

    extra = Producer({"bootstrap.servers": bootstrap})
    extra.produce(unique, value=b"not from the backup", partition=1)
    extra.flush(10)
    report = verify(bootstrap, storage, spec)
    bad = [c for c in report.checks if not c.ok]
    assert [(c.partition, c.missing, c.unexpected) for c in bad] == [(1, 0, 1)], report.summary

    empty = f"{unique}-empty"
    admin = open_admin(cluster(bootstrap))
    admin.create_topics({empty: 2})
    admin.close()
    report = verify(bootstrap, storage, make_spec(bootstrap, storage, topic_mapping={unique: empty}))
    assert not report.ok and sum(c.missing for c in report.checks) == 60
    assert "NOT verified" in report.summary
