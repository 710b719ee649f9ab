"""Wallboard query latency at scale: one board refresh (all KPIs, totals + per queue + per channel)
over N contacts (default 10 million) spread over 30 days, with cases, lifecycle and SLA events, upsell
leads and their results.

Data is generated inside ClickHouse (INSERT ... SELECT FROM numbers) into the real tables, so the
materialized views fill the aggregates exactly as the sink would. Reports load time, board
latency (median and max of several refreshes: unfiltered, filtered, and right after 20 small
inserts whose parts are not merged yet, as a live sink leaves them) and on-disk size.

Also the sink's block write (``Writer.write``: first-sightings lookup + inserts) of 150 and 5,000
fresh contacts, into the empty tables and again into the loaded ones: the lookup of a block's
contact ids grows with the table once the ids are too many for the bloom filter to prune.
"""
from __future__ import annotations

import os
import statistics
import tempfile
import time

from sinks.clickhouse import connect
from sinks.migrations import migrate
from sinks.pii import Protector
from sinks.rows import Row, routed
from sinks.settings import SinkSettings
from sinks.wallboard import queries
from sinks.wallboard.kpis import Window
from sinks.writer import Writer

from ._sink_data import routed_events

CONTACTS = int(os.environ.get("BENCH_WALLBOARD_CONTACTS", "10000000"))
CHUNK = 1_000_000
FRESH_BATCHES, FRESH_BATCH = 20, 2_000  # small inserts after the load, left unmerged for one measurement
DAYS = 30
BLOCK_SIZES = (150, 5_000)  # a flush at live rates, a catch-up flush (the sink's batch size)


def _load(client, total: int, first: int = 0, chunk: int = CHUNK, quiet: bool = False) -> None:
    """Contacts: 1 in 3 is a repeat on the case before it; lifecycle and SLA events for most cases;
    an upsell lead for 1 contact in 10, with a result for 60% of them (a second one for 10%)."""
    for start in range(first, first + total, chunk):
        n = min(chunk, first + total - start)
        base = f"(SELECT number + {start} AS n, now64(3, 'UTC') - toIntervalMillisecond(intHash32(n) % {DAYS * 86_400_000}) AS t FROM numbers({n}))"
        client.command(f"""
            INSERT INTO contacts (event_id, routed_event_id, received_at, routed_at, channel, provider, kind,
                provider_message_id, customer_key, case_id, dedup, dedup_reason, category, phase, severity, sentiment,
                priority, priority_reason, segment, queue, tier, routing_reason, upsell, upsell_reason, language,
                is_public, form_type, call_outcome, call_wait_seconds, callback_requested, attachments, phone, email,
                handle, customer_name, customer_number, order_numbers, pii_policy, rules_version, raw_ref)
            SELECT hex(n), hex(n), t, t, ['email','phone','webform','social','sms','chat'][n % 6 + 1], 'bench', 'message',
                toString(n), concat('h:', hex(intHash64(n % 2000000))), concat('case-', toString(intDiv(n, 3))),
                if(n % 3 = 0, 'new_case', 'repeat'), '', ['order','logistics','complaint','return'][n % 4 + 1], 'after_sale',
                0, 'neutral', n % 5 + 1, '', 'standard', ['general','after_sales','complaints','logistics','vip'][intHash32(n) % 5 + 1],
                1, '', 'none', '', 'zh', false, '', if(n % 6 = 1, if(n % 7 = 0, 'abandoned', 'answered'), ''), NULL, false,
                0, '+86138****0000', 'u***@example.com', '', '王*', '', [], 'mask', '1', ''
            FROM {base}""")
        client.command(f"""
            INSERT INTO lifecycle (event_id, case_id, action, at, agent, queue, tier, csat, nps, note)
            SELECT concat(hex(n), a), concat('case-', toString(intDiv(n, 3))), a,
                   t + toIntervalSecond(if(a = 'first_response', 300, if(a = 'resolved', 7200, 9000)) + n % 600), 'agent',
                   '', NULL, if(a = 'survey_answered', toUInt8(50 + n % 51), NULL), NULL, ''
            FROM {base} ARRAY JOIN ['first_response', 'resolved', 'survey_answered'] AS a
            WHERE n % 3 = 0 AND (a = 'first_response' AND n % 10 != 0 OR a = 'resolved' AND n % 4 != 0 OR a = 'survey_answered' AND n % 8 = 0)""")
        client.command(f"""
            INSERT INTO sla_events (event_id, case_id, clock, status, at, started_at, deadline, target_seconds,
                elapsed_business_seconds, fraction, queue, channel, category, severity, segment, policy)
            SELECT concat('sla', hex(n)), concat('case-', toString(intDiv(n, 3))), 'first_response',
                   if(n % 9 = 0, 'breached', 'met'), t + toIntervalSecond(300), t, t + toIntervalSecond(900), 900, 300, NULL,
                   ['general','after_sales','complaints','logistics','vip'][intHash32(n) % 5 + 1],
                   ['email','phone','webform','social','sms','chat'][n % 6 + 1], 'order', 0, 'standard', 'bench'
            FROM {base} WHERE n % 3 = 0""")
        client.command(f"""
            INSERT INTO upsell_leads (event_id, at, case_id, contact_id, customer_key, kind, score, evidence, rule,
                channel, queue, segment, rules_version)
            SELECT concat('lead', hex(n)), t, concat('case-', toString(intDiv(n, 3))), hex(n),
                   concat('h:', hex(intHash64(n % 2000000))), 'upgrade', 0.7, 'warranty', 'warranty',
                   ['email','phone','webform','social','sms','chat'][n % 6 + 1],
                   ['general','after_sales','complaints','logistics','vip'][intHash32(n) % 5 + 1], 'standard', '1'
            FROM {base} WHERE n % 10 = 5""")
        client.command(f"""
            INSERT INTO upsell_outcomes (event_id, at, lead_id, result, amount, currency, agent, note)
            SELECT concat('out', hex(n), toString(r)), t + toIntervalSecond(3600 * (r + 1) + n % 3600),
                   concat('lead', hex(n)), if((n + r) % 3 = 0, 'converted', 'declined'), NULL, '', 'sales', ''
            FROM {base} ARRAY JOIN [0, 1] AS r
            WHERE n % 10 = 5 AND intHash32(n) % 10 < if(r = 0, 6, 1)""")
        if not quiet:
            print(f"  loaded {start + n - first:,} contacts", flush=True)


def _block_writes(writer: Writer, protect: Protector, seed: int) -> dict[str, float]:
    """Milliseconds to write one block of fresh contacts, as the sink does, for each block size."""
    out = {}
    for size in BLOCK_SIZES:
        tables: dict[str, list[Row]] = {}
        for value in routed_events(size, seed=seed * 100 + size):
            for table, row in routed(value, protect):
                tables.setdefault(table, []).append(row)
        began = time.perf_counter()
        writer.write([(f"bench/{seed}/{size}", tables)])
        out[f"block_{size}"] = (time.perf_counter() - began) * 1000
    return out


def _time(fn, repeats: int = 5) -> tuple[float, float]:
    runs = []
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - began)
    return statistics.median(runs), max(runs)


def run() -> dict[str, float | str]:
    with tempfile.TemporaryDirectory(prefix="bench-wallboard-", ignore_cleanup_errors=True) as tmp:  # chdb may still be merging in it
        settings = SinkSettings(dsn=f"chdb://{tmp}", database="wb")
        client = connect(settings.dsn, settings.database)
        migrate(client, settings)
        writer, protect = Writer(client, "bench"), Protector(settings.pii_policy, settings.pii_key.get_secret_value())
        empty = _block_writes(writer, protect, seed=1)
        began = time.monotonic()
        _load(client, CONTACTS)
        load_s = time.monotonic() - began
        loaded = _block_writes(writer, protect, seed=2)
        client.command("OPTIMIZE TABLE cases FINAL")  # what background merges converge to
        window = Window.at()
        board = queries.board(client, window)
        med, worst = _time(lambda: queries.board(client, Window.at()))
        fmed, fworst = _time(lambda: queries.board(client, Window.at(), queue="vip", channel="phone"))
        # what a live sink leaves between background merges: recent small inserts, parts not yet merged
        _load(client, FRESH_BATCHES * FRESH_BATCH, first=CONTACTS, chunk=FRESH_BATCH, quiet=True)
        unmerged = client.query("SELECT count() FROM system.parts WHERE database = 'wb' AND table = 'cases' AND active").result_rows[0][0]
        umed, uworst = _time(lambda: queries.board(client, Window.at()), 3)
        client.command("OPTIMIZE TABLE cases FINAL")
        parts = {}
        for sql_name in ("CONTACTS", "SLA", "UPSELL", "CONVERSION", "FORECAST", "CASES"):
            sql = getattr(queries, sql_name)
            params = {"day": window.day_start, "recent": window.recent_start, "minute": window.minute, "q": "", "ch": ""}
            parts[sql_name.lower()] = _time(lambda: client.query(sql, parameters=params,
                                                                 settings={"prefer_column_name_to_alias": 1}), 3)[0]
        size = client.query("SELECT sum(bytes_on_disk) FROM system.parts WHERE database = 'wb' AND active").result_rows[0][0]
        cases = client.query("SELECT count() FROM cases").result_rows[0][0]
    figures = {"contacts": CONTACTS, "cases_rows": cases, "load_s": round(load_s, 1),
               "board_p50_ms": round(med * 1000), "board_max_ms": round(worst * 1000),
               "board_filtered_p50_ms": round(fmed * 1000), "board_filtered_max_ms": round(fworst * 1000),
               "cases_parts_unmerged": unmerged, "board_unmerged_p50_ms": round(umed * 1000),
               "board_unmerged_max_ms": round(uworst * 1000),
               **{f"query_{k}_ms": round(v * 1000) for k, v in parts.items()},
               **{f"sink_{k}_empty_ms": round(v) for k, v in empty.items()},
               **{f"sink_{k}_loaded_ms": round(v) for k, v in loaded.items()},
               "disk_mb": round(size / 1e6), "received_today": board["total"]["received"],
               "in_queue": board["total"]["in_queue"]}
    for name, value in figures.items():
        print(f"  {name:<28} {value}")
    return figures


if __name__ == "__main__":
    run()
