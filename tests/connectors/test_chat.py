"""Chat widget messages end to end: signed JSON -> gateway -> real Kafka."""
from __future__ import annotations

import json
import uuid

import pytest

from connectors.signatures import hmac_signature
from schemas import Channel

from .conftest import CHAT_SECRET, Landed, RunningGateway

pytestmark = pytest.mark.kafka


def message(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "message_id": f"msg-{uuid.uuid4().hex}", "session_id": "sess-42", "visitor_id": "v-9f3a",
        "text": "Is the extended warranty available for my blender? 我的保修快到期了",
        "sent_at": "2026-11-22T08:00:01+08:00", "language": "en", "page_url": "https://shop.example.com/p/123",
        "visitor": {"name": "Wang Fang", "email": "WANG.FANG@example.com", "phone": "+8613912345678",
                    "customer_number": "C-7788"},
        "order_number": "A3003",
        "attachments": [{"url": "https://cdn.example.com/u/receipt.jpg", "content_type": "image/jpeg",
                         "filename": "receipt.jpg", "size_bytes": 34567}],
        "widget_version": "3.2.1",  # unknown fields are ignored
    }
    base.update(fields)
    return base


def signed(body: dict, secret: str = CHAT_SECRET) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body, ensure_ascii=False).encode()
    return raw, {"content-type": "application/json", "x-intake-signature-256": hmac_signature(secret, raw)}


async def test_message_becomes_one_contact_and_a_retry_adds_nothing(gateway: RunningGateway, landed: Landed) -> None:
    body = message()
    raw, headers = signed(body)
    async with gateway.client() as http:
        first = await http.post("/chat/messages", content=raw, headers=headers)
        retry = await http.post("/chat/messages", content=raw, headers=headers)
    assert first.status_code == 202 and retry.json() == {"event_id": first.json()["event_id"], "duplicate": True}
    [event] = landed.contacts()
    contact = event.data
    assert (contact.channel, contact.provider, contact.provider_message_id) == (Channel.CHAT, "chat-widget", body["message_id"])
    assert contact.customer.handle == "chat:v-9f3a"
    assert (contact.customer.email, contact.customer.phone, contact.customer.customer_number) == (
        "wang.fang@example.com", "+8613912345678", "C-7788")
    assert contact.customer.order_numbers == ["A3003"]
    assert contact.body == body["text"]
    assert contact.attributes["session_id"] == "sess-42" and contact.attributes["visitor_id"] == "v-9f3a"
    assert [(a.url, a.content_type, a.size_bytes) for a in contact.attachments] == [
        ("https://cdn.example.com/u/receipt.jpg", "image/jpeg", 34567)]
    [raw_event] = landed.raws()
    assert raw_event.data.headers["x-intake-signature-256"] == headers["x-intake-signature-256"]


@pytest.mark.parametrize("headers", [
    {"content-type": "application/json"},
    {"content-type": "application/json", "x-intake-signature-256": "sha256=" + "0" * 64},
])
async def test_bad_or_missing_signature_is_refused_and_nothing_published(gateway: RunningGateway, landed: Landed,
                                                                         headers: dict[str, str]) -> None:
    async with gateway.client() as http:
        answer = await http.post("/chat/messages", content=json.dumps(message()).encode(), headers=headers)
    assert answer.status_code == 403 and answer.json()["error"] == "signature"
    assert landed.contacts() == [] and landed.raws() == [] and landed.dead_letters() == []


async def test_malformed_json_gets_400(gateway: RunningGateway, landed: Landed) -> None:
    raw = b'{"message_id": "m1", "text": "unterminated'
    headers = {"content-type": "application/json", "x-intake-signature-256": hmac_signature(CHAT_SECRET, raw)}
    async with gateway.client() as http:
        answer = await http.post("/chat/messages", content=raw, headers=headers)
    assert answer.status_code == 400 and answer.json()["error"] == "malformed_body"
    assert landed.contacts() == [] and landed.dead_letters() == []


@pytest.mark.parametrize(("body", "cause"), [
    ({k: v for k, v in message().items() if k != "message_id"}, "message_id"),
    (message(text="  ", attachments=[]), "neither text nor attachments"),
])
async def test_signed_but_unnormalizable_message_reaches_the_dead_letters(gateway: RunningGateway, landed: Landed,
                                                                          body: dict, cause: str) -> None:
    raw, headers = signed(body)
    async with gateway.client() as http:
        answer = await http.post("/chat/messages", content=raw, headers=headers)
    assert answer.status_code == 202 and answer.json()["dead_letter_id"]
    assert landed.contacts() == []
    [letter] = landed.dead_letters()
    assert letter.id == answer.json()["dead_letter_id"]
    assert letter.data.stage == "connector:chat" and cause in letter.data.cause
    assert json.loads(letter.data.payload) == body
