"""Property tests: any sequence of contacts, desk transitions and ticks keeps the clocks consistent."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.lifecycle import LifecycleAction
from schemas.routed import DedupVerdict
from schemas.sla import Sla
from streams.sla.engine import ClockEngine
from streams.sla.policy import PolicySet, load_policy
from streams.sla.state import CaseState

from .builders import lifecycle, routed

ENGINE = ClockEngine(PolicySet(load_policy(Path(__file__).with_name("short-clocks.yaml"))))
T0 = 1_800_000_000.0
TERMINAL = {"met", "stopped_late"}

step = st.one_of(
    st.tuples(st.just("contact"), st.sampled_from([v for v in DedupVerdict]), st.floats(0, 0.5)),
    st.tuples(st.just("desk"), st.sampled_from([a.value for a in LifecycleAction]), st.floats(0, 0.5)),
    st.tuples(st.just("tick"), st.just(""), st.floats(0, 3)),
)


@settings(max_examples=300, deadline=None)
@given(channel=st.sampled_from(["chat", "webform"]), steps=st.lists(step, max_size=25))
def test_any_history_keeps_clocks_consistent(channel: str, steps: list) -> None:
    now = T0
    first = routed("c", now, channel=channel)
    result = ENGINE.on_contact(None, first.data, first.id, now)
    state: CaseState = result.state
    emitted = [e for e in result.emits]
    for kind, what, advance in steps:
        now += advance
        if kind == "contact":
            ev = routed("c", now, channel=channel, verdict=DedupVerdict(what))
            result = ENGINE.on_contact(state, ev.data, ev.id, now)
        elif kind == "desk":
            ev = lifecycle("c", what, now)
            result = ENGINE.on_lifecycle(state, ev.data, ev.id)
        else:
            result = ENGINE.fire(state, now)
        emitted.extend(result.emits)
        for clock in state.clocks.values():
            # a running clock always knows its next due point, unless everything was announced
            assert clock.status != "running" or clock.due is not None or clock.fired >= 1.0
            assert clock.status != "paused" or clock.running_since is None
            assert clock.elapsed >= 0
    slas = [e.payload for e in emitted if isinstance(e.payload, Sla)]
    ids = Counter(e.event_id for e in emitted)
    assert max(ids.values()) == 1, "event ids are unique within one history"
    per_cycle = Counter((s.clock.value, s.status.value) for s in slas if s.status.value in {"breached", *TERMINAL})
    cycles = {name: c.cycle for name, c in state.clocks.items()}
    for (clock, _status), n in per_cycle.items():
        assert n <= cycles[clock], "at most one breach and one stop per clock cycle"
    assert state.tier <= 3
