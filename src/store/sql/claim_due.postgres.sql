WITH due AS MATERIALIZED (
    SELECT id FROM deliveries
    WHERE status IN ('pending', 'in_flight') AND next_attempt_at <= $4
        AND NOT (webhook_id = ANY($1))
    ORDER BY next_attempt_at LIMIT $5
    FOR UPDATE SKIP LOCKED
), leased AS (
    UPDATE deliveries SET status = 'in_flight', lease_owner = $2, next_attempt_at = $3
    FROM due WHERE deliveries.id = due.id
    RETURNING deliveries.id, deliveries.uuid, deliveries.origin_uuid, deliveries.lease_owner,
        deliveries.attempts, deliveries.kind, deliveries.webhook_id, deliveries.event_id
)
SELECT d.id, d.uuid, d.origin_uuid, d.lease_owner, d.attempts, d.kind, d.webhook_id,
    e.id AS event_id, e.event, e.object_id, e.person_id, e.person_name, e.payload, e.links,
    e.sealed_code, e.published_at_ms
FROM leased d
CROSS JOIN LATERAL (SELECT * FROM events WHERE events.id = d.event_id OFFSET 0) e
