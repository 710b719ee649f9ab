"""Routing decisions per second, in-process: the CPU cost of the routing agents per contact.

Runs what the routing hops do per contact, without Kafka: decode the contact, the
identity walk step, the customer-state decode/encode and ``Decider.decide``
(classification, priority, routing, case matching, upsell), then encodes the routed event.
Reports wall and CPU time per decision (CPU time is steadier on a shared machine), and the
CPU time of ``Decider.decide`` alone.
The target for a worker is 20,000 contacts/s; on a live worker add Kafka I/O.

    .venv/bin/python -m bench routing_decide
"""
from __future__ import annotations

import random
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from schemas.contact import Contact, ContactEvent, Identifiers
from schemas.envelope import stable_event_id
from schemas.routed import RoutedContactEvent
from streams.decide.cases import CustomerState
from streams.decide.decider import Decider
from streams.identity import Walk, first_hop, node_keys

N = 20_000
CUSTOMERS = 2_000
TEXTS = ["订单号：A2026112{:04d} 三天了还没发货，物流一直不更新", "My parcel for order B{:06d} has not arrived, tracking is stuck",
         "我要退货退款，尺码不对 {}", "想升级到高级版会员，续费有优惠吗 {}", "This is ridiculous!!! refund now or I go to the press {}",
         "请问这款有没有蓝色的？多少钱 {}", "The kettle stopped working, is it still under warranty? {}"]


def _events(rng: random.Random) -> list[bytes]:
    t0 = datetime(2026, 11, 22, tzinfo=timezone.utc)
    out = []
    for i in range(N):
        cust = rng.randrange(CUSTOMERS)
        body = rng.choice(TEXTS).format(rng.randrange(50))
        c = Contact(channel=rng.choice(["email", "sms", "chat", "social", "webform", "phone"]), provider="bench",
                    provider_message_id=f"m{i}", received_at=t0 + timedelta(seconds=i), body=body,
                    customer=Identifiers(phone=f"+86138{cust:08d}"), is_public=rng.random() < 0.1)
        out.append(ContactEvent(id=stable_event_id("bench", str(i)), source="/bench", data=c).encode())
    return out


def run() -> dict[str, float | str]:
    decider = Decider.load()
    raws = _events(random.Random(7))
    stored: dict[str, bytes] = {}
    began, cpu = time.perf_counter(), time.process_time()
    for raw in raws:
        key, value = first_hop(raw)
        header, _, payload = value[1:].partition(b"\n")
        walk = Walk.decode(header)
        state = CustomerState.decode(stored.get(walk.key))
        walk.hop(state)
        event = ContactEvent.decode(payload)
        outcome = decider.decide(event, walk.target, state, walk.reason())
        stored[walk.target] = state.encode()
        assert outcome.routed is not None
        RoutedContactEvent(id=event.id, source="/bench", data=outcome.routed).encode()
    elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
    rate = N / elapsed
    cpu_us = cpu / N * 1e6  # CPU time is less noisy than wall time on a shared machine
    decide_us = _decide_only(decider, raws)
    print(f"{N} contacts over {CUSTOMERS} customers in {elapsed:.2f} s: {rate:,.0f} decisions/s on one core, "
          f"{cpu_us:.0f} CPU µs per decision ({decide_us:.0f} µs of it in Decider.decide alone)")
    return {"contacts": N, "decisions_per_second": round(rate), "cpu_us_per_decision": round(cpu_us, 1),
            "cpu_decisions_per_second": round(1e6 / cpu_us), "decide_only_cpu_us": round(decide_us, 1),
            "target_per_worker": 20_000, "ratio_to_target": round(rate / 20_000, 2),
            "cpu_ratio_to_target": round(1e6 / cpu_us / 20_000, 2),
            "mean_state_bytes": round(sum(map(len, stored.values())) / len(stored))}


def _decide_only(decider: Decider, raws: list[bytes]) -> float:
    """CPU µs per ``Decider.decide`` call alone, on contacts and states decoded beforehand.

    Separates the decision code from the pydantic decode / encode of the events around it.
    """
    events = [ContactEvent.decode(raw) for raw in raws]
    keys = [node_keys(e.data.customer)[0][0] for e in events]
    states: dict[str, CustomerState] = {}
    cpu = time.process_time()
    for event, key in zip(events, keys):
        decider.decide(event, key, states.setdefault(key, CustomerState()), "identity: bench")
    return (time.process_time() - cpu) / len(events) * 1e6


if __name__ == "__main__":
    print(run())
