"""Category, phase, sentiment, urgency cues and complaint severity from the taxonomy rules."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from schemas.contact import Contact

from ..rules.models import Taxonomy
from .text import Hit, KeywordScanner, first_by_rule, has_cjk, normalize

SENTIMENTS = ("angry", "negative", "positive")


@dataclass(slots=True)
class Classification:
    text: str                      # normalized text the verdicts were taken from
    language: str
    category: str
    category_reason: str
    phase: str
    sentiment: str
    sentiment_reason: str
    urgency: int                   # highest urgency cue level, 0 without a cue
    urgency_reason: str
    severity: int                  # 0 when not a complaint
    severity_reason: str
    cues: set[str] = field(default_factory=set)
    extra_hits: list[list[Hit]] = field(default_factory=list)  # hits of the caller's extra families, same scan


def contact_text(contact: Contact) -> str:
    """Everything the customer said: subject, body, and a call's transcript."""
    parts = [contact.subject or "", contact.body]
    if contact.call and contact.call.transcript:
        parts.append(contact.call.transcript)
    return normalize("\n".join(p for p in parts if p))


def language_of(contact: Contact, text: str) -> str:
    """The connector's BCP 47 tag (primary subtag) or, without one, zh when the text has CJK."""
    if contact.language:
        return contact.language.split("-")[0].lower()
    return "zh" if has_cjk(text) else "en"


def _quote(hit: Hit) -> str:
    return f"'{hit.keyword}'"


class Classifier:
    """``extra``: more keyword families (e.g. upsell cues) found in the same single pass over the text."""

    def __init__(self, rules: Taxonomy, extra: Sequence[Sequence[Iterable[str]]] = ()) -> None:
        self.rules = rules
        self.scanner = KeywordScanner([
            [c.keywords for c in rules.categories], [p.keywords for p in rules.phases],
            [getattr(rules.sentiment, s) for s in SENTIMENTS], [u.keywords for u in rules.urgency],
            [c.keywords for c in rules.severity.cues], *extra])
        self.severity_categories = frozenset(rules.severity.categories)

    def classify(self, contact: Contact) -> Classification:
        text = contact_text(contact)
        category_hits, phase_hits, sentiment_hits, urgency_hits, severity_hits, *extra_hits = self.scanner.hits(text)
        category, category_reason, phase = self._category(category_hits)
        phases = first_by_rule(phase_hits)
        if phases:
            index, hit = min(phases.items(), key=lambda kv: kv[1].start)
            phase = self.rules.phases[index].name
            category_reason += f"; phase {phase} by {_quote(hit)}"
        sentiment, sentiment_reason = self._sentiment(first_by_rule(sentiment_hits))
        cues: set[str] = set()
        urgency, urgency_reason = 0, "no urgency cue"
        for index, hit in first_by_rule(urgency_hits).items():
            rule = self.rules.urgency[index]
            cues.add(rule.cue)
            if rule.level > urgency:
                urgency, urgency_reason = rule.level, f"{rule.cue} {_quote(hit)}"
        severity, severity_reason = 0, "not a complaint"
        severities = first_by_rule(severity_hits)
        for index in severities:
            cues.add(self.rules.severity.cues[index].cue)
        if category in self.severity_categories or sentiment == "angry":
            severity = self.rules.severity.default_level
            severity_reason = f"complaint default level {severity}"
            for index, hit in severities.items():
                cue = self.rules.severity.cues[index]
                if cue.level > severity:
                    severity, severity_reason = cue.level, f"level {cue.level}: {cue.cue} {_quote(hit)}"
        return Classification(text=text, language=language_of(contact, text), category=category,
                              category_reason=category_reason, phase=phase, sentiment=sentiment,
                              sentiment_reason=sentiment_reason, urgency=urgency, urgency_reason=urgency_reason,
                              severity=severity, severity_reason=severity_reason, cues=cues, extra_hits=extra_hits)

    def _category(self, hits: list[Hit]) -> tuple[str, str, str]:
        """Most keyword hits wins; ties go to the rule listed first (the more specific one)."""
        counts: dict[int, list[Hit]] = {}
        for hit in hits:
            counts.setdefault(hit.rule, []).append(hit)
        if not counts:
            return self.rules.default_category, "no category keyword", "unknown"
        index = min(counts, key=lambda i: (-len(counts[i]), i))
        rule = self.rules.categories[index]
        words = ", ".join(dict.fromkeys(_quote(h) for h in counts[index]))
        return rule.name, f"{rule.name}: {len(counts[index])} keyword hit(s) {words}", rule.phase

    def _sentiment(self, hits: dict[int, Hit]) -> tuple[str, str]:
        for index, name in enumerate(SENTIMENTS):
            if index in hits:
                return name, f"{name} {_quote(hits[index])}"
        return "neutral", "no sentiment cue"
