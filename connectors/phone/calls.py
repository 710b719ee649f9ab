"""Folding a phone call's many webhooks into one contact.

Telephony platforms report a call as a stream of events (ringing, menu choices, queued,
answered or abandoned, recording, transcription, ended). The desk wants ONE contact per
call, so each call's state is folded in memory, keyed by the provider's call id, and the
contact is published once, when the call has ended (and, for a recorded call, its
transcription arrived or ``phone_transcript_grace_seconds`` passed).

Nothing is lost on a crash: every webhook is first written to the RAW topic (keyed by the
call's contact event id, so ``raw_ref`` finds all of them in order) and only then answered.
What a crash loses is the in-memory fold of calls in progress; their raw events remain
replayable, and events after a restart still produce the contact (with fewer details).
The state is bounded: when ``phone_max_calls`` calls are held, the least recently active
is published early as it stands; a call idle for ``phone_idle_seconds`` is published too.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import StrEnum

from schemas import CallDetails, Channel, Contact, Identifiers, RawPayload, stable_event_id

from ..accept import RecentDeliveries, publish_once
from ..metrics import CALLS_HELD, DUPLICATES
from ..publisher import Publisher
from ..settings import GatewaySettings

log = logging.getLogger(__name__)
CHANNEL = Channel.PHONE
SOURCE = "/connectors/phone"
TERMINAL = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
MISSED = frozenset({"busy", "no-answer", "failed", "canceled"})


@dataclass(slots=True)
class CallEvent:
    """One webhook, in the platform-neutral terms the fold understands."""

    call_id: str  # the contact's provider_message_id: unique per provider
    provider: str
    fingerprint: str  # the same webhook delivered twice has the same fingerprint
    at: datetime
    caller: str | None = None  # E.164
    callee: str | None = None
    menu_choice: str | None = None  # "menu=choice", or the bare choice when the menu is unnamed
    speech: str | None = None
    queue: str | None = None
    entered_queue: bool = False
    wait_seconds: float | None = None
    agent_answered: bool | None = None  # True: an agent took it; False: left the queue / dial without one
    callback_requested: bool = False
    recording_url: str | None = None
    transcript: str | None = None
    transcript_final: bool = False  # the transcription outcome is known (text or failure)
    duration_seconds: float | None = None
    end_status: str | None = None  # completed, busy, no-answer, failed, canceled
    attributes: dict[str, str] = field(default_factory=dict)


class Handled(StrEnum):
    PUBLISHED = "published"  # this event completed the call: the contact is on Kafka
    HELD = "held"  # folded; the call goes on
    DUPLICATE = "duplicate"  # a retry of an event already folded
    LATE = "late"  # the call's contact was already published; kept on RAW only


@dataclass(slots=True)
class CallState:
    call_id: str
    provider: str
    started_at: datetime
    touched: float
    last_raw: RawPayload
    caller: str | None = None
    callee: str | None = None
    menu_path: list[str] = field(default_factory=list)
    speech: list[str] = field(default_factory=list)
    queue: str | None = None
    entered_queue: bool = False
    wait_seconds: float | None = None
    agent_answered: bool | None = None
    callback_requested: bool = False
    recording_url: str | None = None
    transcripts: list[str] = field(default_factory=list)
    transcript_final: bool = False
    duration_seconds: float | None = None
    end_status: str | None = None
    ended_at: float | None = None
    publishing: bool = False
    fingerprints: set[str] = field(default_factory=set)
    attributes: dict[str, str] = field(default_factory=dict)

    def fold(self, ev: CallEvent, raw: RawPayload, callback_choices: frozenset[str], now: float) -> None:
        self.fingerprints.add(ev.fingerprint)
        self.touched, self.last_raw = now, raw
        self.started_at = min(self.started_at, ev.at)
        self.caller = self.caller or ev.caller
        self.callee = self.callee or ev.callee
        if ev.menu_choice:
            self.menu_path.append(ev.menu_choice)
            self.callback_requested |= ev.menu_choice in callback_choices
        if ev.speech:
            self.speech.append(ev.speech)
        self.queue = ev.queue or self.queue
        self.entered_queue |= ev.entered_queue or ev.queue is not None
        if ev.wait_seconds is not None:
            self.wait_seconds = max(self.wait_seconds or 0.0, ev.wait_seconds)
        if ev.agent_answered is not None and not self.agent_answered:
            self.agent_answered = ev.agent_answered
        self.callback_requested |= ev.callback_requested
        self.recording_url = ev.recording_url or self.recording_url
        if ev.transcript and ev.transcript not in self.transcripts:
            self.transcripts.append(ev.transcript)
        self.transcript_final |= ev.transcript_final
        if ev.duration_seconds is not None:
            self.duration_seconds = ev.duration_seconds
        if ev.end_status and self.end_status is None:
            self.end_status, self.ended_at = ev.end_status, now
        self.attributes.update(ev.attributes)

    def ready(self, now: float, grace: float) -> bool:
        """Ended, and not waiting for a transcription that may still come."""
        if self.ended_at is None:
            return False
        awaiting_transcript = self.recording_url is not None and not self.transcript_final
        return not awaiting_transcript or now - self.ended_at >= grace

    def outcome(self) -> str:
        if self.end_status in MISSED and not self.agent_answered:
            return "missed"
        if self.agent_answered:
            return "answered"
        if self.recording_url:
            return "voicemail"
        if self.entered_queue or self.callback_requested:
            return "abandoned"
        return "completed" if self.end_status else "in_progress"

    def contact(self) -> Contact:
        transcript = "\n".join(self.transcripts) or None
        attributes = dict(self.attributes)
        if self.callee:
            attributes["to"] = self.callee
        if self.end_status:
            attributes["end_status"] = self.end_status
        return Contact(
            channel=CHANNEL, provider=self.provider, provider_message_id=self.call_id, received_at=self.started_at.astimezone(timezone.utc),
            customer=Identifiers(phone=self.caller), body=transcript or "\n".join(self.speech),
            call=CallDetails(call_id=self.call_id, menu_path=self.menu_path, queue=self.queue,
                             wait_seconds=self.wait_seconds, outcome=self.outcome(),
                             callback_requested=self.callback_requested, duration_seconds=self.duration_seconds,
                             recording_url=self.recording_url, transcript=transcript),
            attributes=attributes,
        )


def contact_id(call_id: str) -> str:
    return stable_event_id(CHANNEL, call_id)


class CallStore:
    """Per-call state between a call's first and last webhook; publishes each call once."""

    def __init__(self, publisher: Publisher, recent: RecentDeliveries, settings: GatewaySettings,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._publisher, self._recent, self._clock = publisher, recent, clock
        self._grace, self._idle = settings.phone_transcript_grace_seconds, settings.phone_idle_seconds
        self._capacity = settings.phone_max_calls
        self._callback_choices = frozenset(settings.phone_callback_choices)
        self._calls: OrderedDict[str, CallState] = OrderedDict()  # least recently active first
        self._sweeper: asyncio.Task | None = None

    def __len__(self) -> int:
        return len(self._calls)

    async def handle(self, ev: CallEvent, raw: RawPayload) -> Handled:
        """Keep the webhook on RAW, fold it, publish the contact if the call is complete."""
        key = contact_id(ev.call_id)
        await self._publisher.publish_raw(raw, SOURCE, event_id=stable_event_id(CHANNEL, ev.call_id, ev.fingerprint), key=key)
        state = self._calls.get(ev.call_id)
        if state is None and self._recent.seen(key):
            DUPLICATES.labels(CHANNEL).inc()
            return Handled.LATE
        now = self._clock()
        if state is None:
            state = self._calls[ev.call_id] = CallState(ev.call_id, ev.provider, ev.at, now, raw)
        elif ev.fingerprint in state.fingerprints:
            DUPLICATES.labels(CHANNEL).inc()
            return await self._publish_if_ready(state, now, Handled.DUPLICATE)
        state.fold(ev, raw, self._callback_choices, now)
        self._calls.move_to_end(ev.call_id)
        CALLS_HELD.set(len(self._calls))
        return await self._publish_if_ready(state, now, Handled.HELD)

    async def _publish_if_ready(self, state: CallState, now: float, otherwise: Handled) -> Handled:
        if state.ready(now, self._grace) and await self._publish(state):
            return Handled.PUBLISHED
        return otherwise

    async def _publish(self, state: CallState) -> bool:
        """Publish once; a failure leaves the call held (and raises, so the webhook gets 503)."""
        if state.publishing:
            return False
        state.publishing = True
        try:
            await publish_once(self._publisher, self._recent, state.contact(), state.last_raw, SOURCE)
        finally:
            state.publishing = False
        self._calls.pop(state.call_id, None)
        CALLS_HELD.set(len(self._calls))
        return True

    async def sweep(self) -> int:
        """Publish calls whose transcription grace ran out, idle calls, and the overflow beyond capacity."""
        now = self._clock()
        overflow = max(0, len(self._calls) - self._capacity)
        due = [s for i, s in enumerate(self._calls.values())
               if i < overflow or s.ready(now, self._grace) or now - s.touched >= self._idle]
        published = 0
        for state in due:
            try:
                published += await self._publish(state)
            except Exception:  # noqa: BLE001 - the next sweep retries; the raw events are already durable
                log.exception("publishing call %s failed; will retry", state.call_id)
        return published

    async def _sweep_forever(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await self.sweep()

    def start(self, interval: float = 1.0) -> None:
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever(interval), name="call-sweeper")

    async def close(self) -> None:
        """Stop sweeping and publish every ended call; calls still in progress stay on RAW only."""
        if self._sweeper is not None:
            self._sweeper.cancel()
        for state in [s for s in self._calls.values() if s.ended_at is not None]:
            try:
                await self._publish(state)
            except Exception:  # noqa: BLE001
                log.exception("call %s not published at shutdown; its raw events are on the RAW topic", state.call_id)
