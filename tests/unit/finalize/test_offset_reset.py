from __future__ import annotations

import json
from pathlib import Path

import pytest

from restore_jobs.backup.consumer_groups import GroupSnapshot
from restore_jobs.finalize.offset_reset import (
    GroupActiveError,
    GroupReset,
    PartitionReset,
    ResetPlan,
    apply_reset,
    plan_reset,
)
from restore_jobs.kafka.client import GroupInfo
from restore_jobs.restore.offset_mapping import OffsetMapping, build_ranges
from restore_jobs.spec.model import BackupRef, KafkaCluster, OffsetReset, Pitr, RestoreSpec
from restore_jobs.storage.filesystem import FilesystemStorage
from tests.unit.finalize.fakes import FakeAdmin


def make_spec(**kw) -> RestoreSpec:
    return RestoreSpec(
        backup_ref=BackupRef(name="b", backup_id="bk-1"),
        kafka_cluster=KafkaCluster(bootstrap_servers=["k1:9092", "k2:9092"]),
        topics=["orders", "payments"],
        topic_mapping={"orders": "orders-restored"},
        partition_mapping={0: 1},
        pitr=Pitr(start_timestamp=2000, end_timestamp=None),
        **kw,
    )


def restored_mapping() -> OffsetMapping:
    """orders/0 -> orders-restored/1, which held 50 records already. Sources 10..19 fell outside the
    PITR window; 0..9 went to 50..59 and 20..29 to 60..69."""
    pairs = [(i, 50 + i) for i in range(10)] + [(20 + i, 60 + i) for i in range(10)]
    return OffsetMapping(build_ranges([("orders", 0, s, 2000 + s, "orders-restored", 1, t) for s, t in pairs]))


@pytest.fixture
def plan() -> ResetPlan:
    spec = make_spec(
        offset_reset=OffsetReset(enabled=True, consumer_groups=["billing", "audit"], strategy="auto"),
        auto_consumer_groups=True,
    )
    snapshot = GroupSnapshot(
        snapshot_time=1,
        groups={
            # 15 was committed on a record the PITR window left out: resume at the first restored after it
            "audit": {("orders", 0): 15, ("payments", 0): 7},  # payments restored nothing: ignored
            "reports": {("orders", 0): 3, ("clicks", 0): 99},  # clicks not restored: ignored
        },
    )
    admin = FakeAdmin()
    # billing is not in the backup's snapshot: its commits on the source names in the target cluster count
    admin.commit("billing", {("orders", 0): 25, ("orders-restored", 1): 3})
    return plan_reset(spec, restored_mapping(), admin, snapshot)


def test_plan_remaps_topics_and_partitions_through_the_mapping(plan: ResetPlan):
    assert plan.groups == [
        GroupReset("billing", "target-cluster", [PartitionReset("orders-restored", 1, 65, "orders", 0, 25)]),
        GroupReset("audit", "backup-snapshot", [PartitionReset("orders-restored", 1, 60, "orders", 0, 15)]),
        GroupReset("reports", "backup-snapshot", [PartitionReset("orders-restored", 1, 53, "orders", 0, 3)]),
    ]
    assert plan.bootstrap_servers == ["k1:9092", "k2:9092"]
    assert plan.summary == "3 partition offsets for 3 consumer groups"


def test_without_auto_consumer_groups_only_listed_groups():
    spec = make_spec(offset_reset=OffsetReset(enabled=True, consumer_groups=["audit"]))
    snapshot = GroupSnapshot(1, {"audit": {("orders", 0): 0}, "reports": {("orders", 0): 3}})
    got = plan_reset(spec, restored_mapping(), FakeAdmin(), snapshot)
    assert [(g.group_id, g.offsets()) for g in got.groups] == [("audit", {("orders-restored", 1): 50})]


def test_plan_json(plan: ResetPlan):
    doc = json.loads(json.dumps(plan.to_json()))
    assert doc["bootstrap_servers"] == ["k1:9092", "k2:9092"]
    assert doc["groups"][1] == {
        "group_id": "audit",
        "source_offsets_from": "backup-snapshot",
        "partition_count": 1,
        "partitions": [
            {
                "topic": "orders-restored",
                "partition": 1,
                "target_offset": 60,
                "source_topic": "orders",
                "source_partition": 0,
                "source_offset": 15,
            }
        ],
    }


def test_shell_script_quotes_every_name():
    plan = ResetPlan(
        [
            GroupReset("team a's group", "backup-snapshot", [PartitionReset("orders-r", 1, 60, "orders", 0, 15)]),
            GroupReset("g2", "target-cluster", [PartitionReset("orders-r", 0, 7, "orders", 0, 7)]),
            GroupReset("g;rm -rf\n/", "target-cluster", [PartitionReset("t", 2, 0, "t", 2, 0)]),
        ],
        ["k1:9092", "k2:9092"],
    )
    assert plan.to_shell_script() == (
        "#!/bin/sh\n"
        "# Consumer-group offset reset written by kafka-restore. Stop the groups' consumers first.\n"
        "set -e\n"
        '# "orders":0 committed 15 -> "orders-r":1 offset 60\n'
        "kafka-consumer-groups.sh --bootstrap-server k1:9092,k2:9092 --group 'team a'\"'\"'s group' "
        "--reset-offsets --topic orders-r:1 --to-offset 60 --execute\n"
        '# "orders":0 committed 7 -> "orders-r":0 offset 7\n'
        "kafka-consumer-groups.sh --bootstrap-server k1:9092,k2:9092 --group g2 "
        "--reset-offsets --topic orders-r:0 --to-offset 7 --execute\n"
        '# "t":2 committed 0 -> "t":2 offset 0\n'
        "kafka-consumer-groups.sh --bootstrap-server k1:9092,k2:9092 --group 'g;rm -rf\n/' "
        "--reset-offsets --topic t:2 --to-offset 0 --execute\n"
    )
    assert "--bootstrap-server other:1 " in plan.to_shell_script("other:1")


def test_auto_commits_translated_offsets(plan: ResetPlan):
    admin = FakeAdmin()
    outcome = apply_reset(plan, admin, "auto")
    assert admin.altered == [
        ("billing", {("orders-restored", 1): 65}),
        ("audit", {("orders-restored", 1): 60}),
        ("reports", {("orders-restored", 1): 53}),
    ]
    assert outcome.committed_groups == ["billing", "audit", "reports"]
    assert outcome.summary == "committed 3 partition offsets for 3 consumer groups"


@pytest.mark.parametrize(
    "info",
    [GroupInfo("audit", "Stable", 2), GroupInfo("audit", "PreparingRebalance", None), GroupInfo("audit", "Empty", 1)],
)
def test_auto_refuses_an_active_group_before_committing_anything(plan: ResetPlan, info: GroupInfo):
    admin = FakeAdmin()
    admin.infos["audit"] = info
    with pytest.raises(GroupActiveError, match=r"consumer group 'audit' is active \(state " + info.state):
        apply_reset(plan, admin, "auto")
    assert admin.altered == []


def test_auto_proceeds_with_a_warning_when_the_broker_cannot_describe(plan: ResetPlan):
    admin = FakeAdmin()
    admin.infos["reports"] = GroupInfo("reports", "Unknown", None)
    outcome = apply_reset(plan, admin, "auto")
    assert len(admin.altered) == 3
    assert outcome.warnings == ["consumer group 'reports': the broker cannot describe it; resetting without the check"]


def test_manual_writes_plan_and_script_and_commits_nothing(plan: ResetPlan, tmp_path: Path):
    admin = FakeAdmin()
    storage = FilesystemStorage(tmp_path)
    outcome = apply_reset(plan, admin, "manual", storage, "bk-1")
    assert admin.altered == []
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()) == [
        "bk-1/offset-reset-plan.json",
        "bk-1/offset-reset.sh",
    ]
    assert json.loads((tmp_path / "bk-1/offset-reset-plan.json").read_text()) == plan.to_json()
    assert (tmp_path / "bk-1/offset-reset.sh").read_text() == plan.to_shell_script()
    assert outcome.written == [
        storage.describe("bk-1/offset-reset-plan.json"),
        storage.describe("bk-1/offset-reset.sh"),
    ]


def test_dry_run_writes_and_commits_nothing(plan: ResetPlan, tmp_path: Path):
    admin = FakeAdmin()
    outcome = apply_reset(plan, admin, "dry_run", FilesystemStorage(tmp_path), "bk-1")
    assert admin.altered == []
    assert list(tmp_path.iterdir()) == []
    assert outcome.plan is plan
    assert outcome.summary == (
        "dry run: would reset 3 partition offsets for 3 consumer groups: "
        "billing: orders-restored[1]->65, audit: orders-restored[1]->60, reports: orders-restored[1]->53"
    )
