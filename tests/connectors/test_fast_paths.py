"""The gateway's fast path for POST /webform answers exactly as the FastAPI route does, and the
publisher's delivery handling (polled from the event loop, one future per send) keeps the
guarantee: an answer only after Kafka acknowledged, PublishUnavailable otherwise."""
from __future__ import annotations

import asyncio
import threading
import time
import uuid
from datetime import datetime, timezone
from urllib.parse import urlencode

import pytest

from connectors.publisher import Publisher, PublishUnavailable
from schemas import Contact, RawPayload
from schemas.settings import KafkaSettings

from .conftest import Landed, settings_with_secrets


def _requests(honeypot: str) -> list[tuple[str, dict]]:
    """(name, httpx request kwargs) covering every kind of answer the web form gives."""
    good = {"submission_id": "fixed-" + uuid.uuid4().hex, "email": "Li.Lei@Example.CN", "message": "还没发货"}
    return [
        ("accepted", {"json": good}),
        ("duplicate", {"json": good}),
        ("form-encoded", {"content": urlencode({**good, "submission_id": "f-" + uuid.uuid4().hex, "phone": ""}),
                          "headers": {"content-type": "application/x-www-form-urlencoded"}}),
        ("invalid", {"json": {"submission_id": "x", "message": "", "email": "not-an-address"}}),
        ("no-contact-field", {"json": {"submission_id": "x", "message": "m"}}),
        ("extra-field", {"json": {**good, "unexpected": 1}}),
        ("malformed", {"content": b'{"submission_id": ', "headers": {"content-type": "application/json"}}),
        ("not-an-object", {"content": b"[1]", "headers": {"content-type": "application/json"}}),
        ("not-utf8", {"content": b"\xff\xfe", "headers": {"content-type": "application/x-www-form-urlencoded"}}),
        ("media-type", {"content": b"<form/>", "headers": {"content-type": "text/xml"}}),
        ("too-large", {"content": b"{" + b" " * 300_000 + b"}", "headers": {"content-type": "application/json"}}),
        ("spam", {"json": {**good, honeypot: "http://cheap.example"}}),
        ("rate-limited", {"json": {**good, "submission_id": "r-" + uuid.uuid4().hex}}),
    ]


def _comparable(name: str, answer) -> tuple:  # noqa: ANN001
    json_body = answer.content and answer.headers.get("content-type", "").startswith("application/json")
    body = answer.json() if json_body else answer.text
    if name == "spam":
        body = {**body, "event_id": len(body["event_id"])}  # a random id, so the bot learns nothing
    headers = {k: answer.headers.get(k) for k in ("content-type", "retry-after")}
    return answer.status_code, body, headers


@pytest.mark.kafka
async def test_fast_path_answers_exactly_like_the_fastapi_route(start_gateway, landed: Landed) -> None:  # noqa: ANN001
    answers: dict[bool, list[tuple]] = {}
    requests = _requests("website")
    for fast in (True, False):
        # 11 requests take a token before "rate-limited" (413 is refused before the limiter)
        settings = settings_with_secrets(fast_paths=fast, webform_burst=11, webform_rate_per_minute=1)
        with start_gateway(settings) as gw:
            async with gw.client() as http:
                sent = []
                for name, kwargs in requests:
                    sent.append((name, _comparable(name, await http.post("/webform", **kwargs))))
                sent.append(("healthz", _comparable("healthz", await http.get("/healthz"))))
                sent.append(("head", _comparable("head", await http.head("/webform"))))
        answers[fast] = sent
    assert answers[True] == answers[False]
    statuses = dict((name, answer[0]) for name, answer in answers[True])
    assert statuses == {"accepted": 202, "duplicate": 202, "form-encoded": 202, "invalid": 422, "no-contact-field": 422,
                        "extra-field": 422, "malformed": 400, "not-an-object": 400, "not-utf8": 400,
                        "media-type": 415, "too-large": 413, "spam": 202, "rate-limited": 429, "healthz": 200,
                        "head": 405}
    # each gateway published the two accepted submissions once (its duplicate added nothing)
    contacts = landed.contacts()
    assert len(contacts) == 4 and len({e.id for e in contacts}) == 2


def _raw() -> RawPayload:
    return RawPayload(channel="webform", provider="webform", received_at=datetime.now(timezone.utc), body="{}")


def _contact() -> Contact:
    return Contact(channel="webform", provider="webform", provider_message_id=uuid.uuid4().hex,
                   received_at=datetime.now(timezone.utc), body="hi")


@pytest.mark.kafka
async def test_publisher_answers_only_after_the_ack_from_any_event_loop(kafka_settings: KafkaSettings,
                                                                        landed: Landed) -> None:
    publisher = Publisher(kafka_settings, publish_timeout=10.0)
    other: dict[str, object] = {}

    def in_another_loop() -> None:
        async def publish_many() -> list[str]:
            events = await asyncio.gather(*(publisher.publish_contact(_contact(), _raw(), "/t") for _ in range(50)))
            return [e.id for e in events]
        other["ids"] = asyncio.run(publish_many())

    try:
        thread = threading.Thread(target=in_another_loop)
        thread.start()
        events = await asyncio.gather(*(publisher.publish_contact(_contact(), _raw(), "/t") for _ in range(200)))
        await asyncio.to_thread(thread.join, 30)
    finally:
        publisher.close()
    ids = {e.id for e in events} | set(other["ids"])  # type: ignore[arg-type]
    assert len(ids) == 250
    assert ids <= {e.id for e in landed.contacts()}


async def test_publisher_refuses_in_time_when_kafka_cannot_acknowledge() -> None:
    publisher = Publisher(KafkaSettings(bootstrap_servers="127.0.0.1:9", topic_prefix="down"), publish_timeout=1.0)
    try:
        began = time.monotonic()
        results = await asyncio.gather(*(publisher.publish_contact(_contact(), _raw(), "/t") for _ in range(5)),
                                       return_exceptions=True)
        assert all(isinstance(r, PublishUnavailable) for r in results), results
        assert time.monotonic() - began < 5
    finally:
        publisher.close(timeout=0)
