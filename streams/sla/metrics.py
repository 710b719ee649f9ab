"""Prometheus metrics of the SLA engine (conventional names: ``_total`` counters, seconds).

Exposed by the stream worker's web server at ``/metrics`` (see :func:`expose`), which the
alerting rules in ``deploy/prometheus/rules/`` read.
"""
from __future__ import annotations

from collections import Counter as Counts
from collections.abc import Iterable, Iterator

import faust
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

EVENTS = Counter("intake_sla_events_total", "SLA clock events emitted, by clock and status",
                 ["clock", "status", "queue", "channel"])
BREACHES = Counter("intake_sla_breaches_total", "SLA clocks that passed their deadline", ["clock", "queue", "channel"])
ESCALATIONS = Counter("intake_sla_escalations_total", "Tier escalations triggered by SLA breaches", ["queue"])
LAG = Histogram("intake_sla_breach_detection_lag_seconds", "From a warning/breach instant to its event being sent",
                buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600))
REBUILDS = Counter("intake_sla_index_rebuilds_total", "Deadline index rebuilds after partition recovery")
OWNED = Gauge("intake_sla_owned_partitions", "Case partitions whose clocks this worker runs")
DUE = Gauge("intake_sla_due_index_entries", "Entries in the in-memory deadline index")
COMMANDS = Counter("intake_sla_commands_total", "Commands applied to case clocks", ["kind", "outcome"])
DEAD_LETTERS = Counter("intake_streams_dead_letters_total", "Records a stream agent sent to the dead-letter topic",
                       ["agent"])

OpenKey = tuple[str, str, str]  # (clock, queue, state)


class OpenClocks(Collector):
    """The ``intake_sla_open_clocks`` gauge: counts kept equal to the table by before/after diffs,
    read when Prometheus scrapes (a gauge ``set`` per key and change cost ~2 µs per SLA event)."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.counts: Counts[OpenKey] = Counts()
        registry.register(self)

    def apply(self, before: Iterable[OpenKey], after: Iterable[OpenKey]) -> None:
        self.counts.subtract(before)
        self.counts.update(after)

    def reset(self, keys: Iterable[OpenKey]) -> None:
        self.counts = Counts(dict.fromkeys(self.counts, 0))  # gone keys read 0, as a gauge set to 0 would
        self.counts.update(keys)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("intake_sla_open_clocks",
                                   "Open SLA clocks owned by this worker (breached = waiting past its clock)",
                                   labels=["clock", "queue", "state"])
        for key, n in self.counts.items():
            family.add_metric(key, n)
        yield family


def expose(app: faust.App, path: str = "/metrics") -> None:
    """Serve the process's default registry on the Faust web server, once per app."""
    if path in app.web.views:
        return

    @app.page(path)
    async def metrics(self: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        return self.bytes(generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})
