-- Time-stamp tokens issued by the TSA, kept for later proof (RFC 3161 §4, ETSI EN 319 421
-- record keeping). The serial is unique across every instance (its first field is the
-- instance id); a batch retried after a crash is idempotent thanks to the primary key.
CREATE TABLE timestamp_tokens (
    serial            TEXT NOT NULL PRIMARY KEY,   -- lower-case hex of the INTEGER octets
    instance_id       BIGINT NOT NULL,
    gen_time          TEXT NOT NULL,               -- UTC, microseconds
    policy            TEXT NOT NULL,               -- dotted OID
    imprint_algorithm TEXT NOT NULL,               -- dotted OID
    imprint           TEXT NOT NULL,               -- hex
    token_sha256      TEXT NOT NULL,               -- hex of SHA-256 over the DER token
    recorded_at       TEXT NOT NULL
);
CREATE INDEX timestamp_tokens_gen_time ON timestamp_tokens (gen_time);
