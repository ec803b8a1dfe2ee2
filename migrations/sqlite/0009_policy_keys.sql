-- How a policy signs (`jws`: the body is {"jwt": ...}; `standard_webhooks`:
-- the plain message with webhook-* headers), and whether a JWS names its
-- key (`kid`) and issuer for OpenID Connect discovery of the public keys.
ALTER TABLE webhook_policies ADD COLUMN signature_scheme TEXT NOT NULL DEFAULT 'jws';
ALTER TABLE webhook_policies ADD COLUMN openid_connect_discovery BOOLEAN NOT NULL DEFAULT FALSE;

-- Keys a rotation replaced, kept until expires_at so that receivers that
-- cached them keep verifying (their public keys stay in the JWKS; a
-- Standard Webhooks message carries a signature of each). sealed_key is
-- encrypted with the server key like webhook_policies.sealed_key; the row
-- is deleted, key and all, once the overlap is over.
CREATE TABLE webhook_policy_retired_keys (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    policy_id  INTEGER NOT NULL REFERENCES webhook_policies (id),
    sealed_key BLOB NOT NULL,
    retired_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX webhook_policy_retired_keys_by_policy ON webhook_policy_retired_keys (policy_id);
CREATE INDEX webhook_policy_retired_keys_by_expiry ON webhook_policy_retired_keys (expires_at);
