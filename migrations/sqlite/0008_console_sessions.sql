-- Sessions of the web console: an administrator's token exchanged for a
-- random session secret, kept only as its SHA-256 (like tokens). A session
-- acts as its token's caller and ends at expires_at, when its token is
-- revoked or expires, or when it signs out (its row is deleted).
CREATE TABLE console_sessions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    session_hash TEXT NOT NULL UNIQUE,
    account_id   TEXT NOT NULL,
    token_id     INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX console_sessions_by_expiry ON console_sessions (expires_at);

-- The console's counts: an account's deliveries by time, a webhook's
-- (success rate, last delivery), an account's queue; each from an index
-- alone.
CREATE INDEX deliveries_by_account_time ON deliveries (account_id, created_at, status);
CREATE INDEX deliveries_by_webhook_time ON deliveries (webhook_id, created_at, status);
CREATE INDEX deliveries_queued_by_account ON deliveries (account_id, next_attempt_at) WHERE status IN ('pending', 'in_flight');
