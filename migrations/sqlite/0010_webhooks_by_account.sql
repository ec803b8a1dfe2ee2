-- The console's list of an account's webhooks, newest first: read in the
-- index's order and stopped at the page, not sorted whole. Only creating
-- and deleting a webhook write it (no column the deliveries update).
CREATE INDEX webhooks_by_account ON webhooks (account_id, id);
