-- The console's list of an account's webhooks, newest first: read in the
-- index's order and stopped at the page, not sorted whole. Only creating
-- and deleting a webhook write it (no column the deliveries update).
CREATE INDEX webhooks_by_account ON webhooks (account_id, id);

-- The console's counts of deliveries, from indexes that a delivery's
-- claims and outcomes do not rewrite: with status among their columns,
-- the indexes of 0008 were rewritten at each change of status, a fifth of
-- the cost of a delivery. A delivery enters the first index once, when it
-- is made; the others hold given-up deliveries alone. The account's queue
-- is read from the due index (deliveries_due). Time comes first, so that
-- no new index starts with account_id: a list of one webhook's deliveries
-- (account_id = ? AND webhook_id = ?) keeps to the webhook's index.
DROP INDEX deliveries_by_account_time;
DROP INDEX deliveries_by_webhook_time;
DROP INDEX deliveries_queued_by_account;
CREATE INDEX deliveries_made_by_time ON deliveries (created_at, account_id);
CREATE INDEX deliveries_given_up_by_time ON deliveries (created_at, account_id) WHERE status = 'given_up';
CREATE INDEX deliveries_given_up_by_webhook ON deliveries (webhook_id, created_at) WHERE status = 'given_up';
