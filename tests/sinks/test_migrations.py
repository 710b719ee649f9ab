"""Versioned migrations: applied once, recorded, settings-driven TTL and dedup window."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from clickhouse_connect.driver.client import Client

from schemas import LifecycleAction
from sinks import migrations
from sinks.clickhouse import connect
from sinks.migrations import available, migrate
from sinks.settings import SinkSettings
from sinks.wallboard.kpis import utc

from .factory import lifecycle, routed_contact
from .test_wallboard_queries import write

ALL = available()


def migrated_before(version: int, settings: SinkSettings, monkeypatch: pytest.MonkeyPatch) -> Client:
    """A database as a deployment older than migration ``version`` left it."""
    client = connect(settings.dsn, settings.database)
    with monkeypatch.context() as patch:
        patch.setattr(migrations, "available", lambda: [m for m in ALL if m.version < version])
        migrate(client, settings)
    return client


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


def test_nps_answers_stored_before_the_nps_migration_are_folded_into_their_cases(sink_settings: SinkSettings,
                                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    client = migrated_before(9, sink_settings, monkeypatch)
    t0 = datetime(2026, 11, 22, 8, 0, tzinfo=timezone.utc)
    opened = routed_contact(message_id="nps-1", received_at=t0, case_id="case-nps")
    write(client, sink_settings, [opened, lifecycle("case-nps", LifecycleAction.SURVEY_ANSWERED, t0 + timedelta(hours=2),
                                                    csat=80, nps=3),
                                  lifecycle("case-nps", LifecycleAction.SURVEY_ANSWERED, t0 + timedelta(hours=3), nps=10)])

    assert migrate(client, sink_settings)[0] == "009_nps"  # then the migrations after it

    def case() -> tuple:
        return client.query("SELECT nps, nps_at, csat, opened_at, queue FROM cases_current "
                            "WHERE case_id = 'case-nps'").result_rows[0]
    nps, nps_at, csat, opened_at, queue = case()
    assert (nps, utc(nps_at), csat, utc(opened_at), queue) == (10, t0 + timedelta(hours=3), 80, t0, "general")
    write(client, sink_settings, [lifecycle("case-nps", LifecycleAction.SURVEY_ANSWERED, t0 + timedelta(hours=4), nps=0)],
          partition=1)
    assert case()[:2] == (0, (t0 + timedelta(hours=4)).replace(tzinfo=None))  # folded by the re-created view


def test_contacts_stored_before_the_volume_migration_are_counted_once(sink_settings: SinkSettings,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    client = migrated_before(11, sink_settings, monkeypatch)
    t0 = datetime(2026, 11, 22, 8, 0, tzinfo=timezone.utc)
    before = [routed_contact(message_id=f"v{n}", received_at=t0 + timedelta(seconds=20 * n), queue=q)
              for n, q in enumerate(["general", "general", "general", "vip"])]
    write(client, sink_settings, before + [routed_contact(message_id="v0", received_at=t0, queue="general")])

    assert migrate(client, sink_settings)[0] == "011_volume"

    def volume() -> list[tuple]:
        return client.query("SELECT minute, queue, sum(contacts) FROM contact_volume_1m GROUP BY minute, queue "
                            "ORDER BY minute, queue").result_rows
    minute = t0.replace(tzinfo=None)
    assert volume() == [(minute, "general", 3), (minute + timedelta(minutes=1), "vip", 1)]  # the re-sent one once
    write(client, sink_settings, [routed_contact(message_id="v9", received_at=t0 + timedelta(seconds=70), queue="vip")],
          partition=1)
    assert volume()[-1] == (minute + timedelta(minutes=1), "vip", 2)  # counted by the view from now on
