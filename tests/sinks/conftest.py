"""Sink fixtures: ONE chdb directory for the whole session (a process may open only one chdb
path in its lifetime), a fresh database per test inside it."""
from __future__ import annotations

import concurrent.futures
import os
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from sinks.clickhouse import connect
from sinks.migrations import migrate
from sinks.settings import SinkSettings

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts"


@pytest.fixture(scope="session")
def chdb_dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    """chdb in a session temp dir, or the ClickHouse server of INTAKE_TEST_CLICKHOUSE_DSN when set
    (the in-process sink tests then run unchanged against the server)."""
    return os.environ.get("INTAKE_TEST_CLICKHOUSE_DSN") or f"chdb://{tmp_path_factory.mktemp('chdb')}"


@pytest.fixture
def sink_settings(chdb_dsn: str) -> SinkSettings:
    """Settings on the session's chdb with a database and consumer group of the test's own."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    return SinkSettings(dsn=chdb_dsn, database=name, group_id=f"sink-{name}", batch_max_rows=200,
                        batch_max_seconds=0.3, backoff_max_seconds=0.5)


@pytest.fixture
def ch(sink_settings: SinkSettings) -> Client:
    client = connect(sink_settings.dsn, sink_settings.database)
    migrate(client, sink_settings)
    return client


@pytest.fixture
def count(ch: Client) -> Callable[[str], int]:
    return lambda sql: int(ch.query(sql).result_rows[0][0])


@pytest.fixture(autouse=True)
def _drop_topics_afterwards(request: pytest.FixtureRequest):
    """Delete this test's prefixed topics when it is done: the shared broker's heap holds the
    metadata of every partition ever created, and tests create 30 per prefix."""
    if "kafka_settings" not in request.fixturenames:
        yield
        return
    from confluent_kafka.admin import AdminClient

    from schemas.topics import CATALOG
    settings = request.getfixturevalue("kafka_settings")  # set up first, so torn down after us
    yield
    futures = AdminClient(settings.confluent()).delete_topics([settings.topic(s) for s in CATALOG], operation_timeout=30)
    # best effort, one deadline for all: a leftover topic is harmless, a teardown that waits 30 s per topic is not
    concurrent.futures.wait(futures.values(), timeout=30)
