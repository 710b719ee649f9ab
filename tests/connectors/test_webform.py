"""Web form end to end: real HTTP -> gateway -> real Kafka, read back from the topics."""
from __future__ import annotations

import json
import uuid
from urllib.parse import urlencode

import pytest

from connectors.signatures import hmac_signature
from schemas import Channel

from .conftest import Landed, RunningGateway, metric, settings_with_secrets

pytestmark = pytest.mark.kafka


def form(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {"submission_id": uuid.uuid4().hex, "email": "Li.Lei@Example.CN",
                               "message": "我的订单 A1001 三天了还没发货，请尽快处理。"}
    base.update(fields)
    return base


async def test_json_form_becomes_one_normalized_contact_and_a_retry_adds_nothing(gateway: RunningGateway,
                                                                                 landed: Landed) -> None:
    body = form(name="李雷", phone="138 0013 8000", order_number="A1001", subject="发货延迟", language="zh",
                page_url="https://shop.example.cn/contact")
    async with gateway.client() as http:
        first = await http.post("/webform", json=body)
        retry = await http.post("/webform", json=body)
    assert first.status_code == 202 and retry.status_code == 202
    assert retry.json() == {"event_id": first.json()["event_id"], "duplicate": True}
    [event] = landed.contacts()
    contact = event.data
    assert event.id == first.json()["event_id"]
    assert (contact.channel, contact.provider, contact.provider_message_id) == (Channel.WEBFORM, "webform", body["submission_id"])
    assert contact.customer.email == "li.lei@example.cn"
    assert contact.customer.phone == "+8613800138000"
    assert contact.customer.order_numbers == ["A1001"]
    assert (contact.form_type, contact.subject, contact.language) == ("general", "发货延迟", "zh")
    assert contact.body == body["message"]
    assert contact.attributes == {"page_url": "https://shop.example.cn/contact"}
    [raw] = landed.raws()
    assert raw.id == event.id and raw.data.body.startswith("{") and "发货" in raw.data.body


async def test_form_encoded_appointment_and_return_forms(gateway: RunningGateway, landed: Landed) -> None:
    appointment = form(form_type="appointment", appointment_time="2026-12-01T14:30", phone="+86 139 1234 5678",
                       email="", message="想预约门店维修", website="")  # HTML forms post empty inputs too
    returned = form(form_type="return", order_number="A2002", return_reason="尺码不合适 / wrong size",
                    message="I want to return the shoes")
    async with gateway.client() as http:
        for body in (appointment, returned):
            answer = await http.post("/webform", content=urlencode(body),
                                     headers={"content-type": "application/x-www-form-urlencoded"})
            assert answer.status_code == 202, answer.text
    by_id = {e.data.provider_message_id: e.data for e in landed.contacts()}
    made = by_id[appointment["submission_id"]]
    assert made.form_type == "appointment" and made.customer.email is None
    assert made.attributes["appointment_time"] == "2026-12-01T06:30:00+00:00"  # Asia/Shanghai is UTC+8
    ret = by_id[returned["submission_id"]]
    assert ret.form_type == "return" and ret.customer.order_numbers == ["A2002"]
    assert ret.attributes["return_reason"] == "尺码不合适 / wrong size"


@pytest.mark.parametrize(("body", "field"), [
    (form(form_type="return", order_number="A1"), "return_reason"),
    (form(form_type="appointment"), "appointment_time"),
    (form(phone="12"), "phone"),
    (form(email=None), "email"),
    (form(message=""), "message"),
    (form(unexpected="x"), "unexpected"),
    ({"message": "no submission id", "email": "a@b.cn"}, "submission_id"),
])
async def test_invalid_forms_get_422_naming_the_problem_and_publish_nothing(gateway: RunningGateway, landed: Landed,
                                                                            body: dict, field: str) -> None:
    async with gateway.client() as http:
        answer = await http.post("/webform", json=body)
    assert answer.status_code == 422
    assert answer.json()["error"] == "invalid_fields" and field in answer.text
    assert landed.contacts() == [] and landed.raws() == []


@pytest.mark.parametrize(("content", "content_type", "status"), [
    (b'{"submission_id": "x", "message": ', "application/json", 400),
    (b'["a list"]', "application/json", 400),
    (b"\xff\xfe not utf-8", "application/x-www-form-urlencoded", 400),
    (b"<form/>", "text/xml", 415),
])
async def test_malformed_bodies_get_4xx(gateway: RunningGateway, landed: Landed, content: bytes, content_type: str,
                                        status: int) -> None:
    async with gateway.client() as http:
        answer = await http.post("/webform", content=content, headers={"content-type": content_type})
    assert answer.status_code == status and answer.json()["error"] in ("malformed_body", "unsupported_media_type")
    assert landed.contacts() == []


async def test_filled_honeypot_looks_accepted_but_publishes_nothing(gateway: RunningGateway, landed: Landed) -> None:
    before = metric("intake_connector_rejected_total", channel="webform", reason="spam")
    async with gateway.client() as http:
        answer = await http.post("/webform", json=form(website="http://cheap-pills.example"))
    assert answer.status_code == 202 and answer.json()["event_id"]
    assert landed.contacts() == [] and landed.raws() == []
    assert metric("intake_connector_rejected_total", channel="webform", reason="spam") == before + 1


async def test_rate_limit_per_client_with_retry_after_and_trusted_forwarded_for(start_gateway, landed: Landed) -> None:  # noqa: ANN001
    settings = settings_with_secrets(webform_burst=2, webform_rate_per_minute=1, trusted_proxies=["127.0.0.1/32"])
    with start_gateway(settings) as gw:
        async with gw.client() as http:
            alice = {"x-forwarded-for": "203.0.113.7"}
            answers = [await http.post("/webform", json=form(), headers=alice) for _ in range(3)]
            bob = await http.post("/webform", json=form(), headers={"x-forwarded-for": "198.51.100.9"})
    assert [a.status_code for a in answers] == [202, 202, 429]
    assert answers[2].json()["error"] == "rate_limited" and int(answers[2].headers["retry-after"]) >= 1
    assert bob.status_code == 202  # another client behind the same proxy has its own bucket
    assert len(landed.contacts()) == 3


async def test_forwarded_for_is_ignored_unless_the_proxy_is_trusted(start_gateway) -> None:  # noqa: ANN001
    with start_gateway(settings_with_secrets(webform_burst=1, webform_rate_per_minute=1)) as gw:
        async with gw.client() as http:
            first = await http.post("/webform", json=form(), headers={"x-forwarded-for": "203.0.113.1"})
            spoofed = await http.post("/webform", json=form(), headers={"x-forwarded-for": "203.0.113.2"})
    assert (first.status_code, spoofed.status_code) == (202, 429)


async def test_relayed_forms_are_signed_when_a_secret_is_configured(start_gateway, landed: Landed) -> None:  # noqa: ANN001
    with start_gateway(settings_with_secrets(webform_secret="site-backend")) as gw:
        async with gw.client() as http:
            body = form()
            raw = json.dumps(body).encode()
            unsigned = await http.post("/webform", content=raw, headers={"content-type": "application/json"})
            forged = await http.post("/webform", content=raw, headers={"content-type": "application/json",
                                                                        "x-intake-signature-256": hmac_signature("guess", raw)})
            signed = await http.post("/webform", content=raw, headers={"content-type": "application/json",
                                                                        "x-intake-signature-256": hmac_signature("site-backend", raw)})
    assert (unsigned.status_code, forged.status_code, signed.status_code) == (403, 403, 202)
    assert [e.data.provider_message_id for e in landed.contacts()] == [body["submission_id"]]
