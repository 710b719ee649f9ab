"""The writer's inserts, as the sink's memory depends on them."""
from __future__ import annotations

import gc
import weakref
from datetime import datetime, timedelta, timezone

import pytest
from clickhouse_connect.driver.client import Client

from schemas.topics import ROUTED
from sinks.clickhouse import connect, insertable_columns
from sinks.migrations import migrate
from sinks.pii import Protector
from sinks.rows import BUILDERS, Row
from sinks.settings import SinkSettings
from sinks.writer import Writer, insert_rows

from .factory import generate, replay_report, routed_contact


class _Numbers(list):
    """An ``order_numbers`` value a weak reference can watch (a plain list cannot)."""


def test_an_insert_frees_its_block_by_reference_counting_alone(ch: Client, sink_settings: SinkSettings) -> None:
    # The sink runs with a young-generation GC threshold of 100,000 (schemas.runtime.tune_gc): a block kept
    # alive by a reference cycle would wait for a rare full collection, and the sink's RSS grew with them.
    protect = Protector(sink_settings.pii_policy, sink_settings.pii_key.get_secret_value())
    now = datetime.now(timezone.utc)
    tables: dict[str, list[Row]] = {}
    for n in range(50):
        for table, row in BUILDERS[ROUTED](routed_contact(message_id=f"m{n}", received_at=now).encode(), protect):
            tables.setdefault(table, []).append(row)
    watched = []
    for contact in tables["contacts"]:
        contact["order_numbers"] = _Numbers(contact["order_numbers"])
        watched.append(weakref.ref(contact["order_numbers"]))
    del contact, row
    gc.collect()
    gc.disable()
    try:
        assert Writer(ch, sink_settings.group_id).write([("test/0/0-49", tables)]) == 100
        del tables
        alive = sum(ref() is not None for ref in watched)
    finally:
        gc.enable()
    assert alive == 0, f"{alive} of 50 rows' values outlived their insert"
    assert ch.query("SELECT count() FROM contacts").result_rows[0][0] == 50


def test_every_table_stores_what_a_typed_native_insert_of_the_same_rows_stores(ch: Client,
                                                                               sink_settings: SinkSettings) -> None:
    """The writer sends JSON rows for ClickHouse to parse; clickhouse-connect's typed Native insert of the
    same rows into a twin database is the reference. Times with microseconds and with offsets other than
    UTC, nulls, maps, arrays and non-ASCII text come back the same in every column."""
    protect = Protector(sink_settings.pii_policy, sink_settings.pii_key.get_secret_value())
    events = [*generate().events, replay_report("run-1", datetime.now(timezone.utc), 3)]
    builders = {spec.value: build for spec, build in BUILDERS.items()}
    tables: dict[str, list[Row]] = {}
    for event in events:
        for table, row in builders[type(event)](event.encode(), protect):
            tables.setdefault(table, []).append(row)
    for table in ("contacts", "contact_text"):  # the data set's upstream duplicates: stored once, not compared
        tables[table] = list({row["event_id"]: row for row in reversed(tables[table])}.values())
    odd = [datetime(2026, 12, 7, 13, 29, 5, 63693, tzinfo=timezone.utc),
           datetime(2026, 12, 7, 21, 29, 5, 999999, tzinfo=timezone(timedelta(hours=8))),
           datetime(2026, 12, 7, 1, 2, 3, 4000, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
           datetime.now(timezone.utc).replace(microsecond=999500)]
    for n, (row, at) in enumerate(zip(tables["lifecycle"], odd)):
        row["at"], row["note"] = at, f"时间 {n} 'quoted' \\ \n"
    assert len(tables) == 12, sorted(tables)  # every table the sink writes (sink_progress aside)

    assert Writer(ch, sink_settings.group_id).write([("t/0/0-9", tables)]) == sum(map(len, tables.values()))
    twin = connect(sink_settings.dsn, f"{sink_settings.database}_native")
    migrate(twin, sink_settings)
    for table, rows in tables.items():  # rows now carry their sink_batch, as the writer stored them
        names, types = insertable_columns(twin, table)
        twin.insert(table, [[row.get(name) for row in rows] for name in names], column_names=names,
                    column_type_names=types, column_oriented=True)
        query = f"SELECT {', '.join(f'`{n}`' for n in names)} FROM {{db:Identifier}}.{table} ORDER BY ALL"
        stored = ch.query(query, parameters={"db": sink_settings.database}).result_rows
        reference = twin.query(query, parameters={"db": f"{sink_settings.database}_native"}).result_rows
        assert len(stored) == len(rows), table
        assert stored == reference, table


def test_a_row_key_that_is_not_a_column_fails_the_insert(ch: Client) -> None:
    """A builder's misspelt key must not be dropped silently (ClickHouse would skip unknown JSON keys)."""
    row = {"group_id": "g", "topic": "t", "partition": 0, "first_offset": 0, "last_offset": 9}
    insert_rows(ch, "sink_progress", [row])
    with pytest.raises(Exception, match="last_ofset"):
        insert_rows(ch, "sink_progress", [{**row, "last_ofset": 9}])
    assert ch.query("SELECT count() FROM sink_progress").result_rows[0][0] == 1
