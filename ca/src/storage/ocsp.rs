//! Queries of the OCSP responder: the status of a serial together with its issuer, and a cheap
//! feed of certificate state changes for responders that share the database.
//!
//! # The change feed is the audit journal
//!
//! Every state change of a certificate (issue, revoke, hold, reinstate) is journaled in the
//! same transaction, with object `certificate:{serial}` and an action `certificate.*`. The
//! journal's sequence numbers are allocated under the chain-head lock, which is held until
//! commit, so they become visible in order and without gaps: a reader that has seen every entry
//! up to `seq` and then reads `seq > cursor` misses nothing. Polling is a primary-key range scan
//! of the few entries written since the last poll; no migration, trigger or engine-specific
//! notification (LISTEN/NOTIFY) is needed, and it works the same on SQLite.

use sqlx::Row as _;

use super::certificates::status_from_columns;
use super::{parse_col, Store};
use crate::domain::{CaName, Serial};
use crate::error::{Error, Result};
use crate::storage::CertificateStatus;

const T: &str = "certificates";
const A: &str = "audit_log";

/// Prefix of the audit object of a certificate.
const OBJECT_PREFIX: &str = "certificate:";
/// Prefix of the audit actions that change a certificate's state.
const ACTION_PREFIX: &str = "certificate.";

/// What OCSP needs to know about a serial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcspCertificateState {
    /// The CA that issued the certificate.
    pub issuer: CaName,
    /// Its revocation state.
    pub status: CertificateStatus,
}

/// Certificates whose state changed, read from the journal after a cursor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusChanges {
    /// Serials concerned, in journal order, without duplicates.
    pub serials: Vec<Serial>,
    /// Cursor to pass to the next call (the last journal entry examined).
    pub cursor: u64,
    /// True when the page was full: call again at once with the new cursor.
    pub more: bool,
}

fn to_u64(v: i64) -> Result<u64> {
    u64::try_from(v).map_err(|_| Error::corrupt(A, format!("negative sequence {v}")))
}

impl Store {
    /// Issuer and revocation state of a serial (one primary-key lookup); `None` when the CA
    /// never issued it.
    pub async fn ocsp_state(&self, serial: &Serial) -> Result<Option<OcspCertificateState>> {
        let row: Option<(String, String, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT issuer, status, revoked_at, revocation_reason FROM certificates \
             WHERE serial = $1",
        )
        .bind(serial.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|(issuer, status, at, reason)| {
            Ok(OcspCertificateState {
                issuer: parse_col(T, &issuer)?,
                status: status_from_columns(&status, at.as_deref(), reason.as_deref())?,
            })
        })
        .transpose()
    }

    /// Current position of the change feed: the sequence number of the last journal entry.
    /// Take it *before* serving anything, then poll [`Store::status_changes_since`] with it.
    pub async fn status_change_cursor(&self) -> Result<u64> {
        let seq: i64 = sqlx::query_scalar("SELECT seq FROM audit_head WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        to_u64(seq)
    }

    /// Certificates whose state changed after `cursor` (issued, revoked, put on hold,
    /// reinstated), scanning at most `limit` journal entries.
    pub async fn status_changes_since(&self, cursor: u64, limit: u32) -> Result<StatusChanges> {
        let from = i64::try_from(cursor)
            .map_err(|_| Error::invalid("journal cursor", format!("{cursor} out of range")))?;
        let limit = i64::from(limit.max(1));
        let rows = sqlx::query(
            "SELECT seq, action, object FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(from)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut out = StatusChanges {
            serials: Vec::new(),
            cursor,
            more: i64::try_from(rows.len()).unwrap_or(i64::MAX) >= limit,
        };
        for row in &rows {
            let seq: i64 = row.try_get("seq")?;
            out.cursor = out.cursor.max(to_u64(seq)?);
            let action: String = row.try_get("action")?;
            let object: String = row.try_get("object")?;
            if !action.starts_with(ACTION_PREFIX) {
                continue;
            }
            let Some(serial) = object.strip_prefix(OBJECT_PREFIX) else {
                continue;
            };
            // A journal object that is not a serial is not ours to interpret: skip it rather
            // than stall the feed.
            if let Ok(serial) = serial.parse::<Serial>() {
                if !out.serials.contains(&serial) {
                    out.serials.push(serial);
                }
            }
        }
        Ok(out)
    }

    /// One page of the certificates issued by `issuer` with their state, in serial order after
    /// `after` (keyset pagination on the primary key), for pre-signing OCSP responses.
    pub async fn ocsp_states_page(
        &self,
        issuer: &CaName,
        after: Option<&Serial>,
        limit: u32,
    ) -> Result<Vec<(Serial, CertificateStatus)>> {
        let limit = i64::from(limit.max(1));
        let rows: Vec<(String, String, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT serial, status, revoked_at, revocation_reason FROM certificates \
             WHERE issuer = $1 AND serial > $2 ORDER BY serial LIMIT $3",
        )
        .bind(issuer.as_str())
        .bind(after.map(Serial::as_str).unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|(serial, status, at, reason)| {
                Ok((
                    parse_col(T, serial)?,
                    status_from_columns(status, at.as_deref(), reason.as_deref())?,
                ))
            })
            .collect()
    }
}
