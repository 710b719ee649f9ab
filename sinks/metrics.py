"""Prometheus metrics of the sink, served on the wallboard's /metrics."""
from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ROWS_WRITTEN = Counter("intake_sink_rows_written_total", "Rows inserted into ClickHouse (after deduplication retries)", ["table"])
BATCHES = Counter("intake_sink_batches_total", "Topic-partition batches written and committed", ["topic"])
BATCH_SECONDS = Histogram("intake_sink_batch_seconds", "Time from cutting a flush to its commit (rows, plan, inserts, commit)",
                          buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
ERRORS = Counter("intake_sink_errors_total", "Errors by kind (insert, plan-read, commit, consume)", ["kind"])
DEAD_LETTERS = Counter("intake_sink_poison_records_total", "Records the sink could not use, stored as dead letters", ["topic"])
LAG = Gauge("intake_sink_lag_records", "High watermark minus committed offset", ["topic", "partition"])
BACKEND_UP = Gauge("intake_sink_backend_up", "1 while the last ClickHouse write succeeded")
DUPLICATES = Counter("intake_sink_duplicate_contacts_total", "Routed events for a contact already stored (upstream re-emits), not stored again")
