"""Per-case clock state, as kept in the Faust table (one JSON value per case id).

Times are UTC epoch seconds. A clock is *open* while it is running, paused or breached
(a breached clock stays open until the stopping event arrives, which is then recorded as
``stopped_late``, not lost). Plain slotted dataclasses encoded with orjson: the table only
ever holds what this module wrote, so it needs no validation on the hot path of the timer.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import orjson

OPEN_STATES = frozenset({"running", "paused", "breached"})
#: Envelope ids remembered per case, so a redelivered command is a no-op.
SEEN_LIMIT = 16


@dataclass(slots=True)
class ClockState:
    clock: str
    target: float                 # business seconds
    calendar: str
    rule: str
    started_at: float
    deadline: float               # projected breach instant as of the last start or resume
    cycle: int = 1
    warn_at: tuple[float, ...] = ()
    status: str = "running"
    running_since: float | None = None  # start of the current running stretch
    elapsed: float = 0.0          # business seconds used before running_since
    fired: float = 0.0            # highest fraction already announced (1.0 = breached)
    due: float | None = None      # instant of the next warning or breach
    due_fraction: float | None = None
    pauses: int = 0

    @property
    def open(self) -> bool:
        return self.status in OPEN_STATES


@dataclass(slots=True)
class CaseState:
    case_id: str
    channel: str = ""
    category: str = "other"
    phase: str = "unknown"
    severity: int = 0
    segment: str = "standard"
    queue: str = "general"
    tier: int = 1
    waiting: bool = False
    clocks: dict[str, ClockState] = field(default_factory=dict)
    seen: list[str] = field(default_factory=list)

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
        # copied: orjson over-allocates its output buffer, and 100k table values would keep ~8 KiB each
        return bytes(memoryview(orjson.dumps(self)))

    @classmethod
    def decode(cls, raw: bytes) -> CaseState:
        data = orjson.loads(raw)
        clocks = data.pop("clocks")
        state = cls(**data)
        for name, clock in clocks.items():
            clock["warn_at"] = tuple(clock["warn_at"])
            state.clocks[name] = ClockState(**clock)
        return state
