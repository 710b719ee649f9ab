"""The Grafana dashboard is the wallboard's SQL: in sync with the code, and giving the same figures."""
from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone

from clickhouse_connect.driver.client import Client

from sinks import grafana
from sinks.settings import SinkSettings
from sinks.wallboard import queries
from sinks.wallboard.kpis import Window

from .factory import generate
from .test_wallboard_queries import write

# stat panel title -> the built-in board's figure it must equal
SAME_AS = {"Received today": "received", "Received, last 15 min": "received_15m", "Handled today": "handled",
           "In queue": "in_queue", "Service level": "service_level", "SLA breaches, 15 min": "sla_breaches_15m",
           "SLA breaches today": "sla_breaches_today", "SLA warnings, 15 min": "sla_warnings_15m",
           "First response p50": "first_response_p50", "First response p90": "first_response_p90",
           "Resolution p50": "resolution_p50", "Resolution p90": "resolution_p90", "Repeat contacts": "repeat_rate",
           "Complaints": "complaint_rate", "Abandoned calls": "abandon_rate", "Upsell leads today": "upsell_leads",
           "Upsell conversion": "upsell_conversion", "Forecast by now": "forecast_to_now",
           "Resolution rate": "resolution_rate",
           "CSAT": "csat", "NPS": "nps", "Oldest waiting": "oldest_waiting_seconds"}


def test_committed_dashboard_is_generated_from_the_wallboard_sql() -> None:
    assert grafana.OUT.read_text() == grafana.render(), "run: python -m sinks.grafana"
    board = json.loads(grafana.OUT.read_text())
    assert {p["title"] for p in board["panels"] if p["type"] == "stat"} == set(SAME_AS)
    assert all(p["datasource"]["type"] == "grafana-clickhouse-datasource" for p in board["panels"])


def test_every_panel_query_runs_and_matches_the_wallboard(ch: Client, sink_settings: SinkSettings) -> None:
    write(ch, sink_settings, generate(now=datetime.now(timezone.utc) - timedelta(seconds=5), cases=60).events)
    expected = queries.board(ch, Window.at(zone="UTC"))["total"]
    for panel in json.loads(grafana.OUT.read_text())["panels"]:
        sql = panel["targets"][0]["rawSql"].replace("${queue}", "").replace("${channel}", "")
        rows = ch.query(sql).result_rows
        if panel["type"] != "stat":
            assert rows, panel["title"]
            continue
        value, want = rows[0][0], expected[SAME_AS[panel["title"]]]
        if panel["title"] == "Oldest waiting":
            assert abs(value - want) <= 5
        elif want is None:
            assert value is None, panel["title"]
        else:
            assert math.isclose(value, want, abs_tol=0.051), (panel["title"], value, want)
