WITH new_events AS (
    INSERT INTO events (account_id, kind, event, object_id, person_id, person_name, payload,
        links, webhook_id, created_at, published_at_ms)
    SELECT j.value->>0, $8, j.value->>1, CAST(j.value->>2 AS BIGINT), CAST(j.value->>3 AS BIGINT),
        j.value->>4, j.value->>5, j.value->>6, CAST(j.value->>7 AS BIGINT), $3, $2
    FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS j(value, key)
    ORDER BY j.key
    RETURNING id, account_id, event, object_id, webhook_id
), new_deliveries AS (
    INSERT INTO deliveries (uuid, account_id, webhook_id, event_id, event, object_id, kind, status,
        attempts, next_attempt_at, lease_owner, created_at, updated_at)
    SELECT gen_random_uuid()::text, s.account_id, s.webhook_id, s.event_id, s.event, s.object_id,
        'event', CASE WHEN s.n <= $4 THEN 'in_flight' ELSE 'pending' END, 0,
        CASE WHEN s.n <= $4 THEN $5 ELSE $2 END, CASE WHEN s.n <= $4 THEN $6 END, $3, $3
    FROM (
        SELECT w.account_id, w.id AS webhook_id, e.id AS event_id, e.event, e.object_id,
            CASE WHEN w.id = ANY($7) THEN NULL
                ELSE ROW_NUMBER() OVER (PARTITION BY w.id = ANY($7) ORDER BY e.id, w.id) END AS n
        FROM new_events e
        CROSS JOIN LATERAL (
            SELECT w.id, w.account_id FROM webhooks w
            WHERE w.account_id = e.account_id AND w.event = e.event
                AND w.disabled = FALSE AND w.verified = TRUE
                AND (e.webhook_id IS NULL OR w.id = e.webhook_id)
            OFFSET 0
        ) w
    ) s
    RETURNING id, event_id, lease_owner IS NOT NULL AS leased,
        CASE WHEN lease_owner IS NOT NULL THEN uuid END AS uuid, webhook_id,
        CASE WHEN lease_owner IS NOT NULL THEN account_id END AS account_id,
        CASE WHEN lease_owner IS NOT NULL THEN object_id END AS object_id
)
SELECT e.id, d.id, d.leased, d.uuid, d.webhook_id, d.account_id, d.object_id
FROM new_events e
LEFT JOIN new_deliveries d ON d.event_id = e.id
