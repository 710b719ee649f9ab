"""SLA breach detection lag on a live worker holding 100,000 open clocks (issue 7, item 5).

bench/sla_clocks.py times the engine in-process; this one runs the real ``intake worker`` on
the real broker: N routed contacts (new cases) go onto the worker's SLA command topic (as its
routing agent writes them), the worker opens one first-response clock each (target ``TARGET``
s, warnings at 75% and 90%, breach escalates the case: two SLA events and one escalation per
clock over its life) and its timer fires them.
A consumer in this process reads the SLA topic and, for every breach with a deadline in the
measured window, takes two lags:

* ``detect``: the breach event's Kafka timestamp (set by the worker's producer when the timer
  sends it) minus the deadline: what the worker's own ``intake_sla_breach_detection_lag_seconds``
  measures, tick wait included;
* ``visible``: when this subscriber received it minus the deadline: what a downstream system sees
  (adds the producer's acknowledgement and the consumer's fetch).

Deadlines are placed after every clock is open (``received_at`` in the past by design), so the
window measures firing with N clocks open, not opening; the run stops with an error when opening
took longer than planned (raise ``BENCH_SLA_LIVE_OPEN_RATE``'s margin by lowering it).
Scenarios, each on fresh topics and a fresh worker: ``steady`` (deadlines over 10 minutes,
~170 breaches/s, the first 30 s measured) and ``burst`` (all N deadlines within 25 s: 4,000
breaches/s plus 8,000 warnings/s and 4,000 escalations/s). Also reported: the worker's RSS with
the N cases open, its CPU over the window (cores busy, and per SLA event sent: the steadier
figure on a shared box) and its SLA event rate over the busiest 5 seconds (in the burst, where
the timer falls behind: its capacity).

    .venv/bin/python -m bench sla_live                        # ~6 minutes for both scenarios
    BENCH_SLA_LIVE_CLOCKS=20000 BENCH_SLA_LIVE_SCENARIOS=burst .venv/bin/python -m bench sla_live
    BENCH_SLA_LIVE_WORKERS=2 .venv/bin/python -m bench sla_live    # the timers split over two workers
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import orjson
from confluent_kafka import Consumer, Producer, TopicPartition

from schemas.routed import RoutedContactEvent
from schemas.topics import SLA
from streams.sla.clock import ROUTED_COMMAND, case_partition, commands_topic

from ._support import free_port, fresh_kafka, percentile, process_cpu_seconds, rss_mib, sla_applied, wait_group
from .agents import start_worker
from .sla_clocks import new_case

CLOCKS = int(os.environ.get("BENCH_SLA_LIVE_CLOCKS", "100000"))
#: contacts/s the worker is assumed to open at least (bench/agents: several thousand SLA-only)
OPEN_RATE = float(os.environ.get("BENCH_SLA_LIVE_OPEN_RATE", "1500"))
GRACE = float(os.environ.get("BENCH_SLA_LIVE_GRACE_S", "120"))
#: workers of the one app (``BENCH_SLA_LIVE_WORKERS``): the command topic's 4 partitions split between them
WORKERS = int(os.environ.get("BENCH_SLA_LIVE_WORKERS", "1"))
RUN = os.environ.get("BENCH_SLA_LIVE_SCENARIOS", "steady,burst").split(",")
TARGET = 120.0     # seconds: first-response target (the first warning fires 30 s before the deadline)
P99_TARGET = 1.0   # seconds: breach detection lag p99
SCENARIOS = {"steady": (600.0, 30.0), "burst": (25.0, 25.0)}   # (deadline spread, measured window)
POLICY = f"""version: bench-live
default_calendar: always
warn_at: [0.75, 0.9]
calendars: {{always: {{always_open: true}}}}
clocks: {{first_response: {{start_on: [new_case], stop_on: [first_response]}}}}
escalation: {{on_breach_of: [first_response], step: 1, max_tier: 3}}
rules: [{{name: all, targets: {{first_response: {TARGET:g}}}}}]
"""


def _command(i: int, received: float) -> tuple[str, bytes]:
    """A new case's routed contact as the routing agent hands it to the clocks: (case id, command)."""
    data = new_case(i, received)
    event = RoutedContactEvent(source="/bench", subject=data.case_id, data=data)
    return data.case_id, ROUTED_COMMAND + event.encode()


def _subscriber(kafka, topic: str) -> Consumer:  # noqa: ANN001
    consumer = Consumer(kafka.confluent(**{"group.id": f"{kafka.topic_prefix}-sla-live", "fetch.wait.max.ms": 10}))
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    return consumer


def _produce(kafka, app_id: str, t0: float, spread: float) -> None:  # noqa: ANN001
    """N new cases whose deadlines fall from ``t0`` to ``t0 + spread``."""
    producer = Producer(kafka.confluent(**{"linger.ms": 20, "compression.type": "lz4"}))
    topic = commands_topic(app_id)
    for i in range(CLOCKS):
        case_id, value = _command(i, t0 - TARGET + spread * i / CLOCKS)
        producer.produce(topic, key=case_id.encode(), value=value, partition=case_partition(case_id))
        producer.poll(0)
    producer.flush()


def _cpu(workers: list[subprocess.Popen]) -> tuple[float, float]:
    return time.time(), sum(process_cpu_seconds(w.pid) for w in workers)


def scenario(name: str, spread: float, measured: float) -> dict[str, float | str]:
    kafka = fresh_kafka()
    root = Path(tempfile.mkdtemp(prefix="bench-sla-live-"))
    (root / "policy.yaml").write_text(POLICY)
    app_id = f"{kafka.topic_prefix}-streams"
    ports = [free_port() for _ in range(WORKERS)]
    metrics = [f"http://127.0.0.1:{port}/metrics" for port in ports]
    workers = [start_worker(kafka, app_id, str(root / f"data{i}"), port, str(root / f"worker{i}.log"),
                            env={"INTAKE_STREAMS_SLA_POLICY": str(root / "policy.yaml")})
               for i, port in enumerate(ports)]

    def logs() -> str:
        return "".join(p.read_text(errors="replace")[-2000:] for p in sorted(root.glob("worker*.log")))

    try:
        try:
            wait_group(kafka, app_id, WORKERS, workers)
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(f"{exc}: {logs()}") from exc
        time.sleep(3)   # table recovery after the assignment (empty topics: quick)
        rss_idle = [rss_mib(w.pid) for w in workers]
        # first deadline after the (generously estimated) build + opening + the first warning's lead
        t0 = time.time() + CLOCKS / 15_000 + CLOCKS / OPEN_RATE + 0.25 * TARGET + 5
        first_warning = t0 - 0.25 * TARGET
        _produce(kafka, app_id, t0, spread)
        # the window ends half a step after a deadline, so rounding cannot move one across its edge
        until = t0 + measured + spread / CLOCKS / 2
        expected = sum(1 for i in range(CLOCKS) if t0 + spread * i / CLOCKS <= until)
        print(f"[{name}] {WORKERS} worker(s); produced {CLOCKS:,} new cases; first warning in "
              f"{first_warning - time.time():.0f} s, {expected:,} breaches measured from t0 + 0 to + {measured:g} s",
              flush=True)

        consumer = _subscriber(kafka, kafka.topic(SLA))
        detect: list[float] = []
        visible: list[float] = []
        per_second: dict[int, int] = {}   # SLA events by the second the workers sent them, from the first warning
        rss_open: list[float] = []
        cpu_start = None
        last_check = last_print = 0.0
        while len(detect) < expected:
            now = time.time()
            if now > until + GRACE:
                raise TimeoutError(f"{len(detect):,} of {expected:,} breaches seen {GRACE:g} s after the window")
            if any(w.poll() is not None for w in workers):
                raise RuntimeError(f"a worker exited: {logs()}")
            if not rss_open and now - last_check > 0.5:
                last_check = now
                if sum(sla_applied(url) for url in metrics) >= CLOCKS:
                    rss_open = [rss_mib(w.pid) for w in workers]
                    print(f"[{name}] {CLOCKS:,} clocks open {first_warning - now:.0f} s before the first warning; "
                          f"worker RSS {sum(rss_idle):.0f} -> {sum(rss_open):.0f} MiB", flush=True)
                elif now > first_warning:
                    raise RuntimeError(f"[{name}] clocks still opening at the first warning: lower "
                                       f"BENCH_SLA_LIVE_OPEN_RATE (now {OPEN_RATE:g}/s)")
            if cpu_start is None and now >= first_warning:
                cpu_start = _cpu(workers)
            if now - last_print > 10 and rss_open:
                print(f"    {now - until:+6.1f} s to the window's end: {len(detect):,} of {expected:,} breaches",
                      flush=True)
                last_print = now
            for msg in consumer.consume(1000, 0.05):
                if msg.error():
                    continue
                sent = msg.timestamp()[1] / 1000
                if sent >= first_warning:
                    per_second[int(sent)] = per_second.get(int(sent), 0) + 1
                if b'"status":"breached"' not in msg.value():
                    continue
                received = time.time()
                due = datetime.fromisoformat(orjson.loads(msg.value())["data"]["deadline"]).timestamp()
                if due <= until:
                    detect.append(sent - due)
                    visible.append(received - due)
        cpu_end = _cpu(workers)
        consumer.close()
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait(30)
    # the timers' capacity: their SLA event rate over the busiest 5 s (saturated in the burst)
    peak = max(sum(per_second.get(s, 0) for s in range(first, first + 5)) for first in per_second) / 5
    cpu = cpu_end[1] - cpu_start[1] if cpu_start else float("nan")
    busy = cpu / (cpu_end[0] - cpu_start[0]) if cpu_start else float("nan")
    figures = {f"{name}_breaches": len(detect),
               f"{name}_detect_lag_p50_ms": round(percentile(detect, 0.50) * 1000, 1),
               f"{name}_detect_lag_p99_ms": round(percentile(detect, 0.99) * 1000, 1),
               f"{name}_visible_lag_p50_ms": round(percentile(visible, 0.50) * 1000, 1),
               f"{name}_visible_lag_p99_ms": round(percentile(visible, 0.99) * 1000, 1),
               f"{name}_visible_lag_max_ms": round(max(visible) * 1000, 1),
               f"{name}_workers_busy_cores": round(busy, 2),
               f"{name}_sla_events_per_s_peak_5s": round(peak),
               f"{name}_cpu_us_per_sla_event": round(cpu / max(sum(per_second.values()), 1) * 1e6),
               f"{name}_rss_workers_mib_idle_open": f"{sum(rss_idle):.0f} -> {sum(rss_open):.0f}",
               f"{name}_visible_p99_ratio_to_target": round(percentile(visible, 0.99) / P99_TARGET, 3)}
    print(f"[{name}] " + ", ".join(f"{k.removeprefix(name + '_')} {v}" for k, v in figures.items()), flush=True)
    return figures


def run() -> dict[str, float | str]:
    figures: dict[str, float | str] = {"open_clocks": CLOCKS, "workers": WORKERS, "target_seconds": TARGET,
                                       "p99_target_ms": 1000}
    for name in RUN:
        spread, measured = SCENARIOS[name]
        figures.update(scenario(name, spread, measured))
    return figures


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    run()
