"""One restore to put under a fault: a sample backup, its KafkaRestore file, and the check that the
target holds exactly the backup's records (read_committed applied from the log itself)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from restore_jobs.backup.sample import SampleBackup, write_sample_backup
from restore_jobs.storage.base import BackupStorage
from restore_jobs.storage.filesystem import FilesystemStorage
from tests.e2e.test_restore_e2e import restore_yaml
from tests.helpers import assert_restored, backup_records, committed_log

BACKUP_ID = "b1"


@dataclass
class Scenario:
    topic: str
    storage: BackupStorage
    storage_spec: dict[str, Any]
    total: int

    @classmethod
    def filesystem(cls, root: Path, topic: str, partitions: int, records: int) -> Scenario:
        storage = FilesystemStorage(root)
        return cls.write(topic, storage, {"storageType": "filesystem", "filesystem": {"path": str(root)}},
                         partitions, records)

    @classmethod
    def write(cls, topic: str, storage: BackupStorage, storage_spec: dict[str, Any], partitions: int,
              records: int) -> Scenario:
        write_sample_backup(storage, BACKUP_ID, SampleBackup(topics={topic: partitions}, records_per_partition=records,
                                                             segment_max_records=100))
        return cls(topic, storage, storage_spec, partitions * records)

    def spec_file(self, path: Path, bootstrap: str, records_per_sec: int = 0, **spec: Any) -> Path:
        """Batches of 20 records; ``records_per_sec`` slows the whole job so faults land mid-unit."""
        spec.setdefault("produceBatchSize", 20)
        if records_per_sec:
            spec.setdefault("rateLimiting", {}).setdefault("recordsPerSec", records_per_sec)
        return restore_yaml(path, f"rel-{self.topic}", bootstrap, self.storage_spec, BACKUP_ID, **spec)

    def assert_exact(self, bootstrap: str) -> int:
        """Every backup record in the target once, in order: 0 lost, 0 duplicated."""
        expected = backup_records(self.storage, BACKUP_ID, self.topic)
        return assert_restored(expected, committed_log(bootstrap, self.topic))
