"""Sales leads spotted in service contacts."""
from __future__ import annotations

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
