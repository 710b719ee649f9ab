"""The sample-traffic generator against a running gateway: every request answered as it should be."""
from __future__ import annotations

import pytest

from intake.traffic import run_traffic
from schemas import Channel

from .conftest import Landed, settings_with_secrets

pytestmark = pytest.mark.kafka


async def test_generated_traffic_is_answered_as_expected_and_retries_add_no_contacts(start_gateway,  # noqa: ANN001
                                                                                     landed: Landed) -> None:
    settings = settings_with_secrets(trusted_proxies=["127.0.0.1/32"])
    with start_gateway(settings) as gw:
        counts = await run_traffic(gw.url, rate=40, duration=3, secrets=settings, seed=7)
    assert counts.get("unexpected", 0) == 0 and counts.get("rate_limited", 0) == 0, counts
    assert counts["sent"] == counts["as_expected"] >= 100
    kinds = {key for key in counts if ":" in key}
    assert {"webform:good", "chat:good", "sms:good", "phone:call_end", "phone:event"} <= kinds, kinds
    assert {k for k in kinds if k.split(":")[1] in ("retry", "spam", "malformed", "invalid", "bad_signature",
                                                     "unnormalizable")}, kinds
    contacts = landed.contacts()
    # one contact per original message and per call: retries, spam and bad payloads add none
    originals = sum(counts.get(k, 0) for k in ("webform:good", "chat:good", "sms:good", "phone:call_end"))
    assert len(contacts) == len({c.id for c in contacts}) == originals
    assert {c.data.channel for c in contacts} == {Channel.WEBFORM, Channel.CHAT, Channel.SMS, Channel.PHONE}
    assert any("订单" in c.data.body for c in contacts) and any("order" in c.data.body for c in contacts)
    unnormalizable = sum(v for k, v in counts.items() if k.endswith(":unnormalizable"))
    assert len(landed.dead_letters()) == unnormalizable
