"""Meta webhooks end to end (Messenger, Instagram, WhatsApp Cloud API): signed JSON -> gateway -> real Kafka.

Payload shapes follow Meta's webhook reference pages (Messenger "messages" / "messaging_postbacks",
Page "feed", Instagram messaging / "comments" / "mentions", WhatsApp Cloud API "messages");
the signature is what Meta sends: ``X-Hub-Signature-256: sha256=<HMAC-SHA256(app secret, raw body)>``.
"""
from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from connectors.signatures import hmac_signature
from schemas import Channel

from .conftest import Landed, RunningGateway, metric, settings_with_secrets

pytestmark = pytest.mark.kafka
APP_SECRET, VERIFY_TOKEN = "meta-app-secret-0123456789abcdef", "my-verify-token"
PAGE_ID, IG_ID = "104857600000001", "17841400000000001"


@pytest.fixture
def meta(start_gateway) -> Iterator[RunningGateway]:  # noqa: ANN001
    with start_gateway(settings_with_secrets(meta_app_secret=APP_SECRET, meta_verify_token=VERIFY_TOKEN)) as running:
        yield running


def signed(payload: dict, secret: str = APP_SECRET) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(payload, ensure_ascii=False).encode()
    return raw, {"content-type": "application/json", "x-hub-signature-256": hmac_signature(secret, raw)}


def messenger_delivery() -> dict:
    """Two entries, three messaging events that are inquiries plus a receipt and an echo."""
    return {"object": "page", "entry": [
        {"id": PAGE_ID, "time": 1763800000123, "messaging": [
            {"sender": {"id": "6543210987654321"}, "recipient": {"id": PAGE_ID}, "timestamp": 1763800000100,
             "message": {"mid": "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P",
                         "text": "Hi, is the air purifier in stock? 有货吗？"}},
            {"sender": {"id": "6543210987654321"}, "recipient": {"id": PAGE_ID}, "timestamp": 1763800000200,
             "message": {"mid": "m_photo_2", "attachments": [{"type": "image", "payload": {"url": "https://scontent.xx.fbcdn.net/v/t1.15752-9/photo.jpg"}}]}},
            {"sender": {"id": "6543210987654321"}, "recipient": {"id": PAGE_ID}, "timestamp": 1763800000300,
             "delivery": {"mids": ["m_outgoing_1"], "watermark": 1763800000000}},
            {"sender": {"id": PAGE_ID}, "recipient": {"id": "6543210987654321"}, "timestamp": 1763800000400,
             "message": {"mid": "m_echo_1", "is_echo": True, "app_id": 1517776481860111, "text": "We reply soon"}},
        ]},
        {"id": PAGE_ID, "time": 1763800000999, "messaging": [
            {"sender": {"id": "1111222233334444"}, "recipient": {"id": PAGE_ID}, "timestamp": 1763800000900,
             "postback": {"mid": "m_postback_9", "title": "Talk to an agent", "payload": "AGENT"}},
        ]},
    ]}


async def test_subscription_handshake_returns_the_challenge_only_for_our_token(meta: RunningGateway) -> None:
    async with meta.client() as http:
        good = await http.get("/social/meta", params={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN,
                                                      "hub.challenge": "1158201444"})
        bad = await http.get("/social/meta", params={"hub.mode": "subscribe", "hub.verify_token": "guess",
                                                     "hub.challenge": "1158201444"})
    assert (good.status_code, good.text) == (200, "1158201444")
    assert bad.status_code == 403


async def test_messenger_delivery_with_several_entries_becomes_one_contact_each_and_a_retry_adds_nothing(
        meta: RunningGateway, landed: Landed) -> None:
    raw, headers = signed(messenger_delivery())
    async with meta.client() as http:
        first = await http.post("/social/meta", content=raw, headers=headers)
        retry = await http.post("/social/meta", content=raw, headers=headers)
    assert first.status_code == 200 and first.json() == {"published": 3, "duplicates": 0, "dead_letters": 0, "skipped": 2}
    assert retry.json() == {"published": 0, "duplicates": 3, "dead_letters": 0, "skipped": 2}
    contacts = {e.data.provider_message_id: e.data for e in landed.contacts()}
    assert len(landed.contacts()) == 3
    text = contacts["messenger:m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P"]
    assert (text.channel, text.provider, text.customer.handle) == (Channel.SOCIAL, "messenger", "messenger:6543210987654321")
    assert text.body == "Hi, is the air purifier in stock? 有货吗？" and text.is_public is False
    assert text.attributes["page_id"] == PAGE_ID and text.attributes["sent_at"].startswith("2025-11-22")
    photo = contacts["messenger:m_photo_2"]
    assert photo.attachments[0].url == "https://scontent.xx.fbcdn.net/v/t1.15752-9/photo.jpg"
    assert contacts["messenger:m_postback_9"].attributes["postback_payload"] == "AGENT"
    [kept] = {r.data.body for r in landed.raws()}
    assert kept == raw.decode() and landed.raws()[0].data.headers["X-Hub-Signature-256"] == headers["x-hub-signature-256"]


async def test_whatsapp_messages_get_e164_numbers_and_profile_names(meta: RunningGateway, landed: Landed) -> None:
    payload = {"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
        "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"},
                     {"profile": {"name": "李雷"}, "wa_id": "8613800138000"}],
        "messages": [
            {"from": "16505551234", "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
             "timestamp": "1763800000", "text": {"body": "Does it shine in the dark?"}, "type": "text"},
            {"from": "8613800138000", "id": "wamid.CN2", "timestamp": "1763800005", "type": "image",
             "image": {"caption": "收到的商品破损了", "mime_type": "image/jpeg", "sha256": "HASH", "id": "1003383421387256"}},
        ]}}]}],
    }
    status_only = {"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
        "statuses": [{"id": "wamid.OUT1", "status": "delivered", "timestamp": "1763800010", "recipient_id": "16505551234"}],
        "messages": [{"from": "16505551234", "id": "wamid.REACT", "timestamp": "1763800011", "type": "reaction",
                      "reaction": {"message_id": "wamid.OUT1", "emoji": "\U0001F44D"}}]}}]}]}
    async with meta.client() as http:
        answers = [await http.post("/social/meta", content=raw, headers=headers)
                   for raw, headers in (signed(payload), signed(status_only))]
    assert [a.json()["published"] for a in answers] == [2, 0] and answers[1].json()["skipped"] == 1
    contacts = {e.data.provider_message_id: e.data for e in landed.contacts()}
    assert len(contacts) == 2
    us = contacts["whatsapp:wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="]
    assert (us.customer.phone, us.customer.handle, us.customer.name) == ("+16505551234", "whatsapp:+16505551234", "Sheena Nelson")
    cn = contacts["whatsapp:wamid.CN2"]
    assert (cn.customer.phone, cn.customer.name, cn.body) == ("+8613800138000", "李雷", "收到的商品破损了")
    assert cn.attachments[0].content_type == "image/jpeg" and cn.attributes["media_id"] == "1003383421387256"


async def test_public_feed_comments_and_instagram_comments_are_marked_public(meta: RunningGateway, landed: Landed) -> None:
    feed = {"object": "page", "entry": [{"id": PAGE_ID, "time": 1763800000, "changes": [{"field": "feed", "value": {
        "from": {"id": "5550001112223334", "name": "Angry Customer"}, "post_id": f"{PAGE_ID}_987654321",
        "comment_id": "987654321_1234567", "verb": "add", "item": "comment", "created_time": 1763800000,
        "message": "Third time my order is late. Terrible service! 太差了"}}]}]}
    instagram = {"object": "instagram", "entry": [{"id": IG_ID, "time": 1763800000, "messaging": [
        {"sender": {"id": "IGSID-778899"}, "recipient": {"id": IG_ID}, "timestamp": 1763800000000,
         "message": {"mid": "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQx", "text": "Do you ship to Hangzhou?"}}],
        "changes": [{"field": "comments", "value": {"from": {"id": "IGSID-112233", "username": "xiaoming"},
                                                   "media": {"id": "18000000000000001", "media_product_type": "FEED"},
                                                   "id": "17865799348089039", "text": "质量有问题，怎么退货？"}},
                    {"field": "mentions", "value": {"media_id": "18000000000000002", "comment_id": "17865799348089040"}}]}]}
    async with meta.client() as http:
        for body in (feed, instagram):
            raw, headers = signed(body)
            assert (await http.post("/social/meta", content=raw, headers=headers)).json()["published"] >= 1
    contacts = {e.data.provider_message_id: e.data for e in landed.contacts()}
    comment = contacts["facebook:987654321_1234567"]
    assert comment.is_public and comment.customer.handle == "facebook:5550001112223334" and "太差了" in comment.body
    ig_comment = contacts["instagram:comment:17865799348089039"]
    assert ig_comment.is_public and ig_comment.customer.handle == "instagram:IGSID-112233" and ig_comment.customer.name == "xiaoming"
    assert contacts["instagram:mention:17865799348089040"].is_public
    dm = contacts["instagram:aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQx"]
    assert dm.is_public is False and dm.customer.handle == "instagram:IGSID-778899"


@pytest.mark.parametrize("headers", [
    {"content-type": "application/json"},
    {"content-type": "application/json", "x-hub-signature-256": "sha256=" + "0" * 64},
    {"content-type": "application/json", "x-hub-signature-256": hmac_signature("another-app", b"{}")},
])
async def test_bad_or_missing_signature_is_refused(meta: RunningGateway, landed: Landed, headers: dict[str, str]) -> None:
    before = metric("intake_connector_rejected_total", channel="social", reason="signature")
    async with meta.client() as http:
        answer = await http.post("/social/meta", content=json.dumps(messenger_delivery()).encode(), headers=headers)
    assert answer.status_code == 403 and answer.json()["error"] == "signature"
    assert metric("intake_connector_rejected_total", channel="social", reason="signature") == before + 1
    assert landed.contacts() == [] and landed.raws() == []


@pytest.mark.parametrize("raw", [b'{"object": "page", "entry": [', b"[1, 2, 3]", b"\xff\xfe not utf-8"])
async def test_malformed_body_gets_400(meta: RunningGateway, landed: Landed, raw: bytes) -> None:
    async with meta.client() as http:
        answer = await http.post("/social/meta", content=raw,
                                 headers={"content-type": "application/json", "x-hub-signature-256": hmac_signature(APP_SECRET, raw)})
    assert answer.status_code == 400 and answer.json()["error"] == "malformed_body"
    assert landed.contacts() == [] and landed.dead_letters() == []


async def test_unnormalizable_items_reach_the_dead_letter_topic_and_the_rest_is_published(
        meta: RunningGateway, landed: Landed) -> None:
    payload = {"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
        "messages": [{"from": "not-a-number", "id": "wamid.BAD", "timestamp": "1763800000", "type": "text", "text": {"body": "?"}},
                     {"from": "16505551234", "id": "wamid.GOOD", "timestamp": "1763800000", "type": "text", "text": {"body": "ok"}}]}}]}]}
    unknown_object = {"object": "permissions", "entry": [{"id": "1", "changes": []}]}
    async with meta.client() as http:
        for body in (payload, unknown_object):
            raw, headers = signed(body)
            assert (await http.post("/social/meta", content=raw, headers=headers)).status_code == 200
    assert [e.data.provider_message_id for e in landed.contacts()] == ["whatsapp:wamid.GOOD"]
    causes = sorted(d.data.cause for d in landed.dead_letters())
    assert causes == ["entry[0].changes[0].value.messages[0]: from 'not-a-number' is not a phone number",
                      "unsupported delivery: object='permissions', entry is list"]
