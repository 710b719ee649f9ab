"""The outcome of a replay (what-if) run: live vs replayed verdicts over one time range.

``intake replay`` re-runs a range of the contact and lifecycle topics through chosen rules
and SLA policy into run-scoped topics, compares with the live results and publishes this
summary, so the sink stores it and the wallboard shows it beside the live figures.
"""
from __future__ import annotations

from datetime import datetime

from pydantic import Field

from .envelope import Envelope, Model


class SlaFigures(Model):
    """Clock verdicts of one side (live or replay): a clock counts once, by its worst verdict."""

    clocks: int = Field(default=0, description="clocks started in the range")
    met: int = 0
    breached: int = Field(default=0, description="clocks that breached (stopped late or still open)")
    warnings: int = 0
    attainment: float | None = Field(default=None, description="met / (met + breached) in %, None without verdicts")


class QueueComparison(Model):
    queue: str
    live: SlaFigures
    replay: SlaFigures
    live_contacts: int = Field(default=0, description="contacts the live rules put in this queue")
    replay_contacts: int = 0
    live_leads: int = 0
    replay_leads: int = 0


class ReplayReport(Model):
    run_id: str
    range_from: datetime
    range_to: datetime
    generated_at: datetime
    complete: bool = Field(description="false when the replay was interrupted before the end of the range")
    contacts: int = Field(description="contact events replayed")
    lifecycle: int = Field(description="lifecycle events replayed")
    live_rules_version: str = Field(description="rules version(s) of the live verdicts, comma-separated")
    replay_rules_version: str
    live_sla_policy: str = Field(description="SLA policy version(s) of the live verdicts")
    replay_sla_policy: str
    compared: int = Field(description="contacts with a verdict on both sides")
    queue_changes: int
    category_changes: int
    priority_changes: int
    dedup_changes: int
    transitions: dict[str, int] = Field(default_factory=dict,
                                        description="'queue:a->b' / 'category:a->b' -> number of contacts")
    live: SlaFigures
    replay: SlaFigures
    live_leads: int
    replay_leads: int
    leads_gained: int = Field(description="contacts with a lead in the replay only")
    leads_lost: int = Field(description="contacts with a lead live only")
    live_escalations: int = Field(default=0, description="escalations of the range's cases (rules and SLA breaches)")
    replay_escalations: int = Field(default=0, description="the same, replayed")
    queues: list[QueueComparison] = Field(default_factory=list)


class ReplayReportEvent(Envelope):
    """Keyed by run id."""

    EVENT_TYPE = "intake.replay.report.v1"
    data: ReplayReport
