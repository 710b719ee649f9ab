"""Twilio inbound SMS/MMS end to end, with payloads and signatures exactly as Twilio sends them."""
from __future__ import annotations

import uuid
from urllib.parse import parse_qsl, urlencode

import pytest
from twilio.request_validator import RequestValidator

from schemas import Channel

from .conftest import TWILIO_TOKEN, Landed, RunningGateway, settings_with_secrets

pytestmark = pytest.mark.kafka
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def sms_pairs(body: str) -> list[tuple[str, str]]:
    return parse_qsl(body, keep_blank_values=True)


def sms(**fields: str) -> dict[str, str]:
    """The parameters of Twilio's inbound Messaging webhook (docs: Messaging webhook request)."""
    sid = "SM" + uuid.uuid4().hex
    params = {
        "ToCountry": "US", "ToState": "CA", "SmsMessageSid": sid, "NumMedia": "0", "ToCity": "SAN FRANCISCO",
        "FromZip": "", "SmsSid": sid, "FromState": "", "SmsStatus": "received", "FromCity": "SHANGHAI",
        "Body": "退货申请：订单 A1001 的耳机有杂音，想退货退款。", "FromCountry": "CN", "To": "+14155552671",
        "MessagingServiceSid": "MG" + "1" * 32, "ToZip": "94105", "NumSegments": "2", "MessageSid": sid,
        "AccountSid": "AC" + "a" * 32, "From": "+8613800138000", "ApiVersion": "2010-04-01",
    }
    params.update(fields)
    return params


async def post(gateway: RunningGateway, params: dict[str, str], token: str = TWILIO_TOKEN, url: str | None = None,
               path: str = "/sms/twilio"):  # noqa: ANN201
    signature = RequestValidator(token).compute_signature(url or gateway.url + path, params)
    async with gateway.client() as http:
        return await http.post(path, content=urlencode(params), headers={
            "content-type": "application/x-www-form-urlencoded", "x-twilio-signature": signature,
            "i-twilio-idempotency-token": uuid.uuid4().hex})


async def test_sms_becomes_one_contact_answered_with_empty_twiml_and_a_retry_adds_nothing(
        gateway: RunningGateway, landed: Landed) -> None:
    params = sms()
    first = await post(gateway, params)
    retry = await post(gateway, params)
    assert first.status_code == retry.status_code == 200
    assert first.headers["content-type"].startswith("text/xml") and first.text == EMPTY_TWIML
    [event] = landed.contacts()
    contact = event.data
    assert (contact.channel, contact.provider, contact.provider_message_id) == (Channel.SMS, "twilio", params["MessageSid"])
    assert contact.customer.phone == "+8613800138000"
    assert contact.body == params["Body"]
    assert contact.attributes["num_segments"] == "2" and contact.attributes["to"] == "+14155552671"
    assert contact.attributes["account_sid"] == params["AccountSid"]
    [raw] = landed.raws()
    assert raw.id == event.id and "x-twilio-signature" in raw.data.headers
    assert RequestValidator(TWILIO_TOKEN).validate(gateway.url + "/sms/twilio", dict(sms_pairs(raw.data.body)),
                                                   raw.data.headers["x-twilio-signature"])  # re-verifiable later


async def test_mms_media_become_attachment_metadata(gateway: RunningGateway, landed: Landed) -> None:
    params = sms(Body="", NumMedia="2", NumSegments="1",
                 MediaUrl0="https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM1/Media/ME1",
                 MediaContentType0="image/jpeg",
                 MediaUrl1="https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM1/Media/ME2",
                 MediaContentType1="video/mp4", FromCountry="US", From="+14155550100")
    assert (await post(gateway, params)).status_code == 200
    [event] = landed.contacts()
    assert event.data.customer.phone == "+14155550100"
    assert [(a.url.rsplit("/", 1)[1], a.content_type) for a in event.data.attachments] == [("ME1", "image/jpeg"),
                                                                                         ("ME2", "video/mp4")]


@pytest.mark.parametrize("how", ["wrong_token", "other_url", "tampered", "missing"])
async def test_bad_signature_is_refused_with_403_and_nothing_published(gateway: RunningGateway, landed: Landed,
                                                                       how: str) -> None:
    params = sms()
    if how == "missing":
        async with gateway.client() as http:
            answer = await http.post("/sms/twilio", content=urlencode(params),
                                     headers={"content-type": "application/x-www-form-urlencoded"})
    elif how == "tampered":
        signature = RequestValidator(TWILIO_TOKEN).compute_signature(gateway.url + "/sms/twilio", params)
        async with gateway.client() as http:
            answer = await http.post("/sms/twilio", content=urlencode({**params, "Body": "changed"}), headers={
                "content-type": "application/x-www-form-urlencoded", "x-twilio-signature": signature})
    else:
        answer = await post(gateway, params, token="f" * 32 if how == "wrong_token" else TWILIO_TOKEN,
                            url="https://evil.example.com/sms/twilio" if how == "other_url" else None)
    assert answer.status_code == 403 and answer.json()["error"] == "signature"
    assert landed.contacts() == [] and landed.raws() == [] and landed.dead_letters() == []


async def test_public_url_is_what_twilio_signed_behind_a_proxy(start_gateway, landed: Landed) -> None:  # noqa: ANN001
    with start_gateway(settings_with_secrets(public_url="https://intake.example.cn/")) as gw:
        local = await post(gw, sms())
        public = await post(gw, params := sms(), url="https://intake.example.cn/sms/twilio")
    assert (local.status_code, public.status_code) == (403, 200)
    assert [e.data.provider_message_id for e in landed.contacts()] == [params["MessageSid"]]


@pytest.mark.parametrize(("content", "content_type", "status"), [
    (b'{"MessageSid": "SM1"}', "application/json", 415),
    (b"MessageSid", "application/x-www-form-urlencoded", 400),
    (b"Body=hello", "", 415),
])
async def test_malformed_bodies_get_4xx(gateway: RunningGateway, landed: Landed, content: bytes, content_type: str,
                                        status: int) -> None:
    async with gateway.client() as http:
        answer = await http.post("/sms/twilio", content=content, headers={"content-type": content_type,
                                                                          "x-twilio-signature": "x"})
    assert answer.status_code == status
    assert landed.contacts() == [] and landed.dead_letters() == []


@pytest.mark.parametrize(("drop", "extra", "cause"), [
    (("MessageSid", "SmsMessageSid", "SmsSid"), {}, "MessageSid"),
    (("From",), {}, "From"),
    ((), {"From": "not-a-number"}, "not a phone number"),
    ((), {"NumMedia": "1"}, "MediaUrl0"),
])
async def test_signed_but_unnormalizable_message_reaches_the_dead_letters_with_its_cause(
        gateway: RunningGateway, landed: Landed, drop: tuple[str, ...], extra: dict[str, str], cause: str) -> None:
    params = {k: v for k, v in sms(**extra).items() if k not in drop}
    answer = await post(gateway, params)
    assert answer.status_code == 200 and answer.text == EMPTY_TWIML  # Twilio must not retry it
    assert landed.contacts() == []
    [letter] = landed.dead_letters()
    assert letter.data.stage == "connector:sms" and cause in letter.data.cause
    assert dict(sms_pairs(letter.data.payload)) == params


async def test_sharedkey_sha256_signatures_are_accepted_too(gateway: RunningGateway, landed: Landed) -> None:
    """Twilio's newer webhook signing: HMAC-SHA256, announced in X-Twilio-Webhooks-Signature-Settings."""
    params = sms()
    url = gateway.url + "/sms/twilio"
    sha256 = RequestValidator(TWILIO_TOKEN).compute_signature(url, params, "HMAC_SHA256")
    sha1 = RequestValidator(TWILIO_TOKEN).compute_signature(url, params)
    async with gateway.client() as http:
        answers = [await http.post("/sms/twilio", content=urlencode(params), headers={
            "content-type": "application/x-www-form-urlencoded", "x-twilio-signature": signature,
            "x-twilio-webhooks-signature-settings": "key=webhooks_sharedkey_0001,algorithm=HMAC_SHA256"})
            for signature in (sha1, sha256)]
    assert [a.status_code for a in answers] == [403, 200]  # the announced algorithm is the one checked
    assert [e.data.provider_message_id for e in landed.contacts()] == [params["MessageSid"]]
