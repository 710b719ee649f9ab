"""Event builders shared by the SLA tests."""
from __future__ import annotations

from datetime import datetime, timezone

from schemas.contact import Contact
from schemas.envelope import new_event_id
from schemas.lifecycle import Lifecycle, LifecycleEvent
from schemas.routed import DedupVerdict, RoutedContact, RoutedContactEvent


def at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=timezone.utc)


def routed(case_id: str, when: float, *, channel: str = "chat", verdict: DedupVerdict = DedupVerdict.NEW_CASE,
           queue: str = "general", segment: str = "standard", category: str = "consultation",
           tier: int = 1) -> RoutedContactEvent:
    contact = Contact(channel=channel, provider="test", provider_message_id=new_event_id(), received_at=at(when),
                      body="hello")
    data = RoutedContact(contact_id=new_event_id(), contact=contact, customer_key=f"cust-{case_id}", case_id=case_id,
                         dedup=verdict, category=category, segment=segment, queue=queue, tier=tier)
    return RoutedContactEvent(source="/tests/sla", subject=case_id, data=data)


def lifecycle(case_id: str, action: str, when: float) -> LifecycleEvent:
    return LifecycleEvent(source="/tests/sla", subject=case_id,
                          data=Lifecycle(case_id=case_id, action=action, at=at(when)))
