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
import shutil
from collections.abc import Callable, Mapping
from typing import Any

import faust
from aiokafka.partitioner import murmur2
from faust.stores import rocksdb
from faust.types import TP, StoreT
from yarl import URL

#: the changelog topic's Kafka topic id ("" when the broker keeps none), looked up by topic name
TopicIdLookup = Callable[[str], str]


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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._changelog_ids: dict[str, str] = {}

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

    # The stored offset names the changelog it was read from: ``<offset>@<topic id>``. A Kafka reset
    # (topics deleted and created again) starts every changelog again at offset 0 under a new id.
    # Faust's own consistency check stops a worker only when the stored offset is above the new
    # highwater, and not at all while the new changelog is still empty: the old database would be
    # read as the table's state, and an offset of the old log taken for one of the new.

    def persisted_offset(self, tp: TP) -> int | None:
        stored = self._db_for_partition(tp.partition).get(self.offset_key)
        if stored is None:
            return None
        offset, _, made_for = bytes(stored).decode().partition("@")
        current = self._changelog_id(tp.topic)
        if made_for != current:
            why = "the topic was created again" if made_for else "written before offsets named their changelog"
            self.log.warning("%s partition %d: the local database was read from changelog id %r, the broker's is %r "
                             "(%s): dropped, the table is rebuilt from the changelog", tp.topic, tp.partition,
                             made_for, current, why)
            self._drop_partition(tp.partition)
            return None
        return int(offset)

    def set_persisted_offset(self, tp: TP, offset: int) -> None:
        self._db_for_partition(tp.partition).put(self.offset_key, f"{offset}@{self._changelog_id(tp.topic)}".encode())

    async def on_rebalance(self, assigned: set[TP], revoked: set[TP], newly_assigned: set[TP],
                           generation_id: int = 0) -> None:
        self._changelog_ids.clear()  # a topic created again since the last assignment has a new id
        await super().on_rebalance(assigned, revoked, newly_assigned, generation_id)

    def _changelog_id(self, topic: str) -> str:
        found = self._changelog_ids.get(topic)
        if found is None:
            found = self._changelog_ids[topic] = self.table.changelog_id(topic)
        return found

    def _drop_partition(self, partition: int) -> None:
        db = self._dbs.pop(partition, None)
        if db is not None:
            db.close()
        shutil.rmtree(self.partition_path(partition), ignore_errors=True)
        self._db_for_partition(partition)  # empty, at the same path


class KeyPartitionedTable(faust.Table):
    #: what the rocksdb:// store checks its stored offsets against (set by :func:`key_partitioned_table`)
    changelog_id: TopicIdLookup

    def partition_for_key(self, key: Any) -> int:
        return key_partition(key, self.partitions)

    def _new_store_by_url(self, url: str | URL) -> StoreT:
        if URL(str(url)).scheme != "rocksdb":
            return super()._new_store_by_url(url)
        return KeyPartitionedRocksDB(url, self.app, self, table_name=self.name, key_type=self.key_type,
                                     key_serializer=self.key_serializer, value_serializer=self.value_serializer,
                                     value_type=self.value_type, loop=self.loop, options=self.options)


def key_partitioned_table(app: faust.App, name: str, partitions: int, help: str,  # noqa: A002
                          changelog_config: Mapping[str, str], store_options: Mapping[str, Any],
                          changelog_id: TopicIdLookup) -> KeyPartitionedTable:
    """Register a bytes -> bytes table on ``app`` (what ``app.Table`` does, with our class).

    ``changelog_config``: Kafka configs for its changelog topic when the worker creates it;
    ``store_options``: Faust's RocksDB options (cache and write buffer sizes), for a rocksdb store;
    ``changelog_id``: the broker's id of a changelog topic, which a rocksdb store keeps with its offset."""
    table = KeyPartitionedTable(app, name=name, partitions=partitions, key_type=bytes, value_type=bytes,
                                beacon=app.tables.beacon, help=help, extra_topic_configs=changelog_config,
                                options=dict(store_options))
    table.changelog_id = changelog_id
    return app.tables.add(table)
