INSERT INTO delivery_attempts (delivery_id, started_at, duration_ms, response_status,
    response_headers, response_body, response_truncated, error, remote_ip, trigger,
    response_headers_truncated)
SELECT CAST(j.value->>0 AS BIGINT), CAST(j.value->>1 AS BIGINT), CAST(j.value->>2 AS BIGINT),
    CAST(j.value->>3 AS BIGINT), j.value->>4, j.value->>5, CAST(j.value->>6 AS BOOLEAN),
    j.value->>7, j.value->>8, j.value->>9, CAST(j.value->>10 AS BOOLEAN)
FROM json_each($1) AS j
ORDER BY j.key
