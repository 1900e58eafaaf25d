//! The audit journal: an append-only hash chain in `audit_log`, headed by `audit_head`.
//!
//! Entry `n` stores `hash_n = SHA-256(encode(n, time, actor, auth_method, action, object,
//! outcome, details, hash_{n-1}))` with `hash_0` = 64 zeros. The encoding is unambiguous: a
//! domain tag `igc-audit-v1\0`, the sequence number as 8 big-endian octets, then each text
//! field as its UTF-8 length (8 big-endian octets) followed by its bytes. Fields are hashed
//! exactly as stored (the time in its fixed-width text form, the details as the JSON text
//! that was written), so verification never depends on re-serialising anything.
//!
//! # Anchors
//!
//! The chain alone shows that entries were not altered *relative to each other*: whoever can
//! write the database can still rewrite the chain from some entry on. An anchor
//! (`audit_anchors`, migration 0006) is a time-stamp token from the TSA whose imprint is the
//! hash of entry `n` (the 32 raw octets of its hex `hash`): as that hash is the SHA-256 of the
//! entry's encoding, the encoding ([`Store::audit_entry_encoding`]) is the datum that was
//! time-stamped, and any RFC 3161 verifier checks it without knowing this format. Anchors
//! write no journal entry: an entry would move the head, so the journal could never be
//! wholly anchored and an idle journal would grow by one entry each period; the anchor row
//! carries its own proof (the TSA's signature), and `igc audit verify` checks every one.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use sqlx::{Any, Row as _, Transaction};
use time::OffsetDateTime;

use super::{b64, db_time, now, parse_col, parse_db_time, time_col, unb64, Store};
use crate::domain::Actor;
use crate::error::{Error, Result};
use crate::vocabulary::spelled_enum;

/// `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Keys that never belong in audit details (no PIN, key or password in the journal).
const SECRET_KEYS: &[&str] = &[
    "pin",
    "so_pin",
    "user_pin",
    "password",
    "passphrase",
    "secret",
    "private_key",
    "key_material",
    "otp",
    "totp",
];

const VERIFY_PAGE: i64 = 1000;

/// Result of the audited action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Success,
    /// Refused by policy (permissions, four eyes, …).
    Denied,
    /// Attempted and failed (HSM unavailable, …).
    Failure,
}

spelled_enum!(Outcome, "audit outcome", {
    Success => "success",
    Denied => "denied",
    Failure => "failure",
});

/// One journal entry as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub seq: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    pub actor: String,
    pub auth_method: String,
    pub action: String,
    pub object: String,
    pub outcome: Outcome,
    pub details: Value,
    pub prev_hash: String,
    pub hash: String,
}

/// What is wrong with the first broken entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChainProblem {
    /// The entry's content does not hash to its stored hash (it was modified).
    HashMismatch,
    /// The entry does not point to the previous entry's hash (an entry before it was
    /// replaced, or it was moved).
    PrevHashMismatch,
    /// The entry with this sequence number is missing (deleted or truncated).
    Missing,
    /// The last entry does not match the chain head.
    HeadMismatch,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BrokenEntry {
    pub seq: u64,
    pub problem: ChainProblem,
}

/// Outcome of [`Store::verify_audit_chain`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditVerification {
    /// Entries checked (the chain up to the head read when verification started).
    pub entries_checked: u64,
    pub head_seq: u64,
    pub head_hash: String,
    pub first_broken: Option<BrokenEntry>,
}

impl AuditVerification {
    pub fn is_intact(&self) -> bool {
        self.first_broken.is_none()
    }

    /// Sequence number of the first broken entry, if any.
    pub fn first_broken_seq(&self) -> Option<u64> {
        self.first_broken.as_ref().map(|b| b.seq)
    }
}

/// An anchor to record: entry `seq`, whose hash is `head_hash`, time-stamped by `token_der`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditAnchor {
    pub seq: u64,
    /// Lower-case hex, as the entry's stored hash.
    pub head_hash: String,
    /// The DER TimeStampToken (a CMS ContentInfo).
    pub token_der: Vec<u8>,
    /// The token's genTime.
    pub gen_time: OffsetDateTime,
}

/// One anchor as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditAnchor {
    pub seq: u64,
    pub head_hash: String,
    pub token_der: Vec<u8>,
    pub gen_time: OffsetDateTime,
    pub created_at: OffsetDateTime,
}

impl AuditAnchor {
    /// A stored row; a corrupt field is an error naming the anchor.
    fn from_row(row: &sqlx::any::AnyRow) -> Result<Self> {
        const T: &str = "audit_anchors";
        let seq = to_u64(T, row.try_get("seq")?)?;
        // The inner error names the table already: keep only its reason.
        let named = |e: Error| match e {
            Error::CorruptRow { reason, .. } => {
                Error::corrupt(T, format!("anchor #{seq}: {reason}"))
            }
            other => other,
        };
        let token: String = row.try_get("token")?;
        Ok(AuditAnchor {
            seq,
            head_hash: row.try_get("head_hash")?,
            token_der: unb64(T, &token).map_err(named)?,
            gen_time: time_col(T, row, "gen_time").map_err(named)?,
            created_at: time_col(T, row, "created_at").map_err(named)?,
        })
    }
}

/// Domain tag at the start of every entry's encoding.
const ENCODING_TAG: &[u8] = b"igc-audit-v1\0";

/// The encoding of one entry (see the module documentation): what its chain hash is the
/// SHA-256 of, and what an anchor's token time-stamps. `fields` are the entry's columns in
/// their encoded order: time, actor, auth_method, action, object, outcome, details,
/// prev_hash (see [`entry_hash`]).
pub(crate) fn entry_encoding(seq: u64, fields: [&str; 8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        ENCODING_TAG.len() + 8 + fields.iter().map(|f| 8 + f.len()).sum::<usize>(),
    );
    out.extend_from_slice(ENCODING_TAG);
    out.extend_from_slice(&seq.to_be_bytes());
    for field in fields {
        out.extend_from_slice(&(field.len() as u64).to_be_bytes());
        out.extend_from_slice(field.as_bytes());
    }
    out
}

/// The chain hash of one entry: lower-case hex of the SHA-256 of its encoding.
#[allow(clippy::too_many_arguments)]
pub(crate) fn entry_hash(
    seq: u64,
    time: &str,
    actor: &str,
    auth_method: &str,
    action: &str,
    object: &str,
    outcome: &str,
    details: &str,
    prev_hash: &str,
) -> String {
    let fields = [
        time,
        actor,
        auth_method,
        action,
        object,
        outcome,
        details,
        prev_hash,
    ];
    hex::encode(Sha256::digest(entry_encoding(seq, fields)))
}

fn check_no_secrets(v: &Value) -> Result<()> {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                if SECRET_KEYS.contains(&k.to_ascii_lowercase().as_str()) {
                    return Err(Error::SecretInAuditDetails { key: k.clone() });
                }
                check_no_secrets(v)?;
            }
            Ok(())
        }
        Value::Array(items) => items.iter().try_for_each(check_no_secrets),
        _ => Ok(()),
    }
}

fn check_action(action: &str) -> Result<()> {
    let ok = !action.is_empty()
        && action.len() <= 64
        && action
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b".-_".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "audit action",
            format!("{action:?}: expected 1-64 characters a-z 0-9 . - _"),
        ))
    }
}

fn check_object(object: &str) -> Result<()> {
    let n = object.chars().count();
    if n == 0 || n > 256 || object.chars().any(char::is_control) {
        return Err(Error::invalid(
            "audit object",
            "expected 1-256 characters without control characters",
        ));
    }
    Ok(())
}

fn to_u64(table: &'static str, v: i64) -> Result<u64> {
    u64::try_from(v).map_err(|_| Error::corrupt(table, format!("negative sequence {v}")))
}

/// A stored row, as text, exactly what the hash covers.
struct RawEntry {
    seq: i64,
    time: String,
    actor: String,
    auth_method: String,
    action: String,
    object: String,
    outcome: String,
    details: String,
    prev_hash: String,
    hash: String,
}

impl RawEntry {
    fn from_row(row: &sqlx::any::AnyRow) -> Result<Self> {
        Ok(RawEntry {
            seq: row.try_get("seq")?,
            time: row.try_get("time")?,
            actor: row.try_get("actor")?,
            auth_method: row.try_get("auth_method")?,
            action: row.try_get("action")?,
            object: row.try_get("object")?,
            outcome: row.try_get("outcome")?,
            details: row.try_get("details")?,
            prev_hash: row.try_get("prev_hash")?,
            hash: row.try_get("hash")?,
        })
    }

    fn encoding(&self, seq: u64) -> Vec<u8> {
        let fields = [
            &self.time,
            &self.actor,
            &self.auth_method,
            &self.action,
            &self.object,
            &self.outcome,
            &self.details,
            &self.prev_hash,
        ];
        entry_encoding(seq, fields.map(String::as_str))
    }

    fn into_entry(self) -> Result<AuditEntry> {
        const T: &str = "audit_log";
        Ok(AuditEntry {
            seq: to_u64(T, self.seq)?,
            time: parse_db_time(T, &self.time)?,
            outcome: parse_col(T, &self.outcome)?,
            details: serde_json::from_str(&self.details)
                .map_err(|e| Error::corrupt(T, format!("details: {e}")))?,
            actor: self.actor,
            auth_method: self.auth_method,
            action: self.action,
            object: self.object,
            prev_hash: self.prev_hash,
            hash: self.hash,
        })
    }
}

const SELECT_ENTRIES: &str = "SELECT seq, time, actor, auth_method, action, object, outcome, \
     details, prev_hash, hash FROM audit_log WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3";

impl Store {
    /// Journals the success of what `tx` did, then commits it: the change and its entry are
    /// one transaction.
    pub(crate) async fn commit_audited(
        &self,
        mut tx: Transaction<'static, Any>,
        actor: &Actor,
        action: &str,
        object: &str,
        details: &Value,
    ) -> Result<()> {
        self.append_audit(&mut tx, actor, action, object, Outcome::Success, details)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Appends an entry inside the caller's transaction. The chain head is locked until the
    /// transaction ends, so concurrent appenders queue and the chain stays linear; the entry
    /// is time-stamped once the lock is held, so sequence order is time order.
    pub(crate) async fn append_audit(
        &self,
        tx: &mut Transaction<'static, Any>,
        actor: &Actor,
        action: &str,
        object: &str,
        outcome: Outcome,
        details: &Value,
    ) -> Result<u64> {
        check_action(action)?;
        check_object(object)?;
        check_no_secrets(details)?;
        let details = serde_json::to_string(details)
            .map_err(|e| Error::invalid("audit details", e.to_string()))?;

        let head = self.sql(
            "SELECT seq, hash FROM audit_head WHERE id = 1",
            "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE",
        );
        let (last, prev_hash): (i64, String) = sqlx::query_as(head).fetch_one(&mut **tx).await?;
        let seq = to_u64("audit_head", last)? + 1;
        let seq_db = last + 1;
        let time = db_time(now())?;
        let outcome = outcome.as_str();
        let hash = entry_hash(
            seq,
            &time,
            actor.id.as_str(),
            actor.auth_method.as_str(),
            action,
            object,
            outcome,
            &details,
            &prev_hash,
        );
        sqlx::query(
            "INSERT INTO audit_log (seq, time, actor, auth_method, action, object, outcome, \
             details, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(seq_db)
        .bind(&time)
        .bind(actor.id.as_str())
        .bind(actor.auth_method.as_str())
        .bind(action)
        .bind(object)
        .bind(outcome)
        .bind(&details)
        .bind(&prev_hash)
        .bind(&hash)
        .execute(&mut **tx)
        .await?;
        sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
            .bind(seq_db)
            .bind(&hash)
            .execute(&mut **tx)
            .await?;
        Ok(seq)
    }

    /// Records an event that is not a state change of this store (a login, a refused attempt,
    /// a ceremony step, a TSA anchor of the journal…) in its own transaction. `details` must
    /// not carry secrets; keys such as `pin` or `password` are refused.
    pub async fn record_event(
        &self,
        actor: &Actor,
        action: &str,
        object: &str,
        outcome: Outcome,
        details: &Value,
    ) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let seq = self
            .append_audit(&mut tx, actor, action, object, outcome, details)
            .await?;
        tx.commit().await?;
        Ok(seq)
    }

    /// Sequence number and hash of the last entry (what a time-stamp anchors).
    pub async fn audit_head(&self) -> Result<(u64, String)> {
        let (seq, hash): (i64, String) =
            sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
                .fetch_one(&self.pool)
                .await?;
        Ok((to_u64("audit_head", seq)?, hash))
    }

    /// Entries with `seq > after`, in order, at most `limit`.
    pub async fn audit_entries(&self, after: u64, limit: u32) -> Result<Vec<AuditEntry>> {
        self.fetch_rows(
            sqlx::query(SELECT_ENTRIES)
                .bind(i64::try_from(after).unwrap_or(i64::MAX))
                .bind(i64::MAX)
                .bind(i64::from(limit)),
            |r| RawEntry::from_row(r)?.into_entry(),
        )
        .await
    }

    /// Entries about any of `objects` (exact object names such as `professional:8…`), in
    /// sequence order, at most `limit` per object.
    pub async fn audit_entries_about(
        &self,
        objects: &[String],
        limit: u32,
    ) -> Result<Vec<AuditEntry>> {
        let mut out = Vec::new();
        for object in objects {
            let rows = sqlx::query(
                "SELECT seq, time, actor, auth_method, action, object, outcome, details, \
                 prev_hash, hash FROM audit_log WHERE object = $1 ORDER BY seq DESC LIMIT $2",
            )
            .bind(object)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
            for r in &rows {
                out.push(RawEntry::from_row(r)?.into_entry()?);
            }
        }
        out.sort_by_key(|e| e.seq);
        out.dedup_by_key(|e| e.seq);
        Ok(out)
    }

    /// Walks the whole chain (page by page) up to the head as it was when the walk started,
    /// and reports the first entry that is missing, modified or mislinked.
    pub async fn verify_audit_chain(&self) -> Result<AuditVerification> {
        Ok(self.verify_audit_chain_keeping(&BTreeSet::new()).await?.0)
    }

    /// [`Self::verify_audit_chain`], also returning the encodings of the entries in `keep`
    /// that the walk checked (those before the first broken entry): what anchors at those
    /// sequence numbers must have time-stamped.
    pub async fn verify_audit_chain_keeping(
        &self,
        keep: &BTreeSet<u64>,
    ) -> Result<(AuditVerification, BTreeMap<u64, Vec<u8>>)> {
        let (head_seq, head_hash) = self.audit_head().await?;
        let head_db = i64::try_from(head_seq).unwrap_or(i64::MAX);
        let mut expected: u64 = 1;
        let mut prev = GENESIS_HASH.to_owned();
        let mut after: i64 = 0;
        let mut kept = BTreeMap::new();
        let broken = |seq, problem, kept| {
            Ok((
                AuditVerification {
                    entries_checked: seq - 1,
                    head_seq,
                    head_hash: head_hash.clone(),
                    first_broken: Some(BrokenEntry { seq, problem }),
                },
                kept,
            ))
        };
        loop {
            let rows = sqlx::query(SELECT_ENTRIES)
                .bind(after)
                .bind(head_db)
                .bind(VERIFY_PAGE)
                .fetch_all(&self.pool)
                .await?;
            let Some(last) = rows.last() else { break };
            after = last.try_get("seq")?;
            for row in &rows {
                let raw = RawEntry::from_row(row)?;
                let seq = to_u64("audit_log", raw.seq)?;
                if seq != expected {
                    return broken(expected, ChainProblem::Missing, kept);
                }
                if raw.prev_hash != prev {
                    return broken(seq, ChainProblem::PrevHashMismatch, kept);
                }
                let encoding = raw.encoding(seq);
                if hex::encode(Sha256::digest(&encoding)) != raw.hash {
                    return broken(seq, ChainProblem::HashMismatch, kept);
                }
                if keep.contains(&seq) {
                    kept.insert(seq, encoding);
                }
                prev = raw.hash;
                expected += 1;
            }
        }
        let checked = expected - 1;
        if checked < head_seq {
            return broken(expected, ChainProblem::Missing, kept);
        }
        if prev != head_hash {
            return broken(head_seq.max(1), ChainProblem::HeadMismatch, kept);
        }
        Ok((
            AuditVerification {
                entries_checked: checked,
                head_seq,
                head_hash,
                first_broken: None,
            },
            kept,
        ))
    }

    /// The encoding of entry `seq` as it is stored now (its hash is the SHA-256 of it if the
    /// entry was not altered), or `None` if there is no such entry.
    pub async fn audit_entry_encoding(&self, seq: u64) -> Result<Option<Vec<u8>>> {
        let seq_db = i64::try_from(seq)
            .map_err(|_| Error::invalid("audit sequence number", format!("{seq} too large")))?;
        let row = sqlx::query(SELECT_ENTRIES)
            .bind(seq_db - 1)
            .bind(seq_db)
            .bind(1_i64)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok(RawEntry::from_row(&r)?.encoding(seq)))
            .transpose()
    }

    /// Records an anchor of the journal: `anchor.head_hash` must be the stored hash of entry
    /// `anchor.seq` (checked in the same transaction). Returns `false`, writing nothing, when
    /// that entry is anchored already (another instance anchored the same head first).
    pub async fn record_audit_anchor(&self, anchor: &NewAuditAnchor) -> Result<bool> {
        let seq_db = i64::try_from(anchor.seq).map_err(|_| {
            Error::invalid("audit anchor", format!("sequence {} too large", anchor.seq))
        })?;
        let gen_time = db_time(anchor.gen_time)?;
        let mut tx = self.begin_write().await?;
        let stored: Option<String> =
            sqlx::query_scalar("SELECT hash FROM audit_log WHERE seq = $1")
                .bind(seq_db)
                .fetch_optional(&mut *tx)
                .await?;
        match stored {
            None => {
                return Err(Error::invalid(
                    "audit anchor",
                    format!("no journal entry #{}", anchor.seq),
                ))
            }
            Some(h) if h != anchor.head_hash => {
                return Err(Error::invalid(
                    "audit anchor",
                    format!(
                        "{} is not the hash of journal entry #{}",
                        anchor.head_hash, anchor.seq
                    ),
                ))
            }
            Some(_) => {}
        }
        let inserted = sqlx::query(
            "INSERT INTO audit_anchors (seq, head_hash, token, gen_time, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (seq) DO NOTHING",
        )
        .bind(seq_db)
        .bind(&anchor.head_hash)
        .bind(b64(&anchor.token_der))
        .bind(&gen_time)
        .bind(db_time(now())?)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(inserted == 1)
    }

    /// Every anchor, in sequence order.
    pub async fn audit_anchors(&self) -> Result<Vec<AuditAnchor>> {
        let query = sqlx::query(
            "SELECT seq, head_hash, token, gen_time, created_at FROM audit_anchors ORDER BY seq",
        );
        self.fetch_rows(query, AuditAnchor::from_row).await
    }

    /// The anchor of entry `seq`, if there is one.
    pub async fn audit_anchor(&self, seq: u64) -> Result<Option<AuditAnchor>> {
        let Ok(seq_db) = i64::try_from(seq) else {
            return Ok(None);
        };
        self.fetch_row(
            sqlx::query(
                "SELECT seq, head_hash, token, gen_time, created_at FROM audit_anchors \
             WHERE seq = $1",
            )
            .bind(seq_db),
            AuditAnchor::from_row,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn hash_encoding_is_unambiguous() {
        let a = entry_hash(1, "t", "ab", "c", "x", "o", "success", "{}", GENESIS_HASH);
        let b = entry_hash(1, "t", "a", "bc", "x", "o", "success", "{}", GENESIS_HASH);
        assert_ne!(a, b);
        let c = entry_hash(2, "t", "ab", "c", "x", "o", "success", "{}", GENESIS_HASH);
        assert_ne!(a, c);
        assert_eq!(a.len(), 64);
        assert_eq!(
            a,
            entry_hash(1, "t", "ab", "c", "x", "o", "success", "{}", GENESIS_HASH)
        );
    }

    #[test]
    fn secrets_are_refused() {
        assert!(check_no_secrets(&serde_json::json!({"a": 1, "b": [{"c": "d"}]})).is_ok());
        assert!(matches!(
            check_no_secrets(&serde_json::json!({"a": {"PIN": "1234"}})),
            Err(Error::SecretInAuditDetails { .. })
        ));
        assert!(check_no_secrets(&serde_json::json!([{"password": "x"}])).is_err());
    }

    #[test]
    fn actions_and_objects() {
        assert!(check_action("certificate.revoke").is_ok());
        assert!(check_action("Certificate").is_err());
        assert!(check_action("").is_err());
        assert!(check_object("certificate:0a").is_ok());
        assert!(check_object("a\nb").is_err());
    }
}
