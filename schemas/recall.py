"""Product recalls: a quality or product system names the affected orders, one event per order."""
from __future__ import annotations

from pydantic import Field

from .envelope import Envelope, Model


class Recall(Model):
    """One affected order of a recall campaign: its customer gets a recall notice, if the desk knows them."""

    campaign_id: str = Field(min_length=1, description="the recall campaign, e.g. RC-2026-014")
    order_number: str = Field(min_length=1, description="an affected order, as customers quote it")
    template: str = Field(default="recall_notice", min_length=1, description="the sending system's template")
    product: str | None = Field(default=None, description="what is recalled, for the template")


class RecallEvent(Envelope):
    """Keyed by order number."""

    EVENT_TYPE = "intake.recall.requested.v1"
    data: Recall
