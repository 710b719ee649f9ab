"""The generic telephony JSON format (for platforms other than Twilio) -> :class:`CallEvent`.

Documented in docs/connectors/phone.md. One JSON object per event; ``event_id`` is unique
per event and repeated on retries; ``call_id`` ties a call's events together.
"""
from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from ..identifiers import e164
from .calls import CallEvent

EventType = Literal["started", "menu", "queued", "answered", "abandoned", "callback_requested", "voicemail",
                    "transcript", "ended"]


class GenericCallEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")

    platform: str = Field(min_length=1, max_length=48, pattern=r"^[a-z0-9][a-z0-9_.-]*$", description="who sends it, e.g. genesys, freeswitch")
    call_id: str = Field(min_length=1, max_length=200)
    event_id: str = Field(min_length=1, max_length=200)
    type: EventType
    timestamp: AwareDatetime
    from_: str | None = Field(default=None, alias="from", max_length=64)
    to: str | None = Field(default=None, max_length=64)
    menu: str | None = Field(default=None, max_length=64)
    choice: str | None = Field(default=None, max_length=64)
    speech: str | None = Field(default=None, max_length=2000)
    queue: str | None = Field(default=None, max_length=128)
    wait_seconds: float | None = Field(default=None, ge=0)
    recording_url: str | None = Field(default=None, max_length=2048)
    transcript: str | None = Field(default=None, max_length=50_000)
    duration_seconds: float | None = Field(default=None, ge=0)
    status: Literal["completed", "busy", "no-answer", "failed", "canceled"] = "completed"


def call_event(fields: dict) -> CallEvent:
    """Raises (pydantic ValidationError / ValueError) when the event cannot be folded (-> dead letter)."""
    ev = GenericCallEvent.model_validate(fields)
    if ev.type == "menu" and not ev.choice:
        raise ValueError("a menu event needs choice")
    kind = ev.type
    return CallEvent(
        call_id=f"{ev.platform}:{ev.call_id}", provider=ev.platform, fingerprint=ev.event_id, at=ev.timestamp,
        caller=e164(ev.from_), callee=e164(ev.to),
        menu_choice=(f"{ev.menu}={ev.choice}" if ev.menu else ev.choice) if kind == "menu" else None,
        speech=ev.speech,
        queue=ev.queue, entered_queue=kind in ("queued", "abandoned"),
        wait_seconds=ev.wait_seconds,
        agent_answered={"answered": True, "abandoned": False}.get(kind),
        callback_requested=kind == "callback_requested",
        recording_url=ev.recording_url,
        transcript=ev.transcript,
        transcript_final=kind == "transcript" or (kind == "voicemail" and ev.transcript is not None),
        duration_seconds=ev.duration_seconds,
        end_status=ev.status if kind == "ended" else None,
        attributes={"platform": ev.platform},
    )

