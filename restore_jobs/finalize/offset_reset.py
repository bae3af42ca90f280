"""Consumer-group offset reset after a restore: plan it from the offset mapping, then apply it.

Which groups: ``offsetReset.consumerGroups``, plus, with ``autoConsumerGroups``, every group of the
backup's consumer-groups-snapshot.json.

Where each group's source offsets come from:
1. the backup's consumer-groups snapshot, when it has an entry for the group (the offsets the group
   had committed on the source cluster when the backup ran);
2. otherwise the group's commits in the *target* cluster on the *source* topic names (for a group
   whose commits were carried over to this cluster under the original names, e.g. by offset sync).
Only commits on topic-partitions this job restored count; others are ignored. Each commit is
translated by ``OffsetMapping.translate`` (see restore_jobs.restore.offset_mapping: a group never
skips a record it had not consumed) to a position per target topic-partition.

Strategies:
- ``auto`` commits the positions. Every group must be inactive first: a group with members, or in
  state Stable / PreparingRebalance / CompletingRebalance, stops the reset with an error naming it and
  nothing is committed. When the broker cannot describe a group (state "Unknown") we proceed with a
  warning: the commit itself is then refused by a broker that sees the group active.
- ``manual`` writes ``{backupId}/offset-reset-plan.json`` and ``{backupId}/offset-reset.sh`` (one
  kafka-consumer-groups.sh command per partition) beside the backup, and commits nothing.
- ``dry_run`` writes nothing anywhere and returns the plan for the caller to log and summarise.
"""

from __future__ import annotations

import json
import logging
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from restore_jobs.backup.consumer_groups import GroupSnapshot
from restore_jobs.kafka.client import KafkaAdmin, TopicPartition
from restore_jobs.restore.offset_mapping import OffsetMapping
from restore_jobs.spec.model import OffsetResetStrategy, RestoreSpec
from restore_jobs.storage.base import BackupStorage
from restore_jobs.storage.keys import check_name

log = logging.getLogger(__name__)

OffsetsOrigin = Literal["backup-snapshot", "target-cluster"]
ACTIVE_STATES = frozenset({"Stable", "PreparingRebalance", "CompletingRebalance"})


class OffsetResetError(Exception):
    pass


class GroupActiveError(OffsetResetError):
    """A group still has consumers; committing under them would be overwritten or refused."""


@dataclass(frozen=True)
class PartitionReset:
    topic: str
    partition: int
    target_offset: int
    # The source commit that decided the position (the smallest, when several feed this partition).
    source_topic: str
    source_partition: int
    source_offset: int


@dataclass
class GroupReset:
    group_id: str
    origin: OffsetsOrigin
    partitions: list[PartitionReset] = field(default_factory=list)

    def offsets(self) -> dict[TopicPartition, int]:
        return {(p.topic, p.partition): p.target_offset for p in self.partitions}


@dataclass
class ResetPlan:
    groups: list[GroupReset]
    bootstrap_servers: list[str] = field(default_factory=list)

    @property
    def partition_count(self) -> int:
        return sum(len(g.partitions) for g in self.groups)

    @property
    def summary(self) -> str:
        return f"{self.partition_count} partition offsets for {len(self.groups)} consumer groups"

    def details(self, limit: int = 20) -> str:
        """The plan itself, for a status message: ``group: topic[p]->offset, ...``."""
        entries = [
            f"{g.group_id}: {p.topic}[{p.partition}]->{p.target_offset}" for g in self.groups for p in g.partitions
        ]
        more = f", and {len(entries) - limit} more" if len(entries) > limit else ""
        return ", ".join(entries[:limit]) + more

    def to_json(self) -> dict[str, Any]:
        return {
            "bootstrap_servers": self.bootstrap_servers,
            "groups": [
                {
                    "group_id": g.group_id,
                    "source_offsets_from": g.origin,
                    "partition_count": len(g.partitions),
                    "partitions": [
                        {
                            "topic": p.topic,
                            "partition": p.partition,
                            "target_offset": p.target_offset,
                            "source_topic": p.source_topic,
                            "source_partition": p.source_partition,
                            "source_offset": p.source_offset,
                        }
                        for p in g.partitions
                    ],
                }
                for g in self.groups
            ],
        }

    def to_shell_script(self, bootstrap: str | Sequence[str] | None = None) -> str:
        """A script an operator reviews and runs; every name is shell-quoted."""
        servers = bootstrap if isinstance(bootstrap, str) else ",".join(bootstrap or self.bootstrap_servers)
        lines = [
            "#!/bin/sh",
            "# Consumer-group offset reset written by kafka-restore. Stop the groups' consumers first.",
            "set -e",
        ]
        for g in self.groups:
            for p in g.partitions:
                lines.append(
                    f"# {json.dumps(p.source_topic)}:{p.source_partition} committed {p.source_offset}"
                    f" -> {json.dumps(p.topic)}:{p.partition} offset {p.target_offset}"
                )
                lines.append(
                    shlex.join(
                        [
                            "kafka-consumer-groups.sh",
                            "--bootstrap-server",
                            servers,
                            "--group",
                            g.group_id,
                            "--reset-offsets",
                            "--topic",
                            f"{p.topic}:{p.partition}",
                            "--to-offset",
                            str(p.target_offset),
                            "--execute",
                        ]
                    )
                )
        return "\n".join(lines) + "\n"


@dataclass
class ResetOutcome:
    strategy: OffsetResetStrategy
    plan: ResetPlan
    committed_groups: list[str] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def summary(self) -> str:
        """One line for the job's status message."""
        if self.strategy == "auto":
            return f"committed {self.plan.summary}"
        if self.strategy == "manual":
            return f"planned {self.plan.summary} (nothing committed); plan at {', '.join(self.written)}"
        return f"dry run: would reset {self.plan.summary}: {self.plan.details()}"


def plan_reset(
    spec: RestoreSpec, mapping: OffsetMapping, admin: KafkaAdmin, group_snapshot: GroupSnapshot | None
) -> ResetPlan:
    reset = spec.offset_reset
    snapshot_groups = group_snapshot.groups if group_snapshot is not None else {}
    names = [
        *(reset.consumer_groups if reset else []),
        *(snapshot_groups if spec.auto_consumer_groups else []),
    ]
    restored = mapping.source_partitions()
    groups: list[GroupReset] = []
    for group_id in dict.fromkeys(names):
        origin: OffsetsOrigin
        if group_id in snapshot_groups:
            origin, commits = "backup-snapshot", snapshot_groups[group_id]
        else:
            origin = "target-cluster"
            commits = {tp: c.offset for tp, c in admin.committed(group_id).items()}
        relevant = {tp: off for tp, off in commits.items() if tp in restored and off >= 0}
        positions = mapping.resume_positions(relevant)
        groups.append(
            GroupReset(
                group_id,
                origin,
                [
                    PartitionReset(tp[0], tp[1], pos.offset, pos.source_topic, pos.source_partition, pos.source_offset)
                    for tp, pos in sorted(positions.items())
                ],
            )
        )
        log.info(
            "offset reset planned",
            extra={
                "group": group_id,
                "origin": origin,
                "commits": len(relevant),
                "partitions": len(positions),
            },
        )
    return ResetPlan(groups, list(spec.kafka_cluster.bootstrap_servers))


def apply_reset(
    plan: ResetPlan,
    admin: KafkaAdmin,
    strategy: OffsetResetStrategy,
    storage: BackupStorage | None = None,
    backup_id: str | None = None,
) -> ResetOutcome:
    outcome = ResetOutcome(strategy, plan)
    if strategy == "dry_run":
        return outcome
    if strategy == "manual":
        if storage is None or not backup_id:
            raise OffsetResetError("offsetReset.strategy manual: needs the backup storage and backup id")
        backup_dir = check_name(backup_id, "backup id")
        for key, data in (
            (f"{backup_dir}/offset-reset-plan.json", json.dumps(plan.to_json(), indent=2).encode()),
            (f"{backup_dir}/offset-reset.sh", plan.to_shell_script().encode()),
        ):
            storage.write(key, data)
            outcome.written.append(storage.describe(key))
        return outcome
    if strategy != "auto":
        raise OffsetResetError(f"offsetReset.strategy: unknown strategy {strategy!r}")
    targets = [g for g in plan.groups if g.partitions]
    outcome.warnings.extend(_check_inactive(admin, [g.group_id for g in targets]))
    for g in targets:
        admin.alter_offsets(g.group_id, g.offsets())
        outcome.committed_groups.append(g.group_id)
        log.info("offsets reset", extra={"group": g.group_id, "partitions": len(g.partitions)})
    return outcome


def _check_inactive(admin: KafkaAdmin, group_ids: Sequence[str]) -> list[str]:
    """All-or-nothing: refuse before committing anything. Returns warnings for undescribable groups."""
    warnings: list[str] = []
    for group_id in group_ids:
        info = admin.describe_group(group_id)
        if info.state == "Unknown":
            warning = f"consumer group {group_id!r}: the broker cannot describe it; resetting without the check"
            log.warning(warning, extra={"group": group_id})
            warnings.append(warning)
        elif (info.members or 0) > 0 or info.state in ACTIVE_STATES:
            raise GroupActiveError(
                f"consumer group {group_id!r} is active (state {info.state}, {info.members} members): "
                "stop its consumers and retry, or use offsetReset.strategy manual"
            )
    return warnings
