"""The generic telephony JSON format (docs/connectors/phone.md) end to end on the real broker."""
from __future__ import annotations

import json
import uuid

import pytest

from connectors.signatures import hmac_signature

from .conftest import PHONE_SECRET, Landed, RunningGateway

pytestmark = pytest.mark.kafka


class PbxCall:
    def __init__(self) -> None:
        self.call_id = uuid.uuid4().hex
        self.n = 0

    def event(self, type_: str, **fields: object) -> dict[str, object]:
        self.n += 1
        return {"platform": "acme-pbx", "call_id": self.call_id, "event_id": f"{self.call_id}-{self.n}",
                "type": type_, "timestamp": f"2026-11-22T16:00:{self.n:02d}+08:00", **fields}


async def send(gateway: RunningGateway, event: dict | bytes, secret: str = PHONE_SECRET):  # noqa: ANN201
    raw = event if isinstance(event, bytes) else json.dumps(event, ensure_ascii=False).encode()
    async with gateway.client() as http:
        return await http.post("/phone/events", content=raw, headers={
            "content-type": "application/json", "x-intake-signature-256": hmac_signature(secret, raw)})


async def test_call_events_fold_into_one_contact_and_retries_add_nothing(gateway: RunningGateway,
                                                                         landed: Landed) -> None:
    call = PbxCall()
    started = call.event("started", **{"from": "021-6234 5678", "to": "400-800-1234"})
    events = [started,
              call.event("menu", menu="main", choice="4"),
              call.event("queued", queue="complaints"),
              call.event("callback_requested"),
              call.event("abandoned", queue="complaints", wait_seconds=240),
              call.event("voicemail", recording_url="https://pbx.example.cn/rec/1.wav",
                         transcript="你们的客服太慢了，我要投诉！"),
              call.event("ended", status="completed", duration_seconds=300)]
    verdicts = [(await send(gateway, e)).json()["status"] for e in events]
    assert verdicts == ["held"] * 6 + ["published"]
    assert (await send(gateway, started)).json()["status"] == "late"
    [event] = landed.contacts()
    contact = event.data
    assert (contact.provider, contact.provider_message_id) == ("acme-pbx", f"acme-pbx:{call.call_id}")
    assert contact.customer.phone == "+862162345678"
    assert contact.received_at.isoformat() == "2026-11-22T08:00:01+00:00"
    details = contact.call
    assert details.menu_path == ["main=4"] and details.queue == "complaints"
    assert (details.outcome, details.callback_requested, details.wait_seconds) == ("voicemail", True, 240.0)
    assert details.transcript == contact.body == "你们的客服太慢了，我要投诉！"
    assert len({r.id for r in landed.raws()}) == len(events) + 1  # each event kept once by id, plus the contact's


async def test_a_retried_event_is_not_folded_twice(gateway: RunningGateway, landed: Landed) -> None:
    call = PbxCall()
    menu = call.event("menu", menu="main", choice="1")
    assert [(await send(gateway, e)).json()["status"] for e in (menu, menu)] == ["held", "duplicate"]
    await send(gateway, call.event("ended", status="no-answer"))
    [event] = landed.contacts()
    assert event.data.call.menu_path == ["main=1"] and event.data.call.outcome == "missed"


async def test_bad_signature_is_refused(gateway: RunningGateway, landed: Landed) -> None:
    answer = await send(gateway, PbxCall().event("ended"), secret="not-the-secret")
    assert answer.status_code == 403 and landed.raws() == []


async def test_malformed_json_gets_400(gateway: RunningGateway, landed: Landed) -> None:
    answer = await send(gateway, b'{"call_id": ')
    assert answer.status_code == 400 and landed.raws() == [] and landed.dead_letters() == []


@pytest.mark.parametrize(("change", "cause"), [
    ({"type": "teleported"}, "type"),
    ({"timestamp": "2026-11-22T16:00:00"}, "timezone"),
    ({"call_id": None}, "call_id"),
])
async def test_unnormalizable_event_reaches_the_dead_letters(gateway: RunningGateway, landed: Landed,
                                                             change: dict, cause: str) -> None:
    event = {**PbxCall().event("menu", choice="2"), **change}
    answer = await send(gateway, event)
    assert answer.status_code == 202 and answer.json()["dead_letter_id"]
    [letter] = landed.dead_letters()
    assert cause in letter.data.cause and json.loads(letter.data.payload) == event
    assert landed.contacts() == []
