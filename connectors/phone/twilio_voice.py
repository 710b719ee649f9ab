"""Twilio Voice webhooks -> :class:`CallEvent`.

One endpoint takes every Voice callback; the kind is told apart by the parameters Twilio
documents for it: status callbacks (CallStatus, CallDuration, Timestamp), ``<Gather>``
results (Digits / SpeechResult), ``<Enqueue>`` action and wait requests (QueueResult,
QueueTime, QueueSid), ``<Dial>`` action (DialCallStatus), recording status callbacks
(RecordingUrl, RecordingStatus) and transcription callbacks (TranscriptionText,
TranscriptionStatus). Twilio does not name menus or queues, so the IVR puts ``?menu=`` /
``?queue=`` on the callback URL (Twilio signs the query too).
"""
from __future__ import annotations

import hashlib
from datetime import datetime
from email.utils import parsedate_to_datetime

from ..identifiers import DEFAULT_REGION, e164
from .calls import TERMINAL, CallEvent

AGENT_QUEUE_RESULTS = {"bridged": True, "bridging-in-process": True, "hangup": False, "leave": False,
                       "queue-full": False, "redirected": False, "error": False, "system-error": False}
DIAL_ANSWERED = {"completed": True, "answered": True, "busy": False, "no-answer": False, "failed": False,
                 "canceled": False}


def _seconds(params: dict[str, str], name: str) -> float | None:
    value = params.get(name)
    if value in (None, ""):
        return None
    seconds = float(value)
    if seconds < 0:
        raise ValueError(f"{name} is negative: {value}")
    return seconds


def _timestamp(params: dict[str, str], default: datetime) -> datetime:
    """Status callbacks carry ``Timestamp`` in RFC 2822 form; other callbacks do not."""
    value = params.get("Timestamp")
    return parsedate_to_datetime(value) if value else default


def call_event(params: dict[str, str], query: dict[str, str], received_at: datetime) -> CallEvent:
    """Raises ValueError when the payload is not a Voice callback we can fold (-> dead letter)."""
    sid = params.get("CallSid")
    if not sid:
        raise ValueError("Twilio Voice callback without CallSid")
    status = (params.get("CallStatus") or "").lower() or None
    if status is not None and status not in TERMINAL | {"queued", "ringing", "in-progress", "initiated"}:
        raise ValueError(f"unknown CallStatus {status!r}")
    menu, digits, speech = query.get("menu"), params.get("Digits"), params.get("SpeechResult")
    if params.get("RecordingUrl"):
        digits = None  # <Record>'s action reports the key that ended the recording, not a menu choice
    choice = digits or ("speech" if speech else None)
    queue_result = params.get("QueueResult")
    dial_status = params.get("DialCallStatus")
    transcription = params.get("TranscriptionStatus")
    recording_ok = params.get("RecordingStatus", "completed") == "completed"
    attributes = {k: v for k, v in (("account_sid", params.get("AccountSid")), ("direction", params.get("Direction")),
                                    ("forwarded_from", params.get("ForwardedFrom"))) if v}
    return CallEvent(
        call_id=sid, provider="twilio", at=_timestamp(params, received_at),
        fingerprint=hashlib.sha256(repr((sorted(params.items()), sorted(query.items()))).encode()).hexdigest(),
        caller=e164(params.get("From") or params.get("Caller"), params.get("FromCountry") or DEFAULT_REGION),
        callee=e164(params.get("To") or params.get("Called"), params.get("ToCountry") or DEFAULT_REGION),
        menu_choice=(f"{menu}={choice}" if menu else choice) if choice else None,
        speech=speech or None,
        queue=query.get("queue") or params.get("QueueSid"),
        entered_queue=bool(queue_result or params.get("QueueSid")),
        wait_seconds=_seconds(params, "QueueTime"),
        agent_answered=AGENT_QUEUE_RESULTS.get(queue_result) if queue_result else DIAL_ANSWERED.get(dial_status or ""),
        recording_url=params.get("RecordingUrl") if recording_ok else None,
        transcript=(params.get("TranscriptionText") or None) if transcription == "completed" else None,
        transcript_final=transcription in ("completed", "failed"),
        duration_seconds=_seconds(params, "CallDuration"),
        end_status=status if status in TERMINAL else None,
        attributes=attributes,
    )
