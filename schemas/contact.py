"""The normalized contact: what any channel connector turns a provider's message into."""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field

from .envelope import Envelope, Model

SCHEMA_VERSION = 1


class Channel(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    WEBFORM = "webform"
    SOCIAL = "social"
    SMS = "sms"
    CHAT = "chat"


class ContactKind(StrEnum):
    """Auto-replies and bounces are recorded but must never open a contact."""

    MESSAGE = "message"
    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"


class Identifiers(Model):
    """Customer identifiers as the channel saw them, already normalized.

    phone is E.164, email lower-cased, handle namespaced by platform (``wechat:oABC``,
    ``whatsapp:+8613...``, ``messenger:123``).
    """

    phone: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=320)
    handle: str | None = Field(default=None, max_length=256)
    customer_number: str | None = Field(default=None, max_length=64)
    order_numbers: list[str] = Field(default_factory=list, max_length=20)
    name: str | None = Field(default=None, max_length=200)


class Attachment(Model):
    """Metadata only: attachment bytes never travel on the contact stream."""

    filename: str | None = Field(default=None, max_length=512)
    content_type: str = Field(default="application/octet-stream", max_length=255)
    size_bytes: int = Field(default=0, ge=0)
    sha256: str | None = None
    url: str | None = Field(default=None, max_length=2048)


class Thread(Model):
    """Email threading headers, kept verbatim so replies join their case."""

    message_id: str | None = None
    in_reply_to: str | None = None
    references: list[str] = Field(default_factory=list)


class CallDetails(Model):
    """One phone call folded from the telephony platform's events."""

    call_id: str
    menu_path: list[str] = Field(default_factory=list)
    queue: str | None = None
    wait_seconds: float | None = None
    outcome: Literal["in_progress", "answered", "abandoned", "missed", "voicemail", "completed"] = "in_progress"
    callback_requested: bool = False
    duration_seconds: float | None = None
    recording_url: str | None = None
    transcript: str | None = None


class Contact(Model):
    schema_version: int = SCHEMA_VERSION
    channel: Channel
    provider: str = Field(min_length=1, max_length=64, description="who delivered it: webform, twilio, meta, wechat, smtp, imap, ...")
    provider_message_id: str = Field(min_length=1, max_length=512)
    received_at: datetime
    kind: ContactKind = ContactKind.MESSAGE
    customer: Identifiers = Field(default_factory=Identifiers)
    subject: str | None = Field(default=None, max_length=1000)
    body: str = Field(default="", max_length=100_000)
    language: str | None = Field(default=None, max_length=16, description="BCP 47 tag, e.g. zh, en")
    attachments: list[Attachment] = Field(default_factory=list, max_length=100)
    raw_ref: str | None = Field(default=None, description="where the provider's original payload is kept, e.g. kafka:intake.raw.v1/<event id>")
    thread: Thread | None = None
    call: CallDetails | None = None
    is_public: bool = Field(default=False, description="a public social post (reputation risk) rather than a private message")
    form_type: str | None = Field(default=None, max_length=64, description="web forms: general, appointment, return")
    attributes: dict[str, str] = Field(default_factory=dict, description="channel-specific extras (session id, segment, ...)")


class ContactEvent(Envelope):
    """A contact as received; key on the topic is ``channel:provider_message_id``."""

    EVENT_TYPE = "intake.contact.received.v1"
    data: Contact

    @property
    def dedup_key(self) -> str:
        return f"{self.data.channel}:{self.data.provider_message_id}"
