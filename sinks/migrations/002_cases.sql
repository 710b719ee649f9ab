-- Current state per case, folded by materialized views from contacts, lifecycle and escalations.
-- Every column merges with an order-independent, idempotent function (min, max, argMin, argMax),
-- so an event that arrives twice upstream changes nothing. Read with GROUP BY case_id (see cases_current).

CREATE TABLE IF NOT EXISTS cases (
    case_id            String,
    opened_at          SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    last_contact_at    SimpleAggregateFunction(max, Nullable(DateTime64(3, 'UTC'))),
    channel            AggregateFunction(argMin, String, DateTime64(3, 'UTC')),
    queue              AggregateFunction(argMax, String, DateTime64(3, 'UTC')),
    category           AggregateFunction(argMin, String, DateTime64(3, 'UTC')),
    priority           SimpleAggregateFunction(min, UInt8),
    tier               SimpleAggregateFunction(max, UInt8),
    status             AggregateFunction(argMax, String, DateTime64(3, 'UTC')),
    first_response_at  SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    resolved_at        SimpleAggregateFunction(max, Nullable(DateTime64(3, 'UTC'))),
    closed_at          SimpleAggregateFunction(max, Nullable(DateTime64(3, 'UTC'))),
    survey_at          SimpleAggregateFunction(max, Nullable(DateTime64(3, 'UTC'))),
    csat               AggregateFunction(argMax, UInt8, DateTime64(3, 'UTC'))
) ENGINE = AggregatingMergeTree
ORDER BY case_id
SETTINGS non_replicated_deduplication_window = ${dedup_window};

CREATE MATERIALIZED VIEW IF NOT EXISTS cases_from_contacts TO cases AS
SELECT
    case_id,
    min(toNullable(received_at))                            AS opened_at,
    max(toNullable(received_at))                            AS last_contact_at,
    argMinState(toString(c_channel), received_at)           AS channel,
    argMaxState(toString(c_queue), received_at)             AS queue,
    argMinState(toString(c_category), received_at)          AS category,
    min(c_priority)                                         AS priority,
    max(c_tier)                                             AS tier,
    argMaxStateIf('new', received_at, dedup = 'new_case')   AS status,
    CAST(NULL, 'Nullable(DateTime64(3, \'UTC\'))')          AS first_response_at,
    CAST(NULL, 'Nullable(DateTime64(3, \'UTC\'))')          AS resolved_at,
    CAST(NULL, 'Nullable(DateTime64(3, \'UTC\'))')          AS closed_at,
    CAST(NULL, 'Nullable(DateTime64(3, \'UTC\'))')          AS survey_at,
    argMaxStateIf(toUInt8(0), received_at, 0)               AS csat
FROM (SELECT case_id, received_at, dedup, channel AS c_channel, queue AS c_queue, category AS c_category,
             priority AS c_priority, tier AS c_tier
      FROM contacts WHERE case_id != '' AND dedup != 'not_a_contact')
GROUP BY case_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS cases_from_lifecycle TO cases AS
SELECT
    case_id,
    CAST(NULL, 'Nullable(DateTime64(3, \'UTC\'))')                          AS opened_at,
    CAST(NULL, 'Nullable(DateTime64(3, \'UTC\'))')                          AS last_contact_at,
    argMinStateIf('', at, 0)                                                AS channel,
    argMaxStateIf(toString(l_queue), at, l_queue != '')                     AS queue,
    argMinStateIf('', at, 0)                                                AS category,
    toUInt8(255)                                                            AS priority,
    max(ifNull(l_tier, 0))                                                  AS tier,
    argMaxState(toString(action), at)                                       AS status,
    minIf(toNullable(at), action IN ('first_response', 'responded'))        AS first_response_at,
    maxIf(toNullable(at), action = 'resolved')                              AS resolved_at,
    maxIf(toNullable(at), action = 'closed')                                AS closed_at,
    maxIf(toNullable(at), l_csat IS NOT NULL)                               AS survey_at,
    argMaxStateIf(assumeNotNull(l_csat), at, l_csat IS NOT NULL)            AS csat
FROM (SELECT case_id, action, at, queue AS l_queue, tier AS l_tier, csat AS l_csat FROM lifecycle)
GROUP BY case_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS cases_from_escalations TO cases AS
SELECT
    case_id,
    CAST(NULL, 'Nullable(DateTime64(3, \'UTC\'))')   AS opened_at,
    CAST(NULL, 'Nullable(DateTime64(3, \'UTC\'))')   AS last_contact_at,
    argMinStateIf('', at, 0)                         AS channel,
    argMaxState(toString(e_queue), at)               AS queue,
    argMinStateIf('', at, 0)                         AS category,
    toUInt8(255)                                     AS priority,
    max(to_tier)                                     AS tier,
    argMaxStateIf('', at, 0)                         AS status,
    CAST(NULL, 'Nullable(DateTime64(3, \'UTC\'))')   AS first_response_at,
    CAST(NULL, 'Nullable(DateTime64(3, \'UTC\'))')   AS resolved_at,
    CAST(NULL, 'Nullable(DateTime64(3, \'UTC\'))')   AS closed_at,
    CAST(NULL, 'Nullable(DateTime64(3, \'UTC\'))')   AS survey_at,
    argMaxStateIf(toUInt8(0), at, 0)                 AS csat
FROM (SELECT case_id, at, queue AS e_queue, to_tier FROM escalations)
GROUP BY case_id;

-- One row per case, merged: what the wallboard and the API read.
CREATE VIEW IF NOT EXISTS cases_current AS
SELECT
    case_id,
    min(s_opened_at)          AS opened_at,
    max(s_last_contact_at)    AS last_contact_at,
    argMinMerge(s_channel)    AS channel,
    argMaxMerge(s_queue)      AS queue,
    argMinMerge(s_category)   AS category,
    min(s_priority)           AS priority,
    max(s_tier)               AS tier,
    argMaxMerge(s_status)     AS status,
    min(s_first_response_at)  AS first_response_at,
    max(s_resolved_at)        AS resolved_at,
    max(s_closed_at)          AS closed_at,
    max(s_survey_at)          AS survey_at,
    argMaxMerge(s_csat)       AS csat
FROM (SELECT case_id, opened_at AS s_opened_at, last_contact_at AS s_last_contact_at, channel AS s_channel,
             queue AS s_queue, category AS s_category, priority AS s_priority, tier AS s_tier, status AS s_status,
             first_response_at AS s_first_response_at, resolved_at AS s_resolved_at, closed_at AS s_closed_at,
             survey_at AS s_survey_at, csat AS s_csat
      FROM cases)
GROUP BY case_id;
