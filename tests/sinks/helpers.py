"""Producing test events to the real broker and running a sink loop in a thread."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from clickhouse_connect.driver.client import Client
from confluent_kafka import Producer

from schemas import KafkaSettings, TopicSpec
from schemas.envelope import Envelope
from schemas.topics import by_event_type
from sinks.consumer import SinkLoop
from sinks.settings import SinkSettings
from sinks.writer import Writer


def produce(kafka: KafkaSettings, events: list[Envelope], extra: list[tuple[TopicSpec, bytes]] = ()) -> None:
    producer = Producer(kafka.confluent(**{"enable.idempotence": True, "acks": "all", "linger.ms": 5}))
    specs = by_event_type()
    for event in events:
        producer.produce(kafka.topic(specs[event.type]), value=event.encode(), key=event.id.encode())
    for spec, value in extra:
        producer.produce(kafka.topic(spec), value=value, key=b"poison")
    assert producer.flush(30) == 0


def wait_until(condition: Callable[[], bool], timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@contextmanager
def running_sink(settings: SinkSettings, kafka: KafkaSettings, client: Client) -> Iterator[SinkLoop]:
    loop = SinkLoop(settings, kafka, Writer(client, settings.group_id, settings.fault))
    stop = threading.Event()
    thread = threading.Thread(target=loop.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        stop.set()
        thread.join(30)
        assert not thread.is_alive()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SinkProcess:
    """``python -m sinks`` on its own chdb directory: the only way a test may crash a sink, and the
    test process must then read ClickHouse through the wallboard API, never open that path itself."""

    TOKEN = "test-token"

    def __init__(self, data_dir: Path, kafka: KafkaSettings, group_id: str, log: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.env = {"INTAKE_SINK_DSN": f"chdb://{data_dir}", "INTAKE_SINK_GROUP_ID": group_id,
                    "INTAKE_SINK_WALLBOARD_PORT": str(self.port), "INTAKE_SINK_API_TOKEN": self.TOKEN,
                    "INTAKE_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
                    "INTAKE_KAFKA_TOPIC_PREFIX": kafka.topic_prefix, "INTAKE_SINK_BATCH_MAX_SECONDS": "0.3",
                    "INTAKE_SINK_PUSH_INTERVAL_SECONDS": "0.5", "INTAKE_SINK_SESSION_TIMEOUT_SECONDS": "6", **env}
        self.process: subprocess.Popen | None = None

    def start(self, **env: str) -> "SinkProcess":
        handle = self.log.open("ab")
        self.process = subprocess.Popen([sys.executable, "-m", "sinks"], env={**os.environ, **self.env, **env},
                                        stdout=handle, stderr=subprocess.STDOUT, cwd=str(self.log.parent))
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        def ready() -> bool:
            assert self.process and self.process.poll() is None, f"sink exited early:\n{self.log.read_text()[-3000:]}"
            try:
                return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False
        wait_until(ready, timeout, "the sink to be ready")

    def get(self, path: str, token: bool = True) -> dict:
        headers = {"Authorization": f"Bearer {self.TOKEN}"} if token else {}
        response = httpx.get(f"{self.url}{path}", headers=headers, timeout=30)
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except Exception:
                self.process.kill()
                self.process.wait(10)

