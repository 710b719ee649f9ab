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
from collections.abc import Mapping
from typing import Any

import faust
from aiokafka.partitioner import murmur2
from faust.stores import rocksdb
from faust.types import StoreT
from yarl import URL


@functools.lru_cache(maxsize=1 << 16)
def key_hash(key: bytes) -> int:
    """Kafka's default partitioner hash of ``key`` (positive murmur2): ``% partitions`` places it.

    Cached because aiokafka's murmur2 is pure Python (3.5% of a worker's CPU in a profile) and
    the same customer keys and case ids come back on every hop and every table write.
    """
    return murmur2(key) & 0x7FFFFFFF


def key_partition(key: bytes, partitions: int) -> int:
    return key_hash(key) % partitions


class KeyPartitionedRocksDB(rocksdb.Store):
    """Faust's RocksDB store (one database per partition) placing keys the way the table does.

    Faust's own store picks the database by the partition of the *current event*: a batch holds
    keys of several partitions, and an SLA timer writes with no event at all, so its writes would
    land in, and its reads look in, the wrong database. Here the key alone decides, as it decides
    the changelog partition whose offset the database records."""

    def _db_for_key(self, key: bytes) -> Any:
        return self._db_for_partition(self.table.partition_for_key(key))

    def _get(self, key: bytes) -> bytes | None:
        return self._db_for_key(key).get(key)

    def _set(self, key: bytes, value: bytes | None) -> None:
        self._db_for_key(key).put(key, value)

    def _del(self, key: bytes) -> None:
        self._db_for_key(key).delete(key)

    def _contains(self, key: bytes) -> bool:
        return self._db_for_key(key).get(key) is not None


class KeyPartitionedTable(faust.Table):
    def partition_for_key(self, key: Any) -> int:
        return key_partition(key, self.partitions)

    def _new_store_by_url(self, url: str | URL) -> StoreT:
        if URL(str(url)).scheme != "rocksdb":
            return super()._new_store_by_url(url)
        return KeyPartitionedRocksDB(url, self.app, self, table_name=self.name, key_type=self.key_type,
                                     key_serializer=self.key_serializer, value_serializer=self.value_serializer,
                                     value_type=self.value_type, loop=self.loop, options=self.options)


def key_partitioned_table(app: faust.App, name: str, partitions: int, help: str,  # noqa: A002
                          changelog_config: Mapping[str, str], store_options: Mapping[str, Any]) -> KeyPartitionedTable:
    """Register a bytes -> bytes table on ``app`` (what ``app.Table`` does, with our class).

    ``changelog_config``: Kafka configs for its changelog topic when the worker creates it;
    ``store_options``: Faust's RocksDB options (cache and write buffer sizes), for a rocksdb store."""
    table = KeyPartitionedTable(app, name=name, partitions=partitions, key_type=bytes, value_type=bytes,
                                beacon=app.tables.beacon, help=help, extra_topic_configs=changelog_config,
                                options=dict(store_options))
    return app.tables.add(table)
