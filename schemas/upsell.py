"""Sales leads spotted in service contacts, and what sales made of them."""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from .envelope import Envelope, Model


class UpsellKind(StrEnum):
    SIMILAR = "similar"
    COMPLEMENTARY = "complementary"
    UPGRADE = "upgrade"


class UpsellLead(Model):
    case_id: str
    contact_id: str
    customer_key: str
    kind: UpsellKind
    score: float = Field(ge=0, le=1)
    evidence: str = Field(description="the text that triggered the cue")
    rule: str
    channel: str
    queue: str
    segment: str = "standard"
    rules_version: str = "0"


class UpsellLeadEvent(Envelope):
    """Keyed by customer key."""

    EVENT_TYPE = "intake.upsell.lead.v1"
    data: UpsellLead


class UpsellResult(StrEnum):
    CONVERTED = "converted"
    DECLINED = "declined"


class UpsellOutcome(Model):
    """Sales' answer to one lead. A lead may be reported again (declined, then bought after all): the
    latest report counts."""

    lead_id: str = Field(min_length=1, max_length=128, description="the id of the lead event (intake.upsell.lead.v1)")
    result: UpsellResult
    at: datetime = Field(description="when sales recorded the result")
    amount: float | None = Field(default=None, ge=0, description="order value of a conversion, in currency")
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. CNY")
    agent: str | None = Field(default=None, max_length=200, description="the sales rep")
    note: str | None = Field(default=None, max_length=2000)


class UpsellOutcomeEvent(Envelope):
    """Keyed by lead id; written by the sales system (the demo desk simulates one)."""

    EVENT_TYPE = "intake.upsell.outcome.v1"
    data: UpsellOutcome
