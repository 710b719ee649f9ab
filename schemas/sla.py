"""SLA clock events: started, warnings, breach, stop, pause and resume."""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from .envelope import Envelope, Model


class SlaClock(StrEnum):
    FIRST_RESPONSE = "first_response"
    NEXT_RESPONSE = "next_response"
    RESOLUTION = "resolution"
    COMPLAINT_PRELIMINARY = "complaint_preliminary"
    COMPLAINT_FORMAL = "complaint_formal"


class SlaStatus(StrEnum):
    STARTED = "started"
    WARNING = "warning"
    BREACHED = "breached"
    MET = "met"            # stopped before the deadline
    STOPPED_LATE = "stopped_late"  # the stopping event came after a breach: recorded, not lost
    PAUSED = "paused"
    RESUMED = "resumed"
    CANCELLED = "cancelled"


class Sla(Model):
    case_id: str
    clock: SlaClock
    status: SlaStatus
    at: datetime = Field(description="when this status took effect")
    started_at: datetime
    deadline: datetime
    target_seconds: float
    elapsed_business_seconds: float = 0.0
    fraction: float | None = Field(default=None, description="for warnings: share of the target used, e.g. 0.75")
    queue: str = "general"
    channel: str = ""
    category: str = "other"
    severity: int = 0
    segment: str = "standard"
    policy: str = Field(default="", description="policy rule and version that set the target")


class SlaEvent(Envelope):
    """Keyed by case id."""

    EVENT_TYPE = "intake.sla.v1"
    data: Sla
