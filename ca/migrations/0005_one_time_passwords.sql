-- RA portal: a one-time password expires and works once (issue 19). `otp_expires_at` is the
-- time until which the operator's current one-time password may open an enrolment session;
-- NULL once it has opened one, and for operators who have none (enrolled). An operator still
-- to enrol when this migration runs holds a one-time password of unknown age: it is treated
-- as expired, and the account is reset by an administrator.
-- Same conventions as 0001 (portable SQL for SQLite and PostgreSQL, text UTC times).

ALTER TABLE ra_operators ADD COLUMN otp_expires_at TEXT;
