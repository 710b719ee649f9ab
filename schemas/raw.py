"""The provider's original payload, kept for audit and replay."""
from __future__ import annotations

from datetime import datetime

from pydantic import Field

from .envelope import Envelope, Model


class RawPayload(Model):
    channel: str
    provider: str
    received_at: datetime
    content_type: str | None = None
    path: str | None = Field(default=None, description="endpoint path the payload arrived on")
    headers: dict[str, str] = Field(default_factory=dict, description="provider headers needed to re-verify (signatures, ids); no cookies or auth")
    body: str = Field(description="the body as received: UTF-8 text, or base64 when body_encoding is base64")
    body_encoding: str = "utf-8"


class RawPayloadEvent(Envelope):
    """Keyed by the contact's event id, so ``raw_ref`` finds it."""

    EVENT_TYPE = "intake.raw.received.v1"
    data: RawPayload
