"""The clock state machine, driven directly (no broker)."""
from __future__ import annotations

from pathlib import Path

import pytest

from schemas.escalation import Escalation
from schemas.routed import DedupVerdict
from schemas.sla import Sla
from streams.sla.engine import ClockEngine, Result
from streams.sla.index import DueIndex
from streams.sla.policy import PolicySet, load_policy
from streams.sla.state import CaseState

from .builders import lifecycle, routed

POLICY = Path(__file__).with_name("short-clocks.yaml")
T0 = 1_800_000_000.0


@pytest.fixture
def engine() -> ClockEngine:
    return ClockEngine(PolicySet(load_policy(POLICY)))


def sla(result: Result) -> list[tuple[str, str, float | None]]:
    return [(e.payload.clock.value, e.payload.status.value, e.payload.fraction)
            for e in result.emits if isinstance(e.payload, Sla)]


def start(engine: ClockEngine, case: str = "c1", **kw: object) -> CaseState:
    ev = routed(case, T0, **kw)
    result = engine.on_contact(None, ev.data, ev.id, T0)
    assert result.state is not None
    return result.state


def test_new_chat_case_starts_its_clocks(engine: ClockEngine) -> None:
    ev = routed("c1", T0)
    result = engine.on_contact(None, ev.data, ev.id, T0)
    assert sorted(sla(result)) == [("first_response", "started", None), ("resolution", "started", None)]
    fr = result.state.clocks["first_response"]
    assert (fr.target, fr.deadline, fr.due, fr.due_fraction) == (2.0, T0 + 2, T0 + 1, 0.5)
    assert result.state.clocks["resolution"].target == 3600.0
    assert (T0 + 1, "first_response") in result.scheduled


def test_warnings_then_breach_then_escalation(engine: ClockEngine) -> None:
    state = start(engine)
    assert sla(engine.fire(state, T0 + 0.9)) == []
    assert sla(engine.fire(state, T0 + 1.0)) == [("first_response", "warning", 0.5)]
    assert sla(engine.fire(state, T0 + 1.6)) == [("first_response", "warning", 0.75)]
    result = engine.fire(state, T0 + 2.05)
    assert sla(result) == [("first_response", "breached", None)]
    [esc] = [e.payload for e in result.emits if isinstance(e.payload, Escalation)]
    assert (esc.from_tier, esc.to_tier, esc.trigger) == (1, 2, "sla")
    assert state.tier == 2 and state.clocks["first_response"].status == "breached"
    assert sla(engine.fire(state, T0 + 10)) == []  # announced once


def test_late_tick_announces_only_the_latest_point(engine: ClockEngine) -> None:
    state = start(engine)
    assert sla(engine.fire(state, T0 + 30)) == [("first_response", "breached", None)]


def test_first_response_meets_the_clock(engine: ClockEngine) -> None:
    state = start(engine)
    ev = lifecycle("c1", "first_response", T0 + 1.5)
    result = engine.on_lifecycle(state, ev.data, ev.id)
    assert sla(result) == [("first_response", "met", None)]
    assert state.clocks["first_response"].due is None
    assert sla(engine.fire(state, T0 + 5)) == []


def test_stop_after_breach_is_recorded_late(engine: ClockEngine) -> None:
    state = start(engine)
    engine.fire(state, T0 + 3)
    ev = lifecycle("c1", "responded", T0 + 4)
    assert sla(engine.on_lifecycle(state, ev.data, ev.id)) == [("first_response", "stopped_late", None)]


def test_waiting_on_customer_pauses_and_reply_resumes(engine: ClockEngine) -> None:
    state = start(engine)
    ev = lifecycle("c1", "waiting_on_customer", T0 + 0.5)
    assert sorted(sla(engine.on_lifecycle(state, ev.data, ev.id))) == [
        ("first_response", "paused", None), ("resolution", "paused", None)]
    assert sla(engine.fire(state, T0 + 100)) == []  # no breach while paused
    reply = routed("c1", T0 + 100, verdict=DedupVerdict.REPEAT)
    result = engine.on_contact(state, reply.data, reply.id, T0 + 100)
    assert sorted(sla(result)) == [("first_response", "resumed", None), ("resolution", "resumed", None)]
    fr = state.clocks["first_response"]
    assert fr.deadline == pytest.approx(T0 + 101.5)  # 0.5 s used before the pause, 1.5 s left
    assert sla(engine.fire(state, T0 + 101.4)) == [("first_response", "warning", 0.75)]
    assert sla(engine.fire(state, T0 + 101.5)) == [("first_response", "breached", None)]


def test_redelivered_commands_are_no_ops(engine: ClockEngine) -> None:
    ev = routed("c1", T0)
    state = engine.on_contact(None, ev.data, ev.id, T0).state
    assert engine.on_contact(state, ev.data, ev.id, T0).emits == []
    stop = lifecycle("c1", "first_response", T0 + 1)
    assert len(engine.on_lifecycle(state, stop.data, stop.id).emits) == 1
    assert engine.on_lifecycle(state, stop.data, stop.id).emits == []


def test_event_ids_are_deterministic(engine: ClockEngine) -> None:
    a, b = start(engine), start(engine)
    ids_a = [e.event_id for e in engine.fire(a, T0 + 3).emits]
    ids_b = [e.event_id for e in engine.fire(b, T0 + 3).emits]
    assert ids_a == ids_b and len(set(ids_a)) == len(ids_a)


def test_reopen_starts_a_new_cycle(engine: ClockEngine) -> None:
    state = start(engine)
    for i, action in enumerate(("first_response", "resolved", "reopened")):
        ev = lifecycle("c1", action, T0 + 1 + i)
        result = engine.on_lifecycle(state, ev.data, ev.id)
    assert sla(result) == [("resolution", "started", None)]
    assert state.clocks["resolution"].cycle == 2


def test_next_response_waits_for_first_response(engine: ClockEngine) -> None:
    state = start(engine)
    reply = lifecycle("c1", "customer_replied", T0 + 0.5)
    assert "next_response" not in state.clocks and sla(engine.on_lifecycle(state, reply.data, reply.id)) == []
    answered = lifecycle("c1", "first_response", T0 + 1)
    engine.on_lifecycle(state, answered.data, answered.id)
    again = lifecycle("c1", "customer_replied", T0 + 5)
    assert sla(engine.on_lifecycle(state, again.data, again.id)) == [("next_response", "started", None)]


def test_vip_segment_gets_a_faster_clock(engine: ClockEngine) -> None:
    state = start(engine, segment="vip")
    assert state.clocks["first_response"].target == 1.0


def test_auto_replies_open_nothing(engine: ClockEngine) -> None:
    ev = routed("c1", T0, verdict=DedupVerdict.NOT_A_CONTACT)
    assert engine.on_contact(None, ev.data, ev.id, T0).state is None


def test_lifecycle_for_unknown_case_changes_nothing(engine: ClockEngine) -> None:
    ev = lifecycle("nobody", "resolved", T0)
    assert engine.on_lifecycle(None, ev.data, ev.id).state is None


def test_due_index_pops_each_case_once_in_order() -> None:
    index = DueIndex()
    for due, case in ((5.0, "b"), (1.0, "a"), (3.0, "a"), (9.0, "c")):
        index.push(due, case)
    assert index.pop_due(4.0) == ["a"]
    assert index.pop_due(6.0) == ["b"]
    assert index.next_due() == 9.0 and len(index) == 1
