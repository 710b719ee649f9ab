"""Fixtures for the channel connector tests: the real gateway on a real port, on the real broker.

``start_gateway(settings)`` runs ``create_app`` under uvicorn in a thread on a free port
(the way providers reach it: real HTTP, real client addresses), against the test's own
topic prefix; ``gateway`` is one with the test secrets below. Read what landed with
``Landed`` (``landed.contacts()``, ``.raws()``, ``.dead_letters()``): connectors answer only
after Kafka acknowledged, so reading each topic up to its high watermark is exact.
"""
from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest
from confluent_kafka import KafkaException
from prometheus_client import REGISTRY

from connectors.gateway import server as gateway_server
from connectors.settings import GatewaySettings
from schemas import ContactEvent, DeadLetterEvent, RawPayloadEvent
from schemas.settings import KafkaSettings

from .mailsocial import contacts, dead_letters, raws

TWILIO_TOKEN = "12345678901234567890123456789012"  # a Twilio auth token is 32 hex chars
CHAT_SECRET = "chat-server-shared-secret"
PHONE_SECRET = "pbx-shared-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def settings_with_secrets(**overrides: object) -> GatewaySettings:
    """Gateway settings with every provider secret set, on a free port."""
    values: dict[str, object] = dict(port=free_port(), twilio_auth_token=TWILIO_TOKEN, chat_secret=CHAT_SECRET,
                                     phone_secret=PHONE_SECRET, publish_timeout=5.0)
    values.update(overrides)
    return GatewaySettings(**values)


@dataclass
class RunningGateway:
    url: str
    settings: GatewaySettings
    kafka: KafkaSettings

    def client(self, **kw: object) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=15.0, **kw)


@dataclass
class Landed:
    """What is on the test's topics right now."""

    kafka: KafkaSettings

    def contacts(self) -> list[ContactEvent]:
        return _settled(contacts, self.kafka)

    def raws(self) -> list[RawPayloadEvent]:
        return _settled(raws, self.kafka)

    def dead_letters(self) -> list[DeadLetterEvent]:
        return _settled(dead_letters, self.kafka)


def _settled(read: Callable[[KafkaSettings], list], kafka: KafkaSettings, timeout: float = 20.0) -> list:
    """Retry while a just-created topic still elects its partition leaders (NOT_LEADER_FOR_PARTITION)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return read(kafka)
        except KafkaException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@contextmanager
def serve_gateway(settings: GatewaySettings, kafka: KafkaSettings) -> Iterator[RunningGateway]:
    server = gateway_server(settings, kafka)
    thread = threading.Thread(target=server.run, name="test-gateway", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("gateway did not start")
        time.sleep(0.02)
    try:
        yield RunningGateway(f"http://127.0.0.1:{settings.port}", settings, kafka)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture
def start_gateway(kafka_settings: KafkaSettings) -> Callable[..., object]:
    """``with start_gateway(settings) as gw:`` for tests that need their own settings."""
    return lambda settings: serve_gateway(settings, kafka_settings)


@pytest.fixture
def gateway(kafka_settings: KafkaSettings) -> Iterator[RunningGateway]:
    with serve_gateway(settings_with_secrets(), kafka_settings) as running:
        yield running


@pytest.fixture
def landed(kafka_settings: KafkaSettings) -> Landed:
    return Landed(kafka_settings)


def metric(name: str, **labels: str) -> float:
    """Current value of a Prometheus sample in this process (0 when never touched)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def wait_until(predicate: Callable[[], object], timeout: float, message: str) -> object:
    """Poll a condition with a bounded wait (for work the gateway does in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {message}")
        time.sleep(0.2)
