-- Append-only event tables, one per topic, plus the sink's batch plan (exactly-once replays).
-- ${retention_days}, ${text_retention_days} and ${dedup_window} come from SinkSettings.

CREATE TABLE IF NOT EXISTS sink_progress (
    group_id      LowCardinality(String),
    topic         LowCardinality(String),
    partition     UInt32,
    first_offset  Int64,
    last_offset   Int64,
    planned_at    DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = MergeTree
ORDER BY (group_id, topic, partition, first_offset)
TTL toDateTime(planned_at) + INTERVAL 30 DAY;

CREATE TABLE IF NOT EXISTS contacts (
    event_id            String,
    routed_event_id     String,
    received_at         DateTime64(3, 'UTC'),
    routed_at           DateTime64(3, 'UTC'),
    channel             LowCardinality(String),
    provider            LowCardinality(String),
    kind                LowCardinality(String),
    provider_message_id String,
    customer_key        String,
    case_id             String,
    dedup               LowCardinality(String),
    dedup_reason        String,
    category            LowCardinality(String),
    phase               LowCardinality(String),
    severity            UInt8,
    sentiment           LowCardinality(String),
    priority            UInt8,
    priority_reason     String,
    segment             LowCardinality(String),
    queue               LowCardinality(String),
    tier                UInt8,
    routing_reason      String,
    upsell              LowCardinality(String),
    upsell_reason       String,
    language            LowCardinality(String),
    is_public           Bool,
    form_type           LowCardinality(String),
    call_outcome        LowCardinality(String),
    call_wait_seconds   Nullable(Float64),
    callback_requested  Bool,
    attachments         UInt16,
    phone               String,
    email               String,
    handle              String,
    customer_name       String,
    customer_number     String,
    order_numbers       Array(String),
    pii_policy          LowCardinality(String),
    rules_version       LowCardinality(String),
    raw_ref             String,
    ingested_at         DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = MergeTree
PARTITION BY toYYYYMM(received_at)
ORDER BY (queue, channel, received_at, event_id)
TTL toDateTime(received_at) + INTERVAL ${retention_days} DAY
SETTINGS non_replicated_deduplication_window = ${dedup_window};

-- Free text is personal data we cannot mask reliably: kept apart so access can be granted
-- separately (GRANT SELECT on contacts without contact_text) and expired sooner.
CREATE TABLE IF NOT EXISTS contact_text (
    event_id     String,
    received_at  DateTime64(3, 'UTC'),
    channel      LowCardinality(String),
    case_id      String,
    subject      String,
    body         String
) ENGINE = MergeTree
PARTITION BY toYYYYMM(received_at)
ORDER BY (received_at, event_id)
TTL toDateTime(received_at) + INTERVAL ${text_retention_days} DAY
SETTINGS non_replicated_deduplication_window = ${dedup_window};

CREATE TABLE IF NOT EXISTS lifecycle (
    event_id  String,
    case_id   String,
    action    LowCardinality(String),
    at        DateTime64(3, 'UTC'),
    agent     String,
    queue     LowCardinality(String),
    tier      Nullable(UInt8),
    csat      Nullable(UInt8),
    nps       Nullable(UInt8),
    note      String
) ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (case_id, at, event_id)
TTL toDateTime(at) + INTERVAL ${retention_days} DAY
SETTINGS non_replicated_deduplication_window = ${dedup_window};

CREATE TABLE IF NOT EXISTS sla_events (
    event_id                  String,
    case_id                   String,
    clock                     LowCardinality(String),
    status                    LowCardinality(String),
    at                        DateTime64(3, 'UTC'),
    started_at                DateTime64(3, 'UTC'),
    deadline                  DateTime64(3, 'UTC'),
    target_seconds            Float64,
    elapsed_business_seconds  Float64,
    fraction                  Nullable(Float64),
    queue                     LowCardinality(String),
    channel                   LowCardinality(String),
    category                  LowCardinality(String),
    severity                  UInt8,
    segment                   LowCardinality(String),
    policy                    LowCardinality(String)
) ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (queue, channel, at, event_id)
TTL toDateTime(at) + INTERVAL ${retention_days} DAY
SETTINGS non_replicated_deduplication_window = ${dedup_window};

CREATE TABLE IF NOT EXISTS escalations (
    event_id   String,
    at         DateTime64(3, 'UTC'),
    case_id    String,
    from_tier  UInt8,
    to_tier    UInt8,
    queue      LowCardinality(String),
    reason     String,
    trigger    LowCardinality(String)
) ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (case_id, at, event_id)
TTL toDateTime(at) + INTERVAL ${retention_days} DAY
SETTINGS non_replicated_deduplication_window = ${dedup_window};

CREATE TABLE IF NOT EXISTS upsell_leads (
    event_id       String,
    at             DateTime64(3, 'UTC'),
    case_id        String,
    contact_id     String,
    customer_key   String,
    kind           LowCardinality(String),
    score          Float64,
    evidence       String,
    rule           LowCardinality(String),
    channel        LowCardinality(String),
    queue          LowCardinality(String),
    segment        LowCardinality(String),
    rules_version  LowCardinality(String)
) ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (queue, channel, at, event_id)
TTL toDateTime(at) + INTERVAL ${retention_days} DAY
SETTINGS non_replicated_deduplication_window = ${dedup_window};

CREATE TABLE IF NOT EXISTS alerts (
    event_id     String,
    at           DateTime64(3, 'UTC'),
    name         LowCardinality(String),
    fingerprint  String,
    status       LowCardinality(String),
    severity     LowCardinality(String),
    labels       Map(String, String),
    figures      Map(String, Float64),
    summary      String
) ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (at, event_id)
TTL toDateTime(at) + INTERVAL ${retention_days} DAY
SETTINGS non_replicated_deduplication_window = ${dedup_window};

-- Dead letters from every stage (the DEADLETTER topic) and the sink's own poison records.
CREATE TABLE IF NOT EXISTS dead_letters (
    event_id          String,
    at                DateTime64(3, 'UTC'),
    stage             LowCardinality(String),
    cause             String,
    error_type        LowCardinality(String),
    topic             String,
    partition         Nullable(Int32),
    offset            Nullable(Int64),
    key               String,
    payload           String,
    payload_encoding  LowCardinality(String),
    raw_ref           String
) ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (at, event_id)
TTL toDateTime(at) + INTERVAL ${retention_days} DAY
SETTINGS non_replicated_deduplication_window = ${dedup_window};
