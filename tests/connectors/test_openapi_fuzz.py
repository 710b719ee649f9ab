"""Schemathesis against the gateway's own OpenAPI spec: whatever it generates, the gateway answers
with a 2xx or a 4xx with a reason, never a 5xx or a hang (real gateway process, real broker)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings

from schemas.admin import ensure_topics
from schemas.settings import KafkaSettings
from tests.conftest import delete_topics_with_prefix

from .conftest import free_port

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.checks import not_a_server_error  # noqa: E402

pytestmark = pytest.mark.kafka
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def gateway_url(kafka_bootstrap: str) -> Iterator[str]:
    kafka = KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=f"fz{uuid.uuid4().hex[:8]}")
    ensure_topics(kafka)
    port = free_port()
    env = {**os.environ, "INTAKE_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "INTAKE_KAFKA_TOPIC_PREFIX": kafka.topic_prefix,
           "INTAKE_GATEWAY_PORT": str(port), "INTAKE_GATEWAY_WEBFORM_RATE_PER_MINUTE": "1000000",
           "INTAKE_GATEWAY_WEBFORM_BURST": "100000"}
    proc = subprocess.Popen([sys.executable, "-m", "intake.cli", "gateway"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline and proc.poll() is None, "gateway did not start"
        time.sleep(0.3)
    yield url
    proc.terminate()
    proc.wait(20)
    delete_topics_with_prefix(kafka_bootstrap, kafka.topic_prefix)


@pytest.fixture(scope="module")
def gateway_schema(gateway_url: str):  # noqa: ANN201
    return schemathesis.openapi.from_url(f"{gateway_url}/openapi.json")


def test_no_input_makes_the_gateway_fail(gateway_schema) -> None:  # noqa: ANN001
    """Every operation, 30 generated cases each (schemathesis' pytest plugin does not support pytest 9 yet)."""
    operations = [result.ok() for result in gateway_schema.get_all_operations()]
    assert len(operations) >= 6, "the spec lists the channel endpoints"
    statuses: list[int] = []
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case) -> None:  # noqa: ANN001
            response = case.call(timeout=15)
            statuses.append(response.status_code)
            case.validate_response(response, checks=[not_a_server_error])
            if 400 <= response.status_code < 500 and "json" in response.headers.get("content-type", ""):
                assert response.json().get("error"), f"{operation.label}: a 4xx says why"
        check()
    assert len(statuses) > 2 * len(operations), "generated bodies, not only one call per operation"
    print(f"{len(operations)} operations, {len(statuses)} calls, statuses {sorted(set(statuses))}")
