"""Prometheus metrics of the routing agents (served at the worker's ``/metrics``)."""
from __future__ import annotations

from prometheus_client import Counter

CONTACTS = Counter("intake_routing_contacts_total", "Contacts decided, by dedup verdict and channel", ["dedup", "channel"])
REDELIVERIES = Counter("intake_routing_redeliveries_total",
                       "Exact re-deliveries (same contact event id) dropped without a second routed event", ["channel"])
REPEATS = Counter("intake_routing_repeat_contacts_total", "Repeat contacts linked to an open case", ["channel", "queue"])
ESCALATIONS = Counter("intake_routing_escalations_total", "Tier escalations raised by routing rules", ["queue", "tier"])
UPSELL = Counter("intake_routing_upsell_total", "Upsell verdicts", ["verdict"])
MERGES = Counter("intake_routing_identity_merges_total", "Customer keys merged into another (identity links)")
CASE_UPDATES = Counter("intake_routing_case_updates_total", "Lifecycle / escalation events applied to cases", ["kind"])
