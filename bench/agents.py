"""Stream agents: contacts/s through one Faust worker (identity, dedup, classification, routing,
SLA, upsell) next to its limit, a bare confluent-kafka consume -> produce loop over the same
messages on the same broker in the same run.

Both read N pre-produced contacts from the start of a topic and write one message per contact.
Figures (all from the same run):

* ``worker_contacts_per_s``: N / (time from the worker's start to 95% of N on ROUTED), start-up
  included (a conservative figure, comparable with earlier runs);
* ``steady_contacts_per_s``: contacts routed per second between the worker's first output (on
  its internal ``customers`` topic: it is processing) and the 95% mark, i.e. everything but the
  worker's start-up (Faust boot, rebalance, table recovery: several seconds);
* ``sla_contacts_per_s``: the same, up to 95% of N applied by the SLA clock agent (its
  ``intake_sla_commands_total`` on the worker's /metrics), i.e. through routing *and* SLA;
* ``worker_cpu_us_per_contact``: the worker's CPU time (all threads) over the same span, per
  contact: the steadiest figure when neighbours share the cores;
* ``bare_loop_msgs_per_s`` (timed from its first message, as the steady figure is from the
  worker's first output) and ``ratio_to_bare`` (steady figure / bare loop);
* ``identity_hops_per_contact``: messages on the ``customers`` topic per decided contact (its first
  hop plus the identity walk's, from the worker's /metrics at the 95% mark): each costs a produce,
  a fetch and a customer-state lookup.

Workloads (``BENCH_AGENT_WORKLOAD``):

* ``customers`` (default): N/4 customers, each with an e-mail address and three order numbers
  of its own; a contact carries its customer's address and one of the customer's orders
  (a real shop: an order belongs to one customer).
* ``linked``: the workload this benchmark used first: addresses and order numbers drawn
  independently, so a contact links a random address to a random order. That random
  bipartite graph percolates: every contact ends up in one giant customer (one component
  for 5,000 contacts, 45 for 50,000 with 99.9% of them in one), so it measures an identity
  merge storm on one hot key, not normal traffic.

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

from ._support import (REPO, free_port, fresh_kafka, identity_hops_per_contact, process_cpu_seconds, sla_applied,
                       topic_message_count)

N = int(os.environ.get("BENCH_AGENT_CONTACTS", "50000"))
WORKLOAD = os.environ.get("BENCH_AGENT_WORKLOAD", "customers")
TEXTS = ["订单 {o} 还没发货，什么时候到？", "Where is my order {o}? It is late.", "我要退货，订单 {o} 尺码不对",
         "I want to upgrade to the premium plan", "客服态度太差了，我要投诉！订单 {o}", "Do you sell an extended warranty?"]


def _contacts(n: int, workload: str = WORKLOAD) -> list[ContactEvent]:
    if workload not in ("customers", "linked"):
        raise ValueError(f"BENCH_AGENT_WORKLOAD={workload!r}: use customers or linked")
    rng = random.Random(7)
    now = datetime.now(timezone.utc)
    events = []
    for i in range(n):
        if workload == "linked":
            order = f"A{rng.randrange(n // 3 + 1):06d}"
            email = f"c{rng.randrange(n // 4 + 1)}@example.com"
        else:
            customer = rng.randrange(n // 4 + 1)
            order, email = f"A{customer:06d}{rng.randrange(3)}", f"c{customer}@example.com"
        channel = rng.choice(list(Channel))
        contact = Contact(channel=channel, provider="bench", provider_message_id=f"m{i}", received_at=now,
                          customer=Identifiers(email=email, order_numbers=[order]),
                          body=rng.choice(TEXTS).format(o=order))
        events.append(ContactEvent(id=stable_event_id(channel, f"m{i}"), source="/bench", data=contact))
    return events


def _bare_loop(kafka, source: str, sink: str, n: int) -> float:  # noqa: ANN001
    consumer = Consumer(kafka.confluent(**{"group.id": f"{kafka.topic_prefix}-bare", "auto.offset.reset": "earliest",
                                           "enable.auto.commit": True}))
    producer = Producer(kafka.confluent(**{"linger.ms": 5, "acks": "all", "enable.idempotence": True}))
    consumer.subscribe([source])
    began, done = 0.0, 0
    while done < n:
        for msg in consumer.consume(1000, 1.0):
            if msg.error():
                continue
            if not done:  # timed from the first message, like the worker's steady figure: the group
                began = time.monotonic()  # join before it took 0.5-3 s and made the limit swing 5x
            producer.produce(sink, key=msg.key(), value=msg.value())
            done += 1
        producer.poll(0)
    producer.flush()
    consumer.close()
    return n / (time.monotonic() - began)


def _count(kafka, topic: str) -> int:  # noqa: ANN001
    try:
        return topic_message_count(kafka, topic)
    except Exception:  # noqa: BLE001 - a transient metadata error while topics are being created
        return 0


def run() -> dict[str, float | str]:
    kafka = fresh_kafka()
    producer = Producer(kafka.confluent(**{"linger.ms": 20, "compression.type": "lz4"}))
    topic = kafka.topic(CONTACTS)
    for event in _contacts(N):
        producer.produce(topic, key=event.dedup_key, value=event.encode())
        producer.poll(0)
    producer.flush()
    print(f"produced {N} contacts ({WORKLOAD} workload)", flush=True)

    bare = _bare_loop(kafka, topic, f"{kafka.topic_prefix}.bare-out", N)
    print(f"bare confluent-kafka loop: {bare:,.0f} msg/s", flush=True)

    app_id = f"{kafka.topic_prefix}-streams"
    port = free_port()
    with tempfile.TemporaryDirectory() as datadir:
        log_path = os.path.join(datadir, "worker.log")
        worker = start_worker(kafka, app_id, datadir, port, log_path)
        cpu_first: list[float] = []
        try:
            marks = watch_workers(kafka, [worker], f"{app_id}-customers", kafka.topic(ROUTED),
                                  [f"http://127.0.0.1:{port}/metrics"], N, timeout=900,
                                  on_first=lambda: cpu_first.append(process_cpu_seconds(worker.pid)))
            cpu_us = (process_cpu_seconds(worker.pid) - cpu_first[0]) / (N * 0.95) * 1e6
            hops = identity_hops_per_contact(f"http://127.0.0.1:{port}/metrics")
        except Exception:
            sys.stderr.write(open(log_path, errors="replace").read()[-4000:])
            raise
        finally:
            worker.terminate()
            worker.wait(30)
    routed = topic_message_count(kafka, kafka.topic(ROUTED))
    goal = N * 0.95
    rate = goal / (marks["routed"] - marks["began"])  # includes the worker's start-up
    steady = goal / max(marks["routed"] - marks["first"], 1e-3)
    sla_rate = goal / max(marks["sla"] - marks["first"], 1e-3)
    print(f"faust worker: {rate:,.0f} contacts/s with start-up ({marks['first'] - marks['began']:.1f} s to the first "
          f"output), {steady:,.0f} contacts/s steady, {sla_rate:,.0f} contacts/s through SLA; {routed} routed",
          flush=True)
    print(f"worker CPU from the first output to 95% through SLA: {cpu_us:,.0f} µs per contact "
          f"(steadier than the rates on a shared machine)", flush=True)
    print(f"ratio to the bare loop: {steady / bare:.3f} (target 0.2); target 20,000 contacts/s; "
          f"{hops:.2f} customer-topic hops per decided contact", flush=True)
    return {"workload": WORKLOAD, "contacts": N, "routed": routed, "worker_contacts_per_s": round(rate),
            "steady_contacts_per_s": round(steady), "sla_contacts_per_s": round(sla_rate),
            "worker_cpu_us_per_contact": round(cpu_us), "startup_seconds": round(marks["first"] - marks["began"], 1),
            "bare_loop_msgs_per_s": round(bare), "identity_hops_per_contact": round(hops, 3),
            "ratio_to_bare": round(steady / bare, 3), "target_contacts_per_s": 20000, "target_ratio": 0.2}


# ---- helpers for other benchmarks (bench/scaling.py): several workers of one app ----------------
def encoded_contacts(n: int, workload: str = WORKLOAD) -> list[tuple[str, bytes]]:
    """(key, value) of the ``n`` contacts of ``workload`` this benchmark produces."""
    return [(event.dedup_key, event.encode()) for event in _contacts(n, workload)]


def produce_contacts(kafka, messages: list[tuple[str, bytes]]) -> str:  # noqa: ANN001
    """Produce encoded contacts to the CONTACTS topic of ``kafka``, as :func:`run` does; returns the topic."""
    producer = Producer(kafka.confluent(**{"linger.ms": 20, "compression.type": "lz4"}))
    topic = kafka.topic(CONTACTS)
    for key, value in messages:
        producer.produce(topic, key=key, value=value)
        producer.poll(0)
    producer.flush()
    return topic


def start_worker(kafka, app_id: str, datadir: str, port: int, log_path: str,  # noqa: ANN001
                 env: dict[str, str] | None = None) -> subprocess.Popen:
    """One ``intake worker`` of ``app_id`` on the topics of ``kafka`` (own data dir and web port;
    ``env`` adds settings)."""
    env = {**os.environ, "INTAKE_KAFKA_TOPIC_PREFIX": kafka.topic_prefix, "INTAKE_STREAMS_APP_ID": app_id,
           "INTAKE_STREAMS_DATADIR": datadir, "INTAKE_STREAMS_WEB_PORT": str(port), **(env or {})}
    with open(log_path, "wb") as log:
        return subprocess.Popen([sys.executable, "-m", "intake.cli", "worker", "worker", "-l", "warn"], cwd=REPO,
                                env=env, stdout=log, stderr=subprocess.STDOUT)


def watch_workers(kafka, workers: list[subprocess.Popen], first_topic: str, routed_topic: str,  # noqa: ANN001
                  metrics_urls: list[str], n: int, timeout: float,
                  on_first=None) -> dict[str, float]:  # noqa: ANN001
    """Poll the outputs of the workers of one app: instants (monotonic) of the first output and of
    95% on ROUTED and through SLA (summed over the workers' /metrics). ``on_first()`` is called at
    the first output (e.g. to sample CPU)."""
    began = time.monotonic()
    deadline, goal = began + timeout, n * 0.95
    marks: dict[str, float] = {"began": began}
    last_print = began
    while time.monotonic() < deadline:
        for w in workers:
            if w.poll() is not None:
                raise RuntimeError(f"a worker exited with {w.returncode}")
        if "first" not in marks and _count(kafka, first_topic):
            marks["first"] = time.monotonic()
            if on_first is not None:
                on_first()
        routed = _count(kafka, routed_topic) if "routed" not in marks else n
        now = time.monotonic()
        if routed >= goal and "routed" not in marks:
            marks["routed"] = now
        if "routed" in marks and sum(sla_applied(u) for u in metrics_urls) >= goal:
            marks["sla"] = time.monotonic()
            return marks
        if now - last_print > 10:
            print(f"  {now - began:5.0f} s: {routed} routed", flush=True)
            last_print = now
        time.sleep(0.25)  # each round reads the workers' /metrics: more often would load them
    raise TimeoutError(f"{routed_topic} / SLA did not reach {goal:.0f} within {timeout:.0f} s")
