-- Messages the pipeline asked other systems to send (outbound.v1): the case's audit trail shows
-- that, when and where it was acknowledged. The address is stored per the PII policy.
CREATE TABLE IF NOT EXISTS outbound (
    event_id     String,
    at           DateTime64(3, 'UTC'),
    kind         LowCardinality(String),
    template     LowCardinality(String),
    case_id      String,
    contact_id   String,
    channel      LowCardinality(String),
    recipient    String,
    in_reply_to  String,
    language     LowCardinality(String),
    pii_policy   LowCardinality(String),
    sink_batch   String
) ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (case_id, at, event_id)
TTL toDateTime(at) + INTERVAL ${retention_days} DAY
SETTINGS non_replicated_deduplication_window = ${dedup_window};

ALTER TABLE outbound ADD INDEX IF NOT EXISTS idx_sink_batch sink_batch TYPE bloom_filter(0.01) GRANULARITY 1;
