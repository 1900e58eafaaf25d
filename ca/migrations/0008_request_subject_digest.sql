-- Certificate requests: what the approver approves is what was filed (issue 19). At filing,
-- `subject_digest` is the SHA-256 of the subject's registry record (professional, their
-- identity proofings and structure; or the structure; or the operator); approval recomputes
-- it and refuses a request whose subject changed since, which must be filed again. Requests
-- filed before this migration have none and are refused the same way.
-- Same conventions as 0001 (portable SQL for SQLite and PostgreSQL).

ALTER TABLE certificate_requests ADD COLUMN subject_digest TEXT;
