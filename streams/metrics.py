"""Prometheus metrics of the routing agents (served at the worker's ``/metrics``), and the
:class:`Tally` every agent counts a batch with."""
from __future__ import annotations

from collections import Counter as Counts

from prometheus_client import Counter

CONTACTS = Counter("intake_routing_contacts_total", "Contacts decided, by dedup verdict and channel", ["dedup", "channel"])
REDELIVERIES = Counter("intake_routing_redeliveries_total",
                       "Exact re-deliveries (same contact event id) dropped without a second routed event", ["channel"])
REPEATS = Counter("intake_routing_repeat_contacts_total", "Repeat contacts linked to an open case", ["channel", "queue"])
ESCALATIONS = Counter("intake_routing_escalations_total", "Tier escalations raised by routing rules", ["queue", "tier"])
UPSELL = Counter("intake_routing_upsell_total", "Upsell verdicts", ["verdict"])
OUTBOUND = Counter("intake_routing_outbound_total",
                   "Outbound message requests (acknowledgements, surveys, recall notices)", ["kind", "channel"])
RECALLS = Counter("intake_routing_recalls_total", "Recalled orders: notice requested, order unknown to the desk, or "
                  "its customer has no private address", ["result"])
MERGES = Counter("intake_routing_identity_merges_total", "Customer keys merged into another (identity links)")
HOPS = Counter("intake_routing_identity_hops_total",
               "Contacts sent on to another customer key by the identity walk (hops after each contact's first)")
CASE_UPDATES = Counter("intake_routing_case_updates_total", "Lifecycle / escalation events applied to cases", ["kind"])


class Tally:
    """Counter increments of a batch, added to Prometheus once per label set when the batch is done.

    ``counter.labels(...).inc()`` costs ~1.6 µs (a label lookup and an add, each under a lock) and
    agents count several things per event; a dict entry costs ~0.4. Counts then appear when the
    batch's outputs do.
    """

    __slots__ = ("_counts",)

    def __init__(self) -> None:
        self._counts: Counts[tuple[Counter, tuple[str, ...]]] = Counts()

    def inc(self, counter: Counter, *labels: str) -> None:
        self._counts[counter, labels] += 1

    def flush(self) -> None:
        for (counter, labels), n in self._counts.items():
            (counter.labels(*labels) if labels else counter).inc(n)
        self._counts.clear()
