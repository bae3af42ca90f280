"""Every restore option against the real Tansu broker, for both Kafka clients, checked by consuming
the target (keys, values, headers, timestamps, order)."""

from __future__ import annotations

import time
from collections import Counter, defaultdict

import pytest

from restore_jobs.backup.sample import SampleBackup, write_sample_backup
from restore_jobs.jobs.local import run_local
from restore_jobs.kafka.client import KafkaError
from restore_jobs.kafka.factory import open_admin
from restore_jobs.kafka.partitioner import murmur2_partition
from restore_jobs.restore.plan import PlanError
from restore_jobs.spec import model
from restore_jobs.storage.filesystem import FilesystemStorage
from tests.helpers import as_tuple, assert_restored, backup_records, cluster, consume_topic

pytestmark = pytest.mark.integration

CLIENTS = ["confluent", "kafka-python"]


@pytest.fixture(params=CLIENTS)
def client(request) -> str:
    return request.param


def make_spec(bootstrap: str, storage: FilesystemStorage, **overrides) -> model.RestoreSpec:
    values = {
        "backup_ref": model.BackupRef(
            backup_id="b1",
            storage=model.Storage("filesystem", filesystem=model.FilesystemStorage(str(storage.root))),
        ),
        "kafka_cluster": model.KafkaCluster([bootstrap]),
        "create_topics": True,
    }
    values.update(overrides)
    return model.RestoreSpec(**values)


def backup(storage, client: str, topics: dict[str, int], n: int = 60, **kw) -> SampleBackup:
    sample = SampleBackup(topics=topics, records_per_partition=n, nulls=client == "confluent", **kw)
    write_sample_backup(storage, "b1", sample)
    return sample


def test_plain_restore_preserves_keys_values_headers_timestamps_order(bootstrap, storage, client, unique):
    backup(storage, client, {unique: 3})
    result = run_local(make_spec(bootstrap, storage), storage, "b1", client=client)
    expected = backup_records(storage, "b1", unique)
    assert assert_restored(expected, consume_topic(bootstrap, unique, client)) == 180
    assert result.records == 180
    assert result.bytes == sum(r.size for rs in expected.values() for r in rs)
    assert sum(c.segments_processed for c in result.units.values()) == 3 * 2  # 60 records, 40 per segment


def test_topics_selects_a_subset(bootstrap, storage, client, unique):
    backup(storage, client, {f"{unique}-a": 1, f"{unique}-b": 1}, n=10)
    run_local(make_spec(bootstrap, storage, topics=[f"{unique}-a"]), storage, "b1", client=client)
    admin = open_admin(cluster(bootstrap), client=client)
    try:
        topics = admin.topics()
    finally:
        admin.close()
    assert f"{unique}-a" in topics and f"{unique}-b" not in topics


def test_unknown_topic_is_refused_before_anything_is_written(bootstrap, storage, client, unique):
    backup(storage, client, {unique: 1}, n=5)
    with pytest.raises(PlanError, match="nope"):
        run_local(make_spec(bootstrap, storage, topics=["nope"]), storage, "b1", client=client)


def test_topic_mapping_renames(bootstrap, storage, client, unique):
    backup(storage, client, {unique: 2}, n=15)
    target = f"{unique}-renamed"
    run_local(make_spec(bootstrap, storage, topic_mapping={unique: target}), storage, "b1", client=client)
    assert_restored(backup_records(storage, "b1", unique), consume_topic(bootstrap, target, client))


def test_partition_mapping_moves_partitions(bootstrap, storage, client, unique):
    backup(storage, client, {unique: 2}, n=15)
    mapping = {0: 2, 1: 0}
    run_local(make_spec(bootstrap, storage, partition_mapping=mapping), storage, "b1", client=client)
    actual = consume_topic(bootstrap, unique, client)
    assert len(actual) == 3  # created with max(mapped) + 1 partitions
    assert_restored(backup_records(storage, "b1", unique), actual, place=lambda p, rec: mapping[p])


def _per_source_order(actual, expected):
    """Within each target partition, the records of each source partition keep their source order."""
    position = {as_tuple(r): (p, i) for p, rs in expected.items() for i, r in enumerate(rs)}
    for records in actual.values():
        last: dict[int, int] = {}
        for rec in records:
            src, index = position[as_tuple(rec)]
            assert index > last.get(src, -1)
            last[src] = index


def test_repartitioning_murmur2_places_keyed_records_like_kafka(bootstrap, storage, client, unique):
    backup(storage, client, {unique: 2}, n=40)
    spec = make_spec(bootstrap, storage, repartitioning={unique: model.Repartitioning(5, "murmur2")})
    run_local(spec, storage, "b1", client=client)
    actual = consume_topic(bootstrap, unique, client)
    expected = backup_records(storage, "b1", unique)
    assert len(actual) == 5
    got = Counter(as_tuple(r) for rs in actual.values() for r in rs)
    assert got == Counter(as_tuple(r) for rs in expected.values() for r in rs)
    for partition, records in actual.items():
        for rec in records:
            if rec.key is not None:
                assert partition == murmur2_partition(rec.key, 5)
    null_keyed = [p for p, rs in actual.items() for r in rs if r.key is None]
    assert len(set(null_keyed)) > 1  # null keys are spread, not piled on one partition
    _per_source_order(actual, expected)


def test_repartitioning_automatic_round_robins_every_record(bootstrap, storage, client, unique):
    backup(storage, client, {unique: 1}, n=40)
    spec = make_spec(bootstrap, storage, repartitioning={unique: model.Repartitioning(4, "automatic")})
    run_local(spec, storage, "b1", client=client)
    actual = consume_topic(bootstrap, unique, client)
    assert sorted(len(rs) for rs in actual.values()) == [10, 10, 10, 10]
    _per_source_order(actual, backup_records(storage, "b1", unique))


def test_point_in_time_window_is_inclusive_and_exact(bootstrap, storage, client, unique):
    sample = backup(storage, client, {unique: 2}, n=60)
    start = sample.base_timestamp + 10 * sample.step_ms
    end = sample.base_timestamp + 30 * sample.step_ms
    spec = make_spec(bootstrap, storage, pitr=model.Pitr(start_timestamp=start, end_timestamp=end))
    result = run_local(spec, storage, "b1", client=client)
    expected = {
        p: [r for r in rs if start <= r.timestamp <= end] for p, rs in backup_records(storage, "b1", unique).items()
    }
    # Out-of-order records just outside and just inside the bounds are decided by their own timestamp.
    assert any(r.timestamp == start for rs in expected.values() for r in rs)
    assert any(r.timestamp == end for rs in expected.values() for r in rs)
    n = assert_restored(expected, consume_topic(bootstrap, unique, client))
    assert result.records == n
    assert sum(c.records_skipped for c in result.units.values()) == 120 - n


def test_produce_batch_size_sets_the_transaction_size(bootstrap, storage, client, unique):
    backup(storage, client, {unique: 1}, n=30)
    result = run_local(make_spec(bootstrap, storage, produce_batch_size=7), storage, "b1", client=client)
    offsets = [r.offset for r in consume_topic(bootstrap, unique, client)[0]]
    # Each committed transaction leaves one control record: a gap after every 7 records.
    assert offsets == [i + i // 7 for i in range(30)]
    assert result.units[f"{unique}[0]"].batches == 5


def test_a_minimum_transaction_size_groups_small_batches(bootstrap, storage, client, unique):
    backup(storage, client, {unique: 1}, n=30)
    sizes = [r.size for r in backup_records(storage, "b1", unique)[0]]
    least = sum(sizes[:10])  # two batches of 7 reach it, one does not
    result = run_local(make_spec(bootstrap, storage, produce_batch_size=7), storage, "b1", client=client,
                       min_transaction_bytes=least)
    ends, held = [], 0
    for i, size in enumerate(sizes):
        held += size
        if (i + 1) % 7 == 0 and held >= least:
            ends.append(i)
            held = 0
    assert ends == [13, 27]
    offsets = [r.offset for r in consume_topic(bootstrap, unique, client)[0]]
    # Each committed transaction leaves one control record: a gap after every 14 records.
    assert offsets == [i + i // 14 for i in range(30)]
    assert result.units[f"{unique}[0]"].batches == 3


def test_units_sharing_target_partitions_keep_transactions_of_produce_batch_size(bootstrap, storage, client, unique):
    backup(storage, client, {unique: 2}, n=30)
    spec = make_spec(bootstrap, storage, produce_batch_size=7,
                     repartitioning={unique: model.Repartitioning(target_partitions=3)})
    result = run_local(spec, storage, "b1", client=client, threads=2, min_transaction_bytes=1 << 30)
    assert [u.batches for u in result.units.values()] == [5, 5]  # 4 of 7 records, then the last 2
    assert result.records == 60


def test_create_topics_uses_original_partition_count(bootstrap, storage, client, unique):
    backup(storage, client, {unique: 3}, n=5)
    manifest_count = 3
    run_local(make_spec(bootstrap, storage), storage, "b1", client=client)
    admin = open_admin(cluster(bootstrap), client=client)
    try:
        assert admin.topics()[unique] == manifest_count
    finally:
        admin.close()


def test_missing_target_without_create_topics_is_refused(bootstrap, storage, client, unique):
    backup(storage, client, {unique: 1}, n=5)
    with pytest.raises(PlanError, match="createTopics"):
        run_local(make_spec(bootstrap, storage, create_topics=False), storage, "b1", client=client)


def test_dry_run_writes_nothing_and_counts_what_a_real_run_writes(bootstrap, storage, client, unique):
    sample = backup(storage, client, {unique: 2}, n=50)
    window = model.Pitr(start_timestamp=sample.base_timestamp + 5_000, end_timestamp=sample.base_timestamp + 40_000)
    dry = run_local(make_spec(bootstrap, storage, dry_run=True, pitr=window), storage, "b1", client=client)
    admin = open_admin(cluster(bootstrap), client=client)
    try:
        assert unique not in admin.topics()
        assert not [g for g in admin.groups() if unique in g]
    finally:
        admin.close()
    assert not list(storage.list("b1/restores"))
    real = run_local(make_spec(bootstrap, storage, pitr=window), storage, "b1", client=client)
    assert (dry.records, dry.bytes) == (real.records, real.bytes)
    assert {n: c.records_skipped for n, c in dry.units.items()} == {n: c.records_skipped for n, c in real.units.items()}
    assert sum(len(rs) for rs in consume_topic(bootstrap, unique, client).values()) == real.records


def test_running_the_same_job_again_writes_nothing_new(bootstrap, storage, client, unique):
    backup(storage, client, {unique: 2}, n=25)
    first = run_local(make_spec(bootstrap, storage), storage, "b1", client=client, job_id=f"again-{unique}")
    second = run_local(make_spec(bootstrap, storage), storage, "b1", client=client, job_id=f"again-{unique}")
    assert first.records == second.records == 50  # counters come from the committed checkpoint
    assert sum(len(rs) for rs in consume_topic(bootstrap, unique, client).values()) == 50


def test_offset_mapping_is_written_beside_the_backup_and_answers_lookups(bootstrap, storage, client, unique):
    backup(storage, client, {unique: 1}, n=20, offset_stride=3)  # source offsets 0, 3, 6, ...
    result = run_local(make_spec(bootstrap, storage, produce_batch_size=8), storage, "b1", client=client,
                       job_id=f"map-{unique}")
    target = {as_tuple(r): r.offset for r in consume_topic(bootstrap, unique, client)[0]}
    for rec in backup_records(storage, "b1", unique)[0]:
        assert result.mapping.lookup(unique, 0, rec.offset) == target[as_tuple(rec)]
    assert storage.exists(f"b1/restores/map-{unique}/offset-mapping.json")


def test_parallel_units_in_one_process(bootstrap, storage, unique):
    backup(storage, "confluent", {unique: 4}, n=50)
    result = run_local(make_spec(bootstrap, storage), storage, "b1", threads=4)
    assert result.records == 200
    by_partition = defaultdict(list)
    for p, rs in consume_topic(bootstrap, unique).items():
        by_partition[p] = rs
    assert_restored(backup_records(storage, "b1", unique), by_partition)


def test_kafka_python_refuses_records_it_cannot_produce_and_writes_nothing(bootstrap, storage, unique):
    write_sample_backup(storage, "b1", SampleBackup(topics={unique: 1}, records_per_partition=20, nulls=True))
    with pytest.raises(KafkaError, match="null header value"):
        run_local(make_spec(bootstrap, storage), storage, "b1", client="kafka-python")
    assert sum(len(rs) for rs in consume_topic(bootstrap, unique).values()) == 0


class _PurgeByRecreate:
    """Tansu crashes on DeleteRecords (DESIGN.md section 5). Test-side stand-in for the broker's
    purge, as DESIGN.md allows: delete the topic and create it again with its partition count. The
    product still calls delete_records on exactly the partitions it means to purge."""

    def __init__(self, admin):
        self._admin = admin
        self.purged: list[list[tuple[str, int]]] = []

    def __getattr__(self, name):
        return getattr(self._admin, name)

    def delete_records(self, partitions):
        self.purged.append(sorted(partitions))
        counts = self._admin.topics()
        topics = sorted({t for t, _ in partitions})
        self._admin.delete_topics(topics)
        deadline = time.monotonic() + 10
        while any(t in self._admin.topics() for t in topics) and time.monotonic() < deadline:
            time.sleep(0.1)
        self._admin.create_topics({t: counts[t] for t in topics})


def test_purge_topics_deletes_existing_records_before_the_restore(bootstrap, storage, client, unique, monkeypatch):
    from confluent_kafka import Producer

    import restore_jobs.jobs.local as local

    backup(storage, client, {unique: 2}, n=20)
    admin = open_admin(cluster(bootstrap), client=client)
    admin.create_topics({unique: 2})
    admin.close()
    stale = Producer({"bootstrap.servers": bootstrap})
    for i in range(7):
        stale.produce(unique, value=f"stale-{i}".encode(), partition=i % 2)
    stale.flush(10)
    purging: list[_PurgeByRecreate] = []

    def open_purging_admin(*args, **kwargs):
        purging.append(_PurgeByRecreate(open_admin(*args, **kwargs)))
        return purging[-1]

    monkeypatch.setattr(local, "open_admin", open_purging_admin)
    run_local(make_spec(bootstrap, storage, purge_topics=True), storage, "b1", client=client)
    assert purging[0].purged == [[(unique, 0), (unique, 1)]]
    assert_restored(backup_records(storage, "b1", unique), consume_topic(bootstrap, unique, client))
