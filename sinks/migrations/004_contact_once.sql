-- One row per contact even when a stage upstream re-emits a routed event (at-least-once
-- agents): the sink looks up the batch's contact ids before inserting and drops those stored
-- by an EARLIER batch. sink_batch is the batch's dedup token, so a crash replay of the same
-- batch sees exactly what its first attempt saw (its own rows are not "earlier") and cuts the
-- same blocks. The bloom filter keeps that lookup to a few granules.
ALTER TABLE contacts ADD COLUMN IF NOT EXISTS sink_batch String;
ALTER TABLE contacts ADD INDEX IF NOT EXISTS idx_event_id event_id TYPE bloom_filter(0.001) GRANULARITY 1;
ALTER TABLE contacts MATERIALIZE INDEX idx_event_id;
