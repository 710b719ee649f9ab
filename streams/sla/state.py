"""Per-case clock state, as kept in the Faust table (one JSON value per case id).

Times are UTC epoch seconds. A clock is *open* while it is running, paused or breached
(a breached clock stays open until the stopping event arrives, which is then recorded as
``stopped_late``, not lost).
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

OPEN_STATES = frozenset({"running", "paused", "breached"})
#: Envelope ids remembered per case, so a redelivered command is a no-op.
SEEN_LIMIT = 16


class ClockState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    clock: str
    cycle: int = 1
    target: float = Field(description="business seconds")
    calendar: str
    rule: str
    warn_at: tuple[float, ...] = ()
    status: str = "running"
    started_at: float
    running_since: float | None = Field(default=None, description="start of the current running stretch")
    elapsed: float = Field(default=0.0, description="business seconds used before running_since")
    fired: float = Field(default=0.0, description="highest fraction already announced (1.0 = breached)")
    due: float | None = Field(default=None, description="instant of the next warning or breach")
    due_fraction: float | None = None
    deadline: float = Field(description="projected breach instant as of the last start or resume")
    pauses: int = 0

    @property
    def open(self) -> bool:
        return self.status in OPEN_STATES


class CaseState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    case_id: str
    channel: str = ""
    category: str = "other"
    phase: str = "unknown"
    severity: int = 0
    segment: str = "standard"
    queue: str = "general"
    tier: int = 1
    waiting: bool = False
    clocks: dict[str, ClockState] = Field(default_factory=dict)
    seen: list[str] = Field(default_factory=list)

    def attrs(self) -> dict[str, object]:
        return {"channel": self.channel, "category": self.category, "phase": self.phase,
                "severity": self.severity, "segment": self.segment, "queue": self.queue}

    def remember(self, event_id: str) -> bool:
        """False when this command was already applied (redelivery after a restart)."""
        if event_id in self.seen:
            return False
        self.seen.append(event_id)
        del self.seen[:-SEEN_LIMIT]
        return True

    def encode(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def decode(cls, raw: bytes) -> CaseState:
        return cls.model_validate_json(raw)
