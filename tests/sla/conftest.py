"""SLA test harness: a real stream worker subprocess, a producer, and topic collectors."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient

from schemas.admin import ensure_topics
from schemas.envelope import Envelope
from schemas.routed import RoutedContactEvent
from schemas.settings import KafkaSettings
from schemas.topics import ALERTS, DEADLETTER, ESCALATIONS, SLA, TopicSpec
from streams.sla.clock import ROUTED_COMMAND, case_partition, commands_topic

REPO = Path(__file__).resolve().parents[2]
SHORT_POLICY = Path(__file__).with_name("short-clocks.yaml")
WORKER_CODE = "from streams.worker import main; main()"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    """Poll until ``condition()`` is truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


class Worker:
    """``streams.worker`` as a subprocess, as it runs in production (one app id, one datadir)."""

    def __init__(self, kafka: KafkaSettings, tmp: Path, policy: Path = SHORT_POLICY) -> None:
        self.kafka, self.tmp, self.policy = kafka, tmp, policy
        self.app_id = f"sla-test-{uuid.uuid4().hex[:8]}"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.runs = 0

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/metrics"

    def start(self) -> None:
        self.runs += 1
        env = {**os.environ, "INTAKE_KAFKA_BOOTSTRAP_SERVERS": self.kafka.bootstrap_servers,
               "INTAKE_KAFKA_TOPIC_PREFIX": self.kafka.topic_prefix, "INTAKE_STREAMS_APP_ID": self.app_id,
               "INTAKE_STREAMS_DATADIR": str(self.tmp / "data"), "INTAKE_STREAMS_WEB_PORT": str(self.port),
               "INTAKE_STREAMS_SLA_POLICY": str(self.policy),
               # a SIGKILLed member is dropped from the group after this, not after Faust's 60 s default
               "BROKER_SESSION_TIMEOUT": "6", "BROKER_HEARTBEAT_INTERVAL": "1"}
        self.tmp.mkdir(parents=True, exist_ok=True)
        log = open(self.tmp / f"worker-{self.runs}.log", "wb")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen([sys.executable, "-c", WORKER_CODE], cwd=REPO, env=env, stdout=log,
                                     stderr=subprocess.STDOUT)
        wait_for(self.ready, 90, f"worker {self.app_id} to recover its SLA table (log: {log.name})", 0.3)

    def metric(self, name: str, having: str = "") -> float | None:
        """Sum of a metric's samples on /metrics (those whose labels contain ``having``), or None."""
        try:
            with urllib.request.urlopen(self.metrics_url, timeout=2) as resp:
                text = resp.read().decode()
        except OSError:
            return None
        values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                  if line.startswith(name) and line[len(name):len(name) + 1] in ("{", " ") and having in line]
        return sum(values) if values else None

    def ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"worker exited with {self.proc.returncode}: see {self.tmp}/worker-{self.runs}.log")
        return (self.metric("intake_sla_index_rebuilds_total") or 0) >= 1

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no final commit or flush."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class Collector:
    """Reads topics from the beginning in a background thread; tests poll ``events``."""

    def __init__(self, kafka: KafkaSettings, specs: list[TopicSpec]) -> None:
        self.by_topic = {kafka.topic(s): s for s in specs}
        self.events: list[tuple[str, Envelope, float]] = []  # (catalog name, event, arrival time)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._consumer = Consumer(kafka.confluent(**{"group.id": f"sla-test-{uuid.uuid4().hex}",
                                                     "auto.offset.reset": "earliest", "enable.auto.commit": False}))
        self._consumer.subscribe(list(self.by_topic))
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            msg = self._consumer.poll(0.1)
            if msg is None or msg.error():
                continue
            spec = self.by_topic[msg.topic()]
            with self._lock:
                self.events.append((spec.name, spec.value.decode(msg.value()), time.time()))
        self._consumer.close()

    def select(self, topic: str, pred: Callable[[Any], bool] = lambda e: True) -> list[tuple[Any, float]]:
        with self._lock:
            return [(e, t) for name, e, t in self.events if name == topic and pred(e)]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)


class Feeder:
    def __init__(self, kafka: KafkaSettings) -> None:
        self.kafka = kafka
        self.producer = Producer(kafka.confluent(**{"acks": "all", "enable.idempotence": True}))

    def send(self, spec: TopicSpec, key: str, event: Envelope) -> None:
        self.produce(self.kafka.topic(spec), key, event.encode())

    def produce(self, topic: str, key: str, value: bytes, partition: int | None = None) -> None:
        self.producer.produce(topic, key=key.encode(), value=value,
                              **({} if partition is None else {"partition": partition}))
        assert self.producer.flush(10) == 0


class Live:
    """One worker with its own topic prefix, a feeder and a collector of everything it emits."""

    def __init__(self, kafka: KafkaSettings, tmp: Path) -> None:
        self.kafka = kafka
        self.feeder = Feeder(kafka)
        self.out = Collector(kafka, [SLA, ESCALATIONS, ALERTS, DEADLETTER])
        self.worker = Worker(kafka, tmp)

    def route(self, event: RoutedContactEvent) -> None:
        """What the routing agent sends the clocks for a routed contact: its SLA command, on its case's partition."""
        case_id = event.data.case_id
        self.feeder.produce(commands_topic(self.worker.app_id), case_id, ROUTED_COMMAND + event.encode(),
                            case_partition(case_id))

    def close(self) -> None:
        self.worker.stop()
        self.out.close()
        drop_topics(self.kafka, (f"{self.kafka.topic_prefix}.", f"{self.worker.app_id}-"))


def drop_topics(kafka: KafkaSettings, prefixes: tuple[str, ...]) -> None:
    """Delete this test's topics (catalog and Faust's own), so the shared broker does not fill up."""
    admin = AdminClient(kafka.confluent())
    try:
        names = [t for t in admin.list_topics(timeout=10).topics if t.startswith(prefixes)]
        if names:
            for future in admin.delete_topics(names, operation_timeout=30).values():
                future.result()
    except KafkaException:
        pass  # best effort: a busy broker must not fail a test that passed


@pytest.fixture(scope="module")
def live(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """Module-wide: the worker's start-up is paid once for several scenarios (distinct case ids)."""
    kafka = KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=f"t{uuid.uuid4().hex[:10]}")
    ensure_topics(kafka)
    env = Live(kafka, tmp_path_factory.mktemp("sla-live"))
    try:
        env.worker.start()
        yield env
    finally:
        env.close()
