//! CSV import jobs of the RA portal and their per-row report (migration 0004).
//!
//! A job lives in the database rather than in the memory of the instance that runs it, so any
//! instance can show it and a restart keeps its report. A good row is registered and reported
//! in one transaction: a crash never leaves a professional registered by an import without its
//! line in the report, nor a line reported as registered that is not.

use serde_json::json;
use sqlx::Row as _;
use time::OffsetDateTime;

use super::{db_time, now, opt_time_col, time_col, Store};
use crate::domain::{Actor, IdentityProofing, Professional};
use crate::error::{Error, Result};

/// An import job to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewImportJob {
    /// Random identifier (also the job page's address).
    pub id: String,
    /// The operator who uploaded the file.
    pub login: String,
    pub file_name: String,
    /// Data rows in the file (at least one).
    pub total_rows: u64,
}

/// The outcome of one line of an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    /// Line number in the file (the header is line 1).
    pub line: u64,
    pub idnat: String,
    /// Registered (true) or refused (false).
    pub ok: bool,
    /// Why the line was refused (written by the portal, shown to the clerk); empty for a
    /// registered line.
    pub message: String,
}

/// A stored import job with the lines reported so far, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportJobRecord {
    pub id: String,
    pub login: String,
    pub file_name: String,
    pub total_rows: u64,
    pub created_at: OffsetDateTime,
    /// Time of the last change: creation, a reported line, the end.
    pub updated_at: OffsetDateTime,
    pub finished_at: Option<OffsetDateTime>,
    pub rows: Vec<ImportRow>,
}

/// Jobs kept per operator: creating one more forgets the oldest beyond this.
pub const IMPORT_JOBS_KEPT_PER_OPERATOR: u32 = 50;
/// Longest file name, identifier cell and refusal message stored (characters).
const MAX_FILE_NAME: usize = 255;
const MAX_IDNAT: usize = 64;
const MAX_MESSAGE: usize = 2_000;

/// Forgets jobs (their report lines go with them, `ON DELETE CASCADE`): those created before
/// $1, and those of operator $2 beyond their $3 most recent unless still running (unfinished
/// and changed at or after $4). One statement, so that its view of the operator's jobs is one.
const FORGET_JOBS: &str = "DELETE FROM ra_import_jobs WHERE created_at < $1 \
     OR (login = $2 AND (finished_at IS NOT NULL OR updated_at < $4) \
     AND id NOT IN (SELECT id FROM ra_import_jobs WHERE login = $2 \
     ORDER BY created_at DESC, id DESC LIMIT $3))";
const _: () = assert!(IMPORT_JOBS_KEPT_PER_OPERATOR >= 1);

fn import_object(id: &str) -> String {
    format!("import:{id}")
}

/// Text from outside (a file name, a cell, a message quoting one) goes in bounded and without
/// control characters (PostgreSQL refuses NUL in text).
fn check_text(field: &'static str, value: &str, max: usize) -> Result<()> {
    if value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(Error::invalid(
            field,
            format!("at most {max} characters, no control character"),
        ));
    }
    Ok(())
}

fn count(table: &'static str, v: i64) -> Result<u64> {
    u64::try_from(v).map_err(|_| Error::corrupt(table, format!("negative count {v}")))
}

impl Store {
    /// Unfinished jobs changed at or after `active_since` (jobs being worked on by some
    /// instance): all of them, and those of operator `login`.
    pub async fn running_import_jobs(
        &self,
        active_since: OffsetDateTime,
        login: &str,
    ) -> Result<(u64, u64)> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS total, \
             COALESCE(SUM(CASE WHEN login = $2 THEN 1 ELSE 0 END), 0) AS of_login \
             FROM ra_import_jobs WHERE finished_at IS NULL AND updated_at >= $1",
        )
        .bind(db_time(active_since)?)
        .bind(login)
        .fetch_one(&self.pool)
        .await?;
        Ok((
            count("ra_import_jobs", row.try_get("total")?)?,
            count("ra_import_jobs", row.try_get("of_login")?)?,
        ))
    }

    /// Creates a job for its operator (`actor`) and journals its start. In the same
    /// transaction, forgets the jobs (and their reports) created before `forget_before`, and
    /// the operator's oldest beyond [`IMPORT_JOBS_KEPT_PER_OPERATOR`] that are not running
    /// (unfinished and changed at or after `active_since`): reports are kept a while, and
    /// forgotten when a job is next created.
    pub async fn create_import_job(
        &self,
        job: &NewImportJob,
        forget_before: OffsetDateTime,
        active_since: OffsetDateTime,
        actor: &Actor,
    ) -> Result<()> {
        if job.login != actor.id.as_str() {
            return Err(Error::invalid(
                "import job",
                "a job is created by its own operator",
            ));
        }
        if job.total_rows == 0 {
            return Err(Error::invalid("import job", "a job has at least one row"));
        }
        check_text("import file name", &job.file_name, MAX_FILE_NAME)?;
        let total = i64::try_from(job.total_rows)
            .map_err(|_| Error::invalid("import job", "too many rows"))?;
        let at = db_time(now())?;
        let cutoff = db_time(forget_before)?;
        let mut tx = self.begin_write().await?;
        // The existing jobs kept are the operator's most recent but one; with the new one,
        // that makes IMPORT_JOBS_KEPT_PER_OPERATOR (plus any still running).
        sqlx::query(FORGET_JOBS)
            .bind(&cutoff)
            .bind(&job.login)
            .bind(i64::from(IMPORT_JOBS_KEPT_PER_OPERATOR) - 1)
            .bind(db_time(active_since)?)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO ra_import_jobs (id, login, file_name, total_rows, created_at, \
             updated_at, finished_at) VALUES ($1, $2, $3, $4, $5, $5, NULL)",
        )
        .bind(&job.id)
        .bind(&job.login)
        .bind(&job.file_name)
        .bind(total)
        .bind(&at)
        .execute(&mut *tx)
        .await?;
        self.commit_audited(
            tx,
            actor,
            "professional.import",
            &import_object(&job.id),
            &json!({ "rows": job.total_rows }),
        )
        .await?;
        Ok(())
    }

    /// Registers the professional of line `line` of job `job_id` and reports the line as
    /// registered, in one transaction (see [`Store::register_professional`] for the checks).
    pub async fn register_imported_professional(
        &self,
        job_id: &str,
        line: u64,
        professional: &Professional,
        proofing: &IdentityProofing,
        actor: &Actor,
    ) -> Result<()> {
        let row = ImportRow {
            line,
            idnat: professional.idnat.to_string(),
            ok: true,
            message: String::new(),
        };
        let mut tx = self.begin_write().await?;
        self.insert_professional(&mut tx, professional, proofing, actor)
            .await?;
        insert_import_row(&mut tx, job_id, &row, actor).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Reports a line that was not registered.
    pub async fn report_refused_import_row(
        &self,
        job_id: &str,
        row: &ImportRow,
        actor: &Actor,
    ) -> Result<()> {
        if row.ok {
            return Err(Error::invalid(
                "import row",
                "a registered line is reported with its registration",
            ));
        }
        let mut tx = self.begin_write().await?;
        insert_import_row(&mut tx, job_id, row, actor).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Marks a job finished (the caller has reported every line it will).
    pub async fn finish_import_job(&self, job_id: &str) -> Result<()> {
        let at = db_time(now())?;
        let done = sqlx::query(
            "UPDATE ra_import_jobs SET finished_at = $1, updated_at = $1 \
             WHERE id = $2 AND finished_at IS NULL",
        )
        .bind(&at)
        .bind(job_id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(Error::invalid(
                "import job",
                "no unfinished job with this identifier",
            ));
        }
        Ok(())
    }

    /// A job and the lines reported so far.
    pub async fn import_job(&self, id: &str) -> Result<Option<ImportJobRecord>> {
        const TABLE: &str = "ra_import_jobs";
        let Some(row) = sqlx::query(
            "SELECT id, login, file_name, total_rows, created_at, updated_at, finished_at \
             FROM ra_import_jobs WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let mut job = ImportJobRecord {
            id: row.try_get("id")?,
            login: row.try_get("login")?,
            file_name: row.try_get("file_name")?,
            total_rows: count(TABLE, row.try_get("total_rows")?)?,
            created_at: time_col(TABLE, &row, "created_at")?,
            updated_at: time_col(TABLE, &row, "updated_at")?,
            finished_at: opt_time_col(TABLE, &row, "finished_at")?,
            rows: Vec::new(),
        };
        let rows = sqlx::query(
            "SELECT line, idnat, ok, message FROM ra_import_rows WHERE job_id = $1 ORDER BY line",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        for r in rows {
            job.rows.push(ImportRow {
                line: count("ra_import_rows", r.try_get("line")?)?,
                idnat: r.try_get("idnat")?,
                ok: r.try_get::<i64, _>("ok")? == 1,
                message: r.try_get("message")?,
            });
        }
        Ok(Some(job))
    }
}

/// Inserts a report line and moves the job's `updated_at` forward; refused when the job is
/// unknown, finished, or not the actor's.
async fn insert_import_row(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    job_id: &str,
    row: &ImportRow,
    actor: &Actor,
) -> Result<()> {
    let line =
        i64::try_from(row.line).map_err(|_| Error::invalid("import row", "line out of range"))?;
    check_text("import row identifier", &row.idnat, MAX_IDNAT)?;
    check_text("import row message", &row.message, MAX_MESSAGE)?;
    let at = db_time(now())?;
    // A job goes on only while its operator may still act: disabling an operator stops the
    // job at its next line.
    let touched = sqlx::query(
        "UPDATE ra_import_jobs SET updated_at = $1 \
         WHERE id = $2 AND finished_at IS NULL AND login = $3 AND EXISTS \
         (SELECT 1 FROM ra_operators o WHERE o.login = $3 AND o.status = 'active')",
    )
    .bind(&at)
    .bind(job_id)
    .bind(actor.id.as_str())
    .execute(&mut **tx)
    .await?;
    if touched.rows_affected() == 0 {
        return Err(Error::invalid(
            "import row",
            "no unfinished job of this active operator with this identifier",
        ));
    }
    sqlx::query(
        "INSERT INTO ra_import_rows (job_id, line, idnat, ok, message) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(job_id)
    .bind(line)
    .bind(&row.idnat)
    .bind(i64::from(row.ok))
    .bind(&row.message)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
