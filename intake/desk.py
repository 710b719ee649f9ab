"""A simulated service desk for the local demo: agents that pick up, answer and resolve cases.

It reads routed contacts and publishes the lifecycle events a real service desk would
(assigned, first response, waiting on customer, resolved, closed, survey answered), with
randomised delays around the channel's clock, so the wallboard's handled / response-time /
service-level / CSAT / NPS figures move and some clocks breach. Demo only: `intake up` runs it
unless told not to; a deployment gets these events from its real desk.
"""
from __future__ import annotations

import heapq
import random
import signal
import time
import zlib
from datetime import datetime, timezone

from confluent_kafka import Consumer, Producer

from schemas import DedupVerdict, Lifecycle, LifecycleAction, LifecycleEvent, RoutedContactEvent, stable_event_id
from schemas.settings import KafkaSettings
from schemas.topics import LIFECYCLE, ROUTED

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
    return steps


def run_desk(kafka: KafkaSettings | None = None, seed: int | None = None) -> None:
    kafka = kafka or KafkaSettings()
    rng = random.Random(seed)
    consumer = Consumer(kafka.confluent(**{"group.id": f"{kafka.topic_prefix}-desk-sim", "auto.offset.reset": "latest"}))
    producer = Producer(kafka.confluent(**{"enable.idempotence": True, "acks": "all", "linger.ms": 20}))
    consumer.subscribe([kafka.topic(ROUTED)])
    lifecycle_topic = kafka.topic(LIFECYCLE)
    due: list[tuple[float, int, str, str, LifecycleAction, dict[str, int]]] = []
    counter = 0
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while not stopping:
            wait = min(1.0, max(0.0, due[0][0] - time.monotonic())) if due else 1.0
            for msg in consumer.consume(500, wait):
                if msg.error():
                    continue
                routed = RoutedContactEvent.decode(msg.value())
                if routed.data.dedup != DedupVerdict.NEW_CASE:
                    continue
                for when, action, answers in plan(routed, rng, time.monotonic()):
                    counter += 1
                    heapq.heappush(due, (when, counter, routed.data.case_id, routed.data.queue, action, answers))
            now = time.monotonic()
            while due and due[0][0] <= now:
                _, _, case_id, queue, action, answers = heapq.heappop(due)
                agent = AGENTS[zlib.crc32(case_id.encode()) % len(AGENTS)]
                event = LifecycleEvent(id=stable_event_id("desk-sim", case_id, action), source="/demo/desk-simulator",
                                       subject=case_id, data=Lifecycle(case_id=case_id, action=action, queue=queue,
                                                                       agent=agent, **answers,
                                                                       at=datetime.now(timezone.utc)))
                producer.produce(lifecycle_topic, key=case_id, value=event.encode())
            producer.poll(0)
    finally:
        producer.flush(10)
        consumer.close()
