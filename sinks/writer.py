"""Columnar, idempotent inserts of the topic-partition batches ready at once, and the batch plan they rely on.

All the ready batches go in as **one block per table**: a ClickHouse insert costs about the
same for 1 row as for 5,000 (a new part, its materialized views), so one insert per table and
topic-partition made the sink's latency grow with the number of partitions.

Every row carries its batch's name, ``sink_batch = <topic>/<partition>/<first>-<last>``. A batch
that may be stored already (replayed from its plan after a restart, or retried after an error)
is *verified*: each table is asked which of those batch names it holds, and their rows are
dropped, so the batch is stored once whatever block it first went in with. The block's
``insert_deduplication_token`` (derived from its batches' names) also lets ClickHouse drop a
retried block it did store (an insert that timed out on the client but completed).
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Collection, Iterable, Sequence
from operator import itemgetter
from typing import Any

from clickhouse_connect.driver.client import Client

from . import metrics
from .clickhouse import quote_ident, string_array
from .rows import Row


def _columns(rows: list[Row], names: list[str]) -> list[list[object]]:
    """Rows (dicts) -> one list per column; a column a row lacks is None (its default)."""
    data = []
    for name in names:
        try:
            data.append(list(map(itemgetter(name), rows)))  # C loop: no Python frame per cell
        except KeyError:
            data.append([row.get(name) for row in rows])
    return data


class InjectedFault(ConnectionError):
    """Raised by the test-only fault hook to simulate an unreachable backend."""


class Fault:
    """Test-only fault injection, from ``INTAKE_SINK_FAULT``: ``insert_fail:N`` or ``crash_after_insert:N``."""

    def __init__(self, spec: str) -> None:
        kind, _, count = spec.partition(":")
        self.kind, self.remaining = (kind, int(count or 1)) if spec else ("", 0)
        self.batches = 0

    def before_insert(self) -> None:
        if self.kind == "insert_fail" and self.remaining > 0:
            self.remaining -= 1
            raise InjectedFault(f"injected: backend unavailable ({self.remaining} failures left)")

    def after_inserts(self) -> None:
        """Dies between insert and offset commit: the crash the exactly-once design must survive."""
        self.batches += 1
        if self.kind == "crash_after_insert" and self.batches >= self.remaining:
            os._exit(99)


class Writer:
    def __init__(self, client: Client, group_id: str, fault: str = "") -> None:
        self.client = client
        self.group_id = group_id
        self.fault = Fault(fault)
        self._columns: dict[str, tuple[list[str], list[str]]] = {}

    def columns(self, table: str) -> list[str]:
        """Insertable columns (no DEFAULT / MATERIALIZED), looked up once per table."""
        return self._table(table)[0]

    def _table(self, table: str) -> tuple[list[str], list[str]]:
        """Insertable column names and their type names, looked up once per table: an insert given
        the types skips clickhouse-connect's per-insert DESCRIBE round trip."""
        if table not in self._columns:
            result = self.client.query(
                "SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = {t:String} "
                "AND default_kind = '' ORDER BY position", parameters={"t": table})
            if not result.result_rows:
                raise LookupError(f"table {table} does not exist (migrations not applied?)")
            self._columns[table] = ([r[0] for r in result.result_rows], [r[1] for r in result.result_rows])
        return self._columns[table]

    def _insert(self, table: str, data: list[list[object]], **options: Any) -> None:
        """``client.insert`` of ``data`` (rows, or columns with ``column_oriented=True``), emptied afterwards.

        clickhouse-connect's ``InsertContext`` refers to itself (a bound method in its ``__dict__``), so
        the block it was given would outlive the insert until a full GC collection, which the services'
        GC settings make rare (``schemas.runtime.tune_gc``): the sink's RSS grew with them.
        """
        names, types = self._table(table)
        try:
            self.client.insert(table, data, column_names=names, column_type_names=types, **options)
        finally:
            data.clear()

    def plan(self, ranges: Iterable[tuple[str, int, int, int]]) -> None:
        """Record (topic, partition, first, last) before inserting: a restart re-cuts exactly there."""
        rows = [[self.group_id, t, p, f, last] for t, p, f, last in ranges]
        if rows:  # sink_progress: group_id, topic, partition, first_offset, last_offset
            self._insert("sink_progress", rows)

    def planned(self, topic: str, partition: int, from_offset: int) -> list[tuple[int, int]]:
        """Planned ranges not entirely below ``from_offset``, oldest first."""
        result = self.client.query(
            "SELECT DISTINCT first_offset, last_offset FROM sink_progress WHERE group_id = {g:String} "
            "AND topic = {t:String} AND partition = {p:UInt32} AND last_offset >= {o:Int64} ORDER BY first_offset",
            parameters={"g": self.group_id, "t": topic, "p": partition, "o": from_offset})
        return [(int(f), int(last)) for f, last in result.result_rows]

    def write(self, batches: Sequence[tuple[str, dict[str, list[Row]]]], verify: Collection[str] = ()) -> int:
        """Insert the rows of ``batches`` ((batch name, table -> rows)) as one columnar block per table.

        Batches named in ``verify`` may be stored already: each table drops the rows of those it holds.
        """
        tables: dict[str, list[Row]] = {}
        for name, batch_tables in batches:
            for table, rows in batch_tables.items():
                for row in rows:
                    row["sink_batch"] = name  # in place: a retry names the rows again, the same
                tables.setdefault(table, []).extend(rows)
        names = sorted(name for name, _ in batches)
        token = "sink/" + hashlib.sha256("\n".join(names).encode()).hexdigest()[:32]
        if verify:
            tables = {table: self._unstored(table, rows, verify) for table, rows in tables.items()}
        if tables.get("contacts") or tables.get("contact_text"):
            tables = self._first_sightings(tables)
        written = 0
        for table, rows in tables.items():
            if not rows:
                continue
            self.fault.before_insert()
            self._insert(table, _columns(rows, self.columns(table)), column_oriented=True,
                         settings={"insert_deduplication_token": token})
            metrics.ROWS_WRITTEN.labels(table).inc(len(rows))
            written += len(rows)
        return written

    def _unstored(self, table: str, rows: list[Row], verify: Collection[str]) -> list[Row]:
        """``rows`` without those of the batches in ``verify`` that ``table`` holds already."""
        asked = list({row["sink_batch"] for row in rows} & set(verify))
        if not asked:
            return rows
        self.fault.before_insert()
        stored = {r[0] for r in self._where_in(f"SELECT DISTINCT sink_batch FROM {quote_ident(table)} "
                                                "WHERE sink_batch IN", asked)}
        return [row for row in rows if row["sink_batch"] not in stored] if stored else rows

    def _first_sightings(self, rows: dict[str, list[Row]]) -> dict[str, list[Row]]:
        """Drop contacts already stored by another batch (or earlier in this block): one row per contact.

        A row stored by its own batch does not count: a batch retried after it was partly stored
        (contacts in, contact_text not) keeps the rows the first attempt kept.
        """
        ids = list({row["event_id"] for table in ("contacts", "contact_text") for row in rows.get(table, [])})
        self.fault.before_insert()
        stored: dict[str, set[str]] = {}
        for event_id, batch in self._where_in("SELECT DISTINCT event_id, sink_batch FROM contacts WHERE event_id IN",
                                              ids):
            stored.setdefault(event_id, set()).add(batch)
        keep: dict[str, list[Row]] = {}
        for table in ("contacts", "contact_text"):
            seen: set[str] = set()
            kept = []
            for row in rows.get(table, []):
                event_id = row["event_id"]
                by = stored.get(event_id)
                if event_id in seen or (by and (len(by) > 1 or row["sink_batch"] not in by)):
                    continue
                seen.add(event_id)
                kept.append(row)
            keep[table] = kept
        metrics.DUPLICATES.inc(len(rows.get("contacts", [])) - len(keep["contacts"]))
        return {**rows, **keep}

    def _where_in(self, query: str, values: list[str]) -> list[tuple[object, ...]]:
        """``query`` (ending in ``IN``) against ``values``, inlined (see :func:`string_array`) as a subquery:
        ClickHouse builds the set once and still uses the bloom filter index (2.5 ms faster than ``IN <array>``)."""
        expression, settings = string_array(values)
        return self.client.query(f"{query} (SELECT arrayJoin({expression}))", settings=settings).result_rows
