"""Routing throughput through a real worker on the local broker: contacts in, routed events out.

Pre-loads N contacts (2,000 customers, mixed zh/en texts) onto a fresh CONTACTS topic, starts
one stream worker (the whole worker: routing plus the SLA agents) and measures how fast ROUTED
fills, from the first routed event to the last. Each contact takes the ingress hop and one or
more customer hops (the identity walk), so this includes Kafka I/O for all of them.

    .venv/bin/python -m bench routing_live
"""
from __future__ import annotations

import random
import sys
import time
import uuid
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from confluent_kafka import Producer

from bench._support import fresh_kafka, free_port, service, topic_message_count
from bench.routing_decide import _events
from schemas.contact import ContactEvent
from schemas.topics import CONTACTS, ROUTED

N = 10_000


def run() -> dict[str, float | str]:
    kafka = fresh_kafka()
    producer = Producer(kafka.confluent(**{"linger.ms": 20, "enable.idempotence": True}))
    raws = _events(random.Random(11))[:N]
    for raw in raws:
        producer.produce(kafka.topic(CONTACTS), key=ContactEvent.decode(raw).dedup_key.encode(), value=raw)
        producer.poll(0)
    producer.flush(60)
    port = free_port()
    env = {"INTAKE_KAFKA_TOPIC_PREFIX": kafka.topic_prefix, "INTAKE_STREAMS_APP_ID": f"bench-{uuid.uuid4().hex[:8]}",
           "INTAKE_STREAMS_DATADIR": f"/tmp/{kafka.topic_prefix}-streams", "INTAKE_STREAMS_WEB_PORT": str(port)}
    routed_topic = kafka.topic(ROUTED)
    with service(["worker"], env, ready_url=f"http://127.0.0.1:{port}/metrics"):
        first_at = None
        deadline = time.monotonic() + 600
        count = 0
        while count < N and time.monotonic() < deadline:
            count = topic_message_count(kafka, routed_topic)
            if count and first_at is None:
                first_at, first_count = time.monotonic(), count
            time.sleep(0.5)
        done_at = time.monotonic()
    if first_at is None or count < N:
        return {"error": f"only {count} of {N} contacts routed within the deadline"}
    rate = (count - first_count) / max(done_at - first_at, 1e-3)
    print(f"{count} routed; {rate:,.0f} contacts/s through one worker")
    return {"contacts": N, "routed_per_second": round(rate), "target_per_worker": 20_000,
            "ratio_to_target": round(rate / 20_000, 3)}


if __name__ == "__main__":
    print(run())
