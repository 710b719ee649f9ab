"""SMTP endpoint end to end: smtplib -> aiosmtpd -> real Kafka, read back from the topics."""
from __future__ import annotations

import asyncio
import base64
import shutil
import smtplib
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from connectors.email.deliver import MailIntake
from connectors.email.settings import EmailSettings
from connectors.email.smtp import SmtpEndpoint, start_smtp
from connectors.publisher import Publisher
from schemas import ContactKind, stable_event_id
from schemas.settings import KafkaSettings

from .conftest import Landed

pytestmark = pytest.mark.kafka
DATA = Path(__file__).parent / "data"


async def _endpoint(kafka: KafkaSettings, **settings: object) -> tuple[SmtpEndpoint, Publisher]:
    publisher = Publisher(kafka, publish_timeout=10.0)
    email = EmailSettings(smtp_port=0, **settings)
    return await start_smtp(MailIntake(publisher, email), email), publisher


@pytest.fixture
async def smtp(kafka_settings: KafkaSettings) -> AsyncIterator[SmtpEndpoint]:
    endpoint, publisher = await _endpoint(kafka_settings, smtp_domains=["shop.example.cn", "shop.example.com"],
                                          smtp_allowed_networks=["127.0.0.0/8", "::1/128"])
    yield endpoint
    await endpoint.stop()
    publisher.close()


def _send(port: int, data: bytes, rcpt: str = "service@shop.example.cn", sender: str = "customer@example.org") -> dict:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        return client.sendmail(sender, [rcpt], data)


async def send(port: int, data: bytes, **kw: str) -> dict:
    return await asyncio.to_thread(_send, port, data, **kw)


async def test_real_messages_become_normalized_contacts_and_retries_add_nothing(smtp: SmtpEndpoint,
                                                                                kafka_settings: KafkaSettings, landed: Landed) -> None:
    names = ["gbk_reply.eml", "utf8_multipart.eml", "html_only.eml", "auto_reply.eml", "bounce.eml"]
    for name in names:
        assert await send(smtp.port, (DATA / name).read_bytes()) == {}
    await send(smtp.port, (DATA / "gbk_reply.eml").read_bytes())  # the MTA retries after a lost 250

    events = {e.data.provider_message_id: e for e in landed.contacts()}
    assert len(events) == len(names) == len(landed.contacts())
    gbk = events["<tencent_3F2A9C1B7E@qq.com>"]
    assert gbk.id == stable_event_id("email", "<tencent_3F2A9C1B7E@qq.com>")
    assert gbk.data.channel == "email" and gbk.data.provider == "smtp"
    assert gbk.data.subject == "回复：订单还没发货（镕）" and "写道" not in gbk.data.body
    assert gbk.data.customer.email == "zhangsan@qq.com"
    assert gbk.data.raw_ref == f"kafka:{kafka_settings.topic_prefix}.raw.v1/{gbk.id}"
    assert events["<html-only-42@example.cn>"].data.body.startswith("你好，我想预约")
    assert events["<CAF=abc123+xyz@mail.example.org>"].data.attachments[0].filename == "receipt.pdf"
    assert events["<autoreply-7@corp.example.cn>"].data.kind is ContactKind.AUTO_REPLY
    assert events["<20261121020500.1A2B3C4D5E@mx.shop.example.cn>"].data.kind is ContactKind.BOUNCE

    raw = {r.id: r.data for r in landed.raws()}
    kept = raw[gbk.id]
    assert kept.body_encoding == "utf-8" and kept.body.encode() == (DATA / "gbk_reply.eml").read_bytes()
    assert kept.headers["x-envelope-from"] == "customer@example.org" and kept.content_type == "message/rfc822"


async def test_8bit_gbk_message_is_kept_byte_exact_on_the_raw_topic(smtp: SmtpEndpoint, landed: Landed) -> None:
    data = ("From: kehu@example.cn\r\nTo: service@shop.example.cn\r\nSubject: 退货\r\nMessage-ID: <8bit-smtp@example.cn>\r\n"
            "Content-Type: text/plain; charset=GBK\r\nContent-Transfer-Encoding: 8bit\r\n\r\n商品有质量问题，我要退货。\r\n").encode("gbk")
    await send(smtp.port, data)
    [event] = landed.contacts()
    assert event.data.body == "商品有质量问题，我要退货。" and event.data.subject == "退货"
    [raw] = landed.raws()
    assert raw.data.body_encoding == "base64" and base64.b64decode(raw.data.body) == data


async def test_unnormalizable_message_is_accepted_into_the_dead_letter_topic_with_its_cause(
        smtp: SmtpEndpoint, landed: Landed) -> None:
    data = b"To: service@shop.example.cn\r\nSubject: no sender header\r\n\r\nwho sent this?\r\n"
    assert await send(smtp.port, data) == {}
    assert landed.contacts() == []
    [letter] = landed.dead_letters()
    assert letter.data.stage == "connector:email" and "no sender address" in letter.data.cause
    assert "who sent this?" in letter.data.payload


async def test_foreign_recipient_and_oversized_message_are_refused(kafka_settings: KafkaSettings, landed: Landed) -> None:
    endpoint, publisher = await _endpoint(kafka_settings, smtp_domains=["shop.example.cn"], max_message_bytes=2000)
    try:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            await send(endpoint.port, (DATA / "auto_reply.eml").read_bytes(), rcpt="x@elsewhere.example")
        assert refused.value.recipients["x@elsewhere.example"][0] == 550
        with pytest.raises((smtplib.SMTPSenderRefused, smtplib.SMTPDataError)) as too_big:  # SIZE= on MAIL FROM
            await send(endpoint.port, (DATA / "utf8_multipart.eml").read_bytes())
        assert too_big.value.smtp_code == 552
    finally:
        await endpoint.stop()
        publisher.close()
    assert landed.contacts() == []


async def test_kafka_unavailable_answers_451_so_the_mta_keeps_the_message() -> None:
    down = KafkaSettings(bootstrap_servers="127.0.0.1:9", topic_prefix="down")
    publisher = Publisher(down, publish_timeout=1.0)
    email = EmailSettings(smtp_port=0)
    endpoint = await start_smtp(MailIntake(publisher, email), email)
    try:
        with pytest.raises(smtplib.SMTPDataError) as deferred:
            await send(endpoint.port, (DATA / "html_only.eml").read_bytes())
        assert deferred.value.smtp_code == 451
    finally:
        await endpoint.stop()
        publisher.close(timeout=1.0)


async def test_clients_outside_the_allowed_networks_are_refused(kafka_settings: KafkaSettings, landed: Landed) -> None:
    endpoint, publisher = await _endpoint(kafka_settings, smtp_allowed_networks=["10.0.0.0/8"])
    try:
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            await send(endpoint.port, (DATA / "auto_reply.eml").read_bytes())
        assert refused.value.smtp_code == 550
    finally:
        await endpoint.stop()
        publisher.close()
    assert landed.contacts() == []


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI absent (needed to make a test certificate)")
async def test_starttls_is_offered_and_can_be_required(tmp_path: Path, kafka_settings: KafkaSettings, landed: Landed) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=intake.local",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    endpoint, publisher = await _endpoint(kafka_settings, smtp_tls_certfile=str(cert), smtp_tls_keyfile=str(key),
                                          smtp_require_tls=True)

    def plain() -> None:
        with smtplib.SMTP("127.0.0.1", endpoint.port, timeout=10) as client:
            client.sendmail("a@example.org", ["service@shop.example.cn"], (DATA / "auto_reply.eml").read_bytes())

    def encrypted() -> None:
        context = ssl.create_default_context(cafile=str(cert))
        context.check_hostname = False
        with smtplib.SMTP("127.0.0.1", endpoint.port, timeout=10) as client:
            client.starttls(context=context)
            client.sendmail("a@example.org", ["service@shop.example.cn"], (DATA / "auto_reply.eml").read_bytes())

    try:
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            await asyncio.to_thread(plain)
        assert refused.value.smtp_code == 530
        await asyncio.to_thread(encrypted)
    finally:
        await endpoint.stop()
        publisher.close()
    assert [e.data.provider_message_id for e in landed.contacts()] == ["<autoreply-7@corp.example.cn>"]
