"""What Twilio's webhooks (Messaging and Voice) have in common: form bodies, signature, TwiML answer."""
from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response
from twilio.request_validator import SIGNATURE_HEADER, SIGNATURE_SETTINGS_HEADER

from .bodies import FORM, parse_form, require_media_type
from .settings import GatewaySettings
from .signatures import verify_twilio

#: headers kept with the raw payload so a signature can be re-verified later
SIGNED_HEADERS = (SIGNATURE_HEADER.lower(), SIGNATURE_SETTINGS_HEADER.lower(), "i-twilio-idempotency-token")

#: an empty TwiML document: "nothing to do", so Twilio neither errors nor replies
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def twiml() -> Response:
    return Response(EMPTY_TWIML, media_type="text/xml")


async def verified_params(channel: str, request: Request) -> tuple[bytes, dict[str, str]]:
    """Body and form parameters of a Twilio webhook whose signature checks out (else 4xx)."""
    settings: GatewaySettings = request.app.state.settings
    require_media_type(channel, request, FORM)
    body = await request.body()
    params = parse_form(channel, body)
    verify_twilio(channel, request, params, settings)
    return body, params
