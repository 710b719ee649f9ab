"""SMS channel: Twilio's inbound Messaging webhook (form-encoded, X-Twilio-Signature).

Fields as Twilio documents them: MessageSid, AccountSid, MessagingServiceSid, From, To,
Body, NumSegments, NumMedia, MediaUrl{N}/MediaContentType{N}, From/To City, State, Zip,
Country. Answered with empty TwiML (no auto-reply: the pipeline never sends SMS itself).
"""
from __future__ import annotations

from datetime import datetime, timezone

from fastapi import APIRouter, Request
from fastapi.responses import Response

from schemas import Attachment, Channel, Contact, Identifiers

from .accept import accept_or_dead_letter, raw_payload
from .identifiers import DEFAULT_REGION, e164
from .metrics import RECEIVED
from .twilio import SIGNED_HEADERS, twiml, verified_params

router = APIRouter(prefix="/sms", tags=["sms"])
CHANNEL = Channel.SMS
MAX_MEDIA = 10  # Twilio's MMS limit


def _required(params: dict[str, str], *names: str) -> str:
    for name in names:
        if params.get(name):
            return params[name]
    raise ValueError(f"Twilio message without {' / '.join(names)}")


def _contact(params: dict[str, str], received_at: datetime) -> Contact:
    sid = _required(params, "MessageSid", "SmsMessageSid", "SmsSid")
    sender = _required(params, "From")
    phone = e164(sender, params.get("FromCountry") or DEFAULT_REGION)
    if phone is None:
        raise ValueError(f"From {sender!r} is not a phone number")
    num_media = int(params.get("NumMedia") or 0)
    if not 0 <= num_media <= MAX_MEDIA:
        raise ValueError(f"NumMedia {num_media} outside 0..{MAX_MEDIA}")
    attachments = []
    for i in range(num_media):
        url = _required(params, f"MediaUrl{i}")
        attachments.append(Attachment(url=url, content_type=params.get(f"MediaContentType{i}") or "application/octet-stream"))
    body = params.get("Body", "")
    if not body.strip() and not attachments:
        raise ValueError("Twilio message with neither Body nor media")
    attributes = {k: v for k, v in (
        ("to", e164(params.get("To"), params.get("ToCountry") or DEFAULT_REGION) or params.get("To")),
        ("account_sid", params.get("AccountSid")),
        ("messaging_service_sid", params.get("MessagingServiceSid")),
        ("num_segments", params.get("NumSegments")),
        ("from_country", params.get("FromCountry")),
        ("from_city", params.get("FromCity")),
    ) if v}
    return Contact(channel=CHANNEL, provider="twilio", provider_message_id=sid, received_at=received_at,
                   customer=Identifiers(phone=phone), body=body, attachments=attachments, attributes=attributes)


@router.post("/twilio")
async def inbound(request: Request) -> Response:
    """Twilio Messaging webhook; 200 TwiML once Kafka has the message (or its dead letter)."""
    RECEIVED.labels(CHANNEL).inc()
    body, params = await verified_params(CHANNEL, request)
    received_at = datetime.now(timezone.utc)
    raw = raw_payload(CHANNEL, "twilio", request, body, received_at, headers=SIGNED_HEADERS)
    await accept_or_dead_letter(request, CHANNEL, raw, "/connectors/sms/twilio", lambda: _contact(params, received_at))
    return twiml()
