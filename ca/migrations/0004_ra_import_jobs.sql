-- RA portal: CSV import jobs and their per-row report. Kept in the database, not in the
-- memory of the instance that runs them, so that every instance behind the load balancer
-- shows a job (DESIGN.md §7: stateless instances) and a restart keeps what was reported.
-- Same conventions as 0001 (portable SQL for SQLite and PostgreSQL, text UTC times,
-- application-allocated identifiers, BIGINT).

CREATE TABLE ra_import_jobs (
    -- 128 random bits, hex: also the job page's address
    id          TEXT NOT NULL PRIMARY KEY,
    -- the operator who uploaded the file, the only one who sees the job
    login       TEXT NOT NULL REFERENCES ra_operators (login),
    file_name   TEXT NOT NULL,
    total_rows  BIGINT NOT NULL CHECK (total_rows > 0),
    created_at  TEXT NOT NULL,
    -- moved forward with every reported row: an unfinished job whose last report is old was
    -- interrupted (its instance stopped)
    updated_at  TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX ra_import_jobs_created ON ra_import_jobs (created_at);

CREATE TABLE ra_import_rows (
    -- a job's report goes with it (retention deletes jobs only)
    job_id  TEXT NOT NULL REFERENCES ra_import_jobs (id) ON DELETE CASCADE,
    -- line in the uploaded file (the header is line 1)
    line    BIGINT NOT NULL,
    idnat   TEXT NOT NULL,
    ok      BIGINT NOT NULL CHECK (ok IN (0, 1)),
    message TEXT NOT NULL,
    PRIMARY KEY (job_id, line)
);
