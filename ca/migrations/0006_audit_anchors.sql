-- Anchors of the audit journal in time (DESIGN.md §7, ETSI EN 319 401 §7.9): the journal
-- head at sequence number `seq`, time-stamped by our TSA. The token's imprint is the SHA-256
-- head hash of that entry (the raw 32 octets of `head_hash`), so anyone holding the token
-- and the entry can check when the journal up to `seq` existed. One anchor per sequence
-- number: instances that anchor the same head at once keep the first token recorded.
-- Same conventions as 0001 (portable SQL for SQLite and PostgreSQL, text UTC times, binary
-- data as base64 text, BIGINT).
-- The number 0005 is reserved for another change; sqlx applies migrations by version, so a
-- later 0005 still runs on a database that has this one.
CREATE TABLE audit_anchors (
    seq        BIGINT NOT NULL PRIMARY KEY,   -- the anchored entry of audit_log
    head_hash  TEXT NOT NULL,                 -- hex, as audit_log.hash of that entry
    token      TEXT NOT NULL,                 -- base64 of the DER TimeStampToken (ContentInfo)
    gen_time   TEXT NOT NULL,                 -- the token's genTime, UTC, microseconds
    created_at TEXT NOT NULL                  -- when this row was written
);
