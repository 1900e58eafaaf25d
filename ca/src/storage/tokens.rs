//! Time-stamp tokens issued by the TSA, recorded for later proof.
//!
//! The TSA crate batches its tokens and hands each batch here; a batch is one transaction,
//! and inserting a token that is already there does nothing, so a batch retried after an
//! error (or a crash between commit and acknowledgement) never duplicates or fails. A
//! *different* token under a recorded serial fails the whole batch.

use sqlx::Row as _;
use time::OffsetDateTime;

use super::{db_time, lower_hex, now, time_col, Backend, Store};
use crate::error::{Error, Result};

/// One issued token, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimestampTokenRecord {
    /// Serial number, lower-case hex of the INTEGER's octets.
    pub serial_hex: String,
    pub instance_id: u16,
    pub gen_time: OffsetDateTime,
    /// Dotted OIDs.
    pub policy: String,
    pub imprint_algorithm: String,
    pub imprint: Vec<u8>,
    pub token_sha256: [u8; 32],
}

/// RFC 3161 serials are at most 160 bits: 20 octets, 40 hex digits.
const MAX_SERIAL_HEX: usize = 40;

/// Most rows per INSERT (8 parameters each) and serials per `IN` list, well under SQLite's
/// 32,766 and PostgreSQL's 65,535 bound parameters per statement. Batches are cut into
/// statements of 256, 128, …, 2 and 1 rows (the binary digits of their length), so that every
/// statement has one of nine shapes, each prepared once per connection and its SQL built once per process: a statement
/// of any other length would be parsed anew for every batch, which showed in the profile.
const TOKENS_PER_STATEMENT: usize = 256;
const STATEMENT_SHAPES: usize = TOKENS_PER_STATEMENT.trailing_zeros() as usize + 1;
const _: () = assert!(TOKENS_PER_STATEMENT.is_power_of_two());

/// A statement over a chunk of tokens, in the [`STATEMENT_SHAPES`] sizes, its SQL for each
/// size and backend built once per process.
struct ChunkStatement {
    build: fn(rows: usize, numbered: bool) -> String,
    sql: [[std::sync::OnceLock<String>; STATEMENT_SHAPES]; 2],
}

impl ChunkStatement {
    const fn new(build: fn(usize, bool) -> String) -> Self {
        Self {
            build,
            sql: [const { [const { std::sync::OnceLock::new() }; STATEMENT_SHAPES] }; 2],
        }
    }

    /// The SQL for `rows` rows (a power of two up to [`TOKENS_PER_STATEMENT`]).
    fn sql(&'static self, rows: usize, numbered: bool) -> &'static str {
        debug_assert!(
            rows.is_power_of_two() && rows <= TOKENS_PER_STATEMENT,
            "{rows} rows"
        );
        let shape = (rows.trailing_zeros() as usize).min(STATEMENT_SHAPES - 1);
        self.sql[usize::from(numbered)][shape].get_or_init(|| (self.build)(1 << shape, numbered))
    }

    /// The query for a chunk of `rows` tokens, parameters not bound yet.
    fn query<'q>(
        &'static self,
        rows: usize,
        numbered: bool,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
        sqlx::query(sqlx::AssertSqlSafe(self.sql(rows, numbered)))
    }
}

static INSERT_TOKENS: ChunkStatement = ChunkStatement::new(insert_tokens_sql);
static RECORDED_DIGESTS: ChunkStatement = ChunkStatement::new(recorded_digests_sql);

/// Cuts `batch` into runs of the sizes [`ChunkStatement`] has: the largest first.
fn statement_chunks<T>(mut batch: &[T]) -> impl Iterator<Item = &[T]> {
    std::iter::from_fn(move || {
        if batch.is_empty() {
            return None;
        }
        let size = if batch.len() >= TOKENS_PER_STATEMENT {
            TOKENS_PER_STATEMENT
        } else {
            // The highest power of two not above the length.
            1 << (usize::BITS - 1 - batch.len().leading_zeros())
        };
        let (chunk, rest) = batch.split_at(size);
        batch = rest;
        Some(chunk)
    })
}

/// `INSERT … VALUES ($1, …, $8), ($9, …), … ON CONFLICT (serial) DO NOTHING` for `rows` rows
/// (only numbers are formatted into it). SQLite gets anonymous `?` parameters: there `$N` and
/// `?N` are *named* parameters, which sqlx binds by looking each name up in a list — a
/// quadratic cost that made a 250-row statement slower than 250 single-row ones.
fn insert_tokens_sql(rows: usize, numbered: bool) -> String {
    let mut sql = String::with_capacity(150 + rows * 50);
    sql.push_str(
        "INSERT INTO timestamp_tokens (serial, instance_id, gen_time, policy, \
         imprint_algorithm, imprint, token_sha256, recorded_at) VALUES ",
    );
    push_parameter_tuples(&mut sql, rows, 8, numbered);
    sql.push_str(" ON CONFLICT (serial) DO NOTHING");
    sql
}

/// `SELECT serial, token_sha256 … WHERE serial IN ($1, …)` for `rows` serials: the check of a
/// batch that was partly recorded already, one statement per chunk rather than per token.
fn recorded_digests_sql(rows: usize, numbered: bool) -> String {
    let mut sql = String::with_capacity(80 + rows * 6);
    sql.push_str("SELECT serial, token_sha256 FROM timestamp_tokens WHERE serial IN (");
    push_parameter_tuples(&mut sql, rows, 1, numbered);
    sql.push(')');
    sql
}

/// `(?, ?), (?, ?)` — or `($1, $2), ($3, $4)` when `numbered` — for `rows` rows of `columns`
/// parameters; a single column gives `?, ?` (an `IN` list).
fn push_parameter_tuples(sql: &mut String, rows: usize, columns: usize, numbered: bool) {
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        if columns > 1 {
            sql.push('(');
        }
        for column in 0..columns {
            if column > 0 {
                sql.push_str(", ");
            }
            if numbered {
                sql.push('$');
                sql.push_str(&(row * columns + column + 1).to_string());
            } else {
                sql.push('?');
            }
        }
        if columns > 1 {
            sql.push(')');
        }
    }
}

impl Store {
    /// Records a batch of tokens in one transaction. Tokens already recorded are skipped; a
    /// different token under a recorded serial fails the whole batch
    /// ([`Error::DuplicateTimestampSerial`]).
    pub async fn record_timestamp_tokens(&self, batch: &[TimestampTokenRecord]) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        for t in batch {
            if t.serial_hex.is_empty()
                || t.serial_hex.len() > MAX_SERIAL_HEX
                || t.serial_hex.len() % 2 != 0
                || !t
                    .serial_hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return Err(Error::invalid(
                    "time-stamp serial",
                    format!(
                        "{:?} is not lower-case hex of at most 20 octets",
                        t.serial_hex
                    ),
                ));
            }
        }
        let recorded_at = db_time(now())?;
        let numbered = self.backend == Backend::Postgres;
        let mut tx = self.begin_write().await?;
        // One multi-row statement per chunk rather than one statement per token: at the TSA's
        // rate a statement per row costs enough CPU per token to let the recorder fall behind
        // towards the point where the TSA refuses (docs/BENCHMARKS.md, the recorder).
        let mut inserted = 0u64;
        for chunk in statement_chunks(batch) {
            let mut query = INSERT_TOKENS.query(chunk.len(), numbered);
            for t in chunk {
                query = query
                    .bind(t.serial_hex.as_str())
                    .bind(i64::from(t.instance_id))
                    .bind(db_time(t.gen_time)?)
                    .bind(t.policy.as_str())
                    .bind(t.imprint_algorithm.as_str())
                    .bind(lower_hex(&t.imprint))
                    .bind(lower_hex(&t.token_sha256))
                    .bind(recorded_at.as_str());
            }
            inserted += query.execute(&mut *tx).await?.rows_affected();
        }
        if inserted < batch.len() as u64 {
            // Some serials were there already. The same token again is a retried batch (or a
            // token twice in one): fine. Another token under a recorded serial means two
            // instances issue the same serials: refuse, so that the TSA stops issuing (it fails
            // closed while its recorder fails) rather than lose the record silently.
            for chunk in statement_chunks(batch) {
                let mut query = RECORDED_DIGESTS.query(chunk.len(), numbered);
                for t in chunk {
                    query = query.bind(t.serial_hex.as_str());
                }
                let rows = query.fetch_all(&mut *tx).await?;
                let mut recorded = std::collections::HashMap::with_capacity(rows.len());
                for row in &rows {
                    let serial: String = row.try_get(0)?;
                    let digest: String = row.try_get(1)?;
                    recorded.insert(serial, digest);
                }
                for t in chunk {
                    if recorded.get(&t.serial_hex).map(String::as_str)
                        != Some(lower_hex(&t.token_sha256).as_str())
                    {
                        return Err(Error::DuplicateTimestampSerial {
                            serial: t.serial_hex.clone(),
                        });
                    }
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// A recorded token by serial (lower-case hex).
    pub async fn timestamp_token(&self, serial_hex: &str) -> Result<Option<TimestampTokenRecord>> {
        const T: &str = "timestamp_tokens";
        let Some(row) = sqlx::query(
            "SELECT serial, instance_id, gen_time, policy, imprint_algorithm, imprint, \
             token_sha256 FROM timestamp_tokens WHERE serial = $1",
        )
        .bind(serial_hex)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let serial: String = row.try_get("serial")?;
        let instance: i64 = row.try_get("instance_id")?;
        let imprint: String = row.try_get("imprint")?;
        let digest: String = row.try_get("token_sha256")?;
        let token_sha256: [u8; 32] = hex::decode(&digest)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| Error::corrupt(T, "token_sha256"))?;
        Ok(Some(TimestampTokenRecord {
            serial_hex: serial,
            instance_id: u16::try_from(instance).map_err(|_| Error::corrupt(T, "instance_id"))?,
            gen_time: time_col(T, &row, "gen_time")?,
            policy: row.try_get("policy")?,
            imprint_algorithm: row.try_get("imprint_algorithm")?,
            imprint: hex::decode(&imprint).map_err(|_| Error::corrupt(T, "imprint"))?,
            token_sha256,
        }))
    }

    /// Number of recorded tokens.
    pub async fn timestamp_token_count(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM timestamp_tokens")
            .fetch_one(&self.pool)
            .await?;
        u64::try_from(n).map_err(|_| Error::corrupt("timestamp_tokens", "count"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn batches_are_cut_into_the_cached_shapes() {
        for len in [0usize, 1, 2, 3, 255, 256, 257, 603, 2_048, 2_049] {
            let batch: Vec<usize> = (0..len).collect();
            let chunks: Vec<&[usize]> = statement_chunks(&batch).collect();
            // Every row once, in order, in chunks of a cached size, largest first.
            assert_eq!(chunks.concat(), batch);
            assert!(chunks.windows(2).all(|w| w[0].len() >= w[1].len()));
            for c in &chunks {
                assert!(c.len().is_power_of_two() && c.len() <= TOKENS_PER_STATEMENT);
            }
            // At most one chunk of each size below the largest.
            let small: Vec<usize> = chunks
                .iter()
                .map(|c| c.len())
                .filter(|&n| n < TOKENS_PER_STATEMENT)
                .collect();
            assert_eq!(
                small.len(),
                (len % TOKENS_PER_STATEMENT).count_ones() as usize
            );
        }
    }

    #[test]
    fn cached_statements_have_their_rows_parameters() {
        for (statement, columns) in [(&INSERT_TOKENS, 8), (&RECORDED_DIGESTS, 1)] {
            for shape in 0..STATEMENT_SHAPES {
                let rows = 1usize << shape;
                let anonymous = statement.sql(rows, false);
                assert_eq!(anonymous.matches('?').count(), rows * columns);
                assert!(std::ptr::eq(anonymous, statement.sql(rows, false)));
                let numbered = statement.sql(rows, true);
                assert!(numbered.contains(&format!("${}", rows * columns)));
                assert!(!numbered.contains(&format!("${}", rows * columns + 1)));
                assert!(!numbered.contains('?'));
            }
        }
        assert_eq!(
            RECORDED_DIGESTS.sql(2, true),
            "SELECT serial, token_sha256 FROM timestamp_tokens WHERE serial IN ($1, $2)"
        );
        assert!(INSERT_TOKENS.sql(2, false).ends_with(
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (serial) DO NOTHING"
        ));
    }
}
