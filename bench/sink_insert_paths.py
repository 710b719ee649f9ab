"""Where one sink row's cost goes, in-process and without Kafka, and what other insert paths would give.

``sink_throughput`` shows the sink at a fraction of a bare insert; this benchmark splits the
gap so the next attempt starts from figures, not guesses:

* building rows: the pydantic decode of a routed event, then ``sinks.rows.routed`` (PII
  policy, enum strings), CPU microseconds per contact;
* the same blocks inserted into the same tables three ways: clickhouse-connect's typed Native
  columns (``sink_throughput``'s limit), orjson JSONEachRow that ClickHouse parses (what
  ``sinks.writer`` does: ``insert_rows``), and ``insert_arrow`` (pyarrow builds the columns),
  alternating, best round each. In-process and alone, Native is the fastest; in the sink, the
  JSON path wins, because its Python share (holding the GIL the loop thread needs) is smallest;
* the Native insert again with the two materialized views on ``contacts`` dropped, for what
  the wallboard's folding costs per row.

Rows/s count contacts (each is a ``contacts`` and a ``contact_text`` row), as in ``sink_throughput``.

    .venv/bin/python -m bench sink_insert_paths
"""
from __future__ import annotations

import itertools
import os
import tempfile
import time
from collections.abc import Callable

import pyarrow as pa

from schemas import RoutedContactEvent
from sinks.clickhouse import connect, insertable_columns
from sinks.migrations import migrate
from sinks.pii import Protector
from sinks.rows import Row, routed
from sinks.settings import SinkSettings
from sinks.writer import insert_rows

from ._sink_data import columnar, routed_events, row_blocks

CONTACTS = int(os.environ.get("BENCH_INSERT_CONTACTS", "60000"))
BATCH = 5000
ROUNDS = 2
Block = dict[str, list[Row]]


def _build_us(values: list[bytes], protect: Protector) -> tuple[float, float]:
    """CPU µs per contact: the decode alone, and decode + rows (best of ROUNDS)."""
    decode, build = [], []
    for _ in range(ROUNDS):
        began = time.process_time()
        for value in values:
            RoutedContactEvent.decode(value)
        decode.append(time.process_time() - began)
        began = time.process_time()
        for value in values:
            list(routed(value, protect))
        build.append(time.process_time() - began)
    return min(decode) / len(values) * 1e6, min(build) / len(values) * 1e6


def run() -> dict[str, float | str]:
    values = routed_events(CONTACTS)
    with tempfile.TemporaryDirectory(prefix="bench-insert-", ignore_cleanup_errors=True) as tmp:  # chdb may still be merging in it
        settings = SinkSettings(dsn=f"chdb://{tmp}/db", database="paths")
        client = connect(settings.dsn, settings.database)
        migrate(client, settings)
        protect = Protector(settings.pii_policy, settings.pii_key.get_secret_value())
        decode_us, build_us = _build_us(values, protect)
        blocks = row_blocks(values, protect, BATCH, "b")
        types = {table: insertable_columns(client, table) for table in blocks[0]}
        rounds = itertools.count()  # a fresh dedup token per insert: no insert is dropped as a repeat

        def native(block: Block) -> None:
            for table, rows in block.items():
                names, kinds = types[table]
                client.insert(table, columnar(rows, names), column_names=names, column_type_names=kinds,
                              column_oriented=True, settings={"insert_deduplication_token": f"n{next(rounds)}"})

        def json_each_row(block: Block) -> None:
            for table, rows in block.items():
                insert_rows(client, table, rows, insert_deduplication_token=f"j{next(rounds)}")

        def arrow(block: Block) -> None:
            for table, rows in block.items():
                names = types[table][0]
                client.insert_arrow(table, pa.table(dict(zip(names, columnar(rows, names)))),
                                    settings={"insert_deduplication_token": f"a{next(rounds)}"})

        def timed(insert: Callable[[Block], None]) -> tuple[float, float]:
            wall, cpu = time.perf_counter(), time.process_time()
            for block in blocks:
                insert(block)
            return CONTACTS / (time.perf_counter() - wall), (time.process_time() - cpu) / CONTACTS * 1e6

        paths = {"native": native, "json_each_row": json_each_row, "arrow": arrow}
        best: dict[str, tuple[float, float]] = {}
        for _ in range(ROUNDS):  # alternating: a box that slows down mid-run hits every path alike
            for name, insert in paths.items():
                rate, cpu = timed(insert)
                if rate > best.get(name, (0.0, 0.0))[0]:
                    best[name] = (rate, cpu)
        for view in ("cases_from_contacts", "contact_stats_1m_mv"):
            client.command(f"DROP VIEW {view}")
        no_views = max((timed(native) for _ in range(ROUNDS)), key=lambda figure: figure[0])
    figures: dict[str, float | str] = {"contacts": CONTACTS, "batch_rows": BATCH,
                                       "decode_cpu_us": round(decode_us, 1), "build_rows_cpu_us": round(build_us, 1)}
    for name, (rate, cpu) in best.items():
        figures[f"{name}_rows_per_s"] = round(rate)
        figures[f"{name}_cpu_us_per_row"] = round(cpu, 1)
    figures["native_without_views_rows_per_s"] = round(no_views[0])
    figures["native_without_views_cpu_us_per_row"] = round(no_views[1], 1)
    figures["views_cost_us_per_row"] = round(1e6 / best["native"][0] - 1e6 / no_views[0], 1)
    figures["sink_ceiling_rows_per_s"] = round(1e6 / (build_us + 1e6 / best["json_each_row"][0]))  # the writer's path
    print(f"rows: decode {decode_us:.1f} µs + the rest of the row building {build_us - decode_us:.1f} µs CPU per contact",
          flush=True)
    for name, (rate, cpu) in best.items():
        print(f"insert {name}: {rate:,.0f} rows/s, {cpu:.1f} µs CPU per row (this process, engine threads included)",
              flush=True)
    print(f"native without the contacts views: {no_views[0]:,.0f} rows/s; the views cost "
          f"{figures['views_cost_us_per_row']} µs wall per row", flush=True)
    print(f"one thread building rows then inserting them as the writer does: {figures['sink_ceiling_rows_per_s']:,} rows/s", flush=True)
    return figures
