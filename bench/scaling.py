"""Scaling out the stream worker: contacts/s with 1 and then 2 Faust workers of one app on a
contacts topic with several partitions (the catalog's 4), the realistic ``customers`` workload
of bench/agents.py, measured the same way (first output to 95% of N on ROUTED and through
the SLA clock agent).

Each run gets fresh topics (a new prefix). The workers start first and the N contacts are
produced once their consumer group is stable with every worker in it: a worker joining while
the other is already processing would put a rebalance (and table recovery) inside the window
and measure the join, not the steady rate. On a 2-core
box shared with other work, 2 workers cannot be expected to double: the rates and their ratio
are printed next to CPU seconds per contact of each worker process (CPU used between the first
output and the end, over the contacts routed in that span: start-up excluded), the fairer
per-worker figure. Ideal scaling: ratio ~2 and the same CPU per contact summed over the
workers as for one worker.

    BENCH_SCALING_CONTACTS=5000 .venv/bin/python -m bench scaling
"""
from __future__ import annotations

import os
import tempfile
import time

from confluent_kafka import Consumer

from schemas.topics import ROUTED

from ._support import free_port, fresh_kafka, process_cpu_seconds, topic_message_count, wait_group
from .agents import encoded_contacts, produce_contacts, start_worker, watch_workers

N = int(os.environ.get("BENCH_SCALING_CONTACTS", "5000"))
WORKLOAD = os.environ.get("BENCH_SCALING_WORKLOAD", "customers")
TIMEOUT = float(os.environ.get("BENCH_SCALING_TIMEOUT_S", "600"))
SETTLE = 3.0


def _cpu(pid: int) -> float:
    try:
        return process_cpu_seconds(pid)
    except OSError:
        return float("nan")


def _measure(workers: int, messages: list[tuple[str, bytes]]) -> dict[str, float | str]:
    kafka = fresh_kafka()
    app_id = f"{kafka.topic_prefix}-streams"
    with tempfile.TemporaryDirectory(prefix="bench-scaling-") as tmp:
        ports = [free_port() for _ in range(workers)]
        procs = [start_worker(kafka, app_id, os.path.join(tmp, f"w{i}"), ports[i], os.path.join(tmp, f"w{i}.log"))
                 for i in range(workers)]
        cpu_first: list[float] = []
        try:
            joined = wait_group(kafka, app_id, workers, procs)
            time.sleep(SETTLE)  # table recovery after the assignment (empty tables: quick)
            topic = produce_contacts(kafka, messages)
            partitions = _partitions(kafka, topic)
            print(f"[{workers} worker(s)] group stable after {joined:.1f} s; {N} contacts produced on "
                  f"{partitions} partitions", flush=True)
            marks = watch_workers(kafka, procs, f"{app_id}-customers", kafka.topic(ROUTED),
                                  [f"http://127.0.0.1:{p}/metrics" for p in ports], N, TIMEOUT,
                                  on_first=lambda: cpu_first.extend(_cpu(p.pid) for p in procs))
            cpu_end = [_cpu(p.pid) for p in procs]
        except Exception:
            for i in range(workers):
                print(f"--- worker {i} log (tail)", flush=True)
                print(open(os.path.join(tmp, f"w{i}.log"), errors="replace").read()[-3000:], flush=True)
            raise
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(30)
                except Exception:  # noqa: BLE001
                    p.kill()
    routed = topic_message_count(kafka, kafka.topic(ROUTED))
    goal = N * 0.95
    steady = goal / max(marks["routed"] - marks["first"], 1e-3)
    sla = goal / max(marks["sla"] - marks["first"], 1e-3)
    cpu = [end - first for first, end in zip(cpu_first, cpu_end)]
    # contacts handled in the span: the 95% goal (start-up output before "first" is ~0)
    cpu_ms = [c / goal * 1000 for c in cpu]
    print(f"[{workers} worker(s)] {steady:,.0f} contacts/s routed, {sla:,.0f} through SLA, first output "
          f"{marks['first'] - marks['began']:.1f} s after producing; CPU ms per contact by worker: "
          f"{', '.join(f'{c:.2f}' for c in cpu_ms)} (sum {sum(cpu_ms):.2f})", flush=True)
    return {"steady_contacts_per_s": round(steady), "sla_contacts_per_s": round(sla), "routed": routed,
            "group_join_seconds": round(joined, 1), "partitions": partitions,
            "first_output_seconds": round(marks["first"] - marks["began"], 1),
            "cpu_ms_per_contact_by_worker": " / ".join(f"{c:.2f}" for c in cpu_ms),
            "cpu_ms_per_contact_sum": round(sum(cpu_ms), 3),
            "cpu_busy_cores": round(sum(cpu) / max(marks["sla"] - marks["first"], 1e-3), 2)}


def _partitions(kafka, topic: str) -> int:  # noqa: ANN001
    consumer = Consumer(kafka.confluent(**{"group.id": "bench-meta"}))
    try:
        return len(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
    finally:
        consumer.close()


def run() -> dict[str, float | str]:
    figures: dict[str, float | str] = {"workload": WORKLOAD, "contacts": N, "cpus": os.cpu_count() or 0}
    messages = encoded_contacts(N, WORKLOAD)
    for workers in (1, 2):
        for key, value in _measure(workers, messages).items():
            figures[f"w{workers}_{key}"] = value
    figures["ratio_2_to_1_routed"] = round(figures["w2_steady_contacts_per_s"] / figures["w1_steady_contacts_per_s"], 3)
    figures["ratio_2_to_1_sla"] = round(figures["w2_sla_contacts_per_s"] / figures["w1_sla_contacts_per_s"], 3)
    figures["ratio_2_to_1_cpu_per_contact"] = round(
        figures["w2_cpu_ms_per_contact_sum"] / figures["w1_cpu_ms_per_contact_sum"], 3)
    for name, value in figures.items():
        print(f"  {name:<36} {value}")
    return figures


if __name__ == "__main__":
    run()
