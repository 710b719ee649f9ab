"""The walking skeleton end to end: web form POST -> Kafka -> Faust agent -> ClickHouse -> wallboard."""
from __future__ import annotations

import uuid

import httpx
import pytest
from confluent_kafka import Consumer, TopicPartition

from schemas.topics import CONTACTS, ROUTED

from .conftest import Pipeline, wait_for

pytestmark = pytest.mark.kafka


def _topic_size(pipeline: Pipeline, spec) -> int:  # noqa: ANN001
    topic = pipeline.kafka.topic(spec)
    consumer = Consumer(pipeline.kafka.confluent(**{"group.id": "e2e-count"}))
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts)
    finally:
        consumer.close()


def _stored(pipeline: Pipeline, event_id: str) -> dict | None:
    response = httpx.get(f"{pipeline.wallboard_url}/api/contacts/{event_id}", timeout=5,
                         headers={"Authorization": f"Bearer {pipeline.api_token}"})
    return response.json() if response.status_code == 200 else None


def test_posted_form_is_stored_with_its_event_id_and_counted(pipeline: Pipeline) -> None:
    form = {"submission_id": f"e2e-{uuid.uuid4().hex}", "form_type": "return", "email": "Li.Wei@Example.com",
            "order_number": "A20261122", "return_reason": "尺码不对", "subject": "退货", "message": "我要退货，订单 A20261122 尺码不对"}
    response = httpx.post(f"{pipeline.gateway_url}/webform", json=form, timeout=15)
    assert response.status_code == 202, response.text
    event_id = response.json()["event_id"]

    row = wait_for(lambda: _stored(pipeline, event_id), timeout=60, message=f"contact {event_id} in ClickHouse")
    assert row["event_id"] == event_id
    assert row["channel"] == "webform"
    assert "Li.Wei@Example.com" not in str(row), "identifiers are stored per the PII policy, never verbatim"

    def counted() -> bool:
        summary = httpx.get(f"{pipeline.wallboard_url}/api/summary", params={"channel": "webform"}, timeout=5).json()
        return summary["by_channel"].get("webform", {}).get("received", 0) >= 1
    wait_for(counted, timeout=30, message="the wallboard to count the web form")


def test_retry_of_the_same_submission_is_stored_once(pipeline: Pipeline) -> None:
    form = {"submission_id": f"e2e-{uuid.uuid4().hex}", "message": "where is my parcel?", "phone": "+86 138 0013 8000"}
    ids = {httpx.post(f"{pipeline.gateway_url}/webform", json=form, timeout=15).json()["event_id"] for _ in range(3)}
    assert len(ids) == 1
    (event_id,) = ids
    wait_for(lambda: _stored(pipeline, event_id), timeout=60, message="the contact in ClickHouse")
    status = httpx.get(f"{pipeline.wallboard_url}/api/status", timeout=5,
                       headers={"Authorization": f"Bearer {pipeline.api_token}"}).json()
    assert status["rows"]["contacts"] == _topic_size(pipeline, ROUTED)


@pytest.mark.parametrize("body, content_type, status, error", [
    (b'{"submission_id": "x", "message": ', "application/json", 400, "malformed_body"),
    (b'{"submission_id": "x"}', "application/json", 422, "invalid_fields"),
    (b'{"submission_id": "x", "message": "hi", "form_type": 7}', "application/json", 422, "invalid_fields"),
    (b'{"submission_id": "x", "message": "' + b"a" * 400_000 + b'"}', "application/json", 413, "payload_too_large"),
])
def test_bad_input_is_refused_with_a_reason_and_publishes_nothing(
        pipeline: Pipeline, body: bytes, content_type: str, status: int, error: str) -> None:
    before = _topic_size(pipeline, CONTACTS)
    response = httpx.post(f"{pipeline.gateway_url}/webform", content=body,
                          headers={"content-type": content_type}, timeout=15)
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    assert response.json().get("detail")
    assert _topic_size(pipeline, CONTACTS) == before
