"""Chat / in-app channel: the site's chat server forwards each visitor message here.

The widget runs in the browser, but messages reach us through the chat server, which signs
the body (``X-Intake-Signature-256``, HMAC-SHA256 with ``INTAKE_GATEWAY_CHAT_SECRET``).
A signed message that does not fit the format below is dead-lettered with the cause
(the chat server cannot fix it by retrying; the dead letter is the record).
"""
from __future__ import annotations

from datetime import datetime, timezone

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from schemas import Attachment, Channel, Contact, Identifiers

from .accept import accept_or_dead_letter, raw_payload
from .bodies import JSON, documented, parse_json_object, require_media_type
from .identifiers import e164, email, handle
from .metrics import RECEIVED
from .settings import GatewaySettings
from .signatures import HMAC_HEADER, verify_hmac

router = APIRouter(prefix="/chat", tags=["chat"])
CHANNEL = Channel.CHAT


class ChatVisitor(BaseModel):
    """What the widget knows about the visitor (a logged-in customer, or what the pre-chat form asked)."""

    model_config = ConfigDict(extra="ignore")

    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    customer_number: str | None = Field(default=None, max_length=64)


class ChatAttachment(BaseModel):
    model_config = ConfigDict(extra="ignore")

    url: str = Field(max_length=2048)
    content_type: str = Field(default="application/octet-stream", max_length=255)
    filename: str | None = Field(default=None, max_length=512)
    size_bytes: int = Field(default=0, ge=0)


class ChatMessage(BaseModel):
    """One visitor message. Unknown fields are ignored so the chat server can evolve first."""

    model_config = ConfigDict(extra="ignore")

    message_id: str = Field(min_length=1, max_length=256, description="unique per message; retries repeat it")
    session_id: str = Field(min_length=1, max_length=256, description="the chat conversation")
    visitor_id: str = Field(min_length=1, max_length=256, description="the widget's stable visitor cookie / app user id")
    text: str = Field(default="", max_length=20_000)
    sent_at: datetime | None = None
    language: str | None = Field(default=None, max_length=16)
    page_url: str | None = Field(default=None, max_length=2048)
    order_number: str | None = Field(default=None, max_length=64)
    visitor: ChatVisitor = Field(default_factory=ChatVisitor)
    attachments: list[ChatAttachment] = Field(default_factory=list, max_length=20)


def _contact(fields: dict, received_at: datetime) -> Contact:
    message = ChatMessage.model_validate(fields)
    if not message.text.strip() and not message.attachments:
        raise ValueError("chat message has neither text nor attachments")
    attributes = {"session_id": message.session_id, "visitor_id": message.visitor_id}
    if message.page_url:
        attributes["page_url"] = message.page_url
    if message.sent_at:
        attributes["sent_at"] = message.sent_at.isoformat()
    visitor = message.visitor
    return Contact(
        channel=CHANNEL, provider="chat-widget", provider_message_id=message.message_id, received_at=received_at,
        customer=Identifiers(name=visitor.name, email=email(visitor.email), phone=e164(visitor.phone),
                             customer_number=visitor.customer_number, handle=handle("chat", message.visitor_id),
                             order_numbers=[message.order_number] if message.order_number else []),
        body=message.text, language=message.language,
        attachments=[Attachment(filename=a.filename, content_type=a.content_type, size_bytes=a.size_bytes, url=a.url)
                     for a in message.attachments],
        attributes=attributes,
    )


@router.post("/messages", status_code=202, openapi_extra=documented(ChatMessage))
async def message(request: Request) -> JSONResponse:
    RECEIVED.labels(CHANNEL).inc()
    settings: GatewaySettings = request.app.state.settings
    body = await request.body()
    verify_hmac(CHANNEL, request, body, settings.secret(settings.chat_secret))
    require_media_type(CHANNEL, request, JSON)
    fields = parse_json_object(CHANNEL, body)
    received_at = datetime.now(timezone.utc)
    raw = raw_payload(CHANNEL, "chat-widget", request, body, received_at, headers=(HMAC_HEADER.lower(),))
    outcome = await accept_or_dead_letter(request, CHANNEL, raw, "/connectors/chat", lambda: _contact(fields, received_at))
    return JSONResponse(outcome.body(), status_code=202)
