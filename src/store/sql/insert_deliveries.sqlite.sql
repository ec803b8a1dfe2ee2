INSERT INTO deliveries (uuid, account_id, webhook_id, event_id, event, object_id, kind, status,
    attempts, next_attempt_at, lease_owner, created_at, updated_at)
SELECT lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' ||
        substr(hex(randomblob(2)), 2) || '-' || substr('89ab', 1 + (abs(random()) % 4), 1) ||
        substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6))),
    s.account_id, s.webhook_id, s.event_id, s.event, s.object_id, 'event',
    CASE WHEN s.n <= $4 THEN 'in_flight' ELSE 'pending' END, 0,
    CASE WHEN s.n <= $4 THEN $5 ELSE $2 END, CASE WHEN s.n <= $4 THEN $6 END, $3, $3
FROM (
    SELECT w.account_id, w.id AS webhook_id, e.id AS event_id, e.event, e.object_id,
        CASE WHEN w.id IN (SELECT value FROM json_each($7)) THEN NULL
            ELSE ROW_NUMBER() OVER (PARTITION BY w.id IN (SELECT value FROM json_each($7))
                ORDER BY e.id, w.id) END AS n
    FROM events e
    JOIN webhooks w ON w.account_id = e.account_id AND w.event = e.event
        AND w.disabled = FALSE AND w.verified = TRUE
        AND (e.webhook_id IS NULL OR w.id = e.webhook_id)
    WHERE e.id IN (SELECT value FROM json_each($1))
) s
RETURNING id, event_id, lease_owner IS NOT NULL AS leased,
    CASE WHEN lease_owner IS NOT NULL THEN uuid END AS uuid, webhook_id,
    CASE WHEN lease_owner IS NOT NULL THEN account_id END AS account_id,
    CASE WHEN lease_owner IS NOT NULL THEN object_id END AS object_id
