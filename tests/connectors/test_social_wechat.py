"""WeChat Official Account message push end to end: signed XML -> gateway -> real Kafka.

Payloads follow the Official Account docs ("接收普通消息" / "接收事件推送"), signed the way
WeChat signs: sha1 of the sorted token, timestamp and nonce, in the query string.
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from connectors.social.wechat import signature
from schemas import Channel

from .conftest import Landed, RunningGateway, metric, settings_with_secrets

pytestmark = pytest.mark.kafka
TOKEN = "wechat-server-token"
OPENID = "oR5GjjgEhCMJFyzaVZdrxZ2zRRF4"
ACCOUNT = "gh_3f2a9c1b7e00"


@pytest.fixture
def wechat(start_gateway) -> Iterator[RunningGateway]:  # noqa: ANN001
    with start_gateway(settings_with_secrets(wechat_token=TOKEN)) as running:
        yield running


def signed_query(token: str = TOKEN, timestamp: int | None = None, **extra: str) -> dict[str, str]:
    """What WeChat appends to the URL; every retry carries a fresh timestamp and nonce."""
    ts, nonce = str(timestamp or int(time.time())), uuid.uuid4().hex[:10]
    return {"signature": signature(token, ts, nonce), "timestamp": ts, "nonce": nonce, "openid": OPENID, **extra}


def xml(msg_type: str, msg_id: str | None = "23953128436210983", **fields: str) -> bytes:
    parts = [f"<ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>", f"<FromUserName><![CDATA[{OPENID}]]></FromUserName>",
             "<CreateTime>1763800000</CreateTime>", f"<MsgType><![CDATA[{msg_type}]]></MsgType>"]
    parts += [f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items()]
    if msg_id:
        parts.append(f"<MsgId>{msg_id}</MsgId>")
    return ("<xml>" + "".join(parts) + "</xml>").encode()


async def test_url_verification_echoes_echostr_only_with_a_valid_signature(wechat: RunningGateway) -> None:
    async with wechat.client() as http:
        good = await http.get("/social/wechat", params=signed_query(echostr="7512391302458917163"))
        bad = await http.get("/social/wechat", params=signed_query(token="wrong", echostr="7512391302458917163"))
    assert (good.status_code, good.text) == (200, "7512391302458917163")
    assert bad.status_code == 403 and bad.json()["error"] == "signature"


async def test_text_message_becomes_one_contact_and_a_retry_adds_nothing(wechat: RunningGateway, landed: Landed) -> None:
    body = xml("text", Content="你好，我的订单 A1002 什么时候发货？")
    async with wechat.client() as http:
        first = await http.post("/social/wechat", params=signed_query(), content=body, headers={"content-type": "text/xml"})
        retry = await http.post("/social/wechat", params=signed_query(), content=body, headers={"content-type": "text/xml"})
    assert (first.status_code, first.text) == (200, "success") and (retry.status_code, retry.text) == (200, "success")
    [event] = landed.contacts()
    contact = event.data
    assert (contact.channel, contact.provider, contact.provider_message_id) == (Channel.SOCIAL, "wechat", "wechat:23953128436210983")
    assert contact.customer.handle == f"wechat:{OPENID}" and contact.body == "你好，我的订单 A1002 什么时候发货？"
    assert contact.attributes["wechat_account"] == ACCOUNT and contact.attributes["msg_type"] == "text"
    assert contact.is_public is False
    [raw] = landed.raws()
    assert raw.data.body == body.decode() and raw.data.headers["openid"] == OPENID


async def test_voice_image_and_subscribe_event(wechat: RunningGateway, landed: Landed) -> None:
    voice = xml("voice", "1001", MediaId="media_v1", Format="amr", Recognition="我要退货")
    image = xml("image", "1002", PicUrl="http://mmbiz.qpic.cn/mmbiz_jpg/abc/0", MediaId="media_i1")
    event = xml("event", None, Event="subscribe", EventKey="qrscene_store42")
    async with wechat.client() as http:
        for body in (voice, image, event):
            answer = await http.post("/social/wechat", params=signed_query(), content=body)
            assert answer.text == "success"
    contacts = {e.data.provider_message_id: e.data for e in landed.contacts()}
    assert contacts["wechat:1001"].body == "我要退货" and contacts["wechat:1001"].attachments[0].content_type == "audio/amr"
    assert contacts["wechat:1002"].attachments[0].url == "http://mmbiz.qpic.cn/mmbiz_jpg/abc/0"
    sub = contacts[f"wechat:{OPENID}:1763800000:subscribe"]
    assert sub.attributes["wechat_event"] == "subscribe" and sub.attributes["eventkey"] == "qrscene_store42"


@pytest.mark.parametrize("query", [
    lambda: signed_query(token="not-the-token"),
    lambda: {k: v for k, v in signed_query().items() if k != "signature"},
    lambda: signed_query(timestamp=int(time.time()) - 3600),  # a replay from an hour ago
])
async def test_bad_signature_or_stale_timestamp_is_refused(wechat: RunningGateway, landed: Landed, query) -> None:  # noqa: ANN001
    before = metric("intake_connector_rejected_total", channel="social", reason="signature")
    async with wechat.client() as http:
        answer = await http.post("/social/wechat", params=query(), content=xml("text", Content="hi"))
    assert answer.status_code == 403 and answer.json()["error"] in ("signature", "replay")
    assert landed.contacts() == [] and landed.raws() == []
    if answer.json()["error"] == "signature":
        assert metric("intake_connector_rejected_total", channel="social", reason="signature") == before + 1


@pytest.mark.parametrize("body", [
    b"<xml><ToUserName>unterminated",
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
    b"<xml><Content>&lol2;</Content></xml>",  # billion laughs
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><Content>&xxe;</Content></xml>',
    b"<html><body>not a push</body></html>",
])
async def test_malformed_xml_bombs_and_external_entities_get_400(wechat: RunningGateway, landed: Landed, body: bytes) -> None:
    async with wechat.client() as http:
        answer = await http.post("/social/wechat", params=signed_query(), content=body)
    assert answer.status_code == 400 and answer.json()["error"] == "malformed_body"
    assert landed.contacts() == [] and landed.dead_letters() == []


async def test_verified_but_unnormalizable_push_reaches_the_dead_letter_topic(wechat: RunningGateway, landed: Landed) -> None:
    async with wechat.client() as http:
        unknown = await http.post("/social/wechat", params=signed_query(), content=xml("hologram", "1003"))
        encrypted = await http.post("/social/wechat", params=signed_query(),
                                    content=f"<xml><ToUserName>{ACCOUNT}</ToUserName><Encrypt>AbC=</Encrypt></xml>".encode())
    assert unknown.text == encrypted.text == "success"  # a retry cannot fix it; the dead letter is the record
    causes = sorted(d.data.cause for d in landed.dead_letters())
    assert causes == ["no MsgType (safe-mode encrypted pushes are not supported; use plaintext or compatible mode)",
                      "unsupported MsgType 'hologram'"]
    assert all(d.data.stage == "connector:social" for d in landed.dead_letters()) and landed.contacts() == []
