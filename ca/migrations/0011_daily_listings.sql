-- Indexes of the operators' daily listings (issue 25): the requests an operator filed, the
-- professionals of a scope (a set of professions) by folded surname.
-- Same conventions as 0001 (portable SQL for SQLite and PostgreSQL).

CREATE INDEX certificate_requests_filed_by ON certificate_requests (filed_by, id);
CREATE INDEX professionals_profession ON professionals (profession, name_key);
