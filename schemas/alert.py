"""Operational alerts: firing and resolved, grouped by a fingerprint."""
from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from .envelope import Envelope, Model


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class Alert(Model):
    name: str = Field(description="e.g. SlaBreachSpike, OldestWaitingOverClock, ChannelSilent, DeadLetterRate")
    fingerprint: str = Field(description="name plus labels: one firing and one resolve per fingerprint")
    status: AlertStatus
    severity: str = Field(description="critical, warning or info")
    labels: dict[str, str] = Field(default_factory=dict)
    figures: dict[str, float] = Field(default_factory=dict, description="the numbers that tripped it")
    summary: str = ""


class AlertEvent(Envelope):
    """Keyed by fingerprint."""

    EVENT_TYPE = "intake.alert.v1"
    data: Alert
