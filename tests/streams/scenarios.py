"""A deterministic mixed workload for the decision code, and a digest of everything it emits.

Used by ``test_golden`` to prove an optimisation changed no verdict, reason or encoding:
the expected lines in ``golden/decide.jsonl`` were recorded from the pydantic-model
implementation of the customer state before it was replaced.
"""
from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import orjson

from schemas.contact import Contact, ContactEvent, Identifiers, Thread
from schemas.envelope import Envelope, stable_event_id
from schemas.escalation import EscalationEvent
from schemas.lifecycle import Lifecycle, LifecycleAction
from schemas.routed import RoutedContactEvent
from schemas.upsell import UpsellLeadEvent

T0 = datetime(2026, 11, 22, tzinfo=timezone.utc)
BODIES = [
    "订单号：A2026112{n:04d} 三天了还没发货，物流一直不更新", "My parcel for order B{n:06d} has not arrived, tracking is stuck",
    "我要退货退款，尺码不对 {n}", "想升级到高级版会员，续费有优惠吗 {n}", "This is ridiculous!!! refund now or I go to the press {n}",
    "请问这款有没有蓝色的？多少钱 {n}", "The kettle stopped working, is it still under warranty? {n}",
    "我的快递三天了还没到，物流也不更新", "I would like a refund and to return the shoes", "付款的时候被扣款两次",
    "我要投诉你们的客服，我要向12315投诉", "紧急！订单一直显示支付失败", "I will report this to consumer protection",
    "我的会员快到期了，想升级到高级版，有什么优惠？", "hello there", "Ｏｒｄｅｒ ＃Ｃ７７７８８８ ｗｈｅｒｅ ｉｓ ｉｔ？",
    "ticket no. TK-{n:06d} still open, urgent please", "the charger smells of burning, safety hazard, recall?",
    "想买配件，bulk order of 200 units {n}", "谢谢，问题解决了", "",
]
CHANNELS = ["email", "sms", "chat", "social", "webform", "phone"]
ACTIONS = [LifecycleAction.ASSIGNED, LifecycleAction.RESOLVED, LifecycleAction.CLOSED, LifecycleAction.WAITING_ON_CUSTOMER,
           LifecycleAction.REOPENED, LifecycleAction.ESCALATED]


def _contact(rng: random.Random, i: int, at: datetime, msgids: list[str]) -> ContactEvent:
    channel = rng.choice(CHANNELS)
    cust = rng.randrange(12)
    ids: dict[str, object] = {"phone": f"+86138{cust:08d}"}
    if rng.random() < 0.15:  # a second identifier linking two customers
        ids["email"] = f"c{rng.randrange(12)}@example.cn"
    if rng.random() < 0.15:
        ids["order_numbers"] = [f"B{rng.randrange(5):06d}"]
    if rng.random() < 0.05:
        ids = {}
    thread = None
    if channel == "email":
        mid = f"<m{i}@mail.example>"
        reply = rng.choice(msgids) if msgids and rng.random() < 0.4 else None
        thread = Thread(message_id=mid, in_reply_to=reply, references=[reply] if reply else [])
        msgids.append(mid)
    extra: dict[str, object] = {}
    if rng.random() < 0.1:
        extra["attributes"] = {"segment": rng.choice(["VIP", "enterprise", "basic"])}
    if rng.random() < 0.1:
        extra["language"] = rng.choice(["zh-CN", "en-GB"])
    if channel == "phone" and rng.random() < 0.5:
        extra["call"] = {"call_id": f"call{i}", "transcript": rng.choice(BODIES).format(n=rng.randrange(9))}
    kind = "auto_reply" if rng.random() < 0.04 else "bounce" if rng.random() < 0.02 else "message"
    data = Contact(channel=channel, provider="golden", provider_message_id=f"g{i}", received_at=at, kind=kind,
                   body=rng.choice(BODIES).format(n=rng.randrange(9)),
                   subject=rng.choice([None, None, "Re: my order", "投诉"]), customer=Identifiers(**ids),
                   thread=thread, is_public=channel == "social" and rng.random() < 0.3, **extra)
    return ContactEvent(id=stable_event_id("golden", str(i)), source="/tests/golden", time=at, data=data)


def workload(n: int = 400, seed: int = 11) -> Iterator[ContactEvent | Lifecycle]:
    """Contacts (some re-delivered) over a few customers, seconds to days apart, with case lifecycle."""
    rng = random.Random(seed)
    at, msgids, sent = T0, [], []
    for i in range(n):
        at += timedelta(seconds=rng.choice([5, 60, 600, 3600, 4 * 3600, 2 * 86400, 30 * 86400]))
        if sent and rng.random() < 0.05:
            yield rng.choice(sent)  # exact re-delivery
            continue
        event = _contact(rng, i, at, msgids)
        sent.append(event)
        yield event
        if rng.random() < 0.2:
            yield Lifecycle(case_id="?", action=rng.choice(ACTIONS), at=at, agent=rng.choice([None, "ann"]),
                            queue=rng.choice([None, "vip-desk"]), tier=rng.choice([None, 2]))


def digest(raw: bytes | str | None) -> str | None:
    if raw is None:
        return None
    return hashlib.sha256(raw.encode() if isinstance(raw, str) else raw).hexdigest()[:16]


def _published(envelope: type[Envelope], kind: str, contact_id: str, data: object) -> bytes:
    """The event as ``streams.routing._publish`` encodes it (time fixed, so it is reproducible)."""
    return envelope(id=stable_event_id(kind, contact_id), source="/streams/routing", time=T0,
                    subject=getattr(data, "case_id", None) or None, data=data).encode()


def run(stored: dict[str, bytes] | None = None) -> list[bytes]:
    """Every emitted encoding per step, as JSON lines (verdicts in clear, payloads as digests)."""
    from streams.decide.cases import CustomerState, apply_lifecycle
    from streams.identity import Walk, first_hop

    from .test_identity import DECIDER

    stored = {} if stored is None else stored
    last_case: dict[str, str] = {}
    out: list[bytes] = []
    for item in workload():
        if isinstance(item, Lifecycle):
            if not last_case:
                continue
            key, case_id = next(reversed(last_case.items()))
            state = CustomerState.decode(stored.get(key))
            item = item.model_copy(update={"case_id": case_id})
            applied = apply_lifecycle(state, item)
            stored[key] = state.encode()
            out.append(orjson.dumps({"lifecycle": item.action.value, "applied": applied, "state": digest(stored[key])}))
            continue
        key, value = first_hop(item.encode())
        hops = [digest(value)]
        header, _, payload = value[1:].partition(b"\n")
        walk = Walk.decode(header)
        while True:
            state = CustomerState.decode(stored.get(walk.key))
            at = walk.key
            here, replaced = walk.hop(state)
            stored[at] = (replaced or state).encode()
            hops.append(digest(walk.encode()))
            if here:
                break
        outcome = DECIDER.decide(ContactEvent.decode(payload), walk.target, state, walk.reason())
        stored[walk.target] = state.encode()
        routed = outcome.routed
        if routed is not None and routed.case_id:
            last_case[walk.target] = routed.case_id
        out.append(orjson.dumps({
            "contact": item.id[:8], "dedup": routed and routed.dedup.value, "case": routed and routed.case_id,
            "queue": routed and routed.queue, "priority": routed and routed.priority, "hops": hops,
            "routed": digest(routed and _published(RoutedContactEvent, "routed", routed.contact_id, routed)),
            "escalation": digest(outcome.escalation and _published(EscalationEvent, "escalation", item.id, outcome.escalation)),
            "lead": digest(outcome.lead and _published(UpsellLeadEvent, "upsell", item.id, outcome.lead)),
            "state": digest(stored[walk.target])}))
    return out
