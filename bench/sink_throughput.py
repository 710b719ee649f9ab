"""Sink throughput: routed contacts/s from Kafka into chdb for ONE sink process, next to its
limit measured in the same run: the slower of

* a bare confluent-kafka consume of the same messages (same topic, a fresh group, no decoding),
* a bare columnar ``client.insert`` of the same rows (same tables and materialized views,
  no Kafka, no decoding, no plan / commit): clickhouse-connect's typed Native columns, the
  fastest insert path in-process and alone (the sink sends JSON rows, which it is not:
  ``bench/sink_insert_paths``).

Targets: >= 150,000 rows/s per sink process and ratio to the limit >= 0.5.

The sink runs as ``intake sink`` on its own chdb directory; the bare insert runs in this
process on another directory (one chdb path per process). The sink's figure counts from
its first written row to its last commit (steady state, startup excluded) and end-to-end.
"""
from __future__ import annotations

import os
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from confluent_kafka import Consumer, Producer, TopicPartition

from schemas.topics import ROUTED
from sinks.clickhouse import connect, insertable_columns
from sinks.migrations import migrate
from sinks.pii import Protector
from sinks.settings import SinkSettings

from ._sink_data import columnar, routed_events, row_blocks
from ._support import fresh_kafka, free_port, process_cpu_seconds, service, thread_cpu_seconds

ROWS = int(os.environ.get("BENCH_SINK_ROWS", "200000"))
BATCH = int(os.environ.get("BENCH_SINK_BATCH", "5000"))
TARGET_ROWS_PER_S = 150_000
TARGET_RATIO = 0.5
TOKEN = "bench"
# How the bench follows the sink's progress: "kafka" reads the group's committed offsets from the
# broker; "status" polls the sink's /api/status 4x/s (as before; each poll also runs 8 count()
# queries inside the measured process, which the CPU-per-row figure then includes).
POLL = os.environ.get("BENCH_SINK_POLL", "kafka")


def _produce(kafka, values: list[bytes]) -> None:
    producer = Producer(kafka.confluent(**{"linger.ms": 20, "batch.size": 1_000_000, "compression.type": "lz4"}))
    topic = kafka.topic(ROUTED)
    for n, value in enumerate(values):
        while True:
            try:
                producer.produce(topic, value=value, key=str(n).encode())
                break
            except BufferError:
                producer.poll(0.05)
    assert producer.flush(60) == 0


def _sink_rate(kafka, workdir: Path) -> dict[str, float]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {"INTAKE_KAFKA_TOPIC_PREFIX": kafka.topic_prefix, "INTAKE_SINK_DSN": f"chdb://{workdir / 'sink'}",
           "INTAKE_SINK_WALLBOARD_PORT": str(port), "INTAKE_SINK_API_TOKEN": TOKEN,
           "INTAKE_SINK_GROUP_ID": f"bench-{uuid.uuid4().hex[:6]}", "INTAKE_SINK_BATCH_MAX_ROWS": str(BATCH)}
    auth = {"Authorization": f"Bearer {TOKEN}"}
    committed = _committed_reader(kafka, env["INTAKE_SINK_GROUP_ID"]) if POLL == "kafka" else None
    started = time.monotonic()
    with service(["sink"], env, f"{url}/readyz", log=workdir / "sink.log") as proc:
        ready = time.monotonic()
        first = None
        while True:
            if committed is None:
                status = httpx.get(f"{url}/api/status", headers=auth, timeout=30).json()
                done = sum(status["sink"]["committed"].values())
            else:  # the group's committed offsets from the broker: no work inside the measured process
                done = committed()
            if first is None and done > 0:
                first = (time.monotonic(), done)
                cpu_first = process_cpu_seconds(proc.pid)
                threads_first = thread_cpu_seconds(proc.pid)
            if done >= ROWS:
                break
            if time.monotonic() - started > 900:
                raise TimeoutError(f"sink committed {done} of {ROWS}")
            time.sleep(0.25)
        end = time.monotonic()
        cpu = process_cpu_seconds(proc.pid) - cpu_first
        threads = thread_cpu_seconds(proc.pid)
        by_thread = sorted(((name, seconds - threads_first.get(name, 0.0)) for name, seconds in threads.items()),
                           key=lambda item: -item[1])
        stored = httpx.get(f"{url}/api/status", headers=auth, timeout=30).json()["rows"]["contacts"]
        metrics = _metrics(httpx.get(f"{url}/metrics", timeout=30).text)
    assert stored == ROWS, f"sink stored {stored} contacts, expected {ROWS}"
    steady = (ROWS - first[1]) / (end - first[0]) if end > first[0] else float("nan")
    batches = metrics.get("intake_sink_batches_total", 0.0)
    flushes = metrics.get("intake_sink_batch_seconds_count", 0.0)
    return {"sink_rows_per_s": round(steady), "sink_rows_per_s_from_ready": round(ROWS / (end - ready)),
            "sink_startup_s": round(ready - started, 1),
            "sink_cpu_us_per_row": round(cpu / max(ROWS - first[1], 1) * 1e6, 1),
            "sink_cpu_busy_cores": round(cpu / max(end - first[0], 1e-3), 2),
            # where the CPU goes: the Python threads (GIL-bound) vs chdb's engine threads
            "sink_cpu_us_per_row_by_thread": ", ".join(f"{name} {seconds / max(ROWS - first[1], 1) * 1e6:.0f}"
                                                       for name, seconds in by_thread[:5] if seconds > 0),
            "sink_batches": round(batches), "sink_rows_per_batch": round(ROWS / batches) if batches else 0,
            "sink_flushes": round(flushes),
            "sink_flush_seconds_fraction": round(metrics.get("intake_sink_batch_seconds_sum", 0.0) / (end - ready), 3)}


def _committed_reader(kafka, group: str):  # noqa: ANN001, ANN202
    """Sum of the group's committed offsets on the routed topic, read from the broker (not the sink)."""
    consumer = Consumer(kafka.confluent(**{"group.id": group, "enable.auto.commit": False}))
    topic = kafka.topic(ROUTED)
    partitions = [TopicPartition(topic, p) for p in consumer.list_topics(topic, timeout=30).topics[topic].partitions]

    def done() -> int:
        return sum(max(tp.offset, 0) for tp in consumer.committed(partitions, timeout=30))
    return done


def _metrics(text: str) -> dict[str, float]:
    """Prometheus text: each metric name's samples summed over their labels."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, value = line.split("{", 1)[0].split(" ", 1)[0], line.rsplit(" ", 1)[1]
        try:
            out[name] = out.get(name, 0.0) + float(value)
        except ValueError:
            pass
    return out


def _bare_consume_rate(kafka) -> float:  # noqa: ANN001
    """Messages/s of a bare confluent-kafka consume of the routed topic from the start (a fresh group)."""
    consumer = Consumer(kafka.confluent(**{"group.id": f"bench-bare-{uuid.uuid4().hex[:6]}",
                                           "auto.offset.reset": "earliest", "enable.auto.commit": False}))
    consumer.subscribe([kafka.topic(ROUTED)])
    done, began, first = 0, time.monotonic(), None
    while done < ROWS:
        if time.monotonic() - began > 300:
            raise TimeoutError(f"bare consume read {done} of {ROWS}")
        for msg in consumer.consume(BATCH, 1.0):
            if msg.error():
                continue
            if first is None:
                first = time.monotonic()  # steady state, like the sink's figure: assignment excluded
            done += 1
    end = time.monotonic()
    consumer.close()
    return ROWS / (end - first)


def _bare_rate(values: list[bytes], workdir: Path) -> tuple[float, float]:
    """Rows/s and CPU microseconds per row (this process) of the bare columnar insert."""
    settings = SinkSettings(dsn=f"chdb://{workdir / 'bare'}", database="bare")
    client = connect(settings.dsn, settings.database)
    migrate(client, settings)
    protect = Protector(settings.pii_policy, settings.pii_key.get_secret_value())
    batches = row_blocks(values, protect, BATCH, "bare")
    types = {table: insertable_columns(client, table) for table in batches[0]}
    blocks = [{t: columnar(rows, types[t][0]) for t, rows in b.items()} for b in batches]
    began, cpu = time.monotonic(), time.process_time()
    for n, block in enumerate(blocks):
        for table, data in block.items():
            client.insert(table, data, column_names=types[table][0], column_type_names=types[table][1],
                          column_oriented=True, settings={"insert_deduplication_token": f"bare/{n}"})
    return len(values) / (time.monotonic() - began), (time.process_time() - cpu) / len(values) * 1e6


def run() -> dict[str, float | str]:
    kafka = fresh_kafka()
    print(f"generating and producing {ROWS} routed contacts ...", flush=True)
    values = routed_events(ROWS)
    _produce(kafka, values)
    with tempfile.TemporaryDirectory(prefix="bench-sink-", ignore_cleanup_errors=True) as tmp:  # chdb may still be merging in it
        workdir = Path(tmp)
        figures = _sink_rate(kafka, workdir)
        print(f"sink: {figures}", flush=True)
        consume = _bare_consume_rate(kafka)
        print(f"bare confluent-kafka consume: {consume:,.0f} msg/s", flush=True)
        bare, bare_cpu_us = _bare_rate(values, workdir)
        print(f"bare columnar insert: {bare:,.0f} rows/s", flush=True)
    limit = min(consume, bare)
    figures.update({"bare_consume_msgs_per_s": round(consume), "bare_insert_rows_per_s": round(bare),
                    "bare_insert_cpu_us_per_row": round(bare_cpu_us, 1),
                    "limit_rows_per_s": round(limit), "limit_is": "consume" if consume < bare else "insert",
                    "ratio_sink_to_limit": round(figures["sink_rows_per_s"] / limit, 3),
                    "ratio_sink_to_bare_insert": round(figures["sink_rows_per_s"] / bare, 3),
                    "target_rows_per_s": TARGET_ROWS_PER_S, "target_ratio": TARGET_RATIO,
                    "rows": ROWS, "batch_rows": BATCH, "progress_poll": POLL, "avg_event_bytes": round(sum(map(len, values)) / len(values))})
    for name, value in figures.items():
        print(f"  {name:<28} {value}")
    return figures


if __name__ == "__main__":
    run()
