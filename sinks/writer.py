"""Columnar, idempotent inserts of one topic-partition batch, and the batch plan they rely on.

Every insert carries ``insert_deduplication_token = <topic>/<partition>/<first>-<last>``;
tables keep ``non_replicated_deduplication_window`` block ids, so writing the same batch
twice stores it once (materialized views follow the source table's verdict).
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from operator import itemgetter

from clickhouse_connect.driver.client import Client

from . import metrics
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

    def plan(self, ranges: Iterable[tuple[str, int, int, int]]) -> None:
        """Record (topic, partition, first, last) before inserting: a restart re-cuts exactly there."""
        rows = [[self.group_id, t, p, f, last] for t, p, f, last in ranges]
        if rows:
            names, types = self._table("sink_progress")  # group_id, topic, partition, first_offset, last_offset
            self.client.insert("sink_progress", rows, column_names=names, column_type_names=types)

    def planned(self, topic: str, partition: int, from_offset: int) -> list[tuple[int, int]]:
        """Planned ranges not entirely below ``from_offset``, oldest first."""
        result = self.client.query(
            "SELECT DISTINCT first_offset, last_offset FROM sink_progress WHERE group_id = {g:String} "
            "AND topic = {t:String} AND partition = {p:UInt32} AND last_offset >= {o:Int64} ORDER BY first_offset",
            parameters={"g": self.group_id, "t": topic, "p": partition, "o": from_offset})
        return [(int(f), int(last)) for f, last in result.result_rows]

    def write(self, token: str, rows: dict[str, list[Row]]) -> int:
        """Insert each table's rows as one columnar block under the batch's token."""
        if rows.get("contacts"):
            rows = self._first_sightings(token, rows)
        written = 0
        for table, table_rows in rows.items():
            if not table_rows:
                continue
            self.fault.before_insert()
            names, types = self._table(table)
            data = _columns(table_rows, names)
            self.client.insert(table, data, column_names=names, column_type_names=types, column_oriented=True,
                               settings={"insert_deduplication_token": token})
            metrics.ROWS_WRITTEN.labels(table).inc(len(table_rows))
            written += len(table_rows)
        return written

    def _first_sightings(self, token: str, rows: dict[str, list[Row]]) -> dict[str, list[Row]]:
        """Drop contacts already stored by an earlier batch (or earlier in this one): one row per contact.

        Rows stored under this same token do not count, so a replay after a crash filters
        exactly as the first attempt did and its blocks get the same deduplication ids.
        """
        ids = list({row["event_id"] for row in rows["contacts"]})
        self.fault.before_insert()
        stored = {r[0] for r in self.client.query(
            "SELECT DISTINCT event_id FROM contacts WHERE event_id IN {ids:Array(String)} AND sink_batch != {t:String}",
            parameters={"ids": ids, "t": token}).result_rows}
        seen: set[str] = set()
        keep: dict[str, list[Row]] = {}
        for table in ("contacts", "contact_text"):
            seen.clear()
            kept = []
            for row in rows.get(table, []):
                if row["event_id"] in stored or row["event_id"] in seen:
                    continue
                seen.add(row["event_id"])
                if table == "contacts":
                    row["sink_batch"] = token  # in place: a retry of this batch sets the same token again
                kept.append(row)
            keep[table] = kept
        metrics.DUPLICATES.inc(len(rows["contacts"]) - len(keep["contacts"]))
        return {**rows, **keep}
