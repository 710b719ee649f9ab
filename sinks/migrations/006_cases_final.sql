-- cases_current reads the cases table with FINAL instead of GROUP BY case_id: the same fold
-- (each column's min / max, by the table's own merge), done as a merge of the parts sorted by
-- case_id instead of a hash aggregation over every case. At 10 million contacts (3.3 million
-- cases) the wallboard's case figures went from 5.4 s to 0.7 s once merged, 6.8 s to 3.6 s
-- with unmerged parts (bench/sink_wallboard_latency.py).
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
    last_csat.2                      AS csat
FROM cases FINAL;
