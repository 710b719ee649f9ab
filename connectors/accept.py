"""The one path every connector takes once a payload is verified and parsed.

normalized -> (already published recently? answer as before) -> publish -> 2xx
unnormalizable -> dead letter with the cause and the raw payload -> 2xx to the provider
(a provider retrying a payload we can never normalize helps nobody; the dead letter is the
record), 4xx is for payloads that fail parsing or verification and are NOT accepted.
"""
from __future__ import annotations

import base64
from collections import OrderedDict

from fastapi import Request

from schemas import Contact, ContactEvent, DeadLetter, RawPayload

from .metrics import DEAD_LETTERS, DUPLICATES, PUBLISHED, PUBLISH_SECONDS
from .publisher import Publisher, contact_event_id


class RecentDeliveries:
    """Bounded memory of recently published event ids: provider retries answer without republishing.

    Downstream agents dedup on the same deterministic event id, so this is an optimisation
    and a counter, not the guarantee; it is per process and forgets the oldest first.
    """

    def __init__(self, capacity: int = 100_000) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity

    def seen(self, event_id: str) -> bool:
        if event_id in self._ids:
            self._ids.move_to_end(event_id)
            return True
        return False

    def add(self, event_id: str) -> None:
        self._ids[event_id] = None
        if len(self._ids) > self._capacity:
            self._ids.popitem(last=False)


def publisher(request: Request) -> Publisher:
    return request.app.state.publisher


def recent(request: Request) -> RecentDeliveries:
    state = request.app.state
    if not hasattr(state, "recent"):
        state.recent = RecentDeliveries()
    return state.recent


async def accept_contact(request: Request, contact: Contact, raw: RawPayload, source: str) -> tuple[str, bool]:
    """Publish a contact durably; returns (event id, duplicate?)."""
    event_id = contact_event_id(contact)
    deliveries = recent(request)
    if deliveries.seen(event_id):
        DUPLICATES.labels(contact.channel).inc()
        return event_id, True
    with PUBLISH_SECONDS.labels(contact.channel).time():
        event: ContactEvent = await publisher(request).publish_contact(contact, raw, source)
    deliveries.add(event.id)
    PUBLISHED.labels(contact.channel).inc()
    return event.id, False


def raw_payload(channel: str, provider: str, request: Request, body: bytes, received_at, headers: tuple[str, ...] = ()) -> RawPayload:  # noqa: ANN001
    """The payload as received, with the provider headers needed to re-verify it later."""
    try:
        text, encoding = body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(body).decode(), "base64"
    kept = {h: request.headers[h] for h in headers if h in request.headers}
    return RawPayload(channel=channel, provider=provider, received_at=received_at, path=request.url.path,
                      content_type=request.headers.get("content-type"), headers=kept, body=text,
                      body_encoding=encoding)


async def dead_letter(request: Request, channel: str, raw: RawPayload, exc: Exception) -> str:
    """Record a verified payload that could not be normalized, with its cause."""
    DEAD_LETTERS.labels(channel).inc()
    letter = DeadLetter(stage=f"connector:{channel}", cause=str(exc)[:2000], error_type=type(exc).__name__,
                        payload=raw.body, payload_encoding=raw.body_encoding)
    return await publisher(request).dead_letter(letter, source=f"/connectors/{channel}")
