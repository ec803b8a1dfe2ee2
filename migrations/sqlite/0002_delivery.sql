-- Events, their deliveries (the durable queue), idempotency keys and mails.
-- Queue times (next_attempt_at) are epoch milliseconds; the rest epoch seconds.
ALTER TABLE webhooks ADD COLUMN consecutive_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhooks ADD COLUMN verify_code_hash TEXT;
ALTER TABLE webhooks ADD COLUMN verify_expires_at INTEGER;
ALTER TABLE webhooks ADD COLUMN last_failure_mail_at INTEGER;

-- kind: 'event' (published), 'test' (POST /webhooks/:id/test) or 'verify'.
CREATE TABLE events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id  TEXT NOT NULL REFERENCES accounts (id),
    kind        TEXT NOT NULL,
    event       TEXT NOT NULL,
    object_id   INTEGER NOT NULL,
    person_id   INTEGER,
    person_name TEXT,
    payload     TEXT NOT NULL,
    links       TEXT,
    webhook_id  INTEGER,
    created_at  INTEGER NOT NULL
);

CREATE TABLE idempotency_keys (
    account_id TEXT NOT NULL,
    key        TEXT NOT NULL,
    event_id   INTEGER,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, key)
);

-- A delivery is due when its status is 'pending' or 'in_flight' and
-- next_attempt_at has come. A worker's claim sets 'in_flight', lease_owner,
-- and moves next_attempt_at to the end of its lease, so a crashed worker's
-- deliveries fall due again by themselves. event and object_id repeat the
-- event's, for filtering; message is the body as first sent (unsigned).
CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid            TEXT NOT NULL,
    origin_uuid     TEXT,
    account_id      TEXT NOT NULL,
    webhook_id      INTEGER NOT NULL,
    event_id        INTEGER NOT NULL REFERENCES events (id),
    event           TEXT NOT NULL,
    object_id       INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_owner     TEXT,
    last_error      TEXT,
    message         TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status IN ('pending', 'in_flight');
CREATE INDEX deliveries_by_webhook ON deliveries (webhook_id, id);
CREATE INDEX deliveries_by_event ON deliveries (event_id);
CREATE INDEX deliveries_finished ON deliveries (updated_at) WHERE status IN ('succeeded', 'given_up');

-- One row per attempt to send a delivery. started_at is epoch milliseconds;
-- trigger: 'automatic', 'test' or 'redelivery'.
CREATE TABLE delivery_attempts (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id        INTEGER NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    started_at         INTEGER NOT NULL,
    duration_ms        INTEGER NOT NULL,
    response_status    INTEGER,
    response_headers   TEXT,
    response_body      TEXT,
    response_truncated BOOLEAN NOT NULL DEFAULT FALSE,
    error              TEXT,
    remote_ip          TEXT,
    trigger            TEXT NOT NULL
);
CREATE INDEX delivery_attempts_by_delivery ON delivery_attempts (delivery_id, id);

-- status: 'pending', 'sent' or 'failed'.
CREATE TABLE mails (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id      TEXT NOT NULL,
    webhook_id      INTEGER NOT NULL,
    recipients      TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    created_at      INTEGER NOT NULL
);
CREATE INDEX mails_due ON mails (next_attempt_at) WHERE status = 'pending';
