"""Event-time SLA clocks without a broker: the clock module and the engine's fire_through."""
from __future__ import annotations

import math

from streams.sla.clock import PARTITIONS, StreamClock, command_time, commands_topic, watermark
from streams.sla.engine import ClockEngine
from streams.sla.policy import PolicySet, load_policy
from streams.tables import key_partition

from ..sla.builders import lifecycle, routed
from ..sla.conftest import SHORT_POLICY

T0 = 1_800_000_000.0


def test_command_times_and_partitions_follow_the_event_not_the_wall_clock() -> None:
    r = b"R" + routed("case-1", T0, channel="webform").encode()
    l = b"L" + lifecycle("case-1", "first_response", T0 + 5).encode()
    part = key_partition(b"case-1", PARTITIONS)
    assert command_time(r) == (part, T0) and command_time(l) == (part, T0 + 5)
    assert command_time(watermark(T0 + 9, 3)) == (3, T0 + 9)
    assert command_time(b"Rnot json") is None and commands_topic("app") == "app-sla-commands"
    clock = StreamClock("event")
    assert clock.advance(r) == (part, math.nextafter(T0, -math.inf))
    assert clock.advance(r) is None  # time does not move backwards or stand still
    assert clock.advance(watermark(T0 + 1, (part + 1) % PARTITIONS))[0] != part  # per partition
    assert not StreamClock("wall").event_time


def test_fire_through_announces_every_point_in_order_like_a_ticking_worker() -> None:
    engine = ClockEngine(PolicySet(load_policy(SHORT_POLICY)))
    event = routed("case-2", T0, channel="chat")  # first response 2 s, warnings at 50 % and 75 %
    state = engine.on_contact(None, event.data, event.id, T0).state
    assert state is not None
    fired = engine.fire_through(state, T0 + 100)
    got = [(e.payload.status.value, getattr(e.payload, "fraction", None)) for e in fired.emits
           if getattr(e.payload, "clock", None) is not None and e.payload.clock.value == "first_response"]
    assert got == [("warning", 0.5), ("warning", 0.75), ("breached", None)]
    # the wall-clock path after downtime announces only the latest point
    state2 = engine.on_contact(None, event.data, event.id, T0).state
    assert [e.payload.status.value for e in engine.fire(state2, T0 + 100).emits
            if getattr(e.payload, "clock", None) is not None and e.payload.clock.value == "first_response"] == ["breached"]
