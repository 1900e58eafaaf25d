//! Anchoring the audit journal in time (DESIGN.md §7; ETSI EN 319 401 §7.9).
//!
//! The head of the journal (entry `n` and its hash) is time-stamped by our TSA exactly as a
//! relying party would ask for it: a DER `TimeStampReq` with a SHA-256 imprint (the 32 raw
//! octets of the head hash, itself the SHA-256 of the entry's encoding), a random nonce and
//! certReq; the reply is checked as a client checks it (status, imprint, nonce, then the
//! token's signature and its TSA certificate up to our root) before the token is stored in
//! `audit_anchors`. [`check_anchor`] re-verifies a stored token against the encoding the
//! chain walk recomputed, for `igc audit verify`.
//!
//! Anchoring never panics and never blocks the service: every failure (TSA not ready, clock
//! not confirmed, database unreachable) is an [`Error`] (`Refused`, `BadReply`, `Journal`,
//! `Store`, `Encoding`) for the caller to log, and the next period tries again.

use std::sync::Arc;

use const_oid::db::rfc5912::ID_SHA_256;
use der::{Decode, Encode};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use x509_cert::Certificate;

use ca::storage::{AuditAnchor, NewAuditAnchor, Store};

use crate::limits::Budget;
use crate::path::LinkCache;
use crate::revocation::RevocationSource;
use crate::timestamp::{refusal_text, sha256_request, verify_token_within};
use crate::{Error, Result};
use tsa::asn1::{PkiStatus, TimeStampResp, TstInfo};
use tsa::TimeStampAuthority;

/// What one anchoring attempt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnchorOutcome {
    /// The journal is empty: nothing to anchor.
    EmptyJournal,
    /// The head (this entry) is anchored already: nothing new since the last anchor.
    AlreadyAnchored { seq: u64 },
    /// A token was obtained and checked. `recorded` is false when another instance recorded
    /// its own anchor of the same entry first (its token is kept, this one dropped).
    Anchored {
        seq: u64,
        gen_time: OffsetDateTime,
        recorded: bool,
    },
}

/// What tokens are checked against: our root as the trust anchor, the TSA certificates
/// (unit and chain) as known intermediates (tokens carry their certificate too), and a
/// revocation source for the TSA certificate.
#[derive(Debug, Clone)]
pub struct AnchorTrust {
    anchors: Vec<Certificate>,
    intermediates: Vec<Certificate>,
    revocation: Arc<dyn RevocationSource>,
    links: Arc<LinkCache>,
}

impl AnchorTrust {
    pub fn new(
        anchors: Vec<Certificate>,
        intermediates: Vec<Certificate>,
        revocation: Arc<dyn RevocationSource>,
    ) -> Self {
        AnchorTrust {
            anchors,
            intermediates,
            revocation,
            links: Arc::new(LinkCache::default()),
        }
    }
}

/// The result of checking one token as a time-stamp over `data`.
#[derive(Debug, Clone)]
pub struct TokenCheck {
    /// genTime, when the token is valid.
    pub gen_time: Option<OffsetDateTime>,
    /// The TSA certificate's subject, when it was found.
    pub tsa: Option<String>,
    /// Why the token is not valid.
    pub error: Option<String>,
    /// Reservations (e.g. the TSA certificate's revocation status unknown).
    pub warnings: Vec<String>,
}

impl TokenCheck {
    pub fn is_valid(&self) -> bool {
        self.error.is_none()
    }
}

/// Verifies `token_der` (a DER TimeStampToken) as a time-stamp of `data`: the imprint is the
/// hash of `data`, the signature verifies, the TSA certificate carries timeStamping alone,
/// chains to a trust anchor and was valid at genTime.
pub async fn check_token(token_der: &[u8], data: &[u8], trust: &AnchorTrust) -> TokenCheck {
    let token = match der::asn1::Any::from_der(token_der) {
        Ok(t) => t,
        Err(e) => {
            return TokenCheck {
                gen_time: None,
                tsa: None,
                error: Some(format!("the stored token is not DER: {e}")),
                warnings: Vec::new(),
            }
        }
    };
    let pool: Vec<&Certificate> = trust.intermediates.iter().collect();
    let outcome = verify_token_within(
        &token,
        data,
        &trust.anchors,
        &pool,
        &trust.links,
        trust.revocation.as_ref(),
        OffsetDateTime::now_utc(),
        &Budget::unlimited(),
    )
    .await;
    TokenCheck {
        gen_time: outcome.poe,
        tsa: outcome
            .info
            .as_ref()
            .and_then(|i| i.tsa.as_ref())
            .map(|c| c.subject.clone()),
        error: outcome.error,
        warnings: outcome.warnings,
    }
}

/// Verifies a stored anchor against `encoding`, the encoding of its entry as the chain walk
/// checked it: the token must time-stamp exactly that (its imprint is then the entry's hash),
/// and the row's `head_hash` must be that hash too.
pub async fn check_anchor(
    anchor: &AuditAnchor,
    encoding: &[u8],
    trust: &AnchorTrust,
) -> TokenCheck {
    let mut check = check_token(&anchor.token_der, encoding, trust).await;
    let hash = hex::encode(Sha256::digest(encoding));
    if check.error.is_none() && anchor.head_hash != hash {
        check.error = Some(format!(
            "the anchor row's head hash {} is not the hash {hash} of entry #{}",
            anchor.head_hash, anchor.seq
        ));
    }
    // The row keeps genTime at the store's precision (microseconds): compare at that.
    let signed = check.gen_time.map(ca::storage::db_precision);
    if check.error.is_none() && signed != Some(anchor.gen_time) {
        check.error = Some(format!(
            "the anchor row's genTime {} is not the token's",
            anchor.gen_time
        ));
    }
    check
}

/// Checks a reply as a client does before trusting its token: granted, a token, its TSTInfo
/// over our imprint with SHA-256, our nonce. Returns the token's DER.
fn accept_reply(reply_der: &[u8], digest: &[u8], nonce: &[u8]) -> Result<Vec<u8>> {
    let bad = |s: String| Error::BadReply(s);
    let resp =
        TimeStampResp::from_der(reply_der).map_err(|e| bad(format!("not a TimeStampResp: {e}")))?;
    if !matches!(
        resp.status.status,
        PkiStatus::Granted | PkiStatus::GrantedWithMods
    ) {
        return Err(Error::Refused(refusal_text(&resp.status)));
    }
    let token = resp
        .time_stamp_token
        .ok_or_else(|| bad("granted without a token".into()))?;
    let parsed = crate::cades::parse_signed_data(&token.content).map_err(bad)?;
    let tst = TstInfo::from_der(parsed.attached.as_deref().unwrap_or_default())
        .map_err(|e| bad(format!("TSTInfo: {e}")))?;
    if tst.message_imprint.hash_algorithm.oid != ID_SHA_256
        || tst.message_imprint.hashed_message.as_bytes() != digest
    {
        return Err(bad("the token's imprint is not the journal head's".into()));
    }
    if tst.nonce.as_ref().map(|n| n.as_bytes()) != Some(nonce) {
        return Err(bad("the token does not echo the request's nonce".into()));
    }
    token.to_der().map_err(Error::Encoding)
}

/// Time-stamps the journal head with `tsa` and records the anchor, unless the journal is
/// empty or its head is anchored already.
pub async fn anchor_journal_head(
    tsa: &TimeStampAuthority,
    store: &Store,
    trust: &AnchorTrust,
) -> Result<AnchorOutcome> {
    let (seq, head_hash) = store.audit_head().await.map_err(Error::Store)?;
    if seq == 0 {
        return Ok(AnchorOutcome::EmptyJournal);
    }
    if store
        .audit_anchor(seq)
        .await
        .map_err(Error::Store)?
        .is_some()
    {
        return Ok(AnchorOutcome::AlreadyAnchored { seq });
    }
    // The datum time-stamped is the head entry's encoding; its SHA-256 must be the head hash,
    // or what we would anchor is not what `igc audit verify` recomputes.
    let encoding = store
        .audit_entry_encoding(seq)
        .await
        .map_err(Error::Store)?
        .ok_or_else(|| Error::Journal(format!("the head entry #{seq} is missing")))?;
    let digest = Sha256::digest(&encoding);
    if hex::encode(digest) != head_hash {
        return Err(Error::Journal(format!(
            "entry #{seq} does not hash to the head hash"
        )));
    }
    let (request, nonce) = sha256_request(&digest).map_err(Error::Encoding)?;
    let reply = tsa.respond(&request).await;
    let token_der = accept_reply(&reply.der, &digest, &nonce)?;
    let check = check_token(&token_der, &encoding, trust).await;
    if let Some(e) = check.error {
        return Err(Error::BadReply(e));
    }
    let gen_time = check
        .gen_time
        .ok_or_else(|| Error::BadReply("the token has no genTime".into()))?;
    let recorded = store
        .record_audit_anchor(&NewAuditAnchor {
            seq,
            head_hash,
            token_der,
            gen_time: ca::storage::db_precision(gen_time),
        })
        .await
        .map_err(Error::Store)?;
    Ok(AnchorOutcome::Anchored {
        seq,
        gen_time,
        recorded,
    })
}

/// [`anchor_journal_head`], logged: for the periodic task and the shutdown of `igc serve`.
/// Never fails: a failure is logged and counted, and the next attempt tries again.
pub async fn anchor_and_log(tsa: &TimeStampAuthority, store: &Store, trust: &AnchorTrust) {
    let outcome = anchor_journal_head(tsa, store, trust).await;
    let label = match &outcome {
        Ok(AnchorOutcome::Anchored {
            seq,
            gen_time,
            recorded: true,
        }) => {
            tracing::info!(seq, %gen_time, "audit journal head anchored");
            "anchored"
        }
        Ok(AnchorOutcome::Anchored {
            seq,
            recorded: false,
            ..
        }) => {
            tracing::info!(seq, "audit journal head anchored by another instance first");
            "anchored-elsewhere"
        }
        Ok(AnchorOutcome::AlreadyAnchored { seq }) => {
            tracing::debug!(seq, "audit journal head already anchored");
            "unchanged"
        }
        Ok(AnchorOutcome::EmptyJournal) => "empty",
        Err(e) => {
            tracing::warn!(error = %e, "audit journal head not anchored; the next attempt retries");
            "failed"
        }
    };
    metrics::counter!("audit_anchor_attempts_total", "outcome" => label).increment(1);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use tsa::asn1::TimeStampReq;

    #[test]
    fn request_carries_imprint_nonce_and_cert_req() {
        let digest = [7u8; 32];
        let (der, nonce) = sha256_request(&digest).unwrap();
        let req = TimeStampReq::from_der(&der).unwrap();
        assert_eq!(req.message_imprint.hash_algorithm.oid, ID_SHA_256);
        assert_eq!(req.message_imprint.hashed_message.as_bytes(), digest);
        assert_eq!(req.nonce.unwrap().as_bytes(), nonce.as_slice());
        assert!(req.cert_req);
    }

    #[test]
    fn refusals_and_garbage_are_errors() {
        let refusal =
            tsa::asn1::rejection_der(tsa::FailureInfo::TimeNotAvailable, "time not available");
        assert!(matches!(
            accept_reply(&refusal, &[0; 32], &[1]),
            Err(Error::Refused(_))
        ));
        assert!(matches!(
            accept_reply(b"not DER", &[0; 32], &[1]),
            Err(Error::BadReply(_))
        ));
    }
}
