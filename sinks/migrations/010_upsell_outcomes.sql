-- What sales made of the leads (intake.upsell.outcomes.v1): converted or declined. A lead may be
-- reported more than once (declined, then bought after all); readers take the latest report per
-- lead, so the table keeps every report.
CREATE TABLE IF NOT EXISTS upsell_outcomes (
    event_id    String,
    at          DateTime64(3, 'UTC'),
    lead_id     String,
    result      LowCardinality(String),
    amount      Nullable(Float64),
    currency    LowCardinality(String),
    agent       String,
    note        String,
    sink_batch  String
) ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (lead_id, at, event_id)
TTL toDateTime(at) + INTERVAL ${retention_days} DAY
SETTINGS non_replicated_deduplication_window = ${dedup_window};

ALTER TABLE upsell_outcomes ADD INDEX IF NOT EXISTS idx_sink_batch sink_batch TYPE bloom_filter(0.01) GRANULARITY 1;
