INSERT INTO events (account_id, kind, event, object_id, person_id, person_name, payload, links,
    webhook_id, created_at, published_at_ms)
SELECT j.value->>0, $2, j.value->>1, CAST(j.value->>2 AS BIGINT), CAST(j.value->>3 AS BIGINT),
    j.value->>4, j.value->>5, j.value->>6, CAST(j.value->>7 AS BIGINT), $3, $4
FROM json_each($1) AS j
ORDER BY j.key
RETURNING id
