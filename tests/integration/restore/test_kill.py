"""Exactly once under SIGKILL: a unit killed at different points and run again leaves every
record in the target once, in order, for a read_committed consumer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from restore_jobs.backup.sample import SampleBackup, write_sample_backup
from restore_jobs.kafka.factory import open_admin
from restore_jobs.storage.filesystem import FilesystemStorage
from tests.helpers import assert_restored, backup_records, cluster, committed_log

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]


def start_unit(
    bootstrap: str, root: Path, job_id: str, topic: str, client: str, min_bytes: int = 0
) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.restore.unit_process", bootstrap, str(root), job_id, topic, client,
         str(min_bytes)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )


def kill_at(proc: subprocess.Popen, marker: str) -> bool:
    """SIGKILL the unit as soon as it prints ``marker``. False if it finished first."""
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip() == marker:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
            return True
    proc.wait(10)
    return False


@pytest.mark.parametrize(
    ("client", "grown"),
    [("confluent", False), ("kafka-python", False), ("confluent", True)],
    ids=["confluent", "kafka-python", "confluent-grown-transactions"],
)
def test_unit_killed_at_several_points_then_rerun_writes_each_record_once(bootstrap, tmp_path, unique, client, grown):
    root = tmp_path / "backups"
    sample = SampleBackup(topics={unique: 1}, records_per_partition=300, nulls=client == "confluent")
    write_sample_backup(FilesystemStorage(root), "b1", sample)
    # Grown: transactions of two or more batches of 10, as a minimum transaction size makes them.
    min_bytes = sum(r.size for r in backup_records(FilesystemStorage(root), "b1", unique)[0][:15]) if grown else 0
    admin = open_admin(cluster(bootstrap), client=client)
    admin.create_topics({unique: 1})
    admin.close()
    job_id = f"kill-{unique}"
    # Mid-batch (records sent, transaction open) and between commits, at several depths; a run
    # counts its own transactions, and grown ones are 15 in all.
    markers = ("BEGIN 2", "COMMIT 2", "BEGIN 3", "BEGIN 3", "COMMIT 2") if grown else \
        ("BEGIN 2", "COMMIT 3", "BEGIN 6", "BEGIN 6", "COMMIT 9")
    for marker in markers:
        assert kill_at(start_unit(bootstrap, root, job_id, unique, client, min_bytes), marker), \
            f"unit finished before {marker}"
    final = start_unit(bootstrap, root, job_id, unique, client, min_bytes)
    out, _ = final.communicate(timeout=120)
    assert final.returncode == 0 and "DONE 300" in out, out
    expected = backup_records(FilesystemStorage(root), "b1", unique)
    # Kafka's read_committed view (from the log: Tansu serves aborted records to consumers).
    assert assert_restored(expected, committed_log(bootstrap, unique)) == 300
    # And once more after success: nothing new.
    again = start_unit(bootstrap, root, job_id, unique, client, min_bytes)
    out, _ = again.communicate(timeout=60)
    assert "DONE 300" in out and "BEGIN" not in out
    assert sum(len(r) for r in committed_log(bootstrap, unique).values()) == 300
