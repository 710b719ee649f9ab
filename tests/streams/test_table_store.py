"""The rocksdb:// table store places every key in the database of the key's partition, whoever
writes it (a batch of many partitions' keys, or an SLA timer with no current event), and the
same keys are found again by a store reopened on the same directory (a restarted worker)."""
from __future__ import annotations

from pathlib import Path

import faust
from faust.types import TP

from streams.tables import KeyPartitionedRocksDB, key_partition, key_partitioned_table

PARTITIONS = 4
KEYS = [f"customer-{i}".encode() for i in range(40)]
CHANGELOG = "store-test-customers-changelog"


def rocksdb_table(datadir: Path, changelog_id: str = "id-1") -> faust.Table:
    """``changelog_id``: what the broker would answer for the changelog topic's id (no broker here)."""
    app = faust.App(f"store-test-{datadir.name}", store="rocksdb://", datadir=str(datadir), broker="kafka://127.0.0.1:1")
    return key_partitioned_table(app, "customers", PARTITIONS, "test", {}, {"block_cache_size": 1 << 20},
                                 lambda topic: changelog_id)


def test_keys_written_outside_any_event_land_in_their_partition_database(tmp_path: Path) -> None:
    table = rocksdb_table(tmp_path)
    store = table.data
    assert isinstance(store, KeyPartitionedRocksDB)
    for key in KEYS:
        store[key] = b"state of " + key
    del store[KEYS[0]]

    for key in KEYS[1:]:
        assert store[key] == b"state of " + key
        assert store._dbs[key_partition(key, PARTITIONS)].get(key) == b"state of " + key, "its own partition's DB"
        assert all(db.get(key) is None for p, db in store._dbs.items() if p != key_partition(key, PARTITIONS))
    assert KEYS[0] not in store
    assert store.get(KEYS[0]) is None
    assert {key_partition(k, PARTITIONS) for k in KEYS} == set(store._dbs), "the keys span every partition"


def test_a_reopened_store_finds_what_the_last_one_wrote(tmp_path: Path) -> None:
    first = rocksdb_table(tmp_path).data
    for key in KEYS:
        first[key] = key[::-1]
    first._dbs.clear()  # what a SIGKILL leaves: nothing closed, the files as written
    del first
    second = rocksdb_table(tmp_path).data
    assert [second.get(key) for key in KEYS] == [key[::-1] for key in KEYS]


def test_a_database_read_from_another_incarnation_of_its_changelog_is_dropped(tmp_path: Path) -> None:
    def written(changelog_id: str) -> KeyPartitionedRocksDB:
        store = rocksdb_table(tmp_path, changelog_id).data
        for key in KEYS:
            store[key] = b"state of " + key
        for partition in range(PARTITIONS):
            store.set_persisted_offset(TP(CHANGELOG, partition), 100 + partition)
        store._dbs.clear()
        return store

    written("id-1")
    same = rocksdb_table(tmp_path, "id-1").data
    assert [same.persisted_offset(TP(CHANGELOG, p)) for p in range(PARTITIONS)] == [100, 101, 102, 103]
    assert [same.get(key) for key in KEYS] == [b"state of " + key for key in KEYS], "the same changelog: kept"
    same._dbs.clear()

    again = rocksdb_table(tmp_path, "id-2").data  # the topic deleted and created again
    assert [again.persisted_offset(TP(CHANGELOG, p)) for p in range(PARTITIONS)] == [None] * PARTITIONS
    assert [again.get(key) for key in KEYS] == [None] * len(KEYS), "nothing of the old changelog's state is left"
    again[KEYS[0]] = b"new"
    again.set_persisted_offset(TP(CHANGELOG, key_partition(KEYS[0], PARTITIONS)), 0)
    again._dbs.clear()
    reopened = rocksdb_table(tmp_path, "id-2").data
    assert reopened.persisted_offset(TP(CHANGELOG, key_partition(KEYS[0], PARTITIONS))) == 0
    assert reopened.get(KEYS[0]) == b"new", "the new database persists, under the new id"


def test_a_database_from_before_offsets_named_their_changelog_is_rebuilt(tmp_path: Path) -> None:
    old = rocksdb_table(tmp_path).data
    old[KEYS[0]] = b"state"
    partition = key_partition(KEYS[0], PARTITIONS)
    old._db_for_partition(partition).put(old.offset_key, b"41")  # Faust's own format: the offset alone
    old._dbs.clear()
    store = rocksdb_table(tmp_path).data
    assert store.persisted_offset(TP(CHANGELOG, partition)) is None
    assert store.get(KEYS[0]) is None


def test_keys_are_placed_like_the_java_clients_default_partitioner() -> None:
    # partitions out of 1,000, verified against org.apache.kafka.clients.producer.internals.DefaultPartitioner
    # (kafka-python's compatibility test): a producer in any language puts these keys on the same partitions
    java = {b"": 681, b"a": 524, b"ab": 434, b"abc": 107, b"123456789": 566, b"\x00 ": 742}
    assert {key: key_partition(key, 1000) for key in java} == java
