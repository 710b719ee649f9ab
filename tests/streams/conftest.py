"""A real stream worker process on the session broker, and a collector of its outputs."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from schemas.admin import ensure_topics
from schemas.contact import ContactEvent
from schemas.settings import KafkaSettings
from schemas.topics import CONTACTS, DEADLETTER, ESCALATIONS, LIFECYCLE, OUTBOUND, ROUTED, UPSELL

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# SLA clocks that never run out during the test. With the shipped presets the scenario's contacts
# (dated days ago) breach at once, and the breach escalations raise case tiers on their own
# schedule: whether a later contact sees tier 1 or 3 would depend on that race, in any run.
QUIET_POLICY = """
version: "test-quiet"
default_calendar: always
calendars:
  always: {always_open: true}
clocks:
  first_response: {start_on: [new_case], stop_on: [first_response, responded, resolved, closed]}
  resolution: {start_on: [new_case, reopened], stop_on: [resolved, closed]}
escalation: {on_breach_of: [first_response, resolution], step: 1, max_tier: 3}
rules:
  - name: default
    targets: {first_response: 3650d, resolution: 3650d}
"""


class LiveWorker:
    """``python -c 'from streams.worker import main; main()'`` with its own app id, data dir and port."""

    def __init__(self, kafka: KafkaSettings, root: Path) -> None:
        self.kafka, self.root = kafka, root
        self.port = free_port()
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", "INTAKE_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
                    "INTAKE_KAFKA_TOPIC_PREFIX": kafka.topic_prefix,
                    "INTAKE_STREAMS_APP_ID": f"{kafka.topic_prefix}-routing",
                    "INTAKE_STREAMS_DATADIR": str(root / "streams"), "INTAKE_STREAMS_WEB_PORT": str(self.port),
                    # a SIGKILLed member holds its partitions until its session expires (Faust default 60 s)
                    "BROKER_SESSION_TIMEOUT": "10", "BROKER_HEARTBEAT_INTERVAL": "1"}
        root.mkdir(parents=True, exist_ok=True)
        (root / "quiet-sla.yaml").write_text(QUIET_POLICY)
        self.env["INTAKE_STREAMS_SLA_POLICY"] = str(root / "quiet-sla.yaml")
        # Faust creates its internal topics (customers, changelogs, SLA commands) at start-up and
        # subscribes at once; a topic the broker does not list yet is left out of the assignment
        # until aiokafka's next metadata refresh: refresh often so such a start heals within seconds.
        self.env["INTAKE_STREAMS_METADATA_MAX_AGE_MS"] = "2000"
        self.proc: subprocess.Popen | None = None
        #: what the worker runs (``python -c``); a test may import a fault-injection module first
        self.command = "from streams.worker import main; main()"

    def start(self) -> None:
        log = (self.root / "worker.log").open("ab")
        self.proc = subprocess.Popen([sys.executable, "-c", self.command], cwd=REPO,
                                     env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, no final commit, no table flush."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        path = self.root / "worker.log"
        return path.read_text(errors="replace")[-6000:] if path.exists() else ""

    def metrics(self) -> str:
        return httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=5).text

    def metric(self, name: str) -> float:
        """Sum of a metric's samples on the worker's /metrics (0 when absent or the worker is down)."""
        try:
            text = self.metrics()
        except Exception:  # noqa: BLE001 - not up yet, or stopped
            return 0.0
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith(name) and line[len(name):len(name) + 1] in ("{", " "))


class Outputs:
    """Everything the worker published, decoded, gathered by one consumer from the start of each topic."""

    def __init__(self, kafka: KafkaSettings) -> None:
        self.kafka = kafka
        self.names = {kafka.topic(t): t.name for t in (ROUTED, ESCALATIONS, UPSELL, OUTBOUND, DEADLETTER)}
        self.consumer = Consumer(kafka.confluent(**{"group.id": f"test-{uuid.uuid4().hex}",
                                                    "auto.offset.reset": "earliest", "enable.auto.commit": False}))
        self.consumer.subscribe(list(self.names))
        self.events: dict[str, list[dict]] = {name: [] for name in self.names.values()}
        self.producer = Producer(kafka.confluent(**{"enable.idempotence": True, "acks": "all"}))

    def send(self, *events: ContactEvent) -> None:
        for e in events:
            self.producer.produce(self.kafka.topic(CONTACTS), key=e.dedup_key.encode(), value=e.encode())
        self.producer.flush(10)

    def send_raw(self, key: bytes, value: bytes, topic=CONTACTS) -> None:  # noqa: ANN001
        self.producer.produce(self.kafka.topic(topic), key=key, value=value)
        self.producer.flush(10)

    def send_lifecycle(self, event) -> None:  # noqa: ANN001
        self.send_raw(event.data.case_id.encode(), event.encode(), LIFECYCLE)

    def poll(self, seconds: float = 0.2) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            msg = self.consumer.poll(0.1)
            if msg is None or msg.error():
                continue
            self.events[self.names[msg.topic()]].append(json.loads(msg.value()))

    def wait(self, predicate: Callable[[], object], timeout: float, what: str,  # noqa: ANN201
             worker: LiveWorker | None = None):
        """Poll until ``predicate()``; fail when ``worker`` exits (its stall watchdog's exit included) or
        after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            self.poll()
            value = predicate()
            if value:
                return value
            if worker is not None and not worker.alive():
                pytest.fail(f"worker exited while waiting for {what}:\n{worker.log()}")
            if time.monotonic() > deadline:
                log = f"\n----- worker log (tail) -----\n{worker.log()}" if worker is not None else ""
                pytest.fail(f"timed out after {timeout}s waiting for {what}{log}")

    def wait_owned(self, worker: LiveWorker, timeout: float = 90) -> None:
        """Until ``worker`` owns every partition (its SLA agents' gauge of case partitions)."""
        self.wait(lambda: worker.metric("intake_sla_owned_partitions") == 4, timeout, "the worker to own its partitions",
                  worker)

    def routed(self, contact_id: str) -> list[dict]:
        return [e["data"] for e in self.events[ROUTED.name] if e["data"]["contact_id"] == contact_id]

    def routed_once(self, event: ContactEvent, timeout: float, worker: LiveWorker | None = None) -> dict:
        return self.wait(lambda: (self.routed(event.id) or [None])[0], timeout, f"routed {event.data.provider_message_id}",
                         worker)

    def close(self) -> None:
        self.consumer.close()


@pytest.fixture(scope="module")
def live(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveWorker, Outputs]]:
    kafka = KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=f"rt{uuid.uuid4().hex[:8]}")
    ensure_topics(kafka)
    worker = LiveWorker(kafka, tmp_path_factory.mktemp("routing"))
    outputs = Outputs(kafka)
    worker.start()
    try:
        yield worker, outputs
    finally:
        worker.stop()
        outputs.close()
        print(f"----- worker log (tail) -----\n{worker.log()}")
        drop_topics(kafka, (kafka.topic_prefix + ".", worker.env["INTAKE_STREAMS_APP_ID"] + "-"))


def drop_topics(kafka: KafkaSettings, prefixes: tuple[str, ...]) -> None:
    """The shared broker keeps every partition in memory: remove this module's topics and Faust's."""
    admin = AdminClient(kafka.confluent())
    names = [t for t in admin.list_topics(timeout=30).topics if t.startswith(prefixes)]
    for future in admin.delete_topics(names, operation_timeout=30).values() if names else ():
        try:
            future.result()
        except Exception as exc:  # noqa: BLE001 - best effort clean-up, never fails a test
            print(f"could not delete a topic: {exc}")
