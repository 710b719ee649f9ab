"""Prometheus counters shared by every channel connector."""
from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RECEIVED = Counter("intake_connector_received_total", "Requests received by a channel connector", ["channel"])
PUBLISHED = Counter("intake_connector_published_total", "Contacts acknowledged by Kafka", ["channel"])
REJECTED = Counter("intake_connector_rejected_total", "Requests refused with a 4xx/5xx", ["channel", "reason"])
DUPLICATES = Counter("intake_connector_duplicates_total", "Provider retries answered without a new contact", ["channel"])
DEAD_LETTERS = Counter("intake_connector_dead_letters_total", "Verified payloads that could not be normalized", ["channel"])
PUBLISH_SECONDS = Histogram("intake_connector_publish_seconds", "Time from request to Kafka ack", ["channel"],
                            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
CALLS_HELD = Gauge("intake_connector_calls_held", "Phone calls folded in memory, not yet published as a contact")
