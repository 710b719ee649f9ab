-- Replay (what-if) reports from intake replay: one row per run and one per run x queue.
-- A run compared again (after a resume, or with --compare-only) replaces its rows: read with FINAL.

CREATE TABLE IF NOT EXISTS replay_reports (
    run_id                String,
    generated_at          DateTime64(3, 'UTC'),
    event_id              String,
    range_from            DateTime64(3, 'UTC'),
    range_to              DateTime64(3, 'UTC'),
    complete              Bool,
    contacts              UInt32,
    lifecycle             UInt32,
    live_rules_version    String,
    replay_rules_version  String,
    live_sla_policy       String,
    replay_sla_policy     String,
    compared              UInt32,
    queue_changes         UInt32,
    category_changes      UInt32,
    priority_changes      UInt32,
    dedup_changes         UInt32,
    transitions           Map(String, UInt32),
    live_clocks           UInt32,
    live_met              UInt32,
    live_breached         UInt32,
    live_attainment       Nullable(Float64),
    replay_clocks         UInt32,
    replay_met            UInt32,
    replay_breached       UInt32,
    replay_attainment     Nullable(Float64),
    live_leads            UInt32,
    replay_leads          UInt32,
    leads_gained          UInt32,
    leads_lost            UInt32
) ENGINE = ReplacingMergeTree(generated_at)
ORDER BY run_id
SETTINGS non_replicated_deduplication_window = ${dedup_window};

CREATE TABLE IF NOT EXISTS replay_queues (
    run_id             String,
    queue              String,
    generated_at       DateTime64(3, 'UTC'),
    live_contacts      UInt32,
    replay_contacts    UInt32,
    live_clocks        UInt32,
    live_met           UInt32,
    live_breached      UInt32,
    live_attainment    Nullable(Float64),
    replay_clocks      UInt32,
    replay_met         UInt32,
    replay_breached    UInt32,
    replay_attainment  Nullable(Float64),
    live_leads         UInt32,
    replay_leads       UInt32
) ENGINE = ReplacingMergeTree(generated_at)
ORDER BY (run_id, queue)
SETTINGS non_replicated_deduplication_window = ${dedup_window};
