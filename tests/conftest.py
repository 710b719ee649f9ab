"""Shared fixtures: one real Kafka broker per test session, isolated topic prefixes per test."""
from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

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


def delete_topics_with_prefix(bootstrap: str, prefix: str) -> None:
    """Tests create thousands of partitions over a few runs; a single small broker must not keep them."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    doomed = [t for t in admin.list_topics(timeout=10).topics if t.startswith(prefix)]
    if doomed:
        for future in admin.delete_topics(doomed, operation_timeout=30).values():
            try:
                future.result()
            except Exception:  # already gone
                pass


@pytest.fixture
def kafka_settings(kafka_bootstrap: str) -> Iterator[KafkaSettings]:
    """Settings with a fresh topic prefix, its catalog topics already created (and deleted afterwards,
    with every other topic whose name starts with the prefix: name Faust app ids after it)."""
    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=f"t{uuid.uuid4().hex[:10]}")
    ensure_topics(settings)
    yield settings
    delete_topics_with_prefix(kafka_bootstrap, settings.topic_prefix)
