//! Storage side of CRL publication (used by [`crate::crl`]):
//!
//! * **one CRL number sequence per issuer**, shared by the issuer's full CRL and all its
//!   partitions, allocated in batches with one atomic upsert and one audit entry, so that every
//!   CRL an issuer ever signs has a number greater than all the CRLs it signed before — across
//!   restarts and across instances sharing a PostgreSQL database;
//! * a per-issuer **revocation epoch**, bumped (in the same transaction as the numbers) when
//!   CRLs are regenerated because the revocation state changed, which other instances poll to
//!   know that their in-memory CRLs are stale;
//! * the **walk** of revoked and held entries: keyset pages of plain text columns (serial hex,
//!   fixed-width time, reason) packed into one row per page, which the streaming encoder turns
//!   into DER without building per-entry structures.
//!
//! The sequence and the epoch live in `crl_state` under keys outside the `u32` range of
//! partition numbers (2^32 and 2^32 + 1), so they can never collide with a partition's own
//! row (see [`Store::next_crl_number`]).

use serde_json::json;
use sqlx::any::AnyArguments;
use sqlx::query::QueryAs;
use sqlx::Any;

use super::crl::{bump_counter, read_counter};
use super::{db_time, now, Backend, Store};
use crate::domain::{Actor, CaName};
use crate::error::{Error, Result};

/// `crl_state.crl_partition` key of an issuer's CRL number sequence.
const SEQUENCE_KEY: i64 = 1 << 32;
/// `crl_state.crl_partition` key of an issuer's revocation epoch.
const EPOCH_KEY: i64 = (1 << 32) + 1;

const T: &str = "crl_state";

/// A block of consecutive CRL numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrlNumbers {
    /// First number of the block.
    pub first: u64,
    /// Number of numbers in the block.
    pub count: u32,
    /// The issuer's revocation epoch after this allocation.
    pub epoch: u64,
}

impl CrlNumbers {
    /// The `i`-th number of the block (`i < count`).
    pub fn get(&self, i: u32) -> Option<u64> {
        (i < self.count).then(|| self.first + u64::from(i))
    }
}

/// One page of revoked entries packed into a single text value: entries separated by `;`,
/// each `serial,revoked_at,reason` (the columns as stored). One row per page instead of one
/// per entry: the driver's per-row cost (a channel hop and a wake-up per row with sqlx's
/// SQLite worker) would otherwise dominate the walk of a large CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PackedPage {
    pub entries: String,
    /// Number of entries in the page.
    pub count: u64,
    /// Greatest serial of the page (the keyset cursor for the next page).
    pub last: String,
}

/// What every page of a walk of revoked entries shares: the issuer, the bounds of what is
/// listed (revoked at or before `revoked_until`, `not_after` at or after `not_after_from`) and
/// the page size.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CrlWalk<'a> {
    pub issuer: &'a str,
    pub revoked_until: &'a str,
    pub not_after_from: &'a str,
    pub limit: u32,
}

impl<'a> CrlWalk<'a> {
    /// Binds the parameters both page queries end with, in this order: `revoked_until`,
    /// `not_after_from`, the page size.
    fn bind_bounds<'q, O>(
        &self,
        query: QueryAs<'q, Any, O, AnyArguments>,
    ) -> QueryAs<'q, Any, O, AnyArguments>
    where
        'a: 'q,
    {
        query
            .bind(self.revoked_until)
            .bind(self.not_after_from)
            .bind(i64::from(self.limit))
    }
}

/// The page of a packing query's row (entries, their number, the greatest cursor); `None`
/// when it has no entries.
fn packed_page(row: (Option<String>, i64, Option<impl ToString>)) -> Result<Option<PackedPage>> {
    match row {
        (_, 0, _) => Ok(None),
        (Some(entries), count, Some(last)) => Ok(Some(PackedPage {
            entries,
            count: to_u64(count)?,
            last: last.to_string(),
        })),
        _ => Err(Error::corrupt(
            "certificates",
            "revoked without time or reason",
        )),
    }
}

/// How to walk all revoked entries of an issuer for its full CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FullCrlWalk {
    /// Partition by partition along the CRL index (few revoked certificates among many).
    ByPartition(Vec<u32>),
    /// SQLite: one sequential pass over the table in rowid order, keeping the issuer's
    /// revoked rows. Along the index, every entry costs a random table lookup, far dearer
    /// than a sequential row read when the table does not fit SQLite's page cache; past a
    /// share of revoked certificates (the threshold in the code, measured in
    /// docs/BENCHMARKS.md) the sequential pass is cheaper.
    TableScan,
}

fn to_u64(v: i64) -> Result<u64> {
    u64::try_from(v).map_err(|_| Error::corrupt(T, format!("negative value {v}")))
}

impl Store {
    /// Allocates `count` (≥ 1) consecutive numbers of `issuer`'s CRL number sequence, in one
    /// transaction with one `crl.numbers` audit entry. With `bump_epoch`, the issuer's
    /// revocation epoch is incremented in the same transaction.
    pub async fn allocate_crl_numbers(
        &self,
        issuer: &CaName,
        count: u32,
        bump_epoch: bool,
        actor: &Actor,
    ) -> Result<CrlNumbers> {
        if count == 0 {
            return Err(Error::invalid("CRL number count", "at least one"));
        }
        let at = db_time(now())?;
        let mut tx = self.begin_write().await?;
        let last: i64 = sqlx::query_scalar(
            "INSERT INTO crl_state (issuer, crl_partition, last_number, updated_at) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (issuer, crl_partition) \
             DO UPDATE SET last_number = crl_state.last_number + $3, updated_at = $4 \
             RETURNING last_number",
        )
        .bind(issuer.as_str())
        .bind(SEQUENCE_KEY)
        .bind(i64::from(count))
        .bind(&at)
        .fetch_one(&mut *tx)
        .await?;
        let last = to_u64(last)?;
        let first = last + 1 - u64::from(count);
        let epoch = if bump_epoch {
            bump_counter(&mut tx, issuer, EPOCH_KEY, &at).await?
        } else {
            read_counter(&mut *tx, issuer, EPOCH_KEY)
                .await?
                .unwrap_or(0)
        };
        let epoch = to_u64(epoch)?;
        self.commit_audited(
            tx,
            actor,
            "crl.numbers",
            &format!("crl:{issuer}"),
            &json!({ "first": first, "last": last, "epoch": epoch, "changed": bump_epoch }),
        )
        .await?;
        Ok(CrlNumbers {
            first,
            count,
            epoch,
        })
    }

    /// Increments the issuer's revocation epoch alone (a change whose CRLs were regenerated
    /// by a generation that started after it), with a `crl.epoch` audit entry; returns the
    /// new epoch.
    pub async fn bump_crl_epoch(&self, issuer: &CaName, actor: &Actor) -> Result<u64> {
        self.bump_counter_journaled(
            issuer,
            EPOCH_KEY,
            to_u64,
            actor,
            ("crl.epoch", &format!("crl:{issuer}"), "epoch"),
        )
        .await
    }

    /// The issuer's revocation epoch (0 before any change-triggered CRL generation).
    pub async fn crl_epoch(&self, issuer: &CaName) -> Result<u64> {
        let v = read_counter(&self.pool, issuer, EPOCH_KEY).await?;
        v.map_or(Ok(0), to_u64)
    }

    /// The last CRL number allocated from the issuer's sequence, if any.
    pub async fn last_allocated_crl_number(&self, issuer: &CaName) -> Result<Option<u64>> {
        let v = read_counter(&self.pool, issuer, SEQUENCE_KEY).await?;
        v.map(to_u64).transpose()
    }

    /// The partitions of `issuer` that hold at least one revoked or held certificate, in
    /// increasing order: a loose index scan of the CRL index (one `MIN` lookup per partition,
    /// whatever the number of entries).
    pub async fn crl_partitions_in_use(&self, issuer: &CaName) -> Result<Vec<u32>> {
        let mut out = Vec::new();
        let mut after: i64 = -1;
        loop {
            let next: Option<i64> = sqlx::query_scalar(
                "SELECT MIN(crl_partition) FROM certificates \
                 WHERE issuer = $1 AND status IN ('revoked', 'hold') AND crl_partition > $2",
            )
            .bind(issuer.as_str())
            .bind(after)
            .fetch_one(&self.pool)
            .await?;
            let Some(p) = next else { break };
            out.push(
                u32::try_from(p)
                    .map_err(|_| Error::corrupt("certificates", format!("crl_partition {p}")))?,
            );
            after = p;
        }
        Ok(out)
    }

    /// Like [`Store::crl_raw_page`], packed into one row (see [`PackedPage`]); `None` when
    /// the partition has no more entries. The order of the entries inside a page is not
    /// specified (a CRL's entries need none); pages follow each other in serial order.
    pub(crate) async fn crl_packed_page(
        &self,
        walk: &CrlWalk<'_>,
        partition: u32,
        after: &str,
    ) -> Result<Option<PackedPage>> {
        let query = sqlx::query_as(self.sql(
            "SELECT group_concat(serial || ',' || revoked_at || ',' || revocation_reason, ';'),              COUNT(*), MAX(serial) FROM (SELECT serial, revoked_at, revocation_reason              FROM certificates              WHERE issuer = $1 AND crl_partition = $2 AND status IN ('revoked', 'hold')              AND serial > $3 AND revoked_at <= $4 AND not_after >= $5              ORDER BY serial LIMIT $6) AS page",
            "SELECT string_agg(serial || ',' || revoked_at || ',' || revocation_reason, ';'),              COUNT(*), MAX(serial) FROM (SELECT serial, revoked_at, revocation_reason              FROM certificates              WHERE issuer = $1 AND crl_partition = $2 AND status IN ('revoked', 'hold')              AND serial > $3 AND revoked_at <= $4 AND not_after >= $5              ORDER BY serial LIMIT $6) AS page",
        ))
        .bind(walk.issuer)
        .bind(i64::from(partition))
        .bind(after);
        let row: (Option<String>, i64, Option<String>) =
            walk.bind_bounds(query).fetch_one(&self.pool).await?;
        packed_page(row)
    }

    /// Chooses how to walk `issuer`'s revoked entries for its full CRL (see
    /// [`FullCrlWalk`]).
    pub(crate) async fn plan_full_crl_walk(&self, issuer: &CaName) -> Result<FullCrlWalk> {
        if self.backend == Backend::Sqlite {
            let total: Option<i64> = sqlx::query_scalar("SELECT MAX(rowid) FROM certificates")
                .fetch_one(&self.pool)
                .await?;
            let revoked: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM certificates \
                 WHERE issuer = $1 AND status IN ('revoked', 'hold')",
            )
            .bind(issuer.as_str())
            .fetch_one(&self.pool)
            .await?;
            if revoked > 0 && revoked.saturating_mul(16) >= total.unwrap_or(0) {
                return Ok(FullCrlWalk::TableScan);
            }
        }
        Ok(FullCrlWalk::ByPartition(
            self.crl_partitions_in_use(issuer).await?,
        ))
    }

    /// SQLite only: one page of [`FullCrlWalk::TableScan`]: the issuer's revoked and held
    /// certificates with `rowid > after` in rowid order, packed; the page's `last` is the
    /// greatest rowid, in decimal.
    pub(crate) async fn crl_packed_scan_page(
        &self,
        walk: &CrlWalk<'_>,
        after: i64,
    ) -> Result<Option<PackedPage>> {
        let query = sqlx::query_as(
            "SELECT group_concat(serial || ',' || revoked_at || ',' || revocation_reason, ';'), \
             COUNT(*), MAX(r) FROM (SELECT rowid AS r, serial, revoked_at, revocation_reason \
             FROM certificates NOT INDEXED \
             WHERE rowid > $1 AND issuer = $2 AND status IN ('revoked', 'hold') \
             AND revoked_at <= $3 AND not_after >= $4 \
             ORDER BY rowid LIMIT $5) AS page",
        )
        .bind(after)
        .bind(walk.issuer);
        let row: (Option<String>, i64, Option<i64>) =
            walk.bind_bounds(query).fetch_one(&self.pool).await?;
        packed_page(row)
    }
}
