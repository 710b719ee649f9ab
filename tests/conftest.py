"""Shared fixtures: one real Kafka broker per test session, isolated topic prefixes per test."""
from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from schemas.admin import ensure_topics
from schemas.settings import KafkaSettings

REPO = Path(__file__).resolve().parents[1]
KAFKA_SCRIPT = REPO / "deploy" / "kafka" / "kafka-local.sh"


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    """Start the project's local broker once (idempotent) unless INTAKE_TEST_KAFKA points elsewhere."""
    external = os.environ.get("INTAKE_TEST_KAFKA")
    if external:
        return external
    subprocess.run([str(KAFKA_SCRIPT), "start"], check=True, cwd=REPO)
    return "127.0.0.1:" + os.environ.get("KAFKA_PORT", "9092")


@pytest.fixture
def kafka_settings(kafka_bootstrap: str) -> KafkaSettings:
    """Settings with a fresh topic prefix, its catalog topics already created."""
    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=f"t{uuid.uuid4().hex[:10]}")
    ensure_topics(settings)
    return settings
