"""Faust wiring of breach-spike alerts: SLA breaches -> per-group windows -> ALERTS topic.

Breaches from every case partition are funnelled onto a one-partition internal topic
(``<app id>-sla-breaches``), so one worker owns every group's window; the window state
lives in a changelogged table, so a restart neither re-fires nor forgets an alert. A
timer re-evaluates the windows, so an alert resolves even when breaches simply stop.
Alert event ids are deterministic (fingerprint, status, episode).
"""
from __future__ import annotations

import asyncio
import json
import time

import orjson
from prometheus_client import Counter
from pydantic import ValidationError

from schemas.alert import AlertEvent
from schemas.sla import SlaEvent, SlaStatus
from schemas.topics import ALERTS, SLA

from ..app import app, table, topic
from ..delivery import Outbox, batches
from ..sla.agents import dead_letter, policies
from .spike import SpikeDetector, SpikeState, Transition

SOURCE = "/streams/alerts"
TRANSITIONS = Counter("intake_alerts_total", "Alert transitions published on the alerts topic",
                      ["alertname", "status", "severity"])

detector = SpikeDetector(policies.policy.alerts.breach_spike)
lock = asyncio.Lock()
sla_topic = topic(SLA)
alerts_topic = topic(ALERTS)
breaches = app.topic(f"{app.conf.id}-sla-breaches", internal=True, partitions=1, key_type=bytes, value_type=bytes)
spikes = table("sla-breach-spikes", 1,
               help="breach-spike window and firing state per alert fingerprint (JSON SpikeState)")


def _status(raw: bytes) -> str | None:
    """``data.status`` of an SLA event read from the JSON alone (None when that cannot be read)."""
    try:
        status = orjson.loads(raw)["data"]["status"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None
    return status if isinstance(status, str) else None


@app.agent(sla_topic)
async def alerts_collect_breaches(stream):  # noqa: ANN001 - Faust stream
    """Breaches only: every other SLA event is recognised from its JSON and skipped without the model."""
    async for batch in batches(stream):
        out = Outbox()
        for raw in batch:
            status = _status(raw)
            if status is not None and status != SlaStatus.BREACHED.value:
                continue
            try:
                event = SlaEvent.decode(raw)
            except ValidationError as exc:
                await dead_letter("alerts_collect_breaches", raw, exc)
                continue
            if event.data.status != SlaStatus.BREACHED:
                continue
            labels = detector.labels(event.data)
            record = {"labels": labels, "at": event.data.at.timestamp(), "id": event.id}
            await out.add(breaches, detector.fingerprint(labels).encode(), json.dumps(record).encode())
        await out.flush()


async def _publish(transitions: list[Transition]) -> None:
    out = Outbox()
    for t in transitions:
        event = AlertEvent(id=t.event_id, source=SOURCE, subject=t.alert.fingerprint, data=t.alert)
        await out.add(alerts_topic, t.alert.fingerprint.encode(), event.encode())
        TRANSITIONS.labels(t.alert.name, t.alert.status.value, t.alert.severity).inc()
    await out.flush()


@app.agent(breaches)
async def alerts_count_breaches(stream):  # noqa: ANN001
    async for batch in batches(stream, size=500, within=0.2):
        async with lock:
            now = time.time()
            changed: dict[bytes, SpikeState] = {}
            transitions: list[Transition] = []
            for raw in batch:
                record = json.loads(raw)
                key = detector.fingerprint(record["labels"]).encode()
                previous = changed.get(key) or (SpikeState.decode(spikes[key]) if key in spikes else None)
                changed[key] = detector.record(previous, record["labels"], record["at"], record["id"])
            for state in changed.values():
                if (t := detector.evaluate(state, now)) is not None:
                    transitions.append(t)
            await _publish(transitions)  # before the state write: a crash re-sends the same ids
            out = Outbox()
            for key, state in changed.items():
                await out.put(spikes, key, state.encode())
            await out.flush()


def _owns_windows() -> bool:
    name = breaches.get_topic_name()
    return any(tp.topic == name for tp in app.assignor.assigned_actives())


@app.timer(policies.policy.alerts.tick)
async def alerts_tick() -> None:
    """Resolve (or fire) alerts as windows slide, even with no new breach."""
    if app.rebalancing or not _owns_windows():
        return
    async with lock:
        now = time.time()
        transitions: list[Transition] = []
        updates: dict[bytes, SpikeState | None] = {}
        for key, raw in list(spikes.items()):
            state = SpikeState.decode(raw)
            before = len(state.buckets), state.firing
            if (t := detector.evaluate(state, now)) is not None:
                transitions.append(t)
            if detector.idle(state):
                updates[key] = None
            elif (len(state.buckets), state.firing) != before:
                updates[key] = state
        await _publish(transitions)
        out = Outbox()
        for key, state in updates.items():
            await out.put(spikes, key, None if state is None else state.encode())
        await out.flush()
