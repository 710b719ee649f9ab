"""Queue / tier routing and escalation-by-rule, first matching rule wins."""
from __future__ import annotations

from dataclasses import dataclass

from schemas.contact import Contact

from ..rules.models import Escalation, Route, Routing, When
from .classify import Classification


@dataclass(frozen=True, slots=True)
class Facts:
    """What rules may test, gathered once per contact."""

    channel: str
    category: str
    language: str
    segment: str
    sentiment: str
    is_public: bool
    severity: int
    priority: int
    cues: frozenset[str]

    @classmethod
    def of(cls, contact: Contact, c: Classification, segment: str, priority: int) -> Facts:
        return cls(contact.channel.value, c.category, c.language, segment, c.sentiment, contact.is_public,
                   c.severity, priority, frozenset(c.cues))


def matches(when: When, f: Facts) -> bool:
    return ((when.channel is None or f.channel in when.channel)
            and (when.category is None or f.category in when.category)
            and (when.language is None or f.language in when.language)
            and (when.segment is None or f.segment in when.segment)
            and (when.sentiment is None or f.sentiment in when.sentiment)
            and (when.is_public is None or f.is_public == when.is_public)
            and (when.min_severity is None or f.severity >= when.min_severity)
            and (when.max_priority is None or f.priority <= when.max_priority)
            and (when.cues is None or not f.cues.isdisjoint(when.cues)))


class RuleTable:
    """``route`` and ``escalation`` memoised per distinct facts.

    Why: both are pure functions of a small discrete input (channel, category, language,
    segment, sentiment, public, severity, priority, cues), so real traffic repeats the same
    few hundred combinations; a hash lookup replaces testing every rule. Bounded: the memo
    is dropped when it reaches ``size`` entries.
    """

    def __init__(self, rules: Routing, size: int = 4096) -> None:
        self.rules = rules
        self.size = size
        self._memo: dict[tuple[object, ...], tuple[Route, Escalation | None]] = {}

    def decide(self, contact: Contact, c: Classification, segment: str, priority: int) -> tuple[Route, Escalation | None]:
        """Keyed by a plain tuple of the facts: cheaper to build and hash than :class:`Facts`."""
        key = (contact.channel, c.category, c.language, segment, c.sentiment, contact.is_public, c.severity,
               priority, frozenset(c.cues))
        found = self._memo.get(key)
        if found is None:
            if len(self._memo) >= self.size:
                self._memo.clear()
            f = Facts.of(contact, c, segment, priority)
            found = self._memo[key] = (route(f, self.rules), escalation(f, self.rules))
        return found


def route(f: Facts, rules: Routing) -> Route:
    """The validator guarantees the last route matches everything."""
    return next(r for r in rules.routes if matches(r.when, f))


def escalation(f: Facts, rules: Routing) -> Escalation | None:
    """The highest-tier escalation rule the contact meets (first listed on ties)."""
    best: Escalation | None = None
    for rule in rules.escalations:
        if matches(rule.when, f) and (best is None or rule.tier > best.tier):
            best = rule
    return best
