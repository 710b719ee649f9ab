"""The writer's inserts, as the sink's memory depends on them."""
from __future__ import annotations

import gc
import weakref
from datetime import datetime, timezone

from clickhouse_connect.driver.client import Client

from schemas.topics import ROUTED
from sinks.pii import Protector
from sinks.rows import BUILDERS, Row
from sinks.settings import SinkSettings
from sinks.writer import Writer

from .factory import routed_contact


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
