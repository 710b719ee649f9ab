"""Breach-spike detection: breaches per group over a sliding window, with hysteresis.

One alert per group (e.g. per queue), identified by a fingerprint: it fires once when the
window's count reaches ``min_count`` (and, when configured, ``baseline_factor`` times the
group's usual rate), and resolves once the count falls below ``resolve_below``. In
between, further breaches only update the figures: no alert storm.
"""
from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from schemas.alert import Alert, AlertStatus
from schemas.envelope import stable_event_id
from schemas.sla import Sla

from ..sla.policy import BreachSpike

ALERT_NAME = "SlaBreachSpike"
#: Breach event ids remembered per group, so a replayed breach (same id) is not counted twice.
RECENT_IDS = 500


class SpikeState(BaseModel):
    """Kept per fingerprint in a changelogged table."""

    model_config = ConfigDict(extra="forbid")

    labels: dict[str, str]
    buckets: dict[int, int] = Field(default_factory=dict, description="bucket start (epoch s) -> breaches")
    firing: bool = False
    episode: int = 0
    first_seen: float = 0.0
    recent: list[str] = Field(default_factory=list)

    def encode(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def decode(cls, raw: bytes) -> SpikeState:
        return cls.model_validate_json(raw)


@dataclass(frozen=True, slots=True)
class Transition:
    event_id: str
    alert: Alert


class SpikeDetector:
    def __init__(self, cfg: BreachSpike) -> None:
        self.cfg = cfg

    def labels(self, sla: Sla) -> dict[str, str]:
        return {name: str(getattr(sla, name, "")) for name in self.cfg.group_by}

    @staticmethod
    def fingerprint(labels: dict[str, str]) -> str:
        return stable_event_id(ALERT_NAME, *(f"{k}={v}" for k, v in sorted(labels.items())))[:16]

    def record(self, state: SpikeState | None, labels: dict[str, str], at: float, event_id: str) -> SpikeState:
        """Count one breach at instant ``at`` (once per event id)."""
        if state is None:
            state = SpikeState(labels=labels, first_seen=at)
        if event_id in state.recent:
            return state
        state.recent.append(event_id)
        del state.recent[:-RECENT_IDS]
        start = int(at // self.cfg.bucket * self.cfg.bucket)
        state.buckets[start] = state.buckets.get(start, 0) + 1
        return state

    def figures(self, state: SpikeState, now: float) -> dict[str, float]:
        cfg = self.cfg
        window_start = now - cfg.window
        count = sum(n for start, n in state.buckets.items() if start + cfg.bucket > window_start)
        history_start = max(now - cfg.baseline_window, state.first_seen)
        history = sum(n for start, n in state.buckets.items() if start + cfg.bucket <= window_start)
        span = window_start - history_start
        baseline = history / span * cfg.window if span > 0 else 0.0
        return {"breaches_in_window": float(count), "window_seconds": cfg.window,
                "baseline_per_window": round(baseline, 3), "min_count": float(cfg.min_count),
                "baseline_factor": cfg.baseline_factor, "resolve_below": float(cfg.resolve_below)}

    def evaluate(self, state: SpikeState, now: float) -> Transition | None:
        """Prune old buckets and say whether the alert fires or resolves now."""
        horizon = now - max(self.cfg.baseline_window, self.cfg.window) - self.cfg.bucket
        state.buckets = {s: n for s, n in state.buckets.items() if s >= horizon}
        figures = self.figures(state, now)
        count, baseline = figures["breaches_in_window"], figures["baseline_per_window"]
        if not state.firing and count >= self.cfg.min_count and count >= self.cfg.baseline_factor * baseline:
            state.firing, state.episode = True, state.episode + 1
            return self._transition(state, AlertStatus.FIRING, figures)
        if state.firing and count < self.cfg.resolve_below:
            state.firing = False
            return self._transition(state, AlertStatus.RESOLVED, figures)
        return None

    def idle(self, state: SpikeState) -> bool:
        """Nothing left to remember: the group's state can be dropped."""
        return not state.firing and not state.buckets

    def _transition(self, state: SpikeState, status: AlertStatus, figures: dict[str, float]) -> Transition:
        fingerprint = self.fingerprint(state.labels)
        where = ", ".join(f"{k}={v}" for k, v in state.labels.items())
        summary = (f"{int(figures['breaches_in_window'])} SLA breaches in {figures['window_seconds']:g} s ({where})"
                   if status == AlertStatus.FIRING else f"SLA breaches back to normal ({where})")
        alert = Alert(name=ALERT_NAME, fingerprint=fingerprint, status=status, severity=self.cfg.severity,
                      labels={"alertname": ALERT_NAME, **state.labels}, figures=figures, summary=summary)
        return Transition(stable_event_id(fingerprint, status.value, str(state.episode)), alert)
