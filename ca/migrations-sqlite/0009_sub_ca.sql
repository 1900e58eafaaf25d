-- Sub-CA certificates signed by the offline root are recorded like every other certificate a
-- CA key signs (profile 'sub-ca'). SQLite cannot change a CHECK constraint, so the table is
-- rebuilt (https://www.sqlite.org/lang_altertable.html#otheralter), inside the migration's
-- transaction. The PostgreSQL counterpart (ca/migrations-postgres/0009_sub_ca.sql) changes
-- the constraint in place.
--
-- `certificates` is referenced by itself (superseded_by) and by ra_renewals (renews_serial),
-- and foreign keys are on: their checks are deferred to the commit, where every reference
-- must hold again. The rows are copied aside first and put back into the new table under its
-- final name: renaming a new table into place would leave the references counted as broken by
-- the DROP, and renaming the old one away would make ra_renewals follow it.
PRAGMA defer_foreign_keys = ON;

CREATE TABLE certificates_before_sub_ca AS SELECT * FROM certificates;

DROP TABLE certificates;

-- As in 0001, with 'sub-ca' among the profiles.
CREATE TABLE certificates (
    serial            TEXT NOT NULL PRIMARY KEY,
    issuer            TEXT NOT NULL,
    profile           TEXT NOT NULL CHECK (profile IN
        ('auth', 'sign', 'conf', 'server', 'ra-operator', 'ocsp-signer', 'tsa-unit', 'sub-ca')),
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

-- In rowid order: the order the rows were written in.
INSERT INTO certificates (serial, issuer, profile, professional, structure, request_id, subject,
        not_before, not_after, der, status, revoked_at, revocation_reason, superseded_by,
        crl_partition, issued_at)
    SELECT serial, issuer, profile, professional, structure, request_id, subject, not_before,
        not_after, der, status, revoked_at, revocation_reason, superseded_by, crl_partition,
        issued_at
    FROM certificates_before_sub_ca ORDER BY rowid;

DROP TABLE certificates_before_sub_ca;

-- The indexes of 0001, dropped with the old table.
CREATE INDEX certificates_professional ON certificates (professional, status);
CREATE INDEX certificates_structure ON certificates (structure);
CREATE INDEX certificates_request ON certificates (request_id);
CREATE INDEX certificates_crl ON certificates (issuer, crl_partition, serial)
    WHERE status IN ('revoked', 'hold');
