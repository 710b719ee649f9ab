"""Gateway-wide behaviour: production refuses to run unsigned, counters per channel, 503 without Kafka."""
from __future__ import annotations

import json
import uuid
from urllib.parse import urlencode

import httpx
import pytest
from pydantic import ValidationError

from connectors.gateway import server
from connectors.settings import GatewaySettings
from schemas.settings import KafkaSettings

from .conftest import Landed, RunningGateway, serve_gateway, metric, settings_with_secrets
from .test_phone import T0, TwilioCall, post as post_voice

pytestmark = pytest.mark.kafka


def test_production_refuses_to_start_without_provider_secrets() -> None:
    with pytest.raises(ValidationError) as refused:
        GatewaySettings(production=True, chat_secret="set")
    message = str(refused.value)
    assert "INTAKE_GATEWAY_TWILIO_AUTH_TOKEN" in message and "INTAKE_GATEWAY_PHONE_SECRET" in message
    assert "INTAKE_GATEWAY_CHAT_SECRET" not in message
    every = {name: "set" for name, field in GatewaySettings.model_fields.items()
             if (field.json_schema_extra or {}).get("provider_secret")}
    assert {"twilio_auth_token", "chat_secret", "phone_secret"} <= every.keys()
    assert GatewaySettings(production=True, **every).missing_secrets() == []


def test_production_refusal_applies_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTAKE_GATEWAY_PRODUCTION", "true")
    with pytest.raises(ValidationError, match="refuses to start"):
        server()


async def test_counters_per_channel_are_exposed(gateway: RunningGateway) -> None:
    before = metric("intake_connector_received_total", channel="chat")
    rejected = metric("intake_connector_rejected_total", channel="chat", reason="signature")
    async with gateway.client() as http:
        await http.post("/chat/messages", json={"message_id": "m"})
        text = (await http.get("/metrics")).text
    assert metric("intake_connector_received_total", channel="chat") == before + 1
    assert metric("intake_connector_rejected_total", channel="chat", reason="signature") == rejected + 1
    assert 'intake_connector_rejected_total{channel="chat",reason="signature"}' in text


async def test_unreachable_kafka_answers_503_with_retry_after_so_twilio_retries() -> None:
    settings = settings_with_secrets(twilio_auth_token=None, publish_timeout=1.0, retry_after_seconds=7)
    with serve_gateway(settings, KafkaSettings(bootstrap_servers="127.0.0.1:1", topic_prefix="none")) as gw:
        async with gw.client() as http:
            answer = await http.post("/sms/twilio", content=urlencode({"MessageSid": "SM1", "From": "+8613800138000",
                                                                       "Body": "hi"}),
                                     headers={"content-type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 503 and answer.headers["retry-after"] == "7"


async def test_ended_calls_awaiting_a_transcription_are_published_at_shutdown(kafka_settings: KafkaSettings,
                                                                              landed: Landed) -> None:
    call = TwilioCall()
    with serve_gateway(settings_with_secrets(phone_transcript_grace_seconds=3600), kafka_settings) as gw:
        await post_voice(gw, call.recording())
        await post_voice(gw, call.status("completed", T0, CallDuration="12"))
        assert landed.contacts() == []
    [event] = landed.contacts()
    assert event.data.provider_message_id == call.sid and event.data.call.outcome == "voicemail"


async def test_oversized_bodies_get_413(gateway: RunningGateway) -> None:
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        answer = await http.post("/chat/messages", content=json.dumps({"text": "x" * 300_000, "id": uuid.uuid4().hex}),
                                 headers={"content-type": "application/json"})
    assert answer.status_code == 413
