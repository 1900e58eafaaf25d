//! What CRL generation needs: revoked entries per issuer and partition, read page by page,
//! and strictly increasing CRL numbers.

use serde_json::json;
use sqlx::{Any, Transaction};
use time::OffsetDateTime;

use super::{db_time, now, parse_col, parse_db_time, Store};
use crate::domain::{Actor, CaName, RevocationReason, Serial};
use crate::error::{Error, Result};

/// Adds one to the `crl_state` counter of `issuer` under `key` (a partition's CRL number, or
/// a key of [`super::crl_store`]), creating it at 1; returns its new value. One atomic upsert:
/// concurrent callers never get the same value.
pub(super) async fn bump_counter(
    tx: &mut Transaction<'static, Any>,
    issuer: &CaName,
    key: i64,
    at: &str,
) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO crl_state (issuer, crl_partition, last_number, updated_at) \
         VALUES ($1, $2, 1, $3) \
         ON CONFLICT (issuer, crl_partition) \
         DO UPDATE SET last_number = crl_state.last_number + 1, updated_at = $3 \
         RETURNING last_number",
    )
    .bind(issuer.as_str())
    .bind(key)
    .bind(at)
    .fetch_one(&mut **tx)
    .await?)
}

/// The `crl_state` counter of `issuer` under `key`, if it was ever bumped.
pub(super) async fn read_counter<'e>(
    executor: impl sqlx::Executor<'e, Database = Any>,
    issuer: &CaName,
    key: i64,
) -> Result<Option<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT last_number FROM crl_state WHERE issuer = $1 AND crl_partition = $2",
    )
    .bind(issuer.as_str())
    .bind(key)
    .fetch_optional(executor)
    .await?)
}

/// One entry of a CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedEntry {
    pub serial: Serial,
    /// Revocation (or suspension) time.
    pub revoked_at: OffsetDateTime,
    /// `certificateHold` for suspended certificates.
    pub reason: RevocationReason,
}

/// Pages through the revoked and held certificates of one CRL partition, in serial order,
/// with keyset pagination (`serial > last seen`) on a partial index: each page costs the
/// same whether the partition holds ten entries or a million, and no connection or
/// transaction is held between pages.
///
/// Pages are read at different moments: a revocation committed during the walk may be missed
/// if its serial sorts before the cursor. Take the CRL's thisUpdate before starting the walk;
/// such a revocation is then after thisUpdate and belongs to the next CRL.
#[derive(Debug)]
pub struct RevokedEntries<'s> {
    store: &'s Store,
    issuer: String,
    partition: i64,
    after: String,
    page_size: u32,
    done: bool,
}

impl RevokedEntries<'_> {
    /// Rows per page (default 10 000).
    pub fn page_size(mut self, n: u32) -> Self {
        self.page_size = n.max(1);
        self
    }

    /// The next page, or `None` when the partition is exhausted.
    pub async fn next_page(&mut self) -> Result<Option<Vec<RevokedEntry>>> {
        if self.done {
            return Ok(None);
        }
        let page = self
            .store
            .revoked_page(&self.issuer, self.partition, &self.after, self.page_size)
            .await?;
        if page.len() < self.page_size as usize {
            self.done = true;
        }
        match page.last() {
            Some(last) => {
                self.after = last.serial.to_string();
                Ok(Some(page))
            }
            None => Ok(None),
        }
    }
}

impl Store {
    /// Revoked and held certificates of `issuer`'s CRL partition, page by page
    /// (see [`RevokedEntries`]).
    pub fn revoked_entries_for_crl(&self, issuer: &CaName, partition: u32) -> RevokedEntries<'_> {
        RevokedEntries {
            store: self,
            issuer: issuer.to_string(),
            partition: i64::from(partition),
            after: String::new(),
            page_size: 10_000,
            done: false,
        }
    }

    async fn revoked_page(
        &self,
        issuer: &str,
        partition: i64,
        after: &str,
        limit: u32,
    ) -> Result<Vec<RevokedEntry>> {
        const T: &str = "certificates";
        // The status predicate repeats the partial index's WHERE clause verbatim.
        let rows: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT serial, revoked_at, revocation_reason FROM certificates \
             WHERE issuer = $1 AND crl_partition = $2 AND status IN ('revoked', 'hold') \
             AND serial > $3 ORDER BY serial LIMIT $4",
        )
        .bind(issuer)
        .bind(partition)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(serial, at, reason)| {
                let (Some(at), Some(reason)) = (at, reason) else {
                    return Err(Error::corrupt(T, "revoked without time or reason"));
                };
                Ok(RevokedEntry {
                    serial: parse_col(T, &serial)?,
                    revoked_at: parse_db_time(T, &at)?,
                    reason: parse_col(T, &reason)?,
                })
            })
            .collect()
    }

    /// Allocates the next CRL number of `issuer`'s `partition` (1 for the first CRL). One
    /// atomic upsert: concurrent callers, on one or several instances, never get the same
    /// number, and numbers only grow. The allocation is journaled.
    pub async fn next_crl_number(
        &self,
        issuer: &CaName,
        partition: u32,
        actor: &Actor,
    ) -> Result<u64> {
        let crl_number = |number: i64| {
            u64::try_from(number)
                .map_err(|_| Error::corrupt("crl_state", format!("CRL number {number}")))
        };
        self.bump_counter_journaled(
            issuer,
            i64::from(partition),
            crl_number,
            actor,
            ("crl.number", &format!("crl:{issuer}/{partition}"), "number"),
        )
        .await
    }

    /// Bumps the counter of `issuer` under `key` ([`bump_counter`]) in a transaction of its
    /// own, checks its new value with `check`, and commits with an audit entry described by
    /// `(action, object, field)`: its details give the checked value under `field`. Returns
    /// the checked value.
    pub(super) async fn bump_counter_journaled(
        &self,
        issuer: &CaName,
        key: i64,
        check: fn(i64) -> Result<u64>,
        actor: &Actor,
        (action, object, field): (&str, &str, &str),
    ) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let value = check(bump_counter(&mut tx, issuer, key, &db_time(now())?).await?)?;
        self.commit_audited(tx, actor, action, object, &json!({ field: value }))
            .await?;
        Ok(value)
    }

    /// The last CRL number allocated for `issuer`'s `partition`, if any.
    pub async fn last_crl_number(&self, issuer: &CaName, partition: u32) -> Result<Option<u64>> {
        let n = read_counter(&self.pool, issuer, i64::from(partition)).await?;
        n.map(|n| u64::try_from(n).map_err(|_| Error::corrupt("crl_state", "negative number")))
            .transpose()
    }
}
