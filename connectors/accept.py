"""The one path every connector takes once a payload is verified and parsed.

normalized -> (already published recently? answer as before) -> publish -> 2xx
unnormalizable -> dead letter with the cause and the raw payload -> 2xx to the provider
(a provider retrying a payload we can never normalize helps nobody; the dead letter is the
record), 4xx is for payloads that fail parsing or verification and are NOT accepted.
"""
from __future__ import annotations

import base64
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter

from fastapi import FastAPI, Request

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
    return recent_in(request.app)


def recent_in(app: FastAPI) -> RecentDeliveries:
    """The app's memory of recent deliveries, shared by requests and background publishers."""
    state = app.state
    if not hasattr(state, "recent"):
        state.recent = RecentDeliveries()
    return state.recent


async def accept_contact(request: Request, contact: Contact, raw: RawPayload, source: str) -> tuple[str, bool]:
    """Publish a contact durably; returns (event id, duplicate?)."""
    return await publish_once(publisher(request), recent(request), contact, raw, source)


async def publish_once(pub: Publisher, deliveries: RecentDeliveries, contact: Contact, raw: RawPayload,
                       source: str) -> tuple[str, bool]:
    """accept_contact without an HTTP request (SMTP, IMAP): returns (event id, duplicate?)."""
    event_id = contact_event_id(contact)
    duplicates, seconds, published = _counters(contact.channel)
    if deliveries.seen(event_id):
        duplicates.inc()
        return event_id, True
    began = perf_counter()
    try:
        event: ContactEvent = await pub.publish_contact(contact, raw, source)
    finally:
        seconds.observe(perf_counter() - began)
    deliveries.add(event.id)
    published.inc()
    return event.id, False


_COUNTERS: dict[str, tuple] = {}


def _counters(channel: str) -> tuple:
    """The channel's (duplicates, publish seconds, published) metric children, looked up once."""
    found = _COUNTERS.get(channel)
    if found is None:
        found = _COUNTERS[channel] = (DUPLICATES.labels(channel), PUBLISH_SECONDS.labels(channel),
                                      PUBLISHED.labels(channel))
    return found


def raw_payload(channel: str, provider: str, request: Request, body: bytes, received_at, headers: tuple[str, ...] = ()) -> RawPayload:  # noqa: ANN001
    """The payload as received, with the provider headers needed to re-verify it later."""
    try:
        text, encoding = body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(body).decode(), "base64"
    kept = {h: request.headers[h] for h in headers if h in request.headers}
    path = request.scope["path"]
    if "?" in path or "#" in path or "\\" in path:
        path = request.url.path  # the escaped form, as before
    return RawPayload(channel=channel, provider=provider, received_at=received_at, path=path,
                      content_type=request.headers.get("content-type"), headers=kept, body=text,
                      body_encoding=encoding)


async def dead_letter(request: Request, channel: str, raw: RawPayload, exc: Exception) -> str:
    """Record a verified payload that could not be normalized, with its cause."""
    return await record_dead_letter(publisher(request), channel, raw, exc)


async def record_dead_letter(pub: Publisher, channel: str, raw: RawPayload, exc: Exception) -> str:
    """dead_letter without an HTTP request (SMTP, IMAP)."""
    DEAD_LETTERS.labels(channel).inc()
    letter = DeadLetter(stage=f"connector:{channel}", cause=str(exc)[:2000], error_type=type(exc).__name__,
                        payload=raw.body, payload_encoding=raw.body_encoding)
    return await pub.dead_letter(letter, source=f"/connectors/{channel}")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one verified, parsed delivery: published, a duplicate, or dead-lettered."""

    event_id: str | None
    duplicate: bool = False
    dead_letter_id: str | None = None

    def body(self) -> dict[str, object]:
        if self.dead_letter_id:
            return {"dead_letter_id": self.dead_letter_id}
        return {"event_id": self.event_id, "duplicate": self.duplicate}


async def accept_or_dead_letter(request: Request, channel: str, raw: RawPayload, source: str,
                                normalize: Callable[[], Contact]) -> Outcome:
    """Normalize and publish; any failure to normalize becomes a dead letter with its cause.

    Publishing failures (:class:`PublishUnavailable`) are not caught: they answer 503 so
    the provider retries.
    """
    try:
        contact = normalize()
    except Exception as exc:  # noqa: BLE001 - whatever the cause, the payload must reach the dead letters
        return Outcome(None, dead_letter_id=await dead_letter(request, channel, raw, exc))
    event_id, duplicate = await accept_contact(request, contact, raw, source)
    return Outcome(event_id, duplicate)
