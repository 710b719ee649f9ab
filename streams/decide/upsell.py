"""Upsell / cross-sell cues, suppressed on complaints, anger, recalls and open severe cases."""
from __future__ import annotations

from dataclasses import dataclass

from schemas.routed import UpsellVerdict
from schemas.upsell import UpsellKind

from ..rules.models import Upsell
from .classify import Classification
from .text import Hit, KeywordFamily, first_by_rule, snippet


@dataclass(frozen=True, slots=True)
class UpsellCue:
    verdict: UpsellVerdict
    reason: str
    kind: UpsellKind | None = None
    score: float = 0.0
    rule: str = ""
    evidence: str = ""


NO_CUE = UpsellCue(UpsellVerdict.NONE, "no upsell cue")


class UpsellDetector:
    def __init__(self, rules: Upsell) -> None:
        self.rules = rules
        self.family = KeywordFamily([c.keywords for c in rules.cues])

    def keywords(self) -> list[list[str]]:
        """The cue keywords, for a classifier to find in its own pass over the text (see ``detect``)."""
        return [c.keywords for c in self.rules.cues]

    def detect(self, c: Classification, open_severity: int, found: list[Hit] | None = None) -> UpsellCue:
        """``open_severity``: highest severity among the customer's open cases (this contact's included).

        ``found``: the hits of :meth:`keywords` in ``c.text`` when already scanned, else scanned here.
        """
        hits = self.family.first_by_rule(c.text) if found is None else first_by_rule(found)
        if not hits:
            return NO_CUE
        # best cue by score; several distinct cues add a little confidence
        index = max(hits, key=lambda i: (self.rules.cues[i].score, -i))
        cue, hit = self.rules.cues[index], hits[index]
        score = min(1.0, cue.score + 0.05 * (len(hits) - 1))
        found = f"{cue.kind.value} cue {cue.name} '{hit.keyword}' score {score:.2f}"
        if score < self.rules.min_score:
            return UpsellCue(UpsellVerdict.NONE, f"{found} below min_score {self.rules.min_score}")
        s = self.rules.suppress
        why = None
        if c.category in s.categories:
            why = f"category {c.category}"
        elif c.sentiment in s.sentiments:
            why = f"sentiment {c.sentiment}"
        elif open_severity >= s.open_case_min_severity:
            why = f"open case of severity {open_severity}"
        if why:
            return UpsellCue(UpsellVerdict.SUPPRESSED, f"{found} suppressed (no forced selling): {why}",
                             cue.kind, score, cue.name)
        return UpsellCue(UpsellVerdict.LEAD, found, cue.kind, score, cue.name,
                         snippet(c.text, hit.start, len(hit.keyword)))
