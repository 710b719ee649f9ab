"""Phone / IVR end to end: a call's Twilio Voice callbacks fold into ONE contact on the real broker."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from urllib.parse import parse_qsl, urlencode

import pytest
from twilio.request_validator import RequestValidator

from schemas import Channel, stable_event_id

from .conftest import TWILIO_TOKEN, Landed, RunningGateway, settings_with_secrets, wait_until

pytestmark = pytest.mark.kafka
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
T0 = datetime(2026, 11, 22, 8, 0, 0, tzinfo=timezone.utc)


class TwilioCall:
    """The requests Twilio makes for one inbound call, parameters as its Voice docs list them."""

    def __init__(self, caller: str = "+8613800138000", hotline: str = "+864008001234") -> None:
        self.sid = "CA" + uuid.uuid4().hex
        self.base = {"AccountSid": "AC" + "a" * 32, "ApiVersion": "2010-04-01", "CallSid": self.sid,
                     "Direction": "inbound", "From": caller, "Caller": caller, "To": hotline, "Called": hotline,
                     "FromCountry": "CN", "CallerCountry": "CN", "ToCountry": "CN", "CalledCountry": "CN",
                     "FromCity": "", "FromState": "", "FromZip": "", "ToCity": "", "ToState": "", "ToZip": ""}
        self.sequence = 0

    def status(self, status: str, at: datetime, **extra: str) -> dict[str, str]:
        """A status callback (statusCallbackEvent initiated ringing answered completed)."""
        params = {**self.base, "CallStatus": status, "Timestamp": format_datetime(at, usegmt=True),
                  "CallbackSource": "call-progress-events", "SequenceNumber": str(self.sequence), **extra}
        self.sequence += 1
        return params

    def gather(self, digits: str | None = None, speech: str | None = None) -> dict[str, str]:
        params = {**self.base, "CallStatus": "in-progress"}
        if digits is not None:
            params["Digits"] = digits
        if speech is not None:
            params.update(SpeechResult=speech, Confidence="0.92")
        return params

    def enqueue_result(self, result: str, waited: int) -> dict[str, str]:
        return {**self.base, "CallStatus": "in-progress" if result == "bridged" else "completed",
                "QueueResult": result, "QueueSid": "QU" + "b" * 32, "QueueTime": str(waited)}

    def recording(self) -> dict[str, str]:
        """The recording status callback (no From/To: Twilio does not send them here)."""
        return {"AccountSid": self.base["AccountSid"], "CallSid": self.sid, "RecordingSid": "RE" + "c" * 32,
                "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/RE{self.sid[2:12]}",
                "RecordingStatus": "completed", "RecordingDuration": "21", "RecordingChannels": "1",
                "RecordingStartTime": "Sun, 22 Nov 2026 08:01:00 +0000", "RecordingSource": "RecordVerb",
                "RecordingTrack": "inbound"}

    def transcription(self, text: str, status: str = "completed") -> dict[str, str]:
        recording = self.recording()
        return {**self.base, "CallStatus": "completed", "TranscriptionSid": "TR" + "d" * 32,
                "TranscriptionText": text, "TranscriptionStatus": status,
                "TranscriptionUrl": "https://api.twilio.com/2010-04-01/Accounts/AC/Transcriptions/TR1",
                "RecordingSid": recording["RecordingSid"], "RecordingUrl": recording["RecordingUrl"]}


async def post(gateway: RunningGateway, params: dict[str, str], query: dict[str, str] | None = None,
               token: str = TWILIO_TOKEN):  # noqa: ANN201
    path = "/phone/twilio" + (f"?{urlencode(query)}" if query else "")
    signature = RequestValidator(token).compute_signature(gateway.url + path, params)
    async with gateway.client() as http:
        answer = await http.post(path, content=urlencode(params), headers={
            "content-type": "application/x-www-form-urlencoded", "x-twilio-signature": signature})
    assert answer.status_code != 200 or answer.text == EMPTY_TWIML
    return answer


async def test_answered_call_folds_into_one_contact_published_when_it_ends(gateway: RunningGateway,
                                                                            landed: Landed) -> None:
    call = TwilioCall()
    webhooks = [
        (call.status("ringing", T0), None),
        (call.gather(digits="2"), {"menu": "main"}),
        (call.gather(digits="2"), {"menu": "main"}),  # Twilio retried the same request
        (call.gather(speech="我的快递三天没更新了"), {"menu": "logistics"}),
        (call.enqueue_result("bridged", 35), {"queue": "logistics"}),
    ]
    for params, query in webhooks:
        assert (await post(gateway, params, query)).status_code == 200
    assert landed.contacts() == []  # the call is still going on
    final = call.status("completed", T0 + timedelta(seconds=185), CallDuration="185")
    assert (await post(gateway, final)).status_code == 200
    assert (await post(gateway, final)).status_code == 200  # a retried final callback adds nothing
    [event] = landed.contacts()
    contact = event.data
    assert event.id == stable_event_id(Channel.PHONE, call.sid)
    assert (contact.channel, contact.provider, contact.provider_message_id) == (Channel.PHONE, "twilio", call.sid)
    assert contact.received_at == T0 and contact.customer.phone == "+8613800138000"
    assert contact.body == "我的快递三天没更新了"
    details = contact.call
    assert details.menu_path == ["main=2", "logistics=speech"]
    assert (details.queue, details.wait_seconds, details.outcome) == ("logistics", 35.0, "answered")
    assert (details.duration_seconds, details.callback_requested) == (185.0, False)
    assert contact.attributes["to"] == "+864008001234" and contact.attributes["end_status"] == "completed"
    raws = landed.raws()  # every webhook kept (retries collapse by id), plus the contact's own reference
    assert {r.id for r in raws} >= {event.id} and len({r.id for r in raws}) == 6
    assert all(r.data.channel == "phone" and "x-twilio-signature" in r.data.headers for r in raws)


async def test_abandoned_call_with_callback_request_is_still_a_contact(gateway: RunningGateway, landed: Landed) -> None:
    call = TwilioCall(caller="13912345678")  # a domestic number as the carrier presents it
    await post(gateway, call.status("ringing", T0))
    await post(gateway, call.gather(digits="3"), {"menu": "main"})
    await post(gateway, call.gather(digits="1"), {"menu": "callback"})
    await post(gateway, call.enqueue_result("leave", 95), {"queue": "after-sales"})
    await post(gateway, call.status("completed", T0 + timedelta(seconds=130), CallDuration="130"))
    [event] = landed.contacts()
    details = event.data.call
    assert event.data.customer.phone == "+8613912345678"
    assert details.menu_path == ["main=3", "callback=1"]
    assert (details.outcome, details.callback_requested, details.wait_seconds) == ("abandoned", True, 95.0)


async def test_voicemail_waits_for_its_transcription(gateway: RunningGateway, landed: Landed) -> None:
    call = TwilioCall()
    await post(gateway, call.status("ringing", T0))
    await post(gateway, call.recording())
    await post(gateway, call.status("completed", T0 + timedelta(seconds=40), CallDuration="40"))
    assert landed.contacts() == []  # ended, but its transcription is still on the way
    await post(gateway, call.transcription("Hello, my washing machine is leaking, warranty number W-55."))
    [event] = landed.contacts()
    details = event.data.call
    assert details.outcome == "voicemail" and details.recording_url == call.recording()["RecordingUrl"]
    assert details.transcript == event.data.body == "Hello, my washing machine is leaking, warranty number W-55."


async def test_a_recorded_call_without_transcription_is_published_after_the_grace(start_gateway,  # noqa: ANN001
                                                                                   landed: Landed) -> None:
    with start_gateway(settings_with_secrets(phone_transcript_grace_seconds=0.5)) as gw:
        call = TwilioCall()
        await post(gw, call.recording())
        await post(gw, call.status("completed", T0, CallDuration="30"))
        [event] = wait_until(landed.contacts, 15, "the sweeper to publish the call")
    assert event.data.call.outcome == "voicemail" and event.data.call.transcript is None


async def test_missed_call_and_late_events_after_publication(gateway: RunningGateway, landed: Landed) -> None:
    call = TwilioCall()
    await post(gateway, call.status("ringing", T0))
    await post(gateway, call.status("canceled", T0 + timedelta(seconds=8), CallDuration="0"))
    late = call.status("completed", T0 + timedelta(seconds=9))
    assert (await post(gateway, late)).status_code == 200
    [event] = landed.contacts()
    assert event.data.call.outcome == "missed" and event.data.attributes["end_status"] == "canceled"
    assert any(dict(parse_qsl(r.data.body)).get("SequenceNumber") == late["SequenceNumber"] for r in landed.raws())


async def test_calls_held_beyond_capacity_are_published_early(start_gateway, landed: Landed) -> None:  # noqa: ANN001
    with start_gateway(settings_with_secrets(phone_max_calls=1)) as gw:
        first, second = TwilioCall(), TwilioCall()
        await post(gw, first.status("ringing", T0))
        await post(gw, first.gather(digits="9"), {"menu": "main"})
        await post(gw, second.status("ringing", T0))
        [event] = wait_until(landed.contacts, 15, "the oldest call to be published")
    assert event.data.provider_message_id == first.sid
    assert (event.data.call.outcome, event.data.call.menu_path) == ("in_progress", ["main=9"])


@pytest.mark.parametrize("how", ["wrong_token", "missing"])
async def test_bad_signature_is_refused_and_nothing_kept(gateway: RunningGateway, landed: Landed, how: str) -> None:
    params = TwilioCall().status("completed", T0, CallDuration="5")
    if how == "missing":
        async with gateway.client() as http:
            answer = await http.post("/phone/twilio", content=urlencode(params),
                                     headers={"content-type": "application/x-www-form-urlencoded"})
    else:
        answer = await post(gateway, params, token="0" * 32)
    assert answer.status_code == 403
    assert landed.raws() == [] and landed.contacts() == [] and landed.dead_letters() == []


async def test_malformed_body_gets_4xx(gateway: RunningGateway, landed: Landed) -> None:
    async with gateway.client() as http:
        wrong_type = await http.post("/phone/twilio", json={"CallSid": "CA1"})
        broken = await http.post("/phone/twilio", content=b"CallSid", headers={
            "content-type": "application/x-www-form-urlencoded", "x-twilio-signature": "x"})
    assert (wrong_type.status_code, broken.status_code) == (415, 400)
    assert landed.raws() == []


@pytest.mark.parametrize(("mutate", "cause"), [
    (lambda p: p.pop("CallSid"), "without CallSid"),
    (lambda p: p.update(CallStatus="exploded"), "unknown CallStatus"),
    (lambda p: p.update(CallDuration="-3"), "CallDuration is negative"),
])
async def test_signed_but_unnormalizable_callback_reaches_the_dead_letters(gateway: RunningGateway, landed: Landed,
                                                                           mutate, cause: str) -> None:  # noqa: ANN001
    params = TwilioCall().status("completed", T0, CallDuration="10")
    mutate(params)
    assert (await post(gateway, params)).status_code == 200
    [letter] = landed.dead_letters()
    assert letter.data.stage == "connector:phone" and cause in letter.data.cause
    assert dict(parse_qsl(letter.data.payload, keep_blank_values=True)) == params
    assert landed.contacts() == []
