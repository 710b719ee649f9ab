-- Every row names the sink batch (<topic>/<partition>/<first>-<last>) it came in. The sink
-- writes all the batches ready at once as one block per table (one insert per table instead
-- of one per table and topic-partition), so a batch replayed after a restart may end up in a
-- different block than its first attempt and block-level deduplication tokens no longer
-- recognise it. Instead, before inserting a batch that may be stored already, the sink asks
-- each table which of those batch names it holds and drops their rows: one lookup per table,
-- kept to a few granules by the bloom filters.
ALTER TABLE contact_text ADD COLUMN IF NOT EXISTS sink_batch String;
ALTER TABLE lifecycle ADD COLUMN IF NOT EXISTS sink_batch String;
ALTER TABLE sla_events ADD COLUMN IF NOT EXISTS sink_batch String;
ALTER TABLE escalations ADD COLUMN IF NOT EXISTS sink_batch String;
ALTER TABLE upsell_leads ADD COLUMN IF NOT EXISTS sink_batch String;
ALTER TABLE alerts ADD COLUMN IF NOT EXISTS sink_batch String;
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS sink_batch String;
ALTER TABLE replay_reports ADD COLUMN IF NOT EXISTS sink_batch String;
ALTER TABLE replay_queues ADD COLUMN IF NOT EXISTS sink_batch String;
ALTER TABLE contacts ADD INDEX IF NOT EXISTS idx_sink_batch sink_batch TYPE bloom_filter(0.01) GRANULARITY 1;
ALTER TABLE contact_text ADD INDEX IF NOT EXISTS idx_sink_batch sink_batch TYPE bloom_filter(0.01) GRANULARITY 1;
ALTER TABLE lifecycle ADD INDEX IF NOT EXISTS idx_sink_batch sink_batch TYPE bloom_filter(0.01) GRANULARITY 1;
ALTER TABLE sla_events ADD INDEX IF NOT EXISTS idx_sink_batch sink_batch TYPE bloom_filter(0.01) GRANULARITY 1;
ALTER TABLE escalations ADD INDEX IF NOT EXISTS idx_sink_batch sink_batch TYPE bloom_filter(0.01) GRANULARITY 1;
ALTER TABLE upsell_leads ADD INDEX IF NOT EXISTS idx_sink_batch sink_batch TYPE bloom_filter(0.01) GRANULARITY 1;
ALTER TABLE alerts ADD INDEX IF NOT EXISTS idx_sink_batch sink_batch TYPE bloom_filter(0.01) GRANULARITY 1;
ALTER TABLE dead_letters ADD INDEX IF NOT EXISTS idx_sink_batch sink_batch TYPE bloom_filter(0.01) GRANULARITY 1;
