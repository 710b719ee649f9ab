"""A record some stage could not process, with the cause; never silently dropped."""
from __future__ import annotations

from pydantic import Field

from .envelope import Envelope, Model


class DeadLetter(Model):
    stage: str = Field(description="connector:<name>, agent:<name> or sink:<table>")
    cause: str
    error_type: str = ""
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    key: str | None = None
    payload: str = Field(default="", description="the offending payload, UTF-8 or base64 (payload_encoding)")
    payload_encoding: str = "utf-8"
    raw_ref: str | None = None


class DeadLetterEvent(Envelope):
    EVENT_TYPE = "intake.deadletter.v1"
    data: DeadLetter
