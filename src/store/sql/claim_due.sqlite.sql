WITH due AS MATERIALIZED (
    SELECT id FROM deliveries
    WHERE status IN ('pending', 'in_flight') AND next_attempt_at <= $4
        AND NOT (webhook_id IN (SELECT value FROM json_each($1)))
    ORDER BY next_attempt_at LIMIT $5
)
UPDATE deliveries SET status = 'in_flight', lease_owner = $2, next_attempt_at = $3
FROM due WHERE deliveries.id = due.id
RETURNING deliveries.id
