"""Broker down: the gateway refuses with 503 + Retry-After instead of acknowledging what it cannot
persist, and everything it did acknowledge is on the log once the broker is back.

Uses a private broker (own ports and folder) so the session broker is untouched.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import orjson
import pytest

from intake.report import read_topic
from schemas.admin import ensure_topics
from schemas.settings import KafkaSettings
from schemas.topics import CONTACTS
from tests.conftest import KAFKA_SCRIPT

from .conftest import REPO, free_port, wait_for

pytestmark = pytest.mark.kafka


def test_gateway_answers_503_while_the_broker_is_down_and_loses_nothing(kafka_bootstrap: str, tmp_path: Path) -> None:
    kafka_port = free_port()
    broker_env = {**os.environ, "KAFKA_HOME_DIR": str(tmp_path / "kafka"), "KAFKA_PORT": str(kafka_port),
                  "KAFKA_CONTROLLER_PORT": str(free_port()), "KAFKA_HEAP": "384m"}
    broker = lambda action: subprocess.run([str(KAFKA_SCRIPT), action], env=broker_env, check=True,  # noqa: E731
                                           capture_output=True, timeout=180)
    broker("start")
    kafka = KafkaSettings(bootstrap_servers=f"127.0.0.1:{kafka_port}", topic_prefix="outage")
    ensure_topics(kafka)
    port = free_port()
    env = {**os.environ, "INTAKE_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers, "INTAKE_KAFKA_TOPIC_PREFIX": "outage",
           "INTAKE_GATEWAY_PORT": str(port), "INTAKE_GATEWAY_PUBLISH_TIMEOUT": "3"}
    gateway = subprocess.Popen([sys.executable, "-m", "intake.cli", "gateway"], cwd=REPO, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    acknowledged: set[str] = set()

    def post(submission: str) -> httpx.Response:
        response = httpx.post(f"{url}/webform", json={"submission_id": submission, "message": "还没收到货", "email": "wang@example.cn"}, timeout=30)
        if response.status_code == 202:
            acknowledged.add(response.json()["event_id"])
        return response

    try:
        wait_for(lambda: _up(url), timeout=60, message="gateway")
        assert post(f"before-{uuid.uuid4().hex}").status_code == 202

        broker("stop")
        refused = f"during-{uuid.uuid4().hex}"
        began = time.monotonic()
        response = post(refused)
        assert response.status_code == 503, response.text
        assert int(response.headers["Retry-After"]) > 0
        assert time.monotonic() - began < 15, "refuses within the publish timeout, does not hang"
        assert httpx.get(f"{url}/readyz", timeout=10).status_code == 503
        # the series alert IntakeRefusingContacts pages on (deploy/prometheus/rules/intake-alerts.yml)
        assert 'intake_connector_rejected_total{channel="webform",reason="unavailable"} 1.0' in \
            httpx.get(f"{url}/metrics", timeout=10).text

        broker("start")
        wait_for(lambda: post(refused).status_code == 202, timeout=60, interval=1, message="the retry accepted")
        assert post(f"after-{uuid.uuid4().hex}").status_code == 202
    finally:
        gateway.terminate()
        gateway.wait(20)
    on_log = {orjson.loads(v)["id"] for v in read_topic(kafka, kafka.topic(CONTACTS))}
    broker("stop")
    assert len(acknowledged) == 3
    assert acknowledged <= on_log, "every acknowledged contact is on the log"


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
