"""Stall watchdog: a worker that owns events it does not process is not healthy.

Why: Faust's web index answers as long as the event loop runs, so a worker that reports Ready
and then consumes nothing (seen after rebalances: docs/routing.md, "Partitions taken over")
looked healthy to every probe while its partitions piled up. Here progress is judged from the
broker's side: for each source partition this worker owns, the group's committed offset
against the partition's end. A partition with events left whose committed offset has not moved
for ``stall_seconds`` is stalled; so is a table recovery whose remaining count has not fallen
for as long. Then ``/healthz`` answers 503 with the partitions, ``intake_worker_stalled`` is 1,
and with ``stall_action = exit`` the process exits with status 75 (EX_TEMPFAIL) so its
supervisor restarts it. Exiting without a graceful stop is safe: nothing is committed before
its outputs and tables are written (streams.delivery), so a restart redoes, never skips.
"""
from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

import faust
from confluent_kafka.admin import AdminClient, OffsetSpec
from prometheus_client import Gauge

from schemas.admin import Partition, committed_offsets, log_offsets

from .app import app, kafka, settings

EX_TEMPFAIL = os.EX_TEMPFAIL  # 75: "temporary failure, try again": the supervisor restarts the worker
RECOVERY = ("<table recovery>", 0)  # recovery's remaining count, tracked like a partition

log = logging.getLogger(__name__)
LAG = Gauge("intake_worker_lag_events", "Events in this worker's source partitions not yet committed by its group")
STALLED = Gauge("intake_worker_stalled", "1 while this worker owns events it has not made progress on for stall_seconds")


@dataclass
class Progress:
    """Per partition: the committed offset last seen and since when it has stood still while behind."""

    limit: float
    _still: dict[Partition, tuple[int, float]] = field(default_factory=dict)

    def observe(self, now: float, offsets: dict[Partition, tuple[int, int]]) -> dict[Partition, int]:
        """``offsets``: partition -> (position, end). Returns the stalled partitions with their lag."""
        still: dict[Partition, tuple[int, float]] = {}
        stalled: dict[Partition, int] = {}
        for tp, (position, end) in offsets.items():
            if position >= end:
                continue
            before = self._still.get(tp)
            since = before[1] if before is not None and before[0] == position else now
            still[tp] = (position, since)
            if now - since >= self.limit:
                stalled[tp] = end - position
        self._still = still
        return stalled


def source_partitions() -> list[Partition]:
    """The partitions this worker owns of the topics its agents read (not table changelogs)."""
    sources = {name for agent in app.agents.values() for name in getattr(agent.channel, "topics", ())}
    return sorted((tp.topic, tp.partition) for tp in app.consumer.assignment() if tp.topic in sources)


def broker_offsets(admin: AdminClient, group: str, partitions: list[Partition]) -> dict[Partition, tuple[int, int]]:
    """(committed offset of the group, or the earliest offset if none yet; end offset) per partition."""
    if not partitions:
        return {}
    committed = committed_offsets(admin, group, partitions)
    starts = log_offsets(admin, partitions, OffsetSpec.earliest())
    ends = log_offsets(admin, partitions, OffsetSpec.latest())
    return {tp: (max(committed.get(tp, starts[tp]), starts[tp]), ends[tp]) for tp in partitions}


progress = Progress(settings.stall_seconds)
stalled: dict[Partition, int] = {}


@functools.cache
def _admin() -> AdminClient:
    return AdminClient(kafka.confluent())


async def check() -> dict[Partition, int]:
    """One look at the broker; updates ``stalled`` and the gauges."""
    if app.rebalancing:
        progress.observe(time.monotonic(), {})  # a new assignment starts new clocks
        stalled.clear()
        return stalled
    offsets = await asyncio.get_running_loop().run_in_executor(
        None, broker_offsets, _admin(), app.conf.id, source_partitions())
    LAG.set(sum(max(end - position, 0) for position, end in offsets.values()))
    if getattr(app, "in_recovery", False):
        offsets[RECOVERY] = (-app.tables.recovery.active_remaining_total(), 0)
    stalled.clear()
    stalled.update(progress.observe(time.monotonic(), offsets))
    STALLED.set(1 if stalled else 0)
    return stalled


def label(tp: tuple[str, int]) -> str:
    """``topic[partition]``, as Kafka's tools print a partition."""
    return f"{tp[0]}[{tp[1]}]"


def _awaiting(coro: object) -> str:
    """Where a suspended coroutine waits, outermost first: ``agent:line < helper:line < ...``."""
    steps = []
    while coro is not None and len(steps) < 16:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "ag_frame", None) or getattr(coro, "gi_frame", None)
        if frame is not None:
            steps.append(f"{frame.f_code.co_name}:{frame.f_lineno}")
        coro = getattr(coro, "cr_await", None) or getattr(coro, "ag_await", None) or getattr(coro, "gi_yieldfrom", None)
    return " < ".join(steps)


def diagnosis() -> dict[str, object]:
    """What Faust and aiokafka believe about this worker's source partitions, for the stall's log line.

    Private attributes, read defensively: this is evidence for a bug report, never control flow.
    """
    consumer = app.consumer
    sources = set(source_partitions())

    def tps(values: object) -> list[str]:
        return sorted(label(tp) for tp in (values or ()) if tp in sources)

    def by_tp(mapping: dict, value: object = lambda v: v) -> dict[str, object]:
        return {label(tp): value(v) for tp, v in list(mapping.items()) if tp in sources}

    out: dict[str, object] = {}
    try:
        out["faust"] = {
            "flow_active": consumer.flow_active, "can_resume_flow": consumer.can_resume_flow.is_set(),
            "suspend_flow": consumer.suspend_flow.is_set(), "flow_control": app.flow_control.is_active(),
            "rebalancing": app.rebalancing, "in_recovery": getattr(app, "in_recovery", None),
            "active": tps(consumer._active_partitions), "paused": tps(consumer._paused_partitions),
            "buffered": tps(consumer._buffered_partitions),
            "waiting_for_ack": consumer._waiting_for_ack is not None, "unacked": len(consumer._unacked_messages),
            "read_offset": by_tp(consumer._read_offset), "committed_offset": by_tp(consumer._committed_offset),
            "acked": by_tp(consumer._acked, sorted), "gaps": by_tp(consumer._gap, lambda g: sorted(
                (i.begin, i.end) for i in g)),
            "queued": {", ".join(chan.topics): chan.queue.qsize() for chan in list(app.topics._topics)
                       if getattr(chan, "_queue", None) is not None and chan.queue.qsize()}}
    except Exception as exc:  # noqa: BLE001
        out["faust_error"] = repr(exc)
    try:
        assignment = consumer._thread._consumer._subscription.subscription.assignment

        def position(state: Any) -> dict[str, object]:
            valid = state.has_valid_position
            return {"paused": state.paused, "valid": valid, "position": state.position if valid else None}

        out["aiokafka"] = {label(tp): position(assignment.state_value(tp)) for tp in assignment.tps if tp in sources}
    except Exception as exc:  # noqa: BLE001
        out["aiokafka_error"] = repr(exc)
    try:
        out["agents"] = {name: [_awaiting(actor.it) for actor in agent._actors] for name, agent in app.agents.items()}
    except Exception as exc:  # noqa: BLE001
        out["agents_error"] = repr(exc)
    out["tasks"] = sorted(_awaiting(t.get_coro()) or t.get_name() for t in asyncio.all_tasks())
    return out


if settings.stall_seconds > 0:
    @app.timer(settings.stall_check_seconds)
    async def watch_progress() -> None:
        was_stalled = bool(stalled)
        try:
            found = await check()
        except Exception:  # noqa: BLE001 - the broker may be away: that is not this worker's stall
            log.warning("watchdog: could not read offsets from the broker", exc_info=True)
            return
        if not found:
            return
        log.error("watchdog: no progress for %.0f s on %s", settings.stall_seconds,
                  ", ".join(f"{label(tp)} ({lag} behind)" for tp, lag in sorted(found.items())))
        if not was_stalled:  # once per stall: evidence for a bug report
            try:
                log.error("watchdog: diagnosis %s", json.dumps(diagnosis(), default=str))
            except Exception:  # noqa: BLE001
                log.exception("watchdog: diagnosis failed")
        if settings.stall_action == "exit":
            log.error("watchdog: exiting with status %d so that the supervisor restarts this worker", EX_TEMPFAIL)
            logging.shutdown()
            os._exit(EX_TEMPFAIL)


@app.page("/healthz")
async def healthz(self: faust.web.View, request: faust.web.Request) -> faust.web.Response:
    """Liveness: 503 while stalled (see the module docstring), else 200."""
    body = {"status": "stalled" if stalled else "ok",
            "stalled": {label(tp): lag for tp, lag in sorted(stalled.items())}}
    return self.json(body, status=503 if stalled else 200)
