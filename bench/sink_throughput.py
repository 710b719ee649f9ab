"""Sink throughput: routed contacts/s from Kafka into chdb for ONE sink process, and the ratio to
a bare columnar insert of the same batches (same rows, same tables and materialized views,
no Kafka, no decoding, no plan / commit) measured in the same run.

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
from confluent_kafka import Producer

from schemas.topics import ROUTED
from sinks.clickhouse import connect
from sinks.migrations import migrate
from sinks.pii import Protector
from sinks.rows import routed
from sinks.settings import SinkSettings
from sinks.writer import Writer

from ._sink_data import routed_events
from ._support import fresh_kafka, free_port, service

ROWS = int(os.environ.get("BENCH_SINK_ROWS", "200000"))
BATCH = int(os.environ.get("BENCH_SINK_BATCH", "5000"))
TOKEN = "bench"


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
    started = time.monotonic()
    with service(["sink"], env, f"{url}/readyz", log=workdir / "sink.log"):
        ready = time.monotonic()
        first = None
        while True:
            status = httpx.get(f"{url}/api/status", headers=auth, timeout=30).json()
            done = sum(status["sink"]["committed"].values())
            if first is None and done > 0:
                first = (time.monotonic(), done)
            if done >= ROWS:
                break
            if time.monotonic() - started > 900:
                raise TimeoutError(f"sink committed {done} of {ROWS}")
            time.sleep(0.25)
        end = time.monotonic()
        stored = status["rows"]["contacts"]
    assert stored == ROWS, f"sink stored {stored} contacts, expected {ROWS}"
    steady = (ROWS - first[1]) / (end - first[0]) if end > first[0] else float("nan")
    return {"sink_rows_per_s": round(steady), "sink_rows_per_s_from_ready": round(ROWS / (end - ready)),
            "sink_startup_s": round(ready - started, 1)}


def _bare_rate(values: list[bytes], workdir: Path) -> float:
    settings = SinkSettings(dsn=f"chdb://{workdir / 'bare'}", database="bare")
    client = connect(settings.dsn, settings.database)
    migrate(client, settings)
    protect = Protector(settings.pii_policy, settings.pii_key.get_secret_value())
    batches = []
    for start in range(0, len(values), BATCH):
        tables: dict[str, list] = {}
        for value in values[start:start + BATCH]:
            for table, row in routed(value, protect):
                tables.setdefault(table, []).append({**row, "sink_batch": f"bare/{start}"})
        batches.append(tables)
    writer = Writer(client, "bare")
    columnar = [{t: ([[r.get(c) for r in rows] for c in writer.columns(t)], writer.columns(t)) for t, rows in b.items()}
                for b in batches]
    began = time.monotonic()
    for n, batch in enumerate(columnar):
        for table, (data, names) in batch.items():
            client.insert(table, data, column_names=names, column_oriented=True,
                          settings={"insert_deduplication_token": f"bare/{n}"})
    return len(values) / (time.monotonic() - began)


def run() -> dict[str, float | str]:
    kafka = fresh_kafka()
    print(f"generating and producing {ROWS} routed contacts ...", flush=True)
    values = routed_events(ROWS)
    _produce(kafka, values)
    with tempfile.TemporaryDirectory(prefix="bench-sink-") as tmp:
        workdir = Path(tmp)
        figures = _sink_rate(kafka, workdir)
        print(f"sink: {figures}", flush=True)
        bare = _bare_rate(values, workdir)
    figures.update({"bare_insert_rows_per_s": round(bare), "ratio_sink_to_bare": round(figures["sink_rows_per_s"] / bare, 2),
                    "rows": ROWS, "batch_rows": BATCH, "avg_event_bytes": round(sum(map(len, values)) / len(values))})
    for name, value in figures.items():
        print(f"  {name:<28} {value}")
    return figures


if __name__ == "__main__":
    run()
