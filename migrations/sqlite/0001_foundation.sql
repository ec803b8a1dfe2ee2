-- Accounts, people, API tokens and webhooks. Times are epoch seconds (UTC).
CREATE TABLE accounts (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE people (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    name       TEXT NOT NULL,
    email      TEXT,
    roles      TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);
CREATE INDEX people_by_account ON people (account_id);

CREATE TABLE api_tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    person_id  INTEGER NOT NULL REFERENCES people (id),
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

CREATE TABLE webhooks (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id         TEXT NOT NULL REFERENCES accounts (id),
    name               TEXT NOT NULL,
    event              TEXT NOT NULL,
    uri                TEXT NOT NULL,
    description        TEXT,
    disabled           BOOLEAN NOT NULL DEFAULT FALSE,
    mail_exceptions_to TEXT,
    source             TEXT NOT NULL,
    source_id          TEXT,
    webhook_policy_id  INTEGER,
    attachments        TEXT NOT NULL DEFAULT '[]',
    last_error         TEXT,
    verified           BOOLEAN NOT NULL DEFAULT FALSE,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);
-- Fan-out looks webhooks up by account and event.
CREATE INDEX webhooks_by_account_event ON webhooks (account_id, event);
