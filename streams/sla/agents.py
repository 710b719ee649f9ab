"""Faust wiring of the SLA engine: commands by case id in, clocks fired, SLA events out.

The clock agent reads one internal topic keyed by case id (:mod:`streams.sla.commands`): the
routing agent writes each routed contact there itself, and ``sla_rekey`` re-keys LIFECYCLE
(any producer's partitioner) onto it, with Faust's own (murmur2) partitioner; the case table
(changelogged, see :mod:`streams.tables`) uses the same function, so it lives on the same
partition as the commands about its cases, and the timer can write it too. Value of a command:
one kind byte (``R`` routed, ``L`` lifecycle) followed by the original event bytes; ``W`` is an
event-time watermark (replays only, :mod:`streams.sla.clock`).

Ordering for at-least-once without loss: events are sent and acknowledged by Kafka
*before* the case state is written, so a crash in between re-emits the same
deterministic event ids (duplicates collapse downstream), never drops one.
"""
from __future__ import annotations

import asyncio
import logging
import time

from pydantic import ValidationError

from schemas.deadletter import DeadLetter, DeadLetterEvent
from schemas.escalation import Escalation, EscalationEvent
from schemas.lifecycle import LifecycleEvent
from schemas.routed import RoutedContactEvent
from schemas.sla import SlaEvent, SlaStatus
from schemas.topics import DEADLETTER, ESCALATIONS, LIFECYCLE, SLA

from ..app import app, settings, table, topic
from ..delivery import Outbox, batches
from ..metrics import Tally
from ..tables import key_partition
from . import metrics
from .clock import LIFECYCLE_COMMAND, PARTITIONS, ROUTED_COMMAND, WATERMARK, StreamClock, case_partition
from .commands import commands
from .engine import ClockEngine, Emit, Result
from .index import POP_LIMIT, DueIndex
from .policy import PolicySet, load_policy
from .state import CaseState

log = logging.getLogger(__name__)
SOURCE = "/streams/sla"
#: cases fired per round: a round's events go out together when it is committed, so a smaller
#: round makes the first of a burst visible sooner, a larger one amortizes the round's two acks
FIRE_ROUND = 2_000

policies = PolicySet(load_policy(settings.sla_policy))  # a bad file stops the worker here, with the reason
engine = ClockEngine(policies)
index = DueIndex()
#: wall clock (live) or per-partition event time (replays): see streams.sla.clock
stream_clock = StreamClock(settings.clock)
open_clocks = metrics.OpenClocks()
tally = Tally()  # flushed by commit(), i.e. once per batch or tick
#: The agent and the timer both rewrite case state; one at a time.
lock = asyncio.Lock()

lifecycle_topic = topic(LIFECYCLE)
sla_topic = topic(SLA)
escalation_topic = topic(ESCALATIONS)
deadletter_topic = topic(DEADLETTER)
cases = table("sla-cases", PARTITIONS, help="SLA clock state per case id (JSON CaseState)")
metrics.expose(app)


async def dead_letter(agent: str, raw: bytes, exc: Exception) -> None:
    metrics.DEAD_LETTERS.labels(agent).inc()
    letter = DeadLetter(stage=f"agent:{agent}", cause=str(exc)[:2000], error_type=type(exc).__name__,
                        payload=raw.decode("utf-8", "replace"))
    await deadletter_topic.send(value=DeadLetterEvent(source=SOURCE, data=letter).encode())


@app.agent(lifecycle_topic)
async def sla_rekey(stream):  # noqa: ANN001 - Faust stream
    """Lifecycle events (any producer's partitioner), re-keyed by case id, a batch at a time with one
    produce round trip; what does not decode is dead-lettered (stage ``sla_rekey_lifecycle``)."""
    async for batch in batches(stream):
        out = Outbox()
        for raw in batch:
            try:
                case_id = LifecycleEvent.decode(raw).data.case_id
            except ValidationError as exc:
                await dead_letter("sla_rekey_lifecycle", raw, exc)
                continue
            await out.add(commands, case_id.encode(), LIFECYCLE_COMMAND + raw)
        await out.flush()


def _load(batch: dict[str, CaseState], before: dict[str, list], case_id: str) -> CaseState | None:
    """The case's state as of this batch; on its first load its open clocks go to ``before`` (for the gauge)."""
    if case_id in batch:
        return batch[case_id]
    raw = cases.get(case_id.encode())
    state = CaseState.decode(raw) if raw is not None else None
    before[case_id] = _open_keys(state)
    return state


def _open_keys(state: CaseState | None) -> list[tuple[str, str, str]]:
    if state is None:
        return []
    return [(c.clock, state.queue, c.status) for c in state.clocks.values() if c.open]


def apply_command(raw: bytes, state_of: dict[str, CaseState], before: dict[str, list]) -> Result | None:
    """Decode one command and run it through the engine (state taken from / kept in ``state_of``)."""
    kind, body = raw[:1], raw[1:]
    if kind == ROUTED_COMMAND:
        routed = RoutedContactEvent.decode(body)
        state = _load(state_of, before, routed.data.case_id)
        return engine.on_contact(state, routed.data, routed.id, routed.data.contact.received_at.timestamp())
    if kind == LIFECYCLE_COMMAND:
        event = LifecycleEvent.decode(body)
        state = _load(state_of, before, event.data.case_id)
        if state is None:
            tally.inc(metrics.COMMANDS, "lifecycle", "unknown_case")
        return engine.on_lifecycle(state, event.data, event.id)
    raise ValueError(f"unknown SLA command kind {kind!r}")


async def publish(emits: list[Emit]) -> None:
    """Send and wait for Kafka's acknowledgement of every event."""
    out = Outbox()
    for emit in emits:
        payload = emit.payload
        if isinstance(payload, Escalation):
            value = EscalationEvent(id=emit.event_id, source=SOURCE, subject=payload.case_id, data=payload)
            await out.add(escalation_topic, payload.case_id.encode(), value.encode())
            tally.inc(metrics.ESCALATIONS, payload.queue)
            continue
        value = SlaEvent(id=emit.event_id, source=SOURCE, subject=payload.case_id, data=payload)
        await out.add(sla_topic, payload.case_id.encode(), value.encode())
        tally.inc(metrics.EVENTS, payload.clock.value, payload.status.value, payload.queue, payload.channel)
        if payload.status == SlaStatus.BREACHED:
            tally.inc(metrics.BREACHES, payload.clock.value, payload.queue, payload.channel)
    await out.flush()


async def commit(changed: dict[str, CaseState], before: dict[str, list], results: list[Result]) -> None:
    """Publish, then persist: see the module docstring for why in this order."""
    await publish([e for r in results for e in r.emits])
    out = Outbox()
    for case_id, state in changed.items():
        await out.put(cases, case_id.encode(), state.encode())
        open_clocks.apply(before[case_id], _open_keys(state))
    # wait for the state writes too: shrinks the crash window in which an announced
    # event would be announced again (with the same id) after a restart
    await out.flush()
    for r in results:
        if r.state is not None:
            for due, _clock in r.scheduled:
                index.push(due, r.state.case_id)
    metrics.DUE.set(len(index))
    tally.flush()


@app.agent(commands)
async def sla_clocks(stream):  # noqa: ANN001
    async for batch in batches(stream):
        async with lock:
            changed: dict[str, CaseState] = {}
            before: dict[str, list] = {}
            results: list[Result] = []
            for raw in batch:
                if stream_clock.event_time:
                    passed = stream_clock.advance(raw)
                    if passed is not None and _due_by(passed[1], results):
                        # the stream passed a deadline: settle what came before, fire, go on
                        await commit(changed, before, results)
                        changed, before, results = {}, {}, []
                        await _fire_locked(passed[1], passed[0])
                if raw[:1] == WATERMARK:
                    continue  # only moves event time (ignored on the wall clock)
                try:
                    result = apply_command(raw, changed, before)
                except (ValidationError, ValueError) as exc:
                    await dead_letter("sla_clocks", raw, exc)
                    continue
                if result is None or result.state is None:
                    continue
                changed[result.state.case_id] = result.state
                results.append(result)
                tally.inc(metrics.COMMANDS, "routed" if raw[:1] == ROUTED_COMMAND else "lifecycle", "applied")
            await commit(changed, before, results)


async def fire_due() -> int:
    """Fire the clocks due by now, in rounds; returns the number of events sent.

    One round per tick keeps a steady rate's produce requests large. But a callback that runs
    long is followed by the tick's full sleep all the same, so a worker behind a burst of
    deadlines would idle a tick after each round: while a clock due more than a tick ago is
    waiting, rounds follow one another, the clock agent taking the lock between them.
    """
    sent, until, tick = 0, time.time(), policies.policy.tick
    while not app.rebalancing:
        first = index.next_due()
        if first is None or first > until:
            break
        async with lock:
            sent += await _fire_locked(time.time(), limit=FIRE_ROUND)
        await asyncio.sleep(0)
        until = time.time() - tick
    return sent


def _due_by(until: float, pending: list[Result]) -> bool:
    """Event time: may a clock (indexed, or scheduled by the uncommitted ``pending``) be due by ``until``?"""
    first = index.next_due()
    return (first is not None and first <= until) or any(due <= until for r in pending for due, _ in r.scheduled)


async def _fire_locked(now: float, partition: int | None = None, limit: int = POP_LIMIT) -> int:
    """Fire clocks due by ``now`` (on ``partition`` only, for event time), ``limit`` cases at most;
    the caller holds ``lock``."""
    changed: dict[str, CaseState] = {}
    before: dict[str, list] = {}
    results: list[Result] = []
    for case_id in index.pop_due(now, limit):
        state = _load(changed, before, case_id)
        if state is None:
            continue  # stale entry: case moved to another worker
        if partition is not None and case_partition(case_id) != partition:
            for c in state.clocks.values():  # that partition's time has not got here yet: keep its entries
                if c.status == "running" and c.due is not None:
                    index.push(c.due, case_id)
            continue
        result = engine.fire_through(state, now) if stream_clock.event_time else engine.fire(state, now)
        if result.emits or result.scheduled:
            changed[case_id] = state
            results.append(result)
    await commit(changed, before, results)
    sent = time.time()
    for r in results if not stream_clock.event_time else ():  # historic events: no detection lag to speak of
        for e in r.emits:
            if getattr(e.payload, "status", None) in (SlaStatus.WARNING, SlaStatus.BREACHED):
                metrics.LAG.observe(max(sent - e.payload.at.timestamp(), 0.0))
    return sum(len(r.emits) for r in results)


@app.timer(policies.policy.tick)
async def sla_tick() -> None:
    if app.rebalancing or stream_clock.event_time:
        return  # event time moves with the commands only
    await fire_due()


def _owned_partitions() -> set[int]:
    name = commands.get_topic_name()
    return {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == name}


@cases.on_recover
async def rebuild_index() -> None:
    """After (re)assignment: index every open clock of the partitions this worker now owns."""
    owned = _owned_partitions()
    entries: list[tuple[float, str]] = []
    keys: list[tuple[str, str, str]] = []
    async with lock:
        for key, raw in cases.items():
            if key_partition(key, PARTITIONS) not in owned:
                continue
            state = CaseState.decode(raw)
            keys.extend(_open_keys(state))
            entries.extend((c.due, state.case_id) for c in state.clocks.values()
                           if c.status == "running" and c.due is not None)
        index.rebuild(entries)
        open_clocks.reset(keys)
    metrics.DUE.set(len(index))
    metrics.OWNED.set(len(owned))
    metrics.REBUILDS.inc()
    log.info("SLA index rebuilt: %d due entries, %d open clocks on partitions %s", len(entries), len(keys),
             sorted(owned))
