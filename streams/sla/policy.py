"""The SLA policy file: clocks, targets per channel x category x severity x segment, calendars.

Every figure is a preset in YAML (``policies/default.yaml``), never a constant in code;
``INTAKE_STREAMS_SLA_POLICY`` points the worker at another file. The file is validated
with pydantic at start-up, and a bad file stops the worker with the path of the bad
field, so a typo never silently turns a clock off.
"""
from __future__ import annotations

import re
from datetime import date, time
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from .calendar import AlwaysOpen, Calendar, WorkingHours

DEFAULT_POLICY = Path(__file__).with_name("policies") / "default.yaml"

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|m|h|d)?\s*$")
_DAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}

LIFECYCLE_ACTIONS = {"acknowledged", "assigned", "first_response", "responded", "waiting_on_customer",
                     "customer_replied", "escalated", "resolved", "closed", "reopened", "survey_sent",
                     "survey_answered"}
#: Routed-contact verdicts usable as triggers: a new case, or the customer coming back.
CONTACT_TRIGGERS = {"new_case", "repeat", "thread_reply", "follow_up"}


def _seconds(value: Any) -> float:
    """``30s``, ``15m``, ``24h``, ``2d`` or a number of seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        m = _DURATION.match(str(value))
        if not m:
            raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 15m, 24h, 2d)")
        seconds = float(m.group(1)) * _UNITS[m.group(2) or "s"]
    if seconds <= 0:
        raise ValueError(f"duration must be positive: {value!r}")
    return seconds


Duration = Annotated[float, BeforeValidator(_seconds)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CalendarSpec(Strict):
    always_open: bool = Field(default=False, description="7x24: every second counts")
    timezone: str = "UTC"
    working_days: list[str] = Field(default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"])
    hours: list[str] = Field(default_factory=lambda: ["09:00-18:00"],
                             description="local HH:MM-HH:MM; 24:00 ends the day")
    holidays_country: str | None = Field(default=None, description="ISO country for the `holidays` library, e.g. CN")
    holidays_subdiv: str | None = None
    holidays: list[date] = Field(default_factory=list, description="extra closed dates")
    workdays: list[date] = Field(default_factory=list, description="extra open dates (make-up working days)")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r} (use an IANA name such as Asia/Shanghai)") from exc
        return v

    @field_validator("working_days")
    @classmethod
    def _days(cls, v: list[str]) -> list[str]:
        bad = [d for d in v if d.lower() not in _DAYS]
        if bad:
            raise ValueError(f"unknown weekday(s) {bad}; use {list(_DAYS)}")
        return [d.lower() for d in v]

    @field_validator("hours")
    @classmethod
    def _hours(cls, v: list[str]) -> list[str]:
        for span in v:
            _parse_span(span)
        return v

    @field_validator("holidays_country")
    @classmethod
    def _country(cls, v: str | None) -> str | None:
        if v is not None:
            import holidays
            if v not in holidays.list_supported_countries():
                raise ValueError(f"country {v!r} is not known to the holidays library")
        return v

    def build(self) -> Calendar:
        if self.always_open:
            return AlwaysOpen()
        return WorkingHours(self.timezone, frozenset(_DAYS[d] for d in self.working_days),
                            tuple(_parse_span(s) for s in self.hours), frozenset(self.holidays),
                            frozenset(self.workdays), self.holidays_country, self.holidays_subdiv)


def _parse_span(span: str) -> tuple[time, time | None]:
    try:
        a, b = (p.strip() for p in span.split("-"))
        start = time.fromisoformat(a)
        end = None if b == "24:00" else time.fromisoformat(b)
    except ValueError as exc:
        raise ValueError(f"bad working-hours span {span!r}: use HH:MM-HH:MM") from exc
    if end is not None and end <= start:
        raise ValueError(f"working-hours span {span!r} ends before it starts")
    return start, end


class ClockSpec(Strict):
    """When a clock starts, stops, and whether waiting on the customer pauses it."""

    start_on: list[str] = Field(description="new_case (routed contact) and/or lifecycle actions, e.g. reopened")
    stop_on: list[str] = Field(description="lifecycle actions that meet the clock")
    unless_open: list[str] = Field(default_factory=list, description="do not start while one of these clocks is open")
    pausable: bool = True

    @field_validator("start_on", "stop_on")
    @classmethod
    def _actions(cls, v: list[str]) -> list[str]:
        bad = [a for a in v if a not in LIFECYCLE_ACTIONS | CONTACT_TRIGGERS]
        if bad:
            raise ValueError(f"unknown trigger(s) {bad}; lifecycle actions are {sorted(LIFECYCLE_ACTIONS)}")
        return v


class Match(Strict):
    """Absent field: any value. A list: one of these values."""

    channel: list[str] | None = None
    category: list[str] | None = None
    phase: list[str] | None = None
    severity: list[int] | None = None
    segment: list[str] | None = None
    queue: list[str] | None = None

    def matches(self, attrs: dict[str, Any]) -> bool:
        for name in ("channel", "category", "phase", "severity", "segment", "queue"):
            allowed = getattr(self, name)
            if allowed is not None and attrs.get(name) not in allowed:
                return False
        return True


class Rule(Strict):
    name: str
    match: Match = Field(default_factory=Match)
    targets: dict[str, Duration]
    calendar: str | None = None
    warn_at: list[float] | None = None


class Escalation(Strict):
    on_breach_of: list[str] = Field(default_factory=list, description="clocks whose breach raises the case's tier")
    step: int = Field(default=1, ge=1, le=2)
    max_tier: int = Field(default=3, ge=1, le=3)


class BreachSpike(Strict):
    """Breaches per group over a sliding window; fires on a count and a rise over baseline."""

    window: Duration = 300.0
    group_by: list[str] = Field(default_factory=lambda: ["queue"])
    min_count: int = Field(default=10, ge=1, description="breaches in the window that fire the alert")
    resolve_below: int = Field(default=3, ge=0, description="the alert resolves once the window holds fewer")
    baseline_window: Duration = Field(default=3600.0, description="history the baseline rate is taken from")
    baseline_factor: float = Field(default=0.0, ge=0, description="also require count >= factor x baseline; 0 = off")
    bucket: Duration = Field(default=10.0, description="counting granularity")
    severity: str = "critical"

    @model_validator(mode="after")
    def _consistent(self) -> BreachSpike:
        if self.resolve_below > self.min_count:
            raise ValueError("resolve_below must not exceed min_count (hysteresis)")
        if self.bucket > self.window:
            raise ValueError("bucket must not be longer than window")
        return self


class Alerts(Strict):
    breach_spike: BreachSpike = Field(default_factory=BreachSpike)
    tick: Duration = Field(default=1.0, description="how often alert conditions are re-evaluated")


class SlaPolicy(Strict):
    version: str
    default_calendar: str
    warn_at: list[float] = Field(default_factory=lambda: [0.75, 0.9])
    calendars: dict[str, CalendarSpec]
    clocks: dict[str, ClockSpec]
    pause_on: list[str] = Field(default_factory=lambda: ["waiting_on_customer"])
    resume_on: list[str] = Field(default_factory=lambda: ["customer_replied", "repeat", "follow_up", "thread_reply"])
    segment_factors: dict[str, float] = Field(default_factory=dict,
                                              description="target multiplier per segment (VIP < 1)")
    escalation: Escalation = Field(default_factory=Escalation)
    rules: list[Rule]
    alerts: Alerts = Field(default_factory=Alerts)
    tick: Duration = Field(default=0.25, description="how often the deadline index is checked")

    @field_validator("warn_at")
    @classmethod
    def _fractions(cls, v: list[float]) -> list[float]:
        if any(not 0 < f < 1 for f in v):
            raise ValueError("warning fractions must be between 0 and 1 (exclusive)")
        return sorted(set(v))

    @model_validator(mode="after")
    def _references(self) -> SlaPolicy:
        from schemas.sla import SlaClock

        known = {c.value for c in SlaClock}
        problems = [f"clocks.{c}: unknown clock (known: {sorted(known)})" for c in self.clocks if c not in known]
        cals = set(self.calendars)
        if self.default_calendar not in cals:
            problems.append(f"default_calendar: {self.default_calendar!r} is not in calendars")
        for i, rule in enumerate(self.rules):
            if rule.calendar is not None and rule.calendar not in cals:
                problems.append(f"rules.{i} ({rule.name}): calendar {rule.calendar!r} is not in calendars")
            for clock in rule.targets:
                if clock not in self.clocks:
                    problems.append(f"rules.{i} ({rule.name}): targets.{clock} is not a clock defined under clocks")
            if rule.warn_at is not None and any(not 0 < f < 1 for f in rule.warn_at):
                problems.append(f"rules.{i} ({rule.name}): warn_at fractions must be between 0 and 1")
        for clock in self.escalation.on_breach_of:
            if clock not in self.clocks:
                problems.append(f"escalation.on_breach_of: {clock!r} is not a clock")
        for a in [*self.pause_on, *self.resume_on]:
            if a not in LIFECYCLE_ACTIONS | CONTACT_TRIGGERS:
                problems.append(f"pause_on/resume_on: unknown trigger {a!r}")
        if any(f <= 0 for f in self.segment_factors.values()):
            problems.append("segment_factors: factors must be positive")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class PolicyError(ValueError):
    """A policy file that cannot be used; the message names the file and the bad fields."""


def load_policy(path: Path | str | None = None) -> SlaPolicy:
    """Read and validate a policy file (the shipped presets when ``path`` is None)."""
    path = Path(path) if path is not None else DEFAULT_POLICY
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyError(f"SLA policy {path}: cannot read: {exc}") from exc
    try:
        return SlaPolicy.model_validate(data)
    except ValidationError as exc:
        lines = [f"  {'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()]
        raise PolicyError(f"SLA policy {path} is invalid:\n" + "\n".join(lines)) from None


class Target(BaseModel):
    """The resolved target of one clock for one case, and which rule set it."""

    model_config = ConfigDict(frozen=True)

    seconds: float
    calendar: str
    warn_at: tuple[float, ...]
    rule: str


class PolicySet:
    """A validated policy with built calendars; answers "which target applies here"."""

    def __init__(self, policy: SlaPolicy) -> None:
        self.policy = policy
        self.calendars: dict[str, Calendar] = {name: spec.build() for name, spec in policy.calendars.items()}

    def target(self, clock: str, attrs: dict[str, Any]) -> Target | None:
        """First rule, in file order, that matches the case and sets this clock; None: no clock."""
        for rule in self.policy.rules:
            if clock in rule.targets and rule.match.matches(attrs):
                factor = self.policy.segment_factors.get(str(attrs.get("segment")), 1.0)
                warn = rule.warn_at if rule.warn_at is not None else self.policy.warn_at
                return Target(seconds=rule.targets[clock] * factor,
                              calendar=rule.calendar or self.policy.default_calendar,
                              warn_at=tuple(sorted(set(warn))), rule=f"{rule.name}@{self.policy.version}")
        return None
