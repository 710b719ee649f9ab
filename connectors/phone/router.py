"""Phone / IVR endpoints: Twilio Voice callbacks and the generic JSON event format."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from schemas import RawPayload

from ..accept import dead_letter, raw_payload
from ..bodies import JSON, documented, parse_json_object, require_media_type
from ..metrics import RECEIVED
from ..settings import GatewaySettings
from ..signatures import HMAC_HEADER, verify_hmac
from ..twilio import SIGNED_HEADERS, twiml, verified_params
from . import generic, twilio_voice
from .calls import CHANNEL, CallEvent, CallStore, Handled

router = APIRouter(prefix="/phone", tags=["phone"])


def calls(request: Request) -> CallStore:
    return request.app.state.calls


async def _fold(request: Request, raw: RawPayload, normalize: Callable[[], CallEvent]) -> Handled | str:
    """Handled verdict, or the dead letter id when the verified payload cannot be read as a call event."""
    try:
        event = normalize()
    except Exception as exc:  # noqa: BLE001 - every unreadable payload goes to the dead letters
        return await dead_letter(request, CHANNEL, raw, exc)
    return await calls(request).handle(event, raw)


@router.post("/twilio")
async def twilio_callback(request: Request) -> Response:
    """Any Twilio Voice callback (status, Gather, Enqueue, Dial, recording, transcription); answers empty TwiML."""
    RECEIVED.labels(CHANNEL).inc()
    body, params = await verified_params(CHANNEL, request)
    received_at = datetime.now(timezone.utc)
    raw = raw_payload(CHANNEL, "twilio", request, body, received_at, headers=SIGNED_HEADERS)
    query = dict(request.query_params)
    await _fold(request, raw, lambda: twilio_voice.call_event(params, query, received_at))
    return twiml()


@router.post("/events", status_code=202, openapi_extra=documented(generic.GenericCallEvent))
async def generic_event(request: Request) -> JSONResponse:
    """One event in the generic JSON format (docs/connectors/phone.md), signed with X-Intake-Signature-256."""
    RECEIVED.labels(CHANNEL).inc()
    settings: GatewaySettings = request.app.state.settings
    body = await request.body()
    verify_hmac(CHANNEL, request, body, settings.secret(settings.phone_secret))
    require_media_type(CHANNEL, request, JSON)
    fields = parse_json_object(CHANNEL, body)
    raw = raw_payload(CHANNEL, str(fields.get("platform") or "generic")[:64], request, body,
                      datetime.now(timezone.utc), headers=(HMAC_HEADER.lower(),))
    verdict = await _fold(request, raw, lambda: generic.call_event(fields))
    if isinstance(verdict, Handled):
        return JSONResponse({"status": verdict.value}, status_code=202)
    return JSONResponse({"dead_letter_id": verdict}, status_code=202)
