-- Recall notices (kind 'recall') name their recall campaign: "who was told of RC-2026-014" is one
-- query. Empty for acknowledgements and surveys.
ALTER TABLE outbound ADD COLUMN IF NOT EXISTS campaign_id LowCardinality(String);
