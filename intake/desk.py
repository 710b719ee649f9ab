"""A simulated service desk for the local demo: agents that pick up, answer and resolve cases.

It reads routed contacts and publishes the lifecycle events a real service desk would
(assigned, first response, waiting on customer, resolved, closed, survey answered; a few cases
closed unresolved), with randomised delays around the channel's clock, so the wallboard's handled,
response-time, service-level, resolution-rate, CSAT and NPS figures move and some clocks breach.
It also stands in for the sales team: it reads the upsell leads and reports a result for most of
them (converted or declined), so the conversion figure moves. Demo only: `intake up` runs it
unless told not to; a deployment gets these events from its real desk and sales system.
"""
from __future__ import annotations

import heapq
import random
import signal
import threading
import time
import zlib
from collections.abc import Callable
from datetime import datetime, timezone

from confluent_kafka import Consumer, Producer

from schemas import (DedupVerdict, Envelope, Lifecycle, LifecycleAction, LifecycleEvent, RoutedContactEvent,
                     UpsellLeadEvent, UpsellOutcome, UpsellOutcomeEvent, UpsellResult, stable_event_id)
from schemas.settings import KafkaSettings
from schemas.topics import LIFECYCLE, ROUTED, UPSELL, UPSELL_OUTCOMES

#: median first-response delay per channel, seconds (chat is answered fast, mail slowly)
FIRST_RESPONSE_MEDIAN = {"chat": 12.0, "phone": 20.0, "sms": 60.0, "social": 60.0, "webform": 90.0, "email": 120.0}
AGENTS = ("ana", "bo", "chen", "dara", "eli", "fang", "gus", "hui")


def plan(routed: RoutedContactEvent, rng: random.Random, now: float) -> list[tuple[float, LifecycleAction, dict[str, int]]]:
    """The lifecycle of one new case as (due monotonic time, action, survey answers: csat / nps)."""
    median = FIRST_RESPONSE_MEDIAN.get(routed.data.contact.channel, 60.0)
    assigned = now + rng.uniform(1, 4)
    first = assigned + rng.lognormvariate(0, 0.8) * median
    steps = [(assigned, LifecycleAction.ASSIGNED, {}), (first, LifecycleAction.FIRST_RESPONSE, {})]
    at = first
    if rng.random() < 0.2:
        at += rng.uniform(5, 30)
        steps.append((at, LifecycleAction.WAITING_ON_CUSTOMER, {}))
        at += rng.uniform(10, 60)
        steps.append((at, LifecycleAction.CUSTOMER_REPLIED, {}))
    if rng.random() < 0.8:
        at += rng.lognormvariate(0, 0.7) * median * 2
        steps.append((at, LifecycleAction.RESOLVED, {}))
        at += rng.uniform(2, 10)
        steps.append((at, LifecycleAction.CLOSED, {}))
        if rng.random() < 0.6:
            csat = max(0, min(100, int(rng.gauss(86 - 8 * routed.data.severity, 10))))
            nps = max(0, min(10, round(rng.gauss(8.5 - 1.5 * routed.data.severity, 2))))
            steps.append((at + rng.uniform(5, 20), LifecycleAction.SURVEY_ANSWERED, {"csat": csat, "nps": nps}))
    elif rng.random() < 0.25:  # the customer never came back: closed without a resolution
        steps.append((at + rng.uniform(60, 300), LifecycleAction.CLOSED, {}))
    return steps


def sell(lead: UpsellLeadEvent, rng: random.Random, now: float) -> tuple[float, UpsellResult, float | None] | None:
    """Sales' result for one lead as (due monotonic time, result, order value in CNY), or None when
    sales never report back. The better the lead's score, the likelier the sale."""
    if rng.random() < 0.2:
        return None
    when = now + rng.uniform(20, 120)
    if rng.random() < 0.6 * lead.data.score:
        return when, UpsellResult.CONVERTED, round(rng.lognormvariate(5.5, 0.6), 2)
    return when, UpsellResult.DECLINED, None


Due = tuple[float, int, str, str, Callable[[datetime], Envelope]]  # when, tie-break, topic, key, the event at a time


def run_desk(kafka: KafkaSettings | None = None, seed: int | None = None, pace: float = 1.0,
             stop: threading.Event | None = None) -> None:
    """Until SIGINT / SIGTERM (or ``stop`` is set); ``pace`` scales every delay (tests run it fast)."""
    kafka = kafka or KafkaSettings()
    rng = random.Random(seed)
    consumer = Consumer(kafka.confluent(**{"group.id": f"{kafka.topic_prefix}-desk-sim", "auto.offset.reset": "latest"}))
    producer = Producer(kafka.confluent(**{"enable.idempotence": True, "acks": "all", "linger.ms": 20}))
    routed_topic, leads_topic = kafka.topic(ROUTED), kafka.topic(UPSELL)
    consumer.subscribe([routed_topic, leads_topic])
    lifecycle_topic, outcomes_topic = kafka.topic(LIFECYCLE), kafka.topic(UPSELL_OUTCOMES)
    due: list[Due] = []
    counter = 0

    def schedule(when: float, topic: str, key: str, event: Callable[[datetime], Envelope]) -> None:
        nonlocal counter
        counter += 1
        heapq.heappush(due, (time.monotonic() + (when - time.monotonic()) * pace, counter, topic, key, event))

    if stop is None:
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        while not stop.is_set():
            wait = min(1.0, max(0.0, due[0][0] - time.monotonic())) if due else 1.0
            for msg in consumer.consume(500, wait):
                if msg.error():
                    continue
                if msg.topic() == leads_topic:
                    lead = UpsellLeadEvent.decode(msg.value())
                    outcome = sell(lead, rng, time.monotonic())
                    if outcome is not None:
                        schedule(outcome[0], outcomes_topic, lead.id, _outcome(lead.id, *outcome[1:]))
                    continue
                routed = RoutedContactEvent.decode(msg.value())
                if routed.data.dedup != DedupVerdict.NEW_CASE:
                    continue
                for when, action, answers in plan(routed, rng, time.monotonic()):
                    schedule(when, lifecycle_topic, routed.data.case_id,
                             _transition(routed.data.case_id, routed.data.queue, action, answers))
            now = time.monotonic()
            while due and due[0][0] <= now:
                _, _, topic, key, event = heapq.heappop(due)
                producer.produce(topic, key=key, value=event(datetime.now(timezone.utc)).encode())
            producer.poll(0)
    finally:
        producer.flush(10)
        consumer.close()


def _transition(case_id: str, queue: str, action: LifecycleAction,
                answers: dict[str, int]) -> Callable[[datetime], Envelope]:
    agent = AGENTS[zlib.crc32(case_id.encode()) % len(AGENTS)]
    return lambda at: LifecycleEvent(id=stable_event_id("desk-sim", case_id, action), source="/demo/desk-simulator",
                                     subject=case_id, data=Lifecycle(case_id=case_id, action=action, queue=queue,
                                                                     agent=agent, **answers, at=at))


def _outcome(lead_id: str, result: UpsellResult, amount: float | None) -> Callable[[datetime], Envelope]:
    return lambda at: UpsellOutcomeEvent(
        id=stable_event_id("sales-sim", lead_id), source="/demo/sales-simulator", subject=lead_id,
        data=UpsellOutcome(lead_id=lead_id, result=result, at=at, amount=amount, currency="CNY" if amount else None,
                           agent="sales-" + AGENTS[zlib.crc32(lead_id.encode()) % len(AGENTS)]))
