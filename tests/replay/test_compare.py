"""The what-if report's sides, on hand-made events: which escalations count."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from intake.replay_compare import Side

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=timezone.utc)
T1 = T0 + timedelta(hours=1)


def routed(contact_id: str, case_id: str) -> dict:
    return {"data": {"contact_id": contact_id, "case_id": case_id, "queue": "general", "rules_version": "r1"}}


def escalation(case_id: str, at: datetime) -> dict:
    return {"time": at.isoformat(), "data": {"case_id": case_id, "from_tier": 1, "to_tier": 2, "queue": "tier2",
                                             "reason": "breach", "trigger": "sla"}}


def test_escalations_count_for_the_ranges_cases_and_live_ones_only_within_the_range() -> None:
    events = [escalation("case-a", T0 + timedelta(minutes=5)),   # in the range
              escalation("case-b", T1 + timedelta(minutes=5)),   # after it: a later live breach
              escalation("case-x", T0 + timedelta(minutes=5))]   # a case of a contact outside the range
    routed_events = [routed("c1", "case-a"), routed("c2", "case-b"), routed("c3", "case-x")]
    live = Side(routed_events, [], [], events, {"c1", "c2"}, T0, T1, live=True)
    run = Side(routed_events, [], [], events, {"c1", "c2"}, T0, T1, live=False)
    assert [e["case_id"] for e in live.escalations] == ["case-a"]
    assert [e["case_id"] for e in run.escalations] == ["case-a", "case-b"]  # a run's events carry the run's time
