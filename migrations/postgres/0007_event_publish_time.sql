-- When an event was published, in epoch milliseconds: the start of its
-- deliveries' publish-to-delivery latency (a metric). Events stored before
-- this, and tests' and verifications' events, have none.
ALTER TABLE events ADD COLUMN published_at_ms BIGINT;
