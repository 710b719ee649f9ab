"""Tier changes for a case, from routing rules or from SLA breaches."""
from __future__ import annotations

from pydantic import Field

from .envelope import Envelope, Model


class Escalation(Model):
    case_id: str
    from_tier: int = Field(ge=1, le=3)
    to_tier: int = Field(ge=1, le=3)
    queue: str
    reason: str
    trigger: str = Field(description="rule or sla")


class EscalationEvent(Envelope):
    """Keyed by case id."""

    EVENT_TYPE = "intake.case.escalated.v1"
    data: Escalation
