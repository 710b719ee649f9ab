"""Property tests: no input crashes the decision code; every input ends in exactly one routed
event or one dead letter (the agents dead-letter exactly what ``first_hop`` refuses)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.contact import Channel, Contact, ContactEvent, ContactKind, Identifiers, Thread
from schemas.envelope import stable_event_id
from schemas.lifecycle import Lifecycle, LifecycleAction
from streams.decide.cases import CustomerState, apply_lifecycle
from streams.identity import first_hop

from .test_identity import DECIDER, Pipeline

KEYWORDS = ["订单", "退款", "投诉", "12315", "升级", "配件", "急", "！！！", "refund", "order #A123456", "upgrade",
            "urgent", "lawyer", "recall", "谢谢", "曝光", "bulk order", "warranty", "Ｏｒｄｅｒ", "\u200b", "\x00"]
text = st.lists(st.one_of(st.sampled_from(KEYWORDS), st.text(max_size=30)), max_size=12).map(" ".join)
T0 = datetime(2026, 11, 22, tzinfo=timezone.utc)


@st.composite
def contacts(draw: st.DrawFn) -> ContactEvent:
    channel = draw(st.sampled_from(list(Channel)))
    mid = draw(st.text(min_size=1, max_size=20))
    ident = Identifiers(phone=draw(st.sampled_from([None, "+8613800000001", "+8613800000002"])),
                        email=draw(st.sampled_from([None, "a@x.cn", "B@X.CN"])),
                        handle=draw(st.sampled_from([None, "wechat:o1"])),
                        order_numbers=draw(st.lists(st.sampled_from(["A123456", "a123456", "B999999", " "]), max_size=3)))
    thread = draw(st.one_of(st.none(), st.builds(Thread, message_id=st.sampled_from(["<1@x>", "<2@x>"]),
                                                 in_reply_to=st.sampled_from([None, "<1@x>", "<2@x>"]))))
    data = Contact(channel=channel, provider="prop", provider_message_id=mid,
                   # within the dedup memory (rules: seen_hours = 168): older re-deliveries are decided again, by design
                   received_at=T0 + timedelta(seconds=draw(st.integers(0, 6 * 86400))),
                   kind=draw(st.sampled_from(list(ContactKind))), customer=ident, subject=draw(st.none() | text),
                   body=draw(text), language=draw(st.sampled_from([None, "zh-CN", "en", "x"])), thread=thread,
                   is_public=draw(st.booleans()),
                   attributes=draw(st.dictionaries(st.sampled_from(["segment", "x"]),
                                                   st.sampled_from(["VIP", "gold", "", "企业", "other"]), max_size=2)))
    return ContactEvent(id=stable_event_id(channel, mid), source="/prop", data=data)


@settings(max_examples=300, deadline=None)
@given(st.lists(contacts(), min_size=1, max_size=8), st.lists(st.sampled_from(list(LifecycleAction)), max_size=4))
def test_decisions_never_crash_and_decide_each_contact_once(events: list[ContactEvent],
                                                           actions: list[LifecycleAction]) -> None:
    state = CustomerState()
    decided: set[str] = set()
    for i, event in enumerate(events):
        out = DECIDER.decide(event, "cus-00000000000000ff", state, "identity: prop")
        if event.id in decided:
            assert out.routed is None
            continue
        assert out.routed is not None and out.routed.rules_version == DECIDER.version
        decided.add(event.id)
        r = out.routed
        assert 1 <= r.priority <= 5 and 1 <= r.tier <= 3 and r.priority_reason and r.routing_reason
        assert (r.case_id == "") == (event.data.kind != ContactKind.MESSAGE)
        if out.lead is not None:
            assert r.upsell.value == "lead" and 0 <= out.lead.score <= 1
        if r.case_id and i < len(actions):
            apply_lifecycle(state, Lifecycle(case_id=r.case_id, action=actions[i], at=T0))
        CustomerState.decode(state.encode())  # the state always round-trips


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=200), contacts().map(lambda e: e.encode()),
                 contacts().map(lambda e: json.dumps({**json.loads(e.encode()), "type": "wrong"}).encode()),
                 contacts().map(lambda e: e.encode()[:-3])))
def test_first_hop_either_forwards_or_refuses(raw: bytes) -> None:
    try:
        event = ContactEvent.decode(raw)
    except ValueError:
        event = None
    try:
        key, value = first_hop(raw)
    except ValueError:  # pydantic ValidationError, bad UTF-8, wrong type: the agent dead-letters these
        assert event is None
        return
    assert event is not None and key and value.endswith(raw)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(contacts(), min_size=1, max_size=6), st.lists(st.integers(0, 30), min_size=50, max_size=50))
def test_through_every_hop_each_distinct_contact_is_routed_exactly_once(events: list[ContactEvent],
                                                                       order: list[int]) -> None:
    # one provider message, one content: a re-delivery is an exact copy (same id, same identifiers)
    events = list({e.id: e for e in reversed(events)}.values())
    p = Pipeline()
    for e in [*events, *events[:2]]:  # exact re-deliveries included
        p.ingest(e)
    steps = 0
    while p.inflight:
        p.step(order[steps % len(order)])
        steps += 1
        assert steps < 5000
    assert set(p.routed) == {e.id for e in events}
