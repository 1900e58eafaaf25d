-- RA portal: operators (clerks, approvers, registration office, auditors, administrators),
-- their sessions, and the link between a renewal request and the certificate it renews.
-- Same conventions as 0001 (portable SQL for SQLite and PostgreSQL, text UTC times,
-- application-allocated identifiers, BIGINT, enumerations as TEXT with CHECK).

CREATE TABLE ra_operators (
    login                TEXT NOT NULL PRIMARY KEY,
    display_name         TEXT NOT NULL,
    role                 TEXT NOT NULL CHECK (role IN
        ('clerk', 'approver', 'registration-office', 'auditor', 'administrator')),
    -- the Order (slug) of a clerk or an approver; nothing for the other roles
    order_slug           TEXT,
    status               TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    -- argon2id PHC string; never logged nor journaled
    password_hash        TEXT NOT NULL,
    -- 1 while the password is a one-time password to be replaced at first login
    must_change_password BIGINT NOT NULL CHECK (must_change_password IN (0, 1)),
    -- base32 TOTP secret (RFC 6238), generated at first login, enrolled once confirmed
    totp_secret          TEXT,
    totp_enrolled        BIGINT NOT NULL CHECK (totp_enrolled IN (0, 1)),
    -- last accepted TOTP time step (a code is accepted once)
    last_totp_step       BIGINT,
    failed_logins        BIGINT NOT NULL,
    locked_until         TEXT,
    created_at           TEXT NOT NULL,
    created_by           TEXT NOT NULL,
    updated_at           TEXT NOT NULL,
    CHECK ((role IN ('clerk', 'approver')) = (order_slug IS NOT NULL)),
    CHECK (totp_enrolled = 0 OR totp_secret IS NOT NULL)
);

CREATE TABLE ra_sessions (
    -- SHA-256 (hex) of the session token: the token itself is only in the cookie
    token_hash  TEXT NOT NULL PRIMARY KEY,
    login       TEXT NOT NULL REFERENCES ra_operators (login),
    auth_method TEXT NOT NULL,
    -- 'enrolment': password checked, TOTP enrolment and password change pending
    stage       TEXT NOT NULL CHECK (stage IN ('enrolment', 'full')),
    csrf_token  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    last_seen   TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
CREATE INDEX ra_sessions_login ON ra_sessions (login);

CREATE TABLE ra_renewals (
    request_id    BIGINT NOT NULL PRIMARY KEY REFERENCES certificate_requests (id),
    renews_serial TEXT NOT NULL REFERENCES certificates (serial)
);

-- The audit trail of one object (a professional, a request, a certificate) in the portal.
CREATE INDEX audit_log_object ON audit_log (object, seq);
