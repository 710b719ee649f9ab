"""Versioned migrations: applied once, recorded, settings-driven TTL and dedup window."""
from __future__ import annotations

from clickhouse_connect.driver.client import Client

from sinks.migrations import available, migrate
from sinks.settings import SinkSettings


def test_migrations_apply_once_and_are_recorded(ch: Client, sink_settings: SinkSettings) -> None:
    assert migrate(ch, sink_settings) == []  # the fixture applied them already
    recorded = ch.query("SELECT version, name FROM schema_migrations ORDER BY version").result_rows
    assert recorded == [(m.version, m.name) for m in available()]
    tables = {r[0] for r in ch.query("SELECT name FROM system.tables WHERE database = currentDatabase()").result_rows}
    assert {"contacts", "contact_text", "lifecycle", "sla_events", "escalations", "upsell_leads", "alerts",
            "dead_letters", "cases", "cases_current", "contact_stats_1m", "sink_progress"} <= tables


def test_retention_and_types_come_from_settings(ch: Client, sink_settings: SinkSettings) -> None:
    ddl = ch.query("SELECT create_table_query FROM system.tables WHERE database = currentDatabase() "
                   "AND name = 'contacts'").result_rows[0][0]
    assert f"toIntervalDay({sink_settings.retention_days})" in ddl
    assert f"non_replicated_deduplication_window = {sink_settings.dedup_window}" in ddl
    types = dict(ch.query("SELECT name, type FROM system.columns WHERE database = currentDatabase() "
                          "AND table = 'contacts'").result_rows)
    assert types["received_at"] == "DateTime64(3, 'UTC')"
    assert types["channel"] == "LowCardinality(String)"
    assert "body" not in types  # free text lives in contact_text only
