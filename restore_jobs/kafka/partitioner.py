"""Kafka's default partitioning, so repartitioned records land where a Java producer would put them.

``murmur2`` is bit-for-bit ``org.apache.kafka.common.utils.Utils.murmur2`` and ``murmur2_partition``
is ``BuiltInPartitioner.partitionForKey``. Records without a key spread round-robin through
``RoundRobin``, whose position is checkpointed so that a resumed restore continues the exact same
sequence.
"""

from __future__ import annotations

import struct

_SEED = 0x9747B28C
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF
_WORD_FORMATS: dict[int, struct.Struct] = {}


def _words(count: int) -> struct.Struct:
    fmt = _WORD_FORMATS.get(count)
    if fmt is None:
        fmt = _WORD_FORMATS[count] = struct.Struct(f"<{count}I")
    return fmt


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 of ``data`` as the signed 32-bit int Java returns."""
    length = len(data)
    m, mask = _M, _MASK
    h = (_SEED ^ length) & mask
    whole = length & ~3
    # All 4-byte words in one C call; the loop then does only integer arithmetic.
    for k in _words(whole >> 2).unpack_from(data):
        k = (k * m) & mask
        k ^= k >> 24
        h = ((h * m) ^ (k * m)) & mask
    tail = length & 3
    if tail:
        h ^= int.from_bytes(data[whole:], "little")
        h = (h * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    h ^= h >> 15
    return h - 0x100000000 if h & 0x80000000 else h


def murmur2_partition(key: bytes, num_partitions: int) -> int:
    """The partition Kafka's default partitioner picks for a keyed record."""
    return (murmur2(key) & 0x7FFFFFFF) % num_partitions


class RoundRobin:
    """Cycles through partitions; ``position`` (records placed so far) resumes it exactly."""

    __slots__ = ("_num_partitions", "_position")

    def __init__(self, num_partitions: int, start: int = 0):
        if num_partitions < 1:
            raise ValueError(f"num_partitions must be at least 1, got {num_partitions}")
        if start < 0:
            raise ValueError(f"start must not be negative, got {start}")
        self._num_partitions = num_partitions
        self._position = start

    def next(self) -> int:
        partition = self._position % self._num_partitions
        self._position += 1
        return partition

    @property
    def position(self) -> int:
        return self._position
