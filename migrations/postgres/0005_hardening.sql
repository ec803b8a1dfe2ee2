-- Whether an attempt's response headers were cut at the sender's caps.
ALTER TABLE delivery_attempts ADD COLUMN response_headers_truncated BOOLEAN NOT NULL DEFAULT FALSE;

-- A verification message's code, sealed with the server key (AES-256-GCM);
-- its payload holds the callback with the code redacted.
ALTER TABLE events ADD COLUMN sealed_code BYTEA;

-- Codes stored in plain text before: redacted in the messages kept with
-- deliveries, and in the payloads of verification events that have nothing
-- left to send (those still queued keep theirs until sent). The code is
-- the 24 characters after the callback's `/verify?code=`.
UPDATE deliveries
SET message = regexp_replace(message, '("callback":"[^"]*/verify\?code=)[A-Za-z0-9_-]{24}&', '\1REDACTED&')
WHERE kind = 'verify' AND message IS NOT NULL;
UPDATE events
SET payload = regexp_replace(payload, '("callback":"[^"]*/verify\?code=)[A-Za-z0-9_-]{24}&', '\1REDACTED&')
WHERE kind = 'verify'
  AND NOT EXISTS (SELECT 1 FROM deliveries d
                  WHERE d.event_id = events.id AND d.status IN ('pending', 'in_flight'));
