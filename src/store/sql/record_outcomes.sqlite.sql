WITH v AS (
    SELECT CAST(j.value->>0 AS BIGINT) AS id, j.value->>1 AS owner, j.value->>2 AS status,
        CAST(j.value->>3 AS BIGINT) AS attempted, CAST(j.value->>4 AS BIGINT) AS next_at,
        j.value->>5 AS error, j.value->>6 AS message
    FROM json_each($2) AS j
)
UPDATE deliveries SET status = v.status, attempts = deliveries.attempts + v.attempted,
    next_attempt_at = v.next_at, lease_owner = NULL, last_error = v.error, updated_at = $3,
    message = COALESCE(deliveries.message, v.message)
FROM v
WHERE deliveries.id = v.id AND deliveries.lease_owner = v.owner
RETURNING deliveries.id
