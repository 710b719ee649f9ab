"""The demo desk: it answers cases and, standing in for sales, reports results for upsell leads."""
from __future__ import annotations

import random
import threading
import time
import uuid
from datetime import datetime, timezone

from confluent_kafka import Consumer, Producer

from intake.desk import run_desk, sell
from schemas import (LifecycleAction, LifecycleEvent, UpsellKind, UpsellLead, UpsellLeadEvent, UpsellOutcomeEvent,
                     UpsellResult)
from schemas.settings import KafkaSettings
from schemas.topics import LIFECYCLE, ROUTED, UPSELL, UPSELL_OUTCOMES
from tests.sinks.factory import routed_contact


def lead(n: int, score: float) -> UpsellLeadEvent:
    return UpsellLeadEvent(source="/tests", id=f"lead-{uuid.uuid4().hex[:8]}-{n}", data=UpsellLead(
        case_id=f"case-{n}", contact_id=f"c{n}", customer_key=f"phone:{n}", kind=UpsellKind.UPGRADE, score=score,
        evidence="warranty ends soon", rule="warranty", channel="webform", queue="general"))


def test_sales_convert_better_leads_more_often_and_only_conversions_carry_a_value() -> None:
    rng = random.Random(3)
    shares = {}
    for score in (0.2, 1.0):
        results = [sell(lead(n, score), rng, 100.0) for n in range(2_000)]
        answered = [r for r in results if r is not None]
        assert 0.15 < 1 - len(answered) / len(results) < 0.25  # some leads never get a result
        assert all(120 <= when <= 220 for when, _, _ in answered)
        assert all((amount is not None and amount > 0) == (result is UpsellResult.CONVERTED)
                   for _, result, amount in answered)
        shares[score] = sum(result is UpsellResult.CONVERTED for _, result, _ in answered) / len(answered)
    assert 0.08 < shares[0.2] < 0.16 and 0.54 < shares[1.0] < 0.66


def test_the_desk_answers_cases_and_reports_lead_results_on_the_broker(kafka_settings: KafkaSettings) -> None:
    stop = threading.Event()
    desk = threading.Thread(target=run_desk, kwargs=dict(kafka=kafka_settings, seed=1, pace=0.01, stop=stop))
    desk.start()
    reader = Consumer(kafka_settings.confluent(**{"group.id": f"{kafka_settings.topic_prefix}-reader",
                                                  "auto.offset.reset": "earliest"}))
    reader.subscribe([kafka_settings.topic(UPSELL_OUTCOMES), kafka_settings.topic(LIFECYCLE)])
    producer = Producer(kafka_settings.confluent())
    leads: dict[str, UpsellLeadEvent] = {}
    cases: set[str] = set()
    outcomes: dict[str, UpsellOutcomeEvent] = {}
    actions: dict[str, set[LifecycleAction]] = {}
    try:
        deadline = time.monotonic() + 60
        n = 0
        # the desk reads from the latest offset once it has joined: keep offering work until it answers
        while not (outcomes and any({LifecycleAction.ASSIGNED, LifecycleAction.FIRST_RESPONSE} <= a
                                    for a in actions.values())):
            assert time.monotonic() < deadline, (outcomes, actions)
            n += 1
            offered = lead(n, 1.0)
            leads[offered.id] = offered
            contact = routed_contact(message_id=f"desk-{offered.id}", received_at=datetime.now(timezone.utc))
            cases.add(contact.data.case_id)
            producer.produce(kafka_settings.topic(UPSELL), key=offered.id, value=offered.encode())
            producer.produce(kafka_settings.topic(ROUTED),
                             key=contact.data.customer_key, value=contact.encode())
            producer.flush(10)
            for msg in reader.consume(100, 0.5):
                if msg.error():
                    continue
                if msg.topic() == kafka_settings.topic(UPSELL_OUTCOMES):
                    event = UpsellOutcomeEvent.decode(msg.value())
                    assert msg.key().decode() == event.data.lead_id
                    outcomes[event.data.lead_id] = event
                else:
                    event = LifecycleEvent.decode(msg.value())
                    actions.setdefault(event.data.case_id, set()).add(event.data.action)
    finally:
        stop.set()
        desk.join(30)
        reader.close()
    assert not desk.is_alive()
    assert set(outcomes) <= set(leads) and set(actions) <= cases
    for event in outcomes.values():
        assert event.data.result in (UpsellResult.CONVERTED, UpsellResult.DECLINED)
        assert (event.data.amount is not None) == (event.data.result is UpsellResult.CONVERTED)
