-- NPS on the wallboard: each case keeps its latest 0-10 answer (a survey may carry CSAT, NPS or
-- both), folded like CSAT. The lifecycle view is re-created to fill the new columns, then the
-- lifecycle rows already stored are folded again: every column merges with min / max, so
-- folding a row twice changes nothing.
ALTER TABLE cases ADD COLUMN IF NOT EXISTS last_nps SimpleAggregateFunction(max, Tuple(DateTime64(3, 'UTC'), UInt8)),
    ADD COLUMN IF NOT EXISTS nps_at SimpleAggregateFunction(max, Nullable(DateTime64(3, 'UTC')));

DROP TABLE IF EXISTS cases_from_lifecycle;

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
    maxIf(toNullable(at), l_csat IS NOT NULL)                                      AS survey_at,
    max(if(l_nps IS NOT NULL, (at, assumeNotNull(l_nps)), (toDateTime64(0, 3, 'UTC'), toUInt8(0)))) AS last_nps,
    maxIf(toNullable(at), l_nps IS NOT NULL)                                       AS nps_at
FROM (SELECT case_id, action, at, queue AS l_queue, tier AS l_tier, csat AS l_csat, nps AS l_nps FROM lifecycle)
GROUP BY case_id;

INSERT INTO cases (case_id, opened_at, last_contact_at, first_channel, first_category, last_queue, last_status,
                   last_csat, priority, tier, first_response_at, resolved_at, closed_at, survey_at, last_nps, nps_at)
SELECT
    case_id,
    CAST(NULL, 'Nullable(DateTime64(3, \'UTC\'))'),
    CAST(NULL, 'Nullable(DateTime64(3, \'UTC\'))'),
    (toDateTime64('2299-12-31 00:00:00', 3, 'UTC'), ''),
    (toDateTime64('2299-12-31 00:00:00', 3, 'UTC'), ''),
    (toDateTime64(0, 3, 'UTC'), ''),
    (toDateTime64(0, 3, 'UTC'), ''),
    (toDateTime64(0, 3, 'UTC'), toUInt8(0)),
    toUInt8(255),
    toUInt8(0),
    CAST(NULL, 'Nullable(DateTime64(3, \'UTC\'))'),
    CAST(NULL, 'Nullable(DateTime64(3, \'UTC\'))'),
    CAST(NULL, 'Nullable(DateTime64(3, \'UTC\'))'),
    CAST(NULL, 'Nullable(DateTime64(3, \'UTC\'))'),
    max((at, assumeNotNull(nps))),
    max(toNullable(at))
FROM lifecycle WHERE nps IS NOT NULL
GROUP BY case_id;

CREATE OR REPLACE VIEW cases_current AS
SELECT
    case_id,
    opened_at,
    last_contact_at,
    first_channel.2                  AS channel,
    first_category.2                 AS category,
    last_queue.2                     AS queue,
    last_status.2                    AS status,
    priority,
    tier,
    first_response_at,
    resolved_at,
    closed_at,
    survey_at,
    last_csat.2                      AS csat,
    nps_at,
    last_nps.2                       AS nps
FROM cases FINAL;
