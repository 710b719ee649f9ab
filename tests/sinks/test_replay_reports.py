"""Replay (what-if) reports: the sink stores them, ``/api/replays`` and the page show them."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from clickhouse_connect.driver.client import Client
from fastapi.testclient import TestClient

from schemas.replay import QueueComparison, ReplayReport, ReplayReportEvent, SlaFigures
from sinks.settings import SinkSettings
from sinks.wallboard.app import Board, create_app

from .test_wallboard_queries import write

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=timezone.utc)


def report(run_id: str, generated: datetime, replay_breached: int) -> ReplayReportEvent:
    live = SlaFigures(clocks=8, met=4, breached=4, warnings=8, attainment=50.0)
    strict = SlaFigures(clocks=8, met=8 - replay_breached, breached=replay_breached, warnings=16,
                        attainment=round(100.0 * (8 - replay_breached) / 8, 2))
    data = ReplayReport(
        run_id=run_id, range_from=T0, range_to=T0 + timedelta(hours=1), generated_at=generated, complete=True,
        contacts=8, lifecycle=4, live_rules_version="r1#abc", replay_rules_version="r1#abc", live_sla_policy="presets",
        replay_sla_policy="strict", compared=8, queue_changes=1, category_changes=0, priority_changes=0,
        dedup_changes=0, transitions={"queue:general->logistics": 1}, live=live, replay=strict, live_leads=2,
        replay_leads=2, leads_gained=0, leads_lost=0,
        queues=[QueueComparison(queue="general", live=live, replay=strict, live_contacts=8, replay_contacts=7,
                                live_leads=2, replay_leads=2)])
    return ReplayReportEvent(source="/tests", subject=run_id, data=data)


def test_reports_are_stored_and_served_newest_first_and_a_rerun_replaces_its_run(ch: Client,
                                                                                 sink_settings: SinkSettings) -> None:
    write(ch, sink_settings, [report("a", T0, 6), report("b", T0 + timedelta(minutes=5), 8),
                              report("a", T0 + timedelta(minutes=9), 7)])  # run a compared again after a resume
    app = TestClient(create_app(Board(ch, sink_settings), sink_settings))
    runs = app.get("/api/replays").json()  # public: aggregates only
    assert [(r["run_id"], r["replay_breached"]) for r in runs] == [("a", 7), ("b", 8)]
    first = runs[0]
    assert (first["live_attainment"], first["replay_sla_policy"], first["transitions"]) == \
        (50.0, "strict", {"queue:general->logistics": 1})
    assert [(q["queue"], q["live_breached"], q["replay_breached"], q["replay_contacts"]) for q in first["queues"]] == \
        [("general", 4, 7, 7)]
    assert "replay-runs" in app.get("/").text and app.get("/api/replays?limit=1").json()[0]["run_id"] == "a"
