-- What-if reports count escalations (by routing rules and SLA breaches) live and replayed.
ALTER TABLE replay_reports ADD COLUMN IF NOT EXISTS live_escalations UInt32,
    ADD COLUMN IF NOT EXISTS replay_escalations UInt32;
