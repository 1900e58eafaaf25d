-- Initial schema of the CA store. One file for SQLite AND PostgreSQL: only portable SQL.
--
-- Conventions (see ca/src/storage/mod.rs):
--  * times are TEXT in UTC with a fixed width, 'YYYY-MM-DDTHH:MM:SS.ffffffZ', so that text
--    order is time order and both engines compare them the same way;
--  * binary data (DER of CSRs and certificates) is TEXT in standard base64, which avoids the
--    BLOB / BYTEA split and reads back with `base64 -d | openssl x509 -inform der`;
--  * integers are BIGINT; identifiers are allocated by the application (id_counters), never by
--    engine-specific auto-increment / identity columns;
--  * enumerations are TEXT with CHECK constraints spelled like the Rust enums.

CREATE TABLE structures (
    idnat         TEXT NOT NULL PRIMARY KEY,
    name          TEXT NOT NULL,
    departement   TEXT NOT NULL,
    registered_at TEXT NOT NULL,
    registered_by TEXT NOT NULL
);

CREATE TABLE professionals (
    idnat         TEXT NOT NULL PRIMARY KEY,
    id_type       TEXT NOT NULL CHECK (id_type IN ('rpps', 'adeli')),
    id_number     TEXT NOT NULL,
    surname       TEXT NOT NULL,
    given_names   TEXT NOT NULL,
    -- surname folded for search: upper case, accents removed
    name_key      TEXT NOT NULL,
    profession    TEXT NOT NULL,
    structure     TEXT REFERENCES structures (idnat),
    status        TEXT NOT NULL CHECK (status IN ('active', 'struck-off')),
    registered_at TEXT NOT NULL,
    registered_by TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE INDEX professionals_name_key ON professionals (name_key);
CREATE INDEX professionals_structure ON professionals (structure);

CREATE TABLE identity_proofings (
    id              BIGINT NOT NULL PRIMARY KEY,
    professional    TEXT NOT NULL REFERENCES professionals (idnat),
    document_type   TEXT NOT NULL
        CHECK (document_type IN ('cni', 'passport', 'titre-de-sejour', 'permis-de-conduire')),
    document_number TEXT NOT NULL,
    mode            TEXT NOT NULL CHECK (mode IN ('face-to-face', 'remote')),
    checked_by      TEXT NOT NULL,
    checked_at      TEXT NOT NULL,
    recorded_at     TEXT NOT NULL
);
CREATE INDEX identity_proofings_professional ON identity_proofings (professional);

-- Application-allocated identifiers: UPDATE ... SET last_value = last_value + 1 RETURNING.
CREATE TABLE id_counters (
    name       TEXT NOT NULL PRIMARY KEY,
    last_value BIGINT NOT NULL
);
INSERT INTO id_counters (name, last_value) VALUES ('identity_proofings', 0);
INSERT INTO id_counters (name, last_value) VALUES ('certificate_requests', 0);

CREATE TABLE certificate_requests (
    id            BIGINT NOT NULL PRIMARY KEY,
    profile       TEXT NOT NULL CHECK (profile IN ('auth', 'sign', 'conf', 'server', 'ra-operator')),
    professional  TEXT REFERENCES professionals (idnat),
    structure     TEXT REFERENCES structures (idnat),
    operator      TEXT,
    csr_der       TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('filed', 'approved', 'rejected', 'issued')),
    filed_by      TEXT NOT NULL,
    filed_at      TEXT NOT NULL,
    decided_by    TEXT,
    decided_at    TEXT,
    decision_note TEXT,
    issued_at     TEXT,
    -- exactly the subject the profile calls for
    CHECK ((profile IN ('auth', 'sign', 'conf')
                AND professional IS NOT NULL AND structure IS NULL AND operator IS NULL)
        OR (profile = 'server'
                AND structure IS NOT NULL AND professional IS NULL AND operator IS NULL)
        OR (profile = 'ra-operator'
                AND operator IS NOT NULL AND professional IS NULL AND structure IS NULL)),
    -- decided exactly when no longer filed
    CHECK ((status = 'filed' AND decided_by IS NULL AND decided_at IS NULL)
        OR (status <> 'filed' AND decided_by IS NOT NULL AND decided_at IS NOT NULL)),
    -- four eyes: whoever filed a request never approves it (withdrawing it is allowed)
    CHECK (status IN ('filed', 'rejected') OR decided_by <> filed_by),
    CHECK ((status = 'issued') = (issued_at IS NOT NULL))
);
CREATE INDEX certificate_requests_status ON certificate_requests (status, id);
CREATE INDEX certificate_requests_professional ON certificate_requests (professional);

CREATE TABLE certificates (
    serial            TEXT NOT NULL PRIMARY KEY,
    issuer            TEXT NOT NULL,
    profile           TEXT NOT NULL CHECK (profile IN
        ('auth', 'sign', 'conf', 'server', 'ra-operator', 'ocsp-signer', 'tsa-unit')),
    professional      TEXT REFERENCES professionals (idnat),
    structure         TEXT REFERENCES structures (idnat),
    request_id        BIGINT REFERENCES certificate_requests (id),
    subject           TEXT NOT NULL,
    not_before        TEXT NOT NULL,
    not_after         TEXT NOT NULL,
    der               TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('good', 'revoked', 'hold')),
    revoked_at        TEXT,
    revocation_reason TEXT CHECK (revocation_reason IN ('unspecified', 'keyCompromise',
        'cACompromise', 'affiliationChanged', 'superseded', 'cessationOfOperation',
        'certificateHold', 'privilegeWithdrawn', 'aACompromise')),
    superseded_by     TEXT REFERENCES certificates (serial),
    crl_partition     BIGINT NOT NULL CHECK (crl_partition >= 0),
    issued_at         TEXT NOT NULL,
    CHECK (not_before < not_after),
    CHECK ((status = 'good' AND revoked_at IS NULL AND revocation_reason IS NULL)
        OR (status = 'hold' AND revoked_at IS NOT NULL AND revocation_reason = 'certificateHold')
        OR (status = 'revoked' AND revoked_at IS NOT NULL AND revocation_reason IS NOT NULL
                AND revocation_reason <> 'certificateHold'))
);
CREATE INDEX certificates_professional ON certificates (professional, status);
CREATE INDEX certificates_structure ON certificates (structure);
CREATE INDEX certificates_request ON certificates (request_id);
-- CRL generation walks this partial index page by page (keyset on serial); the query repeats
-- the predicate verbatim so that both engines use it.
CREATE INDEX certificates_crl ON certificates (issuer, crl_partition, serial)
    WHERE status IN ('revoked', 'hold');

-- Last CRL number per issuer and partition, allocated with an atomic upsert ... RETURNING.
CREATE TABLE crl_state (
    issuer        TEXT NOT NULL,
    crl_partition BIGINT NOT NULL CHECK (crl_partition >= 0),
    last_number   BIGINT NOT NULL CHECK (last_number > 0),
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (issuer, crl_partition)
);

-- The audit journal: append-only hash chain.
CREATE TABLE audit_log (
    seq         BIGINT NOT NULL PRIMARY KEY,
    time        TEXT NOT NULL,
    actor       TEXT NOT NULL,
    auth_method TEXT NOT NULL,
    action      TEXT NOT NULL,
    object      TEXT NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('success', 'denied', 'failure')),
    details     TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);

-- Head of the chain: one row, locked by every appender (SELECT ... FOR UPDATE on PostgreSQL;
-- on SQLite every write transaction is BEGIN IMMEDIATE).
CREATE TABLE audit_head (
    id   BIGINT NOT NULL PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
    VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
