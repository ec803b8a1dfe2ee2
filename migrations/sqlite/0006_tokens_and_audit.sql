-- A token carries its own role (it acts with the lower of that and its
-- person's highest role), an optional description and expiry, and when it
-- was last used (kept to the minute). Tokens made before act as their
-- person could when they were migrated: with the person's highest role.
ALTER TABLE api_tokens ADD COLUMN role TEXT NOT NULL DEFAULT 'member';
ALTER TABLE api_tokens ADD COLUMN description TEXT;
ALTER TABLE api_tokens ADD COLUMN expires_at INTEGER;
ALTER TABLE api_tokens ADD COLUMN last_used_at INTEGER;
UPDATE api_tokens SET role = (
    SELECT CASE
        WHEN (',' || replace(p.roles, ' ', '') || ',') LIKE '%,administrator,%' THEN 'administrator'
        WHEN (',' || replace(p.roles, ' ', '') || ',') LIKE '%,publisher,%' THEN 'publisher'
        ELSE 'member'
    END
    FROM people p WHERE p.id = api_tokens.person_id);
CREATE INDEX api_tokens_by_account ON api_tokens (account_id, id);

-- Moves on with every change to who may do what (a token revoked, rotated
-- or its expiry brought forward, a person's roles changed), in the change's
-- transaction: each process checks it to know when its cached tokens are
-- stale.
CREATE TABLE auth_generation (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL
);
INSERT INTO auth_generation (id, generation) VALUES (1, 1);

-- The audit trail: one row per change, written in the change's transaction.
-- actor: 'token' (token_id, person_id and client_ip say whose),
-- 'anonymous' (a verification callback: client_ip), 'system' (the delivery
-- engine) or 'command_line'. changes: a JSON object, each changed field
-- to {"old": …, "new": …}; details: a JSON object of what the action
-- took or made, or NULL. Never a secret.
CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id  TEXT NOT NULL,
    actor       TEXT NOT NULL,
    token_id    INTEGER,
    person_id   INTEGER,
    client_ip   TEXT,
    record_type TEXT NOT NULL,
    record_id   INTEGER NOT NULL,
    action      TEXT NOT NULL,
    changes     TEXT NOT NULL,
    details     TEXT,
    created_at  INTEGER NOT NULL
);
CREATE INDEX audit_events_by_account ON audit_events (account_id, id);
CREATE INDEX audit_events_by_record ON audit_events (account_id, record_type, record_id);
CREATE INDEX audit_events_by_time ON audit_events (created_at);
