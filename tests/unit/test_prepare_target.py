"""prepare_target never purges a resubmitted job: its units' committed records would be lost."""

from __future__ import annotations

from restore_jobs.jobs.steps import prepare_target
from restore_jobs.restore.checkpoint import checkpoint_group
from restore_jobs.restore.plan import RestorePlan, UnitPlan
from restore_jobs.spec import model
from tests.unit.finalize.fakes import FakeAdmin as _FakeAdmin


class FakeAdmin(_FakeAdmin):
    def __init__(self, topics: dict[str, int]):
        super().__init__(topics)
        self.deleted_records: list[list[tuple[str, int]]] = []
        self.created: list[tuple[dict[str, int], int | None]] = []

    def delete_records(self, partitions):
        self.deleted_records.append(list(partitions))

    def create_topics(self, topics, replication_factor=None):
        self.created.append((dict(topics), replication_factor))
        super().create_topics(topics, replication_factor)


def _spec() -> model.RestoreSpec:
    return model.RestoreSpec(backup_ref=model.BackupRef(backup_id="b"), kafka_cluster=model.KafkaCluster(["k:9092"]),
                             purge_topics=True)


def test_purges_existing_target_partitions_of_a_new_job_only():
    admin = FakeAdmin({"orders": 2})
    plan = RestorePlan("b", [], {"new": 1}, [("orders", 0), ("orders", 1), ("new", 0)])
    prepare_target(_spec(), plan, admin, "job-1")
    assert admin.deleted_records == [[("orders", 0), ("orders", 1)]]
    assert admin.created == [({"new": 1}, None)]


def _unit(topic: str) -> UnitPlan:
    return UnitPlan(topic, 0, topic, 0, None, 1, ())


def test_resubmitted_job_with_checkpoints_is_not_purged():
    admin = FakeAdmin({"orders": 1})
    admin.alter_offsets(checkpoint_group("job-1", "orders", 0), {("orders", 0): 10})
    prepare_target(_spec(), RestorePlan("b", [_unit("orders")], {}, [("orders", 0)]), admin, "job-1")
    assert admin.deleted_records == []


def test_checkpoints_of_other_topics_of_the_same_job_id_do_not_block_the_purge():
    admin = FakeAdmin({"orders": 1})
    admin.alter_offsets(checkpoint_group("job-1", "payments", 0), {("orders", 0): 10})
    prepare_target(_spec(), RestorePlan("b", [_unit("orders")], {}, [("orders", 0)]), admin, "job-1")
    assert admin.deleted_records == [[("orders", 0)]]
