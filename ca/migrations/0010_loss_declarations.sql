-- Lost or stolen cards (issue 25). Same conventions as 0001 (portable SQL).
--
-- `revocation_codes`: the code given to a professional when a certificate is issued for a
-- request, stored only as an argon2id hash; written before the certificate is signed, so that
-- no certificate exists without its code (a failed issuance leaves a code nobody was shown,
-- replaced when the request is issued again).
-- `loss_code_failures`: wrong codes in a row per professional, and the lock they set.
-- `loss_declarations`: each declaration, its channel (the holder on the public page or
-- through the API, or an operator), what it suspended, and how an operator closed it.

CREATE TABLE revocation_codes (
    request_id   BIGINT NOT NULL PRIMARY KEY REFERENCES certificate_requests (id),
    professional TEXT NOT NULL REFERENCES professionals (idnat),
    code_hash    TEXT NOT NULL,
    created_at   TEXT NOT NULL
);
CREATE INDEX revocation_codes_professional ON revocation_codes (professional);

CREATE TABLE loss_code_failures (
    professional   TEXT NOT NULL PRIMARY KEY REFERENCES professionals (idnat),
    failures       BIGINT NOT NULL CHECK (failures >= 0),
    last_failed_at TEXT NOT NULL,
    locked_until   TEXT
);

CREATE TABLE loss_declarations (
    id           BIGINT NOT NULL PRIMARY KEY,
    professional TEXT NOT NULL REFERENCES professionals (idnat),
    channel      TEXT NOT NULL CHECK (channel IN ('holder-portal', 'holder-api', 'operator')),
    declared_at  TEXT NOT NULL,
    declared_by  TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('open', 'revoked', 'reinstated')),
    closed_by    TEXT,
    closed_at    TEXT,
    CHECK ((status = 'open' AND closed_by IS NULL AND closed_at IS NULL)
        OR (status <> 'open' AND closed_by IS NOT NULL AND closed_at IS NOT NULL))
);
CREATE INDEX loss_declarations_status ON loss_declarations (status, id);
CREATE INDEX loss_declarations_professional ON loss_declarations (professional);

-- The certificates a declaration suspended.
CREATE TABLE loss_declaration_certificates (
    declaration BIGINT NOT NULL REFERENCES loss_declarations (id),
    serial      TEXT NOT NULL REFERENCES certificates (serial),
    PRIMARY KEY (declaration, serial)
);

INSERT INTO id_counters (name, last_value) VALUES ('loss_declarations', 0);
