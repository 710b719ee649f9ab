"""The email channel's one path from raw message bytes to Kafka, shared by SMTP and IMAP.

Parse -> publish raw + contact (or dead-letter with the cause) -> return only after Kafka
acknowledged. A :class:`~connectors.publisher.PublishUnavailable` propagates so the caller
can refuse (SMTP 451) or leave the message unmarked (IMAP) and nothing is lost.
"""
from __future__ import annotations

import base64
from datetime import datetime, timezone
from enum import StrEnum

from schemas import Channel, RawPayload

from ..accept import RecentDeliveries, publish_once, record_dead_letter
from ..metrics import RECEIVED
from ..publisher import Publisher
from .mime import Unnormalizable, to_contact
from .settings import EmailSettings


class Outcome(StrEnum):
    PUBLISHED = "published"
    DUPLICATE = "duplicate"
    DEAD_LETTER = "dead_letter"


def raw_message(data: bytes, provider: str, received_at: datetime, origin: str, headers: dict[str, str]) -> RawPayload:
    """The message exactly as received (base64 when it is not UTF-8, e.g. 8-bit GBK)."""
    try:
        body, encoding = data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        body, encoding = base64.b64encode(data).decode(), "base64"
    return RawPayload(channel=Channel.EMAIL, provider=provider, received_at=received_at, content_type="message/rfc822",
                      path=origin, headers=headers, body=body, body_encoding=encoding)


class MailIntake:
    """Turns raw messages into published contacts; one per process, shared by SMTP and IMAP."""

    def __init__(self, publisher: Publisher, settings: EmailSettings, recent: RecentDeliveries | None = None) -> None:
        self.publisher = publisher
        self.settings = settings
        self.recent = recent or RecentDeliveries()

    async def ingest(self, data: bytes, provider: str, origin: str, headers: dict[str, str] | None = None,
                     received_at: datetime | None = None) -> tuple[Outcome, str]:
        """(outcome, event or dead-letter id); raises PublishUnavailable when Kafka cannot ack."""
        RECEIVED.labels(Channel.EMAIL).inc()
        received_at = received_at or datetime.now(timezone.utc)
        raw = raw_message(data, provider, received_at, origin, headers or {})
        try:
            contact = to_contact(data, provider, received_at, self.settings)
        except Exception as exc:  # any parse failure is recorded with its cause, never dropped
            return Outcome.DEAD_LETTER, await record_dead_letter(self.publisher, Channel.EMAIL, raw, exc)
        event_id, duplicate = await publish_once(self.publisher, self.recent, contact, raw, f"/connectors/email/{provider}")
        return (Outcome.DUPLICATE if duplicate else Outcome.PUBLISHED), event_id

    async def too_large(self, header: bytes, size: int, provider: str, origin: str, headers: dict[str, str],
                        received_at: datetime | None = None) -> tuple[Outcome, str]:
        """Dead-letter a message over ``max_message_bytes``, keeping only its header as the payload."""
        RECEIVED.labels(Channel.EMAIL).inc()
        raw = raw_message(header, provider, received_at or datetime.now(timezone.utc), origin, headers)
        cause = Unnormalizable(f"message of {size} bytes exceeds max_message_bytes={self.settings.max_message_bytes}; "
                               "only its header is kept")
        return Outcome.DEAD_LETTER, await record_dead_letter(self.publisher, Channel.EMAIL, raw, cause)
