-- Claims skip webhooks that have all the attempts in flight they may have;
-- with webhook_id in the index, a skipped row is passed over in the index
-- without reading the table row. id comes before it so that rows due at the
-- same moment stay in the order they were queued, not grouped by webhook
-- (a claim then takes work for many webhooks, not a run of one).
DROP INDEX deliveries_due;
CREATE INDEX deliveries_due ON deliveries (next_attempt_at, id, webhook_id) WHERE status IN ('pending', 'in_flight');
