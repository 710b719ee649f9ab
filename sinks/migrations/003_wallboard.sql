-- Per-minute aggregates behind the wallboard: a board refresh reads minutes, not events.
-- Counts are uniqExact sets of event ids (or case ids), so an event delivered twice upstream
-- is counted once, and merging minutes into "today" stays exact.

CREATE TABLE IF NOT EXISTS contact_stats_1m (
    minute      DateTime64(3, 'UTC'),
    queue       LowCardinality(String),
    channel     LowCardinality(String),
    received    AggregateFunction(uniqExact, String),
    repeats     AggregateFunction(uniqExact, String),
    complaints  AggregateFunction(uniqExact, String),
    abandoned   AggregateFunction(uniqExact, String)
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (minute, queue, channel)
TTL toDateTime(minute) + INTERVAL ${retention_days} DAY
SETTINGS non_replicated_deduplication_window = ${dedup_window};

CREATE MATERIALIZED VIEW IF NOT EXISTS contact_stats_1m_mv TO contact_stats_1m AS
SELECT
    toDateTime64(toStartOfMinute(received_at), 3, 'UTC')                   AS minute,
    queue,
    channel,
    uniqExactStateIf(event_id, dedup != 'not_a_contact')                    AS received,
    uniqExactStateIf(event_id, dedup = 'repeat')                            AS repeats,
    uniqExactStateIf(event_id, dedup != 'not_a_contact' AND category = 'complaint') AS complaints,
    uniqExactStateIf(event_id, call_outcome = 'abandoned')                  AS abandoned
FROM contacts
GROUP BY minute, queue, channel;

CREATE TABLE IF NOT EXISTS sla_stats_1m (
    minute        DateTime64(3, 'UTC'),
    queue         LowCardinality(String),
    channel       LowCardinality(String),
    warnings      AggregateFunction(uniqExact, String),
    breaches      AggregateFunction(uniqExact, String),
    fr_met        AggregateFunction(uniqExact, String),
    fr_breached   AggregateFunction(uniqExact, String)
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (minute, queue, channel)
TTL toDateTime(minute) + INTERVAL ${retention_days} DAY
SETTINGS non_replicated_deduplication_window = ${dedup_window};

CREATE MATERIALIZED VIEW IF NOT EXISTS sla_stats_1m_mv TO sla_stats_1m AS
SELECT
    toDateTime64(toStartOfMinute(at), 3, 'UTC')                                AS minute,
    queue,
    channel,
    uniqExactStateIf(event_id, status = 'warning')                             AS warnings,
    uniqExactStateIf(event_id, status = 'breached')                            AS breaches,
    uniqExactStateIf(case_id, clock = 'first_response' AND status = 'met')     AS fr_met,
    uniqExactStateIf(case_id, clock = 'first_response' AND status = 'breached') AS fr_breached
FROM sla_events
GROUP BY minute, queue, channel;

CREATE TABLE IF NOT EXISTS upsell_stats_1m (
    minute   DateTime64(3, 'UTC'),
    queue    LowCardinality(String),
    channel  LowCardinality(String),
    leads    AggregateFunction(uniqExact, String)
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (minute, queue, channel)
TTL toDateTime(minute) + INTERVAL ${retention_days} DAY
SETTINGS non_replicated_deduplication_window = ${dedup_window};

CREATE MATERIALIZED VIEW IF NOT EXISTS upsell_stats_1m_mv TO upsell_stats_1m AS
SELECT
    toDateTime64(toStartOfMinute(at), 3, 'UTC')  AS minute,
    queue,
    channel,
    uniqExactState(event_id)                     AS leads
FROM upsell_leads
GROUP BY minute, queue, channel;
