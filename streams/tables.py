"""Where a key lives: Kafka's default partitioner, and Faust tables that place keys with it.

One function places every key the agents write (:class:`streams.delivery.Outbox` messages,
table changelogs), so a table and the messages about its keys share a partition.
The table can also be written from a timer as well as from its agent:

Faust puts a table write on the partition of the *current event*, so a timer (no event)
cannot write; its ``use_partitioner`` escape hatch asks the producer, which fails until
the producer has metadata for the changelog topic. This table computes the partition
itself with Kafka's default murmur2 partitioner, the same function that placed the
command about this key on the agent's input topic, so table and input stay co-partitioned.
"""
from __future__ import annotations

import functools
from typing import Any

import faust
from aiokafka.partitioner import murmur2


@functools.lru_cache(maxsize=1 << 16)
def key_hash(key: bytes) -> int:
    """Kafka's default partitioner hash of ``key`` (positive murmur2): ``% partitions`` places it.

    Cached because aiokafka's murmur2 is pure Python (3.5% of a worker's CPU in a profile) and
    the same customer keys and case ids come back on every hop and every table write.
    """
    return murmur2(key) & 0x7FFFFFFF


def key_partition(key: bytes, partitions: int) -> int:
    return key_hash(key) % partitions


class KeyPartitionedTable(faust.Table):
    def partition_for_key(self, key: Any) -> int:
        return key_partition(key, self.partitions)


def key_partitioned_table(app: faust.App, name: str, partitions: int, help: str) -> KeyPartitionedTable:  # noqa: A002
    """Register a bytes -> bytes table on ``app`` (what ``app.Table`` does, with our class)."""
    table = KeyPartitionedTable(app, name=name, partitions=partitions, key_type=bytes, value_type=bytes,
                                beacon=app.tables.beacon, help=help)
    return app.tables.add(table)
