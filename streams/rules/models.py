"""Typed shape of the rules files; validated at start-up so a bad file never routes anything."""
from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.upsell import UpsellKind

Keywords = list[str]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Category(Strict):
    name: str = Field(min_length=1)
    phase: Literal["pre_sale", "in_sale", "after_sale", "unknown"] = "unknown"
    keywords: Keywords = Field(min_length=1)


class PhaseCue(Strict):
    name: Literal["pre_sale", "in_sale", "after_sale"]
    keywords: Keywords = Field(min_length=1)


class Sentiment(Strict):
    angry: Keywords = Field(default_factory=list)
    negative: Keywords = Field(default_factory=list)
    positive: Keywords = Field(default_factory=list)


class LevelCue(Strict):
    cue: str = Field(min_length=1)
    level: int = Field(ge=1, le=3)
    keywords: Keywords = Field(min_length=1)


class Severity(Strict):
    categories: list[str]
    default_level: int = Field(ge=1, le=3)
    cues: list[LevelCue]


class Taxonomy(Strict):
    version: str = Field(min_length=1)
    default_category: str
    categories: list[Category] = Field(min_length=1)
    phases: list[PhaseCue] = Field(default_factory=list)
    sentiment: Sentiment
    urgency: list[LevelCue]
    severity: Severity

    @model_validator(mode="after")
    def _known_names(self) -> Taxonomy:
        names = [c.name for c in self.categories]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate category names in {names}")
        unknown = set(self.severity.categories) - set(names)
        if unknown:
            raise ValueError(f"severity.categories names unknown categories {sorted(unknown)}")
        return self


class Segment(Strict):
    name: str = Field(min_length=1)
    attribute: str = Field(min_length=1)
    values: list[str]


class Band(Strict):
    min_score: float = Field(ge=0)
    priority: int = Field(ge=1, le=5)


class Priority(Strict):
    base_urgency: int = Field(ge=1)
    channel_urgency: dict[str, int] = Field(default_factory=dict)
    angry_urgency: int = Field(ge=1)
    base_impact: int = Field(ge=1)
    public_priority_boost: int = Field(ge=0, le=4)
    severity_impact: dict[int, int] = Field(default_factory=dict)
    category_complexity: dict[str, int] = Field(default_factory=dict)
    default_complexity: int = Field(ge=1)
    segment_weight: dict[str, float] = Field(default_factory=dict)
    bands: list[Band] = Field(min_length=1)

    @model_validator(mode="after")
    def _bands_cover_zero(self) -> Priority:
        scores = [b.min_score for b in self.bands]
        if scores != sorted(scores, reverse=True):
            raise ValueError("bands must be ordered by min_score, highest first")
        if scores[-1] != 0:
            raise ValueError("the last band must have min_score 0 so every score gets a priority")
        return self


class When(Strict):
    """Conditions of a rule; every condition given must hold, none given matches everything."""

    channel: list[str] | None = None
    category: list[str] | None = None
    language: list[str] | None = None
    segment: list[str] | None = None
    sentiment: list[str] | None = None
    is_public: bool | None = None
    min_severity: int | None = Field(default=None, ge=1, le=3)
    max_priority: int | None = Field(default=None, ge=1, le=5)
    cues: list[str] | None = None


class Route(Strict):
    name: str = Field(min_length=1)
    when: When
    queue: str = Field(min_length=1)
    tier: int = Field(ge=1, le=3)


class Escalation(Strict):
    name: str = Field(min_length=1)
    when: When
    tier: int = Field(ge=2, le=3)
    queue: str = Field(min_length=1)


class Routing(Strict):
    version: str = Field(min_length=1)
    segments: list[Segment]
    default_segment: str
    priority: Priority
    routes: list[Route] = Field(min_length=1)
    escalations: list[Escalation] = Field(default_factory=list)

    @model_validator(mode="after")
    def _last_route_catches_all(self) -> Routing:
        if self.routes[-1].when != When():
            raise ValueError(f"the last route ({self.routes[-1].name}) must have an empty 'when' so every contact is routed")
        return self


class UpsellCue(Strict):
    name: str = Field(min_length=1)
    kind: UpsellKind
    score: float = Field(ge=0, le=1)
    keywords: Keywords = Field(min_length=1)


class Suppress(Strict):
    categories: list[str] = Field(default_factory=list)
    sentiments: list[str] = Field(default_factory=list)
    open_case_min_severity: int = Field(ge=1, le=3)


class Upsell(Strict):
    version: str = Field(min_length=1)
    min_score: float = Field(ge=0, le=1)
    cues: list[UpsellCue]
    suppress: Suppress


class Dedup(Strict):
    version: str = Field(min_length=1)
    repeat_window_hours: float = Field(gt=0)
    follow_up_seconds: float = Field(ge=0)
    similarity_threshold: float = Field(gt=0, le=1)
    same_category_similarity_threshold: float = Field(gt=0, le=1)
    sketch_size: int = Field(ge=8, le=1024)
    seen_contacts: int = Field(ge=1)
    seen_hours: float = Field(gt=0)
    message_ids: int = Field(ge=0)
    closed_cases_kept: int = Field(ge=0)
    case_memory_days: float = Field(gt=0)
    follow_up_channels: list[str] = Field(default_factory=list)
    order_ref_pattern: str = Field(description="regex with one group: an order/ticket reference in lower-cased text")

    @field_validator("order_ref_pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            groups = re.compile(value).groups
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from exc
        if groups != 1:
            raise ValueError(f"must have exactly one capturing group (the reference), has {groups}")
        return value
