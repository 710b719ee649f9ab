"""Customer segment and the priority formula: urgency x impact x complexity x segment weight."""
from __future__ import annotations

from dataclasses import dataclass

from schemas.contact import Contact

from ..rules.models import Routing
from .classify import Classification


@dataclass(frozen=True, slots=True)
class Priority:
    value: int
    score: float
    reason: str


def segment_of(contact: Contact, rules: Routing, known: str | None = None) -> tuple[str, str]:
    """First segment rule whose attribute value the contact carries; else what the customer had; else default."""
    for seg in rules.segments:
        value = contact.attributes.get(seg.attribute)
        if value is not None and value.strip().lower() in {v.lower() for v in seg.values}:
            return seg.name, f"attribute {seg.attribute}={value}"
    if known:
        return known, "segment known for this customer"
    return rules.default_segment, "default segment"


class PriorityTable:
    """``priority_of`` memoised on what it reads: the formula and its reason string are pure
    functions of a few discrete verdicts, so repeated combinations cost one hash lookup."""

    def __init__(self, rules: Routing, size: int = 4096) -> None:
        self.rules = rules
        self.size = size
        self._memo: dict[tuple[object, ...], Priority] = {}

    def of(self, contact: Contact, c: Classification, segment: str) -> Priority:
        key = (contact.channel, contact.is_public, c.sentiment, c.sentiment_reason, c.urgency, c.urgency_reason,
               c.severity, c.category, segment)
        found = self._memo.get(key)
        if found is None:
            if len(self._memo) >= self.size:
                self._memo.clear()
            found = self._memo[key] = priority_of(contact, c, segment, self.rules)
        return found


def priority_of(contact: Contact, c: Classification, segment: str, rules: Routing) -> Priority:
    p = rules.priority
    urgency, u_why = p.base_urgency, "base"
    channel = p.channel_urgency.get(contact.channel.value)
    if channel is not None and channel > urgency:
        urgency, u_why = channel, f"channel {contact.channel.value}"
    if c.sentiment == "angry" and p.angry_urgency > urgency:
        urgency, u_why = p.angry_urgency, c.sentiment_reason
    if c.urgency > urgency:
        urgency, u_why = c.urgency, c.urgency_reason
    impact, i_why = p.base_impact, "base"
    by_severity = p.severity_impact.get(c.severity)
    if by_severity is not None and by_severity > impact:
        impact, i_why = by_severity, f"severity {c.severity}"
    complexity = p.category_complexity.get(c.category, p.default_complexity)
    weight = p.segment_weight.get(segment, 1.0)
    score = urgency * impact * complexity * weight
    value = next(b.priority for b in p.bands if score >= b.min_score)
    reason = (f"urgency {urgency} ({u_why}) x impact {impact} ({i_why}) x complexity {complexity} ({c.category}) "
              f"x segment {weight:g} ({segment}) = {score:g} -> P{value}")
    if contact.is_public and p.public_priority_boost:
        value = max(1, value - p.public_priority_boost)
        reason += f", public post +{p.public_priority_boost} level -> P{value}"
    return Priority(value, score, reason)
