-- Webhook policies: how messages are signed. sealed_key is the private key
-- or secret, encrypted with the server key (AES-256-GCM).
CREATE TABLE webhook_policies (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id           TEXT NOT NULL REFERENCES accounts (id),
    name                 TEXT NOT NULL,
    disabled             BOOLEAN NOT NULL DEFAULT FALSE,
    jwt_alg              TEXT NOT NULL,
    jwt_audience         TEXT,
    jwt_claim_expires_in INTEGER,
    sealed_key           BLOB NOT NULL,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
);
CREATE INDEX webhook_policies_by_account ON webhook_policies (account_id);
CREATE INDEX webhooks_by_policy ON webhooks (webhook_policy_id);
