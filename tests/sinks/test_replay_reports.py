"""Replay (what-if) reports: the sink stores them, ``/api/replays`` and the page show them."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from clickhouse_connect.driver.client import Client
from fastapi.testclient import TestClient

from sinks.settings import SinkSettings
from sinks.wallboard.app import Board, create_app

from .factory import replay_report
from .test_wallboard_queries import write

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=timezone.utc)


def test_reports_are_stored_and_served_newest_first_and_a_rerun_replaces_its_run(ch: Client,
                                                                                 sink_settings: SinkSettings) -> None:
    write(ch, sink_settings, [replay_report("a", T0, 6), replay_report("b", T0 + timedelta(minutes=5), 8),
                              replay_report("a", T0 + timedelta(minutes=9), 7)])  # run a compared again after a resume
    app = TestClient(create_app(Board(ch, sink_settings), sink_settings))
    runs = app.get("/api/replays").json()  # public: aggregates only
    assert [(r["run_id"], r["replay_breached"]) for r in runs] == [("a", 7), ("b", 8)]
    first = runs[0]
    assert (first["live_attainment"], first["replay_sla_policy"], first["transitions"]) == \
        (50.0, "strict", {"queue:general->logistics": 1})
    assert (first["live_escalations"], first["replay_escalations"]) == (4, 7)
    assert [(q["queue"], q["live_breached"], q["replay_breached"], q["replay_contacts"]) for q in first["queues"]] == \
        [("general", 4, 7, 7)]
    assert "replay-runs" in app.get("/").text and app.get("/api/replays?limit=1").json()[0]["run_id"] == "a"
