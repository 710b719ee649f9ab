"""The sample-traffic generator against a running gateway (and SMTP endpoint): every request answered as it should be."""
from __future__ import annotations

import pytest

from connectors.email.deliver import MailIntake
from connectors.email.settings import EmailSettings
from connectors.email.smtp import start_smtp
from connectors.publisher import Publisher
from intake.traffic import run_traffic
from schemas import Channel
from schemas.settings import KafkaSettings

from .conftest import Landed, settings_with_secrets

pytestmark = pytest.mark.kafka
ORIGINALS = ("webform:good", "chat:good", "sms:good", "phone:call_end", "social:good", "email:good", "email:auto_reply")


async def test_generated_traffic_is_answered_as_expected_and_retries_add_no_contacts(
        start_gateway, kafka_settings: KafkaSettings, landed: Landed) -> None:  # noqa: ANN001
    settings = settings_with_secrets(trusted_proxies=["127.0.0.1/32"], wechat_token="wx-token",
                                     meta_app_secret="meta-secret")
    publisher = Publisher(kafka_settings, publish_timeout=5.0)
    smtp = await start_smtp(MailIntake(publisher, EmailSettings(smtp_port=0)), EmailSettings(smtp_port=0))
    try:
        with start_gateway(settings) as gw:
            counts = await run_traffic(gw.url, rate=40, duration=4, secrets=settings, seed=7,
                                       smtp=("127.0.0.1", smtp.port))
    finally:
        await smtp.stop()
        publisher.close()
    assert counts.get("unexpected", 0) == 0 and counts.get("rate_limited", 0) == 0, counts
    assert counts["sent"] == counts["as_expected"] >= 120
    kinds = {key for key in counts if ":" in key}
    assert {"webform:good", "chat:good", "sms:good", "phone:call_end", "phone:event", "social:good",
            "email:good"} <= kinds, kinds
    assert {k for k in kinds if k.split(":")[1] in ("retry", "spam", "malformed", "invalid", "bad_signature",
                                                     "unnormalizable")}, kinds
    contacts = landed.contacts()
    # one contact per original message and per call: retries, spam and bad payloads add none
    assert len(contacts) == len({c.id for c in contacts}) == sum(counts.get(k, 0) for k in ORIGINALS)
    assert {c.data.channel for c in contacts} == set(Channel)
    assert any("订单" in c.data.body for c in contacts) and any("order" in c.data.body for c in contacts)
    unnormalizable = sum(v for k, v in counts.items() if k.endswith(":unnormalizable"))
    assert len(landed.dead_letters()) == unnormalizable
