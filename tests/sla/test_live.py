"""SLA clocks on a real worker and broker, with the second-scale test policy (tests/sla/short-clocks.yaml).

Chat cases: first response 2 s, warnings at 50% and 75%; webform cases: 4 s.
"""
from __future__ import annotations

import time
import uuid

import pytest

from schemas.routed import DedupVerdict
from schemas.topics import LIFECYCLE
from streams.sla.clock import ROUTED_COMMAND, commands_topic

from .builders import lifecycle, routed
from .conftest import Live, wait_for

pytestmark = pytest.mark.kafka


def new_case(live: Live, channel: str = "chat", queue: str = "general", **kw: object) -> tuple[str, float]:
    case_id = f"case-{uuid.uuid4().hex[:8]}"
    start = time.time()
    live.route(routed(case_id, start, channel=channel, queue=queue, **kw))
    return case_id, start


def opened_case(live: Live, channel: str = "chat", queue: str = "general", **kw: object) -> tuple[str, float]:
    """A new case whose clock has started: a lifecycle event sent next cannot overtake the contact
    that opens the case (they travel on two topics, and the clock agent ignores unknown cases)."""
    case_id, start = new_case(live, channel=channel, queue=queue, **kw)
    wait_for(lambda: "started" in statuses(live, case_id), 15, "the clock to start")
    return case_id, start


def sla_of(live: Live, case_id: str, clock: str = "first_response") -> list:
    return [(e.data, t) for e, t in live.out.select("sla.v1", lambda e: e.data.case_id == case_id
                                                     and e.data.clock == clock)]


def statuses(live: Live, case_id: str, clock: str = "first_response") -> list[str]:
    return [d.status.value for d, _ in sla_of(live, case_id, clock)]


def test_warnings_then_breach_fire_on_time_and_escalate(live: Live) -> None:
    case_id, start = new_case(live)
    wait_for(lambda: "breached" in statuses(live, case_id), 30, "the breach")
    events = sla_of(live, case_id)
    assert [(d.status.value, d.fraction) for d, _ in events] == [
        ("started", None), ("warning", 0.5), ("warning", 0.75), ("breached", None)]
    for data, arrived in events[1:]:
        # announced for the right instant, and never before it
        assert data.at.timestamp() == pytest.approx(start + data.target_seconds * (data.fraction or 1.0), abs=0.01)
        assert arrived >= data.at.timestamp()
    breach = events[-1][0]
    assert breach.deadline.timestamp() == pytest.approx(start + 2.0, abs=0.01) and breach.channel == "chat"
    [(esc, _)] = wait_for(lambda: live.out.select("escalations.v1", lambda e: e.data.case_id == case_id), 15,
                          "the escalation")
    assert (esc.data.trigger, esc.data.from_tier, esc.data.to_tier) == ("sla", 1, 2)
    # the worker's /metrics counts it, and shows a clock still open past its deadline
    assert live.worker.metric("intake_sla_breaches_total", 'clock="first_response"') >= 1
    assert live.worker.metric("intake_sla_open_clocks", 'state="breached"') >= 1
    assert live.worker.metric("intake_sla_breach_detection_lag_seconds_count") >= 1


def test_next_response_and_resolution_clocks_warn_then_breach(live: Live) -> None:
    # webform in queue "slow": first response 4 s, next response 4 s, resolution 6 s
    case_id, start = opened_case(live, channel="webform", queue="slow")
    live.feeder.send(LIFECYCLE, case_id, lifecycle(case_id, "first_response", start + 0.2))
    live.feeder.send(LIFECYCLE, case_id, lifecycle(case_id, "customer_replied", start + 0.5))
    wait_for(lambda: "breached" in statuses(live, case_id, "next_response")
             and "breached" in statuses(live, case_id, "resolution"), 30, "both breaches")
    assert statuses(live, case_id, "first_response") == ["started", "met"]
    for clock, began, target in (("next_response", start + 0.5, 4.0), ("resolution", start, 6.0)):
        events = sla_of(live, case_id, clock)
        assert [(d.status.value, d.fraction) for d, _ in events] == [
            ("started", None), ("warning", 0.5), ("warning", 0.75), ("breached", None)]
        for data, arrived in events[1:]:
            assert data.at.timestamp() == pytest.approx(began + target * (data.fraction or 1.0), abs=0.01)
            assert arrived >= data.at.timestamp()


def test_first_response_stops_the_clock(live: Live) -> None:
    case_id, start = opened_case(live)
    live.feeder.send(LIFECYCLE, case_id, lifecycle(case_id, "first_response", start + 0.3))
    wait_for(lambda: "met" in statuses(live, case_id), 15, "the clock to be met")
    # a sentinel case started after this clock's deadline breaches: by then this one would have too
    sentinel, _ = new_case(live, category="sentinel")
    wait_for(lambda: "breached" in statuses(live, sentinel) and time.time() > start + 2.5, 30, "the sentinel")
    assert statuses(live, case_id) == ["started", "met"]
    [(met, _)] = [(d, t) for d, t in sla_of(live, case_id) if d.status.value == "met"]
    assert met.elapsed_business_seconds == pytest.approx(0.3, abs=0.01)


def test_waiting_on_customer_pauses_until_the_customer_comes_back(live: Live) -> None:
    case_id, start = opened_case(live)
    live.feeder.send(LIFECYCLE, case_id, lifecycle(case_id, "waiting_on_customer", time.time()))
    wait_for(lambda: "paused" in statuses(live, case_id), 15, "the pause")
    # wait well past the original 2 s deadline: a sentinel started later breaches first
    sentinel, _ = new_case(live, category="sentinel")
    wait_for(lambda: "breached" in statuses(live, sentinel) and time.time() > start + 2.5, 30, "the sentinel")
    assert statuses(live, case_id)[-1] == "paused" and "breached" not in statuses(live, case_id)
    [paused] = [d for d, _ in sla_of(live, case_id) if d.status.value == "paused"]
    resume_at = time.time()
    live.route(routed(case_id, resume_at, verdict=DedupVerdict.FOLLOW_UP))
    wait_for(lambda: "breached" in statuses(live, case_id), 30, "the breach after resuming")
    after = [d for d, _ in sla_of(live, case_id)][statuses(live, case_id).index("resumed"):]
    assert [d.status.value for d in after][0] == "resumed" and after[-1].status.value == "breached"
    # the time used before the pause counts; the waiting time does not
    left = 2.0 - paused.elapsed_business_seconds
    assert after[-1].at.timestamp() == pytest.approx(resume_at + left, abs=0.05)
    assert after[-1].deadline == after[-1].at


def test_breach_spike_fires_one_alert_then_resolves(live: Live) -> None:
    queue = f"spike-{uuid.uuid4().hex[:6]}"
    cases = [new_case(live, queue=queue)[0] for _ in range(6)]

    def alerts() -> list:
        return [e.data for e, _ in live.out.select("alerts.v1", lambda e: e.data.labels.get("queue") == queue)]

    wait_for(lambda: [a for a in alerts() if a.status.value == "resolved"], 40, "the alert to fire and resolve")
    assert all("breached" in statuses(live, c) for c in cases)
    fired, resolved = alerts()
    assert (fired.status.value, resolved.status.value) == ("firing", "resolved")
    assert fired.name == "SlaBreachSpike" and fired.severity == "critical"
    assert fired.fingerprint == resolved.fingerprint
    assert fired.figures["breaches_in_window"] >= 4 and resolved.figures["breaches_in_window"] < 1
    # the queue keeps quiet: a later breach elsewhere does not re-open or repeat it
    other, _ = new_case(live)
    wait_for(lambda: "breached" in statuses(live, other), 30, "a breach on another queue")
    assert len(alerts()) == 2


def test_unreadable_input_is_dead_lettered_with_its_cause(live: Live) -> None:
    live.feeder.produce(commands_topic(live.worker.app_id), "case-x", ROUTED_COMMAND + b'{"not": "a routed event"}')
    live.feeder.produce(live.kafka.topic(LIFECYCLE), "case-y", b'{"not": "a lifecycle event"}')
    [(routed_letter, _)] = wait_for(lambda: live.out.select(
        "deadletter.v1", lambda e: e.data.stage == "agent:sla_clocks"), 30, "the routed command's dead letter")
    assert routed_letter.data.error_type == "ValidationError" and "data" in routed_letter.data.cause
    assert routed_letter.data.payload == 'R{"not": "a routed event"}'
    [(lifecycle_letter, _)] = wait_for(lambda: live.out.select(
        "deadletter.v1", lambda e: e.data.stage == "agent:sla_rekey_lifecycle"), 30, "the lifecycle's dead letter")
    assert lifecycle_letter.data.error_type == "ValidationError"
    assert lifecycle_letter.data.payload == '{"not": "a lifecycle event"}'
