-- RA portal: dual control of administration (issue 19). An operator account created or reset
-- by one administrator is usable only once a second administrator confirms it; the one-time
-- password is made at confirmation and shown to the confirming administrator only.
-- `awaiting_confirmation_by`: the administrator whose creation or reset awaits confirmation
-- (NULL once confirmed); `confirmed_by`: who confirmed it last (or the key ceremony that made
-- the first administrators). Accounts that exist when this migration runs were made before
-- the rule and stay usable.
-- Same conventions as 0001 (portable SQL for SQLite and PostgreSQL).

ALTER TABLE ra_operators ADD COLUMN awaiting_confirmation_by TEXT;
ALTER TABLE ra_operators ADD COLUMN confirmed_by TEXT;
