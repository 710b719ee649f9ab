"""Prometheus metrics of the SLA engine (conventional names: ``_total`` counters, seconds).

Exposed by the stream worker's web server at ``/metrics`` (see :func:`expose`), which the
alerting rules in ``deploy/prometheus/rules/`` read.
"""
from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable

import faust
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest

EVENTS = Counter("intake_sla_events_total", "SLA clock events emitted, by clock and status",
                 ["clock", "status", "queue", "channel"])
BREACHES = Counter("intake_sla_breaches_total", "SLA clocks that passed their deadline", ["clock", "queue", "channel"])
ESCALATIONS = Counter("intake_sla_escalations_total", "Tier escalations triggered by SLA breaches", ["queue"])
OPEN = Gauge("intake_sla_open_clocks", "Open SLA clocks owned by this worker (breached = waiting past its clock)",
             ["clock", "queue", "state"])
LAG = Histogram("intake_sla_breach_detection_lag_seconds", "From a warning/breach instant to its event being sent",
                buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600))
REBUILDS = Counter("intake_sla_index_rebuilds_total", "Deadline index rebuilds after partition recovery")
OWNED = Gauge("intake_sla_owned_partitions", "Case partitions whose clocks this worker runs")
DUE = Gauge("intake_sla_due_index_entries", "Entries in the in-memory deadline index")
COMMANDS = Counter("intake_sla_commands_total", "Commands applied to case clocks", ["kind", "outcome"])
DEAD_LETTERS = Counter("intake_streams_dead_letters_total", "Records a stream agent sent to the dead-letter topic",
                       ["agent"])

OpenKey = tuple[str, str, str]  # (clock, queue, state)


class OpenClocks:
    """Keeps the ``intake_sla_open_clocks`` gauge equal to the table, by before/after diffs."""

    def __init__(self) -> None:
        self.counts: Tally[OpenKey] = Tally()

    def apply(self, before: Iterable[OpenKey], after: Iterable[OpenKey]) -> None:
        for key in before:
            self.counts[key] -= 1
            OPEN.labels(*key).set(self.counts[key])
        for key in after:
            self.counts[key] += 1
            OPEN.labels(*key).set(self.counts[key])

    def reset(self, keys: Iterable[OpenKey]) -> None:
        for key in self.counts:
            OPEN.labels(*key).set(0)
        self.counts = Tally(keys)
        for key, n in self.counts.items():
            OPEN.labels(*key).set(n)


def expose(app: faust.App, path: str = "/metrics") -> None:
    """Serve the process's default registry on the Faust web server, once per app."""
    if path in app.web.views:
        return

    @app.page(path)
    async def metrics(self: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        return self.bytes(generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})
