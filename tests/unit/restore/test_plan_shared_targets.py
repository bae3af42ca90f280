"""The planner marks units whose target partitions other units write to as well: those keep
transactions of produceBatchSize records (see ``UnitRunner.min_batch_bytes``)."""

from __future__ import annotations

import pytest

from restore_jobs.backup.manifest import load_manifest
from restore_jobs.backup.sample import SampleBackup, write_sample_backup
from restore_jobs.restore.plan import plan_restore
from restore_jobs.spec import model
from restore_jobs.storage.filesystem import FilesystemStorage


@pytest.fixture
def manifest(tmp_path):
    storage = FilesystemStorage(tmp_path)
    write_sample_backup(storage, "b1", SampleBackup(topics={"a": 2, "b": 1}, records_per_partition=5))
    return load_manifest(storage, "b1")


def shared(manifest, **spec) -> dict[str, bool]:
    restore = model.RestoreSpec(model.BackupRef(backup_id="b1"), model.KafkaCluster(["k:9092"]), create_topics=True,
                                **spec)
    return {u.name: u.shares_target for u in plan_restore(restore, manifest, {}).units}


def test_one_to_one_units_have_their_partitions_to_themselves(manifest):
    assert shared(manifest) == {"a[0]": False, "a[1]": False, "b[0]": False}


def test_repartitioned_units_share_every_target_partition(manifest):
    got = shared(manifest, repartitioning={"a": model.Repartitioning(target_partitions=3)})
    assert got == {"a[0]": True, "a[1]": True, "b[0]": False}


def test_partitions_mapped_onto_one_share_it(manifest):
    assert shared(manifest, topics=["a"], partition_mapping={1: 0}) == {"a[0]": True, "a[1]": True}


def test_topics_mapped_onto_one_share_its_partitions(manifest):
    assert shared(manifest, topic_mapping={"b": "a"}) == {"a[0]": True, "a[1]": False, "b[0]": True}


def test_the_flag_survives_the_task_payload(manifest):
    restore = model.RestoreSpec(model.BackupRef(backup_id="b1"), model.KafkaCluster(["k:9092"]), create_topics=True,
                                topic_mapping={"b": "a"})
    units = plan_restore(restore, manifest, {}).units
    assert [type(u).from_dict(u.to_dict()) for u in units] == units
    old_payload = {k: v for k, v in units[0].to_dict().items() if k != "shares_target"}
    assert type(units[0]).from_dict(old_payload).shares_target is False  # jobs queued before the field
