-- Whether an attempt's response headers were cut at the sender's caps.
ALTER TABLE delivery_attempts ADD COLUMN response_headers_truncated BOOLEAN NOT NULL DEFAULT FALSE;

-- A verification message's code, sealed with the server key (AES-256-GCM);
-- its payload holds the callback with the code redacted.
ALTER TABLE events ADD COLUMN sealed_code BLOB;

-- Codes stored in plain text before, the 24 characters after the
-- callback's `?code=`: redacted in the messages kept with deliveries, and
-- in the payloads of verification events that have nothing left to send
-- (those still queued keep theirs until sent; what is kept of them is
-- redacted when they are).
CREATE TEMP VIEW plain_callbacks AS
SELECT 'event' AS source, id, json_extract(payload, '$.callback') AS url
FROM events
WHERE kind = 'verify' AND json_valid(payload)
  AND NOT EXISTS (SELECT 1 FROM deliveries d
                  WHERE d.event_id = events.id AND d.status IN ('pending', 'in_flight'))
UNION ALL
SELECT 'delivery', id, json_extract(message, '$.payload.callback')
FROM deliveries
WHERE kind = 'verify' AND message IS NOT NULL AND json_valid(message);

CREATE TEMP TABLE redacted AS
SELECT source, id,
       substr(url, 1, instr(url, '?code=') + 5) || 'REDACTED' || substr(url, instr(url, '?code=') + 30) AS url
FROM plain_callbacks
WHERE instr(url, '?code=') > 0 AND substr(url, instr(url, '?code=') + 30, 1) = '&';

UPDATE events
SET payload = json_set(payload, '$.callback',
                       (SELECT url FROM redacted WHERE source = 'event' AND redacted.id = events.id))
WHERE id IN (SELECT id FROM redacted WHERE source = 'event');
UPDATE deliveries
SET message = json_set(message, '$.payload.callback',
                       (SELECT url FROM redacted WHERE source = 'delivery' AND redacted.id = deliveries.id))
WHERE id IN (SELECT id FROM redacted WHERE source = 'delivery');

DROP TABLE redacted;
DROP VIEW plain_callbacks;
