"""What the stream agents decided about one contact, each decision with its reason."""
from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from .contact import Contact
from .envelope import Envelope, Model


class DedupVerdict(StrEnum):
    NEW_CASE = "new_case"
    REPEAT = "repeat"              # same customer, same issue, open case: linked, counted
    THREAD_REPLY = "thread_reply"  # email reply threaded by Message-ID / References
    FOLLOW_UP = "follow_up"        # same customer, open case, new message in a conversation
    NOT_A_CONTACT = "not_a_contact"  # auto-reply / bounce: recorded, opens nothing


class UpsellVerdict(StrEnum):
    NONE = "none"
    LEAD = "lead"
    SUPPRESSED = "suppressed"


class RoutedContact(Model):
    contact_id: str = Field(description="event id of the ContactEvent")
    contact: Contact
    customer_key: str
    case_id: str
    dedup: DedupVerdict
    dedup_reason: str = ""
    category: str = "other"
    phase: str = "unknown"
    severity: int = Field(default=0, ge=0, le=3, description="complaint severity 1-3, 0 when not a complaint")
    sentiment: str = "neutral"
    priority: int = Field(default=3, ge=1, le=5, description="1 is most urgent")
    priority_reason: str = ""
    segment: str = "standard"
    queue: str = "general"
    tier: int = Field(default=1, ge=1, le=3)
    routing_reason: str = ""
    upsell: UpsellVerdict = UpsellVerdict.NONE
    upsell_reason: str = ""
    rules_version: str = "0"


class RoutedContactEvent(Envelope):
    """Keyed by customer key."""

    EVENT_TYPE = "intake.contact.routed.v1"
    data: RoutedContact
