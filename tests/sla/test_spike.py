"""Breach-spike detection: one firing and one resolution per episode, with hysteresis and baseline."""
from __future__ import annotations

from datetime import datetime, timezone

from schemas.alert import AlertStatus
from schemas.sla import Sla, SlaClock, SlaStatus
from streams.alerts.spike import SpikeDetector, SpikeState
from streams.sla.policy import BreachSpike

T0 = 1_800_000_000.0


def breach(queue: str = "billing") -> Sla:
    now = datetime.fromtimestamp(T0, tz=timezone.utc)
    return Sla(case_id="c", clock=SlaClock.FIRST_RESPONSE, status=SlaStatus.BREACHED, at=now, started_at=now,
               deadline=now, target_seconds=30, queue=queue, channel="chat")


def feed(det: SpikeDetector, state: SpikeState | None, times: list[float]) -> SpikeState:
    labels = det.labels(breach())
    for t in times:
        state = det.record(state, labels, t, f"breach-{t}")
    return state


def test_spike_fires_once_and_resolves_once() -> None:
    det = SpikeDetector(BreachSpike(window=60, bucket=5, min_count=5, resolve_below=2, baseline_factor=0))
    state = feed(det, None, [T0 + i for i in range(4)])
    assert det.evaluate(state, T0 + 4) is None
    state = feed(det, state, [T0 + 5])
    fired = det.evaluate(state, T0 + 6)
    assert fired is not None and fired.alert.status == AlertStatus.FIRING
    assert fired.alert.figures["breaches_in_window"] == 5 and fired.alert.labels["queue"] == "billing"
    state = feed(det, state, [T0 + 7, T0 + 8])
    assert det.evaluate(state, T0 + 9) is None  # still firing: no storm
    assert det.evaluate(state, T0 + 50) is None
    resolved = det.evaluate(state, T0 + 70)
    assert resolved is not None and resolved.alert.status == AlertStatus.RESOLVED
    assert resolved.alert.fingerprint == fired.alert.fingerprint and resolved.event_id != fired.event_id
    assert not det.idle(state)  # the breaches still count towards the baseline
    assert det.evaluate(state, T0 + 4000) is None and det.idle(state)  # past the baseline window: forgotten


def test_groups_have_distinct_fingerprints() -> None:
    det = SpikeDetector(BreachSpike())
    assert det.fingerprint(det.labels(breach("a"))) != det.fingerprint(det.labels(breach("b")))
    assert det.fingerprint({"queue": "a"}) == det.fingerprint({"queue": "a"})


def test_baseline_factor_suppresses_a_normal_busy_queue() -> None:
    det = SpikeDetector(BreachSpike(window=60, bucket=10, min_count=5, resolve_below=1, baseline_window=600,
                                    baseline_factor=3))
    # a steady 6 breaches per minute for ten minutes: busy, but usual
    steady = [T0 + i * 10 for i in range(60)]
    state = feed(det, None, steady)
    assert det.evaluate(state, T0 + 600) is None
    # then 30 in one minute: 5x the usual rate
    state = feed(det, state, [T0 + 600 + i * 2 for i in range(30)])
    fired = det.evaluate(state, T0 + 660)
    assert fired is not None and fired.alert.figures["baseline_per_window"] > 4


def test_a_replayed_breach_counts_once() -> None:
    det = SpikeDetector(BreachSpike(window=60, bucket=5, min_count=2, resolve_below=1))
    labels = det.labels(breach())
    state = det.record(None, labels, T0, "same-id")
    state = det.record(state, labels, T0, "same-id")
    assert det.evaluate(state, T0 + 1) is None
    state = det.record(state, labels, T0, "other-id")
    assert det.evaluate(state, T0 + 1) is not None
