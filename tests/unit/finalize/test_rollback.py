from __future__ import annotations

from pathlib import Path

from restore_jobs.finalize.rollback import rollback
from restore_jobs.finalize.snapshot import load_snapshot, take_snapshot
from restore_jobs.kafka.client import Committed
from restore_jobs.storage.filesystem import FilesystemStorage
from tests.unit.finalize.fakes import FakeAdmin


def test_rollback_undoes_what_kafka_allows_and_says_what_it_cannot(tmp_path: Path):
    admin = FakeAdmin(topics={"orders": 1}, end_offsets={("orders", 0): 40})
    admin.commit("billing", {("orders", 0): 12})
    admin.commit("mixed", {("other", 0): 3})
    storage = FilesystemStorage(tmp_path)
    ref = take_snapshot(
        admin,
        storage,
        job_id="job-1",
        groups=["billing", "fresh", "mixed", "busy"],
        target_partitions=[("orders", 0), ("new-topic", 0)],
        topics_created=["new-topic"],
        retention_hours=1,
        now_ms=1000,
    )
    # what the job did: created a topic, reset every group's offsets
    admin.create_topics({"new-topic": 1})
    admin.topic_map["other"] = 1
    admin.commit("billing", {("orders", 0): 45, ("new-topic", 0): 9})
    admin.commit("fresh", {("orders", 0): 41})
    admin.commit("mixed", {("orders", 0): 44})
    admin.commit("busy", {("orders", 0): 42})
    admin.undeletable_groups.add("busy")
    snapshot = load_snapshot(storage, ref.snapshot_id)

    outcome = rollback(admin, snapshot)

    assert admin.commits["billing"][("orders", 0)] == Committed(12)
    assert "fresh" not in admin.commits
    assert admin.topics() == {"orders": 1, "other": 1}
    assert outcome.groups_restored == ["billing", "mixed"]
    assert outcome.groups_deleted == ["fresh"]
    assert outcome.topics_deleted == ["new-topic"]
    assert outcome.complete
    assert outcome.not_undone == [
        "group 'busy' had no commits before the restore, and deleting it failed (group busy is not empty): "
        "delete it once its consumers have stopped",
        "group 'mixed' keeps commits made since the snapshot on orders:0 (it had none there before)",
        "records restored into topics that existed before cannot be removed (Kafka deletes records only "
        "from the start of a partition); restored records begin at orders:0@40",
    ]
    assert outcome.summary.startswith(
        f"rollback to snapshot {ref.snapshot_id}: re-committed offsets of 2 groups, "
        "deleted 1 groups and 1 created topics; group 'busy' had no commits"
    )

    again = rollback(admin, snapshot)
    assert admin.commits["billing"][("orders", 0)] == Committed(12)
    assert admin.topics() == {"orders": 1, "other": 1}
    assert (again.groups_restored, again.groups_deleted, again.topics_deleted) == (["billing", "mixed"], [], [])
    assert again.complete
