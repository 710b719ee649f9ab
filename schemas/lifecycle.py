"""Case lifecycle transitions reported by the service desk (or emitted by the pipeline)."""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from .envelope import Envelope, Model


class LifecycleAction(StrEnum):
    ACKNOWLEDGED = "acknowledged"
    ASSIGNED = "assigned"
    FIRST_RESPONSE = "first_response"
    RESPONDED = "responded"
    WAITING_ON_CUSTOMER = "waiting_on_customer"
    CUSTOMER_REPLIED = "customer_replied"
    ESCALATED = "escalated"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REOPENED = "reopened"
    SURVEY_SENT = "survey_sent"
    SURVEY_ANSWERED = "survey_answered"


class Lifecycle(Model):
    case_id: str = Field(min_length=1)
    action: LifecycleAction
    at: datetime
    agent: str | None = None
    queue: str | None = None
    tier: int | None = Field(default=None, ge=1, le=3)
    csat: int | None = Field(default=None, ge=0, le=100, description="survey score, 0-100")
    nps: int | None = Field(default=None, ge=0, le=10)
    note: str | None = Field(default=None, max_length=2000)


class LifecycleEvent(Envelope):
    """Keyed by case id."""

    EVENT_TYPE = "intake.case.lifecycle.v1"
    data: Lifecycle
