"""A Faust table that can be written from a timer as well as from its agent.

Faust puts a table write on the partition of the *current event*, so a timer (no event)
cannot write; its ``use_partitioner`` escape hatch asks the producer, which fails until
the producer has metadata for the changelog topic. This table computes the partition
itself with Kafka's default murmur2 partitioner, the same function that placed the
command about this key on the agent's input topic, so table and input stay co-partitioned.
"""
from __future__ import annotations

from typing import Any

import faust
from aiokafka.partitioner import DefaultPartitioner

_partitioner = DefaultPartitioner()


def key_partition(key: bytes, partitions: int) -> int:
    every = list(range(partitions))
    return _partitioner(key, every, every)


class KeyPartitionedTable(faust.Table):
    def partition_for_key(self, key: Any) -> int:
        return key_partition(key, self.partitions)


def key_partitioned_table(app: faust.App, name: str, partitions: int, help: str) -> KeyPartitionedTable:  # noqa: A002
    """Register a bytes -> bytes table on ``app`` (what ``app.Table`` does, with our class)."""
    table = KeyPartitionedTable(app, name=name, partitions=partitions, key_type=bytes, value_type=bytes,
                                beacon=app.tables.beacon, help=help)
    return app.tables.add(table)
