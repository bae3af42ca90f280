"""murmur2 against Kafka's published values and an independent implementation; RoundRobin resume."""

from __future__ import annotations

import random

import pytest
from kafka.partitioner.default import murmur2 as kafkapython_murmur2

from restore_jobs.kafka.partitioner import RoundRobin, murmur2, murmur2_partition

# org.apache.kafka.common.utils.UtilsTest#testMurmur2
KAFKA_VECTORS = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


@pytest.mark.parametrize(("data", "expected"), KAFKA_VECTORS.items())
def test_murmur2_equals_kafka_published_values(data: bytes, expected: int) -> None:
    assert murmur2(data) == expected


def test_murmur2_agrees_with_kafka_python_for_every_tail_length() -> None:
    rng = random.Random(7)
    for length in [*range(70), 1000, 4096 + 3]:
        for _ in range(20):
            data = rng.randbytes(length)
            # kafka-python's version returns the unsigned 32-bit value of the same hash.
            assert murmur2(data) & 0xFFFFFFFF == kafkapython_murmur2(data) & 0xFFFFFFFF, data


def test_murmur2_result_is_signed_32_bit() -> None:
    values = [murmur2(bytes([i])) for i in range(256)]
    assert all(-(2**31) <= v < 2**31 for v in values)
    assert any(v < 0 for v in values) and any(v > 0 for v in values)


@pytest.mark.parametrize("partitions", [1, 3, 7, 12, 50])
def test_partition_is_kafkas_formula_on_published_hashes(partitions: int) -> None:
    for key, hashed in KAFKA_VECTORS.items():
        assert murmur2_partition(key, partitions) == (hashed & 0x7FFFFFFF) % partitions


def test_partition_of_known_keys() -> None:
    # (-790332482 & 0x7fffffff) % 10 = 1357151166 % 10
    assert murmur2_partition(b"foobar", 10) == 6
    assert murmur2_partition(b"abc", 4) == 479470107 % 4 == 3


def test_round_robin_cycles_from_start() -> None:
    rr = RoundRobin(3, start=1)
    assert [rr.next() for _ in range(5)] == [1, 2, 0, 1, 2]
    assert rr.position == 6


def test_round_robin_resumes_exactly_from_checkpointed_position() -> None:
    uninterrupted = RoundRobin(4)
    expected = [uninterrupted.next() for _ in range(11)]
    first = RoundRobin(4)
    before = [first.next() for _ in range(6)]
    resumed = RoundRobin(4, start=first.position)
    assert before + [resumed.next() for _ in range(5)] == expected
    assert resumed.position == uninterrupted.position == 11


def test_round_robin_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError, match="num_partitions must be at least 1, got 0"):
        RoundRobin(0)
    with pytest.raises(ValueError, match="start must not be negative, got -1"):
        RoundRobin(2, start=-1)
