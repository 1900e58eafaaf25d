//! Persistent state of the CA: the only module of the project that speaks SQL.
//!
//! # Backends
//!
//! [`Store::connect`] takes `sqlite://path?mode=rwc` (the default, embedded) or
//! `postgres://…` (several `igc serve` instances on one database). Both run through sqlx's
//! `Any` driver, so every query is written once, with `$1, $2, …` placeholders: PostgreSQL's
//! native syntax, which SQLite also accepts (`$NNN` parameters). The handful of statements that
//! must differ (row locks) are chosen by [`Backend`].
//!
//! # Schema portability
//!
//! One set of migrations (`ca/migrations/`) for both engines. Times are stored as fixed-width
//! UTC text (`2026-07-01T12:00:00.000000Z`), binary data (DER) as base64 text, integers as
//! BIGINT, and identifiers are allocated by the application (`id_counters`), so no
//! engine-specific type, default or function is needed.
//!
//! The exception is a change the two engines cannot make with the same SQL, such as widening a
//! CHECK constraint (SQLite rebuilds the table, PostgreSQL alters the constraint): it is one
//! version number with one file in `ca/migrations-sqlite/` and one in `ca/migrations-postgres/`,
//! and no file of that version in `ca/migrations/`. Each engine runs the common set and its own
//! ([`migrator`]), in version order, so both schemas go through the same versions.
//!
//! # Transactions, locking, audit
//!
//! Every state-changing operation runs in one transaction that also appends its audit entry;
//! if anything fails, nothing is written, journal included. On SQLite, write transactions are
//! `BEGIN IMMEDIATE` (the write lock is taken up front: writers queue on `busy_timeout` instead
//! of failing on lock upgrade), the database is in WAL mode and foreign keys are enforced. On
//! PostgreSQL (READ COMMITTED) state transitions are conditional `UPDATE … WHERE status = …`,
//! the audit chain head is a one-row table locked with `SELECT … FOR UPDATE`, and CRL numbers
//! come from an atomic `INSERT … ON CONFLICT DO UPDATE … RETURNING`.

mod audit;
mod certificates;
mod crl;
pub mod crl_store;
mod imports;
mod listings;
mod loss;
pub mod ocsp;
mod operator_auth;
mod operators;
mod registry;
mod requests;
mod tokens;
mod totp;

use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;
use std::time::Duration;

use base64::Engine as _;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::{
    Any, AnyPool, ConnectOptions as _, Connection as _, Executor as _, Row as _, Transaction,
};
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

use crate::error::{Error, Result};

pub use crate::domain::{LossChannel, LossStatus};
pub use audit::{
    AuditAnchor, AuditEntry, AuditVerification, BrokenEntry, ChainProblem, NewAuditAnchor, Outcome,
};
pub use certificates::{
    CertificateRecord, CertificateStatus, InfraOrigin, InfraRecorded, NewCertificate,
};
pub use crl::{RevokedEntries, RevokedEntry};
pub use crl_store::CrlNumbers;
pub use imports::{ImportJobRecord, ImportRow, NewImportJob, IMPORT_JOBS_KEPT_PER_OPERATOR};
pub use listings::{ExpiringCertificate, LockedOperator, ProfessionalKey, RequestSummary};
pub use loss::{CodeFailure, LossCodeState, LossDeclaration, MAX_CODES_CHECKED};
pub use operators::{
    NewOperator, NewSession, Operator, OperatorCredentials, OperatorRole, OperatorStatus,
    SealedCredentials, SessionRecord, SessionStage, MIN_ACTIVE_ADMINISTRATORS,
};
pub use requests::{CertificateRequest, NewRequest, RequestId, RequestSubject};
pub use tokens::TimestampTokenRecord;
pub use totp::totp_secret_aad;

/// The database engine behind a [`Store`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Connection settings.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Pool size.
    pub max_connections: u32,
    /// How long to wait for a free pooled connection.
    pub acquire_timeout: Duration,
    /// SQLite only: how long a writer waits for the write lock before giving up.
    pub sqlite_busy_timeout: Duration,
    /// Apply pending migrations when connecting.
    pub migrate: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(30),
            sqlite_busy_timeout: Duration::from_secs(30),
            migrate: true,
        }
    }
}

/// Handle on the CA database. Cheap to clone (a connection pool).
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Seals the secrets the store keeps (TOTP secrets); none = such secrets are refused.
    sealer: Option<crate::sealing::SharedSealer>,
}

/// A statement with its parameters bound, for [`Store::fetch_rows`] and [`Store::fetch_row`].
type AnyQuery<'q> = sqlx::query::Query<'q, Any, sqlx::any::AnyArguments>;

/// Turns a row into a value of the domain, or says why the row is corrupt.
type Decoder<T> = fn(&AnyRow) -> Result<T>;

/// The migrations both engines run.
static COMMON_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
/// The versions SQLite runs in its own way.
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations-sqlite");
/// The versions PostgreSQL runs in its own way.
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations-postgres");

/// Every migration of `backend`: the common ones and its own, in version order (each keeps the
/// checksum of its file, so databases migrated before keep validating).
fn migrator(backend: Backend) -> &'static sqlx::migrate::Migrator {
    static SQLITE: LazyLock<sqlx::migrate::Migrator> =
        LazyLock::new(|| combined(&SQLITE_MIGRATIONS));
    static POSTGRES: LazyLock<sqlx::migrate::Migrator> =
        LazyLock::new(|| combined(&POSTGRES_MIGRATIONS));
    match backend {
        Backend::Sqlite => &SQLITE,
        Backend::Postgres => &POSTGRES,
    }
}

/// The common migrations followed by `engine`'s, sorted by version.
fn combined(engine: &sqlx::migrate::Migrator) -> sqlx::migrate::Migrator {
    sqlx::migrate::Migrator::with_migrations(
        COMMON_MIGRATIONS
            .iter()
            .chain(engine.iter())
            .cloned()
            .collect(),
    )
}

impl Store {
    /// Connects with default options and applies pending migrations.
    pub async fn connect(url: &str) -> Result<Store> {
        Store::connect_with(url, StoreOptions::default()).await
    }

    pub async fn connect_with(url: &str, options: StoreOptions) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let connect_options = AnyConnectOptions::from_str(url)?;
        let scheme = connect_options.database_url.scheme().to_owned();
        let backend = match scheme.as_str() {
            "sqlite" => Backend::Sqlite,
            "postgres" | "postgresql" => Backend::Postgres,
            _ => return Err(Error::UnsupportedDatabaseUrl { scheme }),
        };

        if backend == Backend::Sqlite {
            // WAL is a property of the database file: set it once, before the pool exists.
            let mut conn = connect_options.connect().await?;
            conn.execute("PRAGMA journal_mode = WAL").await?;
            conn.close().await?;
        }

        let busy_ms = u64::try_from(options.sqlite_busy_timeout.as_millis()).unwrap_or(u64::MAX);
        let pool = AnyPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        // An integer formatted by us: nothing to inject.
                        conn.execute(sqlx::AssertSqlSafe(format!(
                            "PRAGMA busy_timeout = {busy_ms}"
                        )))
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(connect_options)
            .await?;

        let store = Store {
            pool,
            backend,
            sealer: None,
        };
        if options.migrate {
            store.migrate().await?;
        }
        Ok(store)
    }

    /// Applies pending migrations (on PostgreSQL sqlx serialises concurrent migrators with an
    /// advisory lock, so several instances may start at once).
    pub async fn migrate(&self) -> Result<()> {
        migrator(self.backend).run(&self.pool).await?;
        Ok(())
    }

    /// The same store, sealing the secrets it keeps (TOTP secrets) with `sealer`. A store
    /// without one refuses to write or read such a secret rather than keep it in clear.
    pub fn with_sealer(mut self, sealer: std::sync::Arc<dyn pkix::sealing::SecretSealer>) -> Store {
        self.sealer = Some(crate::sealing::SharedSealer(sealer));
        self
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Begins a write transaction (see the module documentation for the locking model).
    async fn begin_write(&self) -> Result<Transaction<'static, Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// Runs `query` on the pool and decodes each of its rows with `decode`.
    async fn fetch_rows<T>(&self, query: AnyQuery<'_>, decode: Decoder<T>) -> Result<Vec<T>> {
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(decode).collect()
    }

    /// Runs `query` on the pool and decodes its row, if it has one, with `decode`.
    async fn fetch_row<T>(&self, query: AnyQuery<'_>, decode: Decoder<T>) -> Result<Option<T>> {
        let row = query.fetch_optional(&self.pool).await?;
        row.as_ref().map(decode).transpose()
    }

    /// Picks the statement for the current backend.
    fn sql(&self, sqlite: &'static str, postgres: &'static str) -> &'static str {
        match self.backend {
            Backend::Sqlite => sqlite,
            Backend::Postgres => postgres,
        }
    }
}

// ----- value encoding ------------------------------------------------------------------------

const DB_TIME: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

/// Stored form of a time: UTC, microseconds, fixed width (years 1–9999).
pub(crate) fn db_time(t: OffsetDateTime) -> Result<String> {
    // `to_offset` panics when the UTC date leaves the supported range.
    let t = t
        .checked_to_offset(UtcOffset::UTC)
        .ok_or_else(|| Error::invalid("time", "out of range in UTC"))?;
    if !(1..=9999).contains(&t.year()) {
        return Err(Error::invalid(
            "time",
            format!("year {} out of range", t.year()),
        ));
    }
    // Written by hand rather than with `t.format(DB_TIME)`: the TSA's
    // recorder formats one time per token, thousands a second, and `time`'s
    // general formatter cost about ten times as much. The unit test checks
    // both agree.
    let mut s = String::with_capacity(27);
    push_digits(&mut s, t.year().unsigned_abs(), 4);
    s.push('-');
    push_digits(&mut s, u32::from(u8::from(t.month())), 2);
    s.push('-');
    push_digits(&mut s, u32::from(t.day()), 2);
    s.push('T');
    push_digits(&mut s, u32::from(t.hour()), 2);
    s.push(':');
    push_digits(&mut s, u32::from(t.minute()), 2);
    s.push(':');
    push_digits(&mut s, u32::from(t.second()), 2);
    s.push('.');
    push_digits(&mut s, t.microsecond(), 6);
    s.push('Z');
    Ok(s)
}

/// Appends the `width` lowest decimal digits of `n`, zero-padded.
fn push_digits(s: &mut String, n: u32, width: u32) {
    for place in (0..width).rev() {
        let digit = n / 10u32.pow(place) % 10;
        // A digit below 10 is always a char.
        s.push(char::from_digit(digit, 10).unwrap_or('0'));
    }
}

/// Lower-case hex of `bytes`: what the store keeps for digests, imprints and
/// serials. `hex::encode` collects a char iterator, which showed in the TSA
/// recorder's profile.
pub fn lower_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

pub(crate) fn parse_db_time(table: &'static str, s: &str) -> Result<OffsetDateTime> {
    PrimitiveDateTime::parse(s, DB_TIME)
        .map(PrimitiveDateTime::assume_utc)
        .map_err(|e| Error::corrupt(table, format!("time {s:?}: {e}")))
}

/// Truncates to the precision the store keeps (microseconds), so callers can compare.
pub fn db_precision(t: OffsetDateTime) -> OffsetDateTime {
    // Out of range in UTC (which `db_time` refuses): left as it is.
    let t = t.checked_to_offset(UtcOffset::UTC).unwrap_or(t);
    t.replace_nanosecond(t.nanosecond() / 1_000 * 1_000)
        .unwrap_or(t)
}

pub(crate) fn now() -> OffsetDateTime {
    db_precision(OffsetDateTime::now_utc())
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub(crate) fn unb64(table: &'static str, s: &str) -> Result<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| Error::corrupt(table, format!("base64: {e}")))
}

/// Parses a stored value back into its domain type.
pub(crate) fn parse_col<T>(table: &'static str, s: &str) -> Result<T>
where
    T: FromStr,
    T::Err: fmt::Display,
{
    s.parse().map_err(|e| Error::corrupt(table, e))
}

/// Reads the text column `name` of a `table` row and parses it into its domain type.
pub(crate) fn text_col<T>(table: &'static str, row: &AnyRow, name: &str) -> Result<T>
where
    T: FromStr,
    T::Err: fmt::Display,
{
    let s: String = row.try_get(name)?;
    parse_col(table, &s)
}

/// [`text_col`] for a nullable column.
pub(crate) fn opt_text_col<T>(table: &'static str, row: &AnyRow, name: &str) -> Result<Option<T>>
where
    T: FromStr,
    T::Err: fmt::Display,
{
    let s: Option<String> = row.try_get(name)?;
    parse_opt_col(table, s.as_deref())
}

/// Reads the time column `name` of a `table` row.
pub(crate) fn time_col(table: &'static str, row: &AnyRow, name: &str) -> Result<OffsetDateTime> {
    let s: String = row.try_get(name)?;
    parse_db_time(table, &s)
}

/// [`time_col`] for a nullable column.
pub(crate) fn opt_time_col(
    table: &'static str,
    row: &AnyRow,
    name: &str,
) -> Result<Option<OffsetDateTime>> {
    let s: Option<String> = row.try_get(name)?;
    s.map(|t| parse_db_time(table, &t)).transpose()
}

pub(crate) fn parse_opt_col<T>(table: &'static str, s: Option<&str>) -> Result<Option<T>>
where
    T: FromStr,
    T::Err: fmt::Display,
{
    s.map(|s| parse_col(table, s)).transpose()
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Upper case without diacritics, for name search ("Lefèvre" → "LEFEVRE").
pub(crate) fn fold_name(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.trim().chars().flat_map(char::to_uppercase) {
        let folded: &str = match c {
            'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' => "A",
            'Æ' => "AE",
            'Ç' => "C",
            'È' | 'É' | 'Ê' | 'Ë' => "E",
            'Ì' | 'Í' | 'Î' | 'Ï' => "I",
            'Ñ' => "N",
            'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'Ø' => "O",
            'Œ' => "OE",
            'Ù' | 'Ú' | 'Û' | 'Ü' => "U",
            'Ý' | 'Ÿ' => "Y",
            '’' | '‘' => "'",
            _ => {
                out.push(c);
                continue;
            }
        };
        out.push_str(folded);
    }
    out
}

/// Allocates the next value of an application counter, inside the caller's transaction.
async fn next_id(tx: &mut Transaction<'static, Any>, counter: &'static str) -> Result<i64> {
    let id: i64 = sqlx::query_scalar(
        "UPDATE id_counters SET last_value = last_value + 1 WHERE name = $1 RETURNING last_value",
    )
    .bind(counter)
    .fetch_one(&mut **tx)
    .await?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn times_are_fixed_width_and_round_trip() {
        let t = time::macros::datetime!(2026-07-01 12:34:56.123456789 +02:00);
        let s = db_time(t).unwrap();
        assert_eq!(s, "2026-07-01T10:34:56.123456Z");
        assert_eq!(parse_db_time("t", &s).unwrap(), db_precision(t));
        let early = db_time(time::macros::datetime!(0999-01-01 00:00 UTC)).unwrap();
        assert_eq!(early.len(), s.len());
        assert!(early < s);
        assert!(db_time(time::macros::datetime!(-0001-01-01 00:00 UTC)).is_err());
        // Past the last representable UTC date: refused, not a panic.
        assert!(db_time(time::macros::datetime!(9999-12-31 23:30 -01:00)).is_err());
    }

    /// The hand-written formatter agrees with `time`'s formatter over the
    /// whole range, at every field's edges.
    #[test]
    fn hand_formatted_times_match_the_format_description() {
        let mut t = time::macros::datetime!(0001-01-01 00:00:00.000000 UTC);
        let end = time::macros::datetime!(9999-12-31 23:59:59.999999 UTC);
        // A step that is no round number of any unit, so that every field
        // takes many values.
        let step = time::Duration::new(86_400 * 3_652 + 3_600 * 7 + 61, 123_457_000);
        let mut checked = 0;
        loop {
            assert_eq!(db_time(t).unwrap(), t.format(DB_TIME).unwrap(), "{t}");
            checked += 1;
            match t.checked_add(step) {
                Some(next) if next <= end => t = next,
                _ => break,
            }
        }
        assert!(checked > 900, "{checked}");
        for t in [
            end,
            time::macros::datetime!(2024-02-29 09:05:07.000001 UTC),
            time::macros::datetime!(2026-12-31 23:59:59.999999999 +01:00),
        ] {
            assert_eq!(
                db_time(t).unwrap(),
                t.to_offset(UtcOffset::UTC).format(DB_TIME).unwrap()
            );
        }
    }

    #[test]
    fn lower_hex_matches_the_hex_crate() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(lower_hex(&all), hex::encode(&all));
        assert_eq!(lower_hex(&[]), "");
    }

    /// An engine's own version never shares its number with a common migration or with
    /// another of its own (sqlx would run one and call the other applied), and both engines
    /// have the same versions.
    #[test]
    fn engine_migrations_fill_their_own_versions() {
        let versions =
            |backend| -> Vec<i64> { migrator(backend).iter().map(|m| m.version).collect() };
        for backend in [Backend::Sqlite, Backend::Postgres] {
            let v = versions(backend);
            assert!(v.windows(2).all(|w| w[0] < w[1]), "{backend:?}: {v:?}");
        }
        assert_eq!(versions(Backend::Sqlite), versions(Backend::Postgres));
        assert!(SQLITE_MIGRATIONS.iter().any(|m| m.version == 9));
    }

    #[test]
    fn names_fold() {
        assert_eq!(fold_name(" Lefèvre-Œuvray "), "LEFEVRE-OEUVRAY");
        assert_eq!(fold_name("d’Ornières"), "D'ORNIERES");
    }
}
