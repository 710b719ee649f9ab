-- Contacts per minute, queue and channel as a plain count, for the wallboard's forecast: today's
-- volume so far against the same hours of the previous days. A count is exact here because the
-- sink stores each contact once, and reading a week of counts stays cheap where merging a week
-- of uniqExact id sets (contact_stats_1m) would not.
CREATE TABLE IF NOT EXISTS contact_volume_1m (
    minute    DateTime64(3, 'UTC'),
    queue     LowCardinality(String),
    channel   LowCardinality(String),
    contacts  UInt64
) ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (minute, queue, channel)
TTL toDateTime(minute) + INTERVAL ${retention_days} DAY
SETTINGS non_replicated_deduplication_window = ${dedup_window};

CREATE MATERIALIZED VIEW IF NOT EXISTS contact_volume_1m_mv TO contact_volume_1m AS
SELECT
    toDateTime64(toStartOfMinute(received_at), 3, 'UTC')  AS minute,
    queue,
    channel,
    count()                                              AS contacts
FROM contacts
WHERE dedup != 'not_a_contact'
GROUP BY minute, queue, channel;

-- The contacts stored before this migration (the sink migrates before it consumes, so nothing is
-- inserted meanwhile).
INSERT INTO contact_volume_1m
SELECT toDateTime64(toStartOfMinute(received_at), 3, 'UTC') AS minute, queue, channel, count() AS contacts
FROM contacts
WHERE dedup != 'not_a_contact'
GROUP BY minute, queue, channel;
