"""Messages the pipeline asks other systems to send: it sends no mail, SMS or chat itself."""
from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from .contact import Channel
from .envelope import Envelope, Model


class OutboundKind(StrEnum):
    ACKNOWLEDGEMENT = "acknowledgement"
    SURVEY = "survey"
    RECALL = "recall"


class Outbound(Model):
    """One message to one customer, on the channel they used, with what a template needs."""

    kind: OutboundKind
    template: str = Field(description="the sending system's template: case_received, case_survey, or the "
                                      "recall campaign's")
    case_id: str = Field(min_length=1)
    contact_id: str = Field(min_length=1, description="the contact this answers (a survey, a recall notice: the "
                                                      "case's latest private one)")
    channel: Channel = Field(description="where to send: the contact's channel, or the one that reaches its "
                                         "customer privately (after a call: SMS)")
    to: str = Field(min_length=1, description="the customer's address on that channel: email, E.164 phone or "
                                               "platform handle")
    in_reply_to: str | None = Field(default=None, description="email: the Message-ID answered, so the reply threads")
    subject: str | None = Field(default=None, description="email: the subject of the contact answered")
    language: str | None = Field(default=None, description="BCP 47 tag of the contact, for the template's language")
    campaign_id: str | None = Field(default=None, description="recall notices: the recall campaign")
    product: str | None = Field(default=None, description="recall notices: what is recalled")


class OutboundEvent(Envelope):
    """Keyed by case id."""

    EVENT_TYPE = "intake.outbound.request.v1"
    data: Outbound
