"""Contacts for the routing tests, built the way connectors build them."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from schemas.contact import Contact, ContactEvent, Identifiers, Thread
from schemas.envelope import stable_event_id

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=timezone.utc)


def contact(channel: str, message_id: str, body: str, minutes: float = 0, *, subject: str | None = None,
            thread: Thread | None = None, at: datetime | None = None, **fields: Any) -> ContactEvent:
    """``fields``: identifiers (phone, email, handle, customer_number, order_numbers) or Contact fields."""
    ident_names = {"phone", "email", "handle", "customer_number", "order_numbers", "name"}
    ids = {k: v for k, v in fields.items() if k in ident_names}
    rest = {k: v for k, v in fields.items() if k not in ident_names}
    data = Contact(channel=channel, provider="test", provider_message_id=message_id,
                   received_at=at or T0 + timedelta(minutes=minutes), body=body, subject=subject,
                   customer=Identifiers(**ids), thread=thread, **rest)
    return ContactEvent(id=stable_event_id(channel, message_id), source="/tests/streams", data=data)
