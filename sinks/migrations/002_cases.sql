-- Current state per case, folded by materialized views from contacts, lifecycle and escalations.
-- Every column merges with an order-independent, idempotent function (min / max), so an event
-- that arrives twice upstream changes nothing. "Latest queue" and friends are max((time, value))
-- tuples rather than argMax states: same answer, several times cheaper to merge at read time.
-- Rows that carry no information for a tuple column use a sentinel time that never wins
-- (1970 for max, 2299 for min). Read through cases_current (one row per case; see 006).

CREATE TABLE IF NOT EXISTS cases (
    case_id            String,
    opened_at          SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    last_contact_at    SimpleAggregateFunction(max, Nullable(DateTime64(3, 'UTC'))),
    first_channel      SimpleAggregateFunction(min, Tuple(DateTime64(3, 'UTC'), String)),
    first_category     SimpleAggregateFunction(min, Tuple(DateTime64(3, 'UTC'), String)),
    last_queue         SimpleAggregateFunction(max, Tuple(DateTime64(3, 'UTC'), String)),
    last_status        SimpleAggregateFunction(max, Tuple(DateTime64(3, 'UTC'), String)),
    last_csat          SimpleAggregateFunction(max, Tuple(DateTime64(3, 'UTC'), UInt8)),
    priority           SimpleAggregateFunction(min, UInt8),
    tier               SimpleAggregateFunction(max, UInt8),
    first_response_at  SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    resolved_at        SimpleAggregateFunction(max, Nullable(DateTime64(3, 'UTC'))),
    closed_at          SimpleAggregateFunction(max, Nullable(DateTime64(3, 'UTC'))),
    survey_at          SimpleAggregateFunction(max, Nullable(DateTime64(3, 'UTC')))
) ENGINE = AggregatingMergeTree
ORDER BY case_id
SETTINGS non_replicated_deduplication_window = ${dedup_window};

CREATE MATERIALIZED VIEW IF NOT EXISTS cases_from_contacts TO cases AS
SELECT
    case_id,
    min(toNullable(received_at))                                                   AS opened_at,
    max(toNullable(received_at))                                                   AS last_contact_at,
    min((received_at, toString(c_channel)))                                        AS first_channel,
    min((received_at, toString(c_category)))                                       AS first_category,
    max((received_at, toString(c_queue)))                                          AS last_queue,
    max(if(dedup = 'new_case', (received_at, 'new'), (toDateTime64(0, 3, 'UTC'), ''))) AS last_status,
    (toDateTime64(0, 3, 'UTC'), toUInt8(0))                                        AS last_csat,
    min(c_priority)                                                                AS priority,
    max(c_tier)                                                                    AS tier,
    CAST(NULL, 'Nullable(DateTime64(3, \'UTC\'))')                                 AS first_response_at,
    CAST(NULL, 'Nullable(DateTime64(3, \'UTC\'))')                                 AS resolved_at,
    CAST(NULL, 'Nullable(DateTime64(3, \'UTC\'))')                                 AS closed_at,
    CAST(NULL, 'Nullable(DateTime64(3, \'UTC\'))')                                 AS survey_at
FROM (SELECT case_id, received_at, dedup, channel AS c_channel, queue AS c_queue, category AS c_category,
             priority AS c_priority, tier AS c_tier
      FROM contacts WHERE case_id != '' AND dedup != 'not_a_contact')
GROUP BY case_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS cases_from_lifecycle TO cases AS
SELECT
    case_id,
    CAST(NULL, 'Nullable(DateTime64(3, \'UTC\'))')                                 AS opened_at,
    CAST(NULL, 'Nullable(DateTime64(3, \'UTC\'))')                                 AS last_contact_at,
    (toDateTime64('2299-12-31 00:00:00', 3, 'UTC'), '')                            AS first_channel,
    (toDateTime64('2299-12-31 00:00:00', 3, 'UTC'), '')                            AS first_category,
    max(if(l_queue != '', (at, toString(l_queue)), (toDateTime64(0, 3, 'UTC'), ''))) AS last_queue,
    max((at, toString(action)))                                                    AS last_status,
    max(if(l_csat IS NOT NULL, (at, assumeNotNull(l_csat)), (toDateTime64(0, 3, 'UTC'), toUInt8(0)))) AS last_csat,
    toUInt8(255)                                                                   AS priority,
    max(ifNull(l_tier, 0))                                                         AS tier,
    minIf(toNullable(at), action IN ('first_response', 'responded'))               AS first_response_at,
    maxIf(toNullable(at), action = 'resolved')                                     AS resolved_at,
    maxIf(toNullable(at), action = 'closed')                                       AS closed_at,
    maxIf(toNullable(at), l_csat IS NOT NULL)                                      AS survey_at
FROM (SELECT case_id, action, at, queue AS l_queue, tier AS l_tier, csat AS l_csat FROM lifecycle)
GROUP BY case_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS cases_from_escalations TO cases AS
SELECT
    case_id,
    CAST(NULL, 'Nullable(DateTime64(3, \'UTC\'))')                                 AS opened_at,
    CAST(NULL, 'Nullable(DateTime64(3, \'UTC\'))')                                 AS last_contact_at,
    (toDateTime64('2299-12-31 00:00:00', 3, 'UTC'), '')                            AS first_channel,
    (toDateTime64('2299-12-31 00:00:00', 3, 'UTC'), '')                            AS first_category,
    max((at, toString(e_queue)))                                                   AS last_queue,
    (toDateTime64(0, 3, 'UTC'), '')                                                AS last_status,
    (toDateTime64(0, 3, 'UTC'), toUInt8(0))                                        AS last_csat,
    toUInt8(255)                                                                   AS priority,
    max(to_tier)                                                                   AS tier,
    CAST(NULL, 'Nullable(DateTime64(3, \'UTC\'))')                                 AS first_response_at,
    CAST(NULL, 'Nullable(DateTime64(3, \'UTC\'))')                                 AS resolved_at,
    CAST(NULL, 'Nullable(DateTime64(3, \'UTC\'))')                                 AS closed_at,
    CAST(NULL, 'Nullable(DateTime64(3, \'UTC\'))')                                 AS survey_at
FROM (SELECT case_id, at, queue AS e_queue, to_tier FROM escalations)
GROUP BY case_id;

-- One row per case, merged: what the wallboard and the API read.
CREATE VIEW IF NOT EXISTS cases_current AS
SELECT
    case_id,
    min(s_opened_at)                 AS opened_at,
    max(s_last_contact_at)           AS last_contact_at,
    min(s_first_channel).2           AS channel,
    min(s_first_category).2          AS category,
    max(s_last_queue).2              AS queue,
    max(s_last_status).2             AS status,
    min(s_priority)                  AS priority,
    max(s_tier)                      AS tier,
    min(s_first_response_at)         AS first_response_at,
    max(s_resolved_at)               AS resolved_at,
    max(s_closed_at)                 AS closed_at,
    max(s_survey_at)                 AS survey_at,
    max(s_last_csat).2               AS csat
FROM (SELECT case_id, opened_at AS s_opened_at, last_contact_at AS s_last_contact_at, first_channel AS s_first_channel,
             first_category AS s_first_category, last_queue AS s_last_queue, last_status AS s_last_status,
             last_csat AS s_last_csat, priority AS s_priority, tier AS s_tier,
             first_response_at AS s_first_response_at, resolved_at AS s_resolved_at, closed_at AS s_closed_at,
             survey_at AS s_survey_at
      FROM cases)
GROUP BY case_id;
