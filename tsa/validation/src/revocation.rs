//! Where the validator learns whether a certificate was revoked: CRL files (offline
//! `igc verify`) or the CA's store (the online service).

use std::future::Future;
use std::pin::Pin;

use ca::domain::{RevocationReason, Serial};
use ca::storage::{CertificateStatus, Store};
use der::{Decode, Encode};
use sha2::Digest;
use time::OffsetDateTime;
use x509_cert::crl::CertificateList;
use x509_cert::ext::pkix::CrlReason;
use x509_cert::Certificate;

/// What a source knows about one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevocationStatus {
    /// Not revoked (as far as the source knows, up to `known_until`).
    Good {
        /// Revocations up to this time are known to the source (CRL thisUpdate; now for the
        /// store).
        known_until: OffsetDateTime,
        /// Where the answer comes from, in words.
        detail: String,
        /// The source that decided, for reports: `ca-store`, `crl-files`, `embedded-ocsp`,
        /// `embedded-crl`, `online-ocsp http://…`, `online-crl http://…`.
        source: String,
    },
    /// Revoked (or suspended when `on_hold`) since `at`.
    Revoked {
        /// Revocation (or suspension) time.
        at: OffsetDateTime,
        /// RFC 5280 reason name (`keyCompromise`, …), when given.
        reason: Option<String>,
        /// certificateHold.
        on_hold: bool,
        /// Where the answer comes from.
        detail: String,
        /// The source that decided (as for [`RevocationStatus::Good`]).
        source: String,
    },
    /// The source has nothing usable (no CRL of that issuer, stale CRL, serial unknown).
    Unknown {
        /// Why.
        reason: String,
    },
}

/// Boxed future returned by [`RevocationSource::status`].
pub type StatusFuture<'a> = Pin<Box<dyn Future<Output = RevocationStatus> + Send + 'a>>;

/// A source of revocation status.
pub trait RevocationSource: Send + Sync + std::fmt::Debug {
    /// A short name for reports (`crl-files`, `ca-store`).
    fn name(&self) -> &'static str;

    /// The status of `cert` (issued by `issuer`) as far as the source knows at
    /// `validation_time`; `at` is the time of interest (the proof of existence of the
    /// signature, or the validation time).
    fn status<'a>(
        &'a self,
        cert: &'a Certificate,
        issuer: &'a Certificate,
        at: OffsetDateTime,
        validation_time: OffsetDateTime,
    ) -> StatusFuture<'a>;
}

pub(crate) fn to_odt(t: &x509_cert::time::Time) -> OffsetDateTime {
    OffsetDateTime::from(t.to_system_time())
}

// ------------------------------------------------------------------ CRL files

/// Revocation status from CRLs given in advance (files), each checked against its issuer.
#[derive(Debug, Default)]
pub struct CrlRevocationSource {
    crls: Vec<CertificateList>,
    /// (CRL index, SHA-256 of the issuer's TBSCertificate) whose signature verified.
    verified: std::sync::Mutex<std::collections::HashSet<(usize, [u8; 32])>>,
}

impl CrlRevocationSource {
    /// Holds these CRLs (PEM or DER decoded by the caller). Their signatures are checked
    /// when used, against the issuer of the certificate asked about.
    pub fn new(crls: Vec<CertificateList>) -> Self {
        CrlRevocationSource {
            crls,
            verified: Default::default(),
        }
    }

    /// Parses CRL files' contents (PEM, one or several blocks, or DER).
    pub fn from_bytes(files: &[Vec<u8>]) -> Result<Self, String> {
        let mut crls = Vec::new();
        for (i, bytes) in files.iter().enumerate() {
            if bytes.starts_with(b"-----") {
                let blocks = pem::parse_many(bytes).map_err(|e| format!("CRL #{}: {e}", i + 1))?;
                for b in blocks.iter().filter(|b| b.tag() == "X509 CRL") {
                    crls.push(
                        CertificateList::from_der(b.contents())
                            .map_err(|e| format!("CRL #{}: {e}", i + 1))?,
                    );
                }
            } else {
                crls.push(
                    CertificateList::from_der(bytes).map_err(|e| format!("CRL #{}: {e}", i + 1))?,
                );
            }
        }
        Ok(CrlRevocationSource::new(crls))
    }

    /// Number of CRLs held.
    pub fn len(&self) -> usize {
        self.crls.len()
    }

    /// Whether no CRL is held.
    pub fn is_empty(&self) -> bool {
        self.crls.is_empty()
    }

    fn lookup(
        &self,
        cert: &Certificate,
        issuer: &Certificate,
        at: OffsetDateTime,
        validation_time: OffsetDateTime,
    ) -> RevocationStatus {
        let tbs = &cert.tbs_certificate;
        let mut reasons = Vec::new();
        // The most recent usable CRL of this issuer decides.
        let mut best: Option<&CertificateList> = None;
        let issuer_key: Option<[u8; 32]> = issuer
            .tbs_certificate
            .to_der()
            .ok()
            .map(|d| sha2::Sha256::digest(d).into());
        for (i, crl) in self.crls.iter().enumerate() {
            let t = &crl.tbs_cert_list;
            if t.issuer != tbs.issuer {
                continue;
            }
            let lock = || self.verified.lock().unwrap_or_else(|p| p.into_inner());
            let known = issuer_key.is_some_and(|k| lock().contains(&(i, k)));
            if !known {
                if let Err(e) = pkix::verify::verify_crl_signed_by(crl, issuer) {
                    reasons.push(format!("a CRL of the issuer does not verify: {e}"));
                    continue;
                }
                if let Some(k) = issuer_key {
                    lock().insert((i, k));
                }
            }
            let this_update = to_odt(&t.this_update);
            let next_update = t.next_update.as_ref().map(to_odt);
            // Usable when issued after the time of interest (it knows every revocation up to
            // then), or current at validation time.
            let current =
                this_update <= validation_time && next_update.is_none_or(|n| validation_time <= n);
            if this_update < at && !current {
                reasons.push(format!(
                    "the CRL of {this_update} is older than the time of interest {at} and no longer current"
                ));
                continue;
            }
            if best.is_none_or(|b| to_odt(&b.tbs_cert_list.this_update) < this_update) {
                best = Some(crl);
            }
        }
        let Some(crl) = best else {
            return RevocationStatus::Unknown {
                reason: if reasons.is_empty() {
                    "no CRL of the issuer was supplied".into()
                } else {
                    reasons.join("; ")
                },
            };
        };
        let t = &crl.tbs_cert_list;
        let this_update = to_odt(&t.this_update);
        let detail = format!(
            "CRL of {} issued {}",
            pkix::name_to_string(&t.issuer),
            this_update
        );
        for entry in t.revoked_certificates.iter().flatten() {
            if entry.serial_number != tbs.serial_number {
                continue;
            }
            let mut reason = None;
            for ext in entry.crl_entry_extensions.iter().flatten() {
                if ext.extn_id == const_oid::db::rfc5280::ID_CE_CRL_REASONS {
                    if let Ok(r) = CrlReason::from_der(ext.extn_value.as_bytes()) {
                        reason = Some(r);
                    }
                }
            }
            let on_hold = reason == Some(CrlReason::CertificateHold);
            return RevocationStatus::Revoked {
                at: to_odt(&entry.revocation_date),
                reason: reason.map(crl_reason_name),
                on_hold,
                detail,
                source: "crl-files".into(),
            };
        }
        RevocationStatus::Good {
            known_until: this_update,
            detail,
            source: "crl-files".into(),
        }
    }
}

pub(crate) fn crl_reason_name(r: CrlReason) -> String {
    match r {
        CrlReason::Unspecified => "unspecified",
        CrlReason::KeyCompromise => "keyCompromise",
        CrlReason::CaCompromise => "cACompromise",
        CrlReason::AffiliationChanged => "affiliationChanged",
        CrlReason::Superseded => "superseded",
        CrlReason::CessationOfOperation => "cessationOfOperation",
        CrlReason::CertificateHold => "certificateHold",
        CrlReason::RemoveFromCRL => "removeFromCRL",
        CrlReason::PrivilegeWithdrawn => "privilegeWithdrawn",
        CrlReason::AaCompromise => "aACompromise",
    }
    .to_owned()
}

impl RevocationSource for CrlRevocationSource {
    fn name(&self) -> &'static str {
        "crl-files"
    }

    fn status<'a>(
        &'a self,
        cert: &'a Certificate,
        issuer: &'a Certificate,
        at: OffsetDateTime,
        validation_time: OffsetDateTime,
    ) -> StatusFuture<'a> {
        let s = self.lookup(cert, issuer, at, validation_time);
        Box::pin(std::future::ready(s))
    }
}

// ------------------------------------------------------------------ CA store

/// Revocation status from the CA's own store (the certificates it issued): authoritative and
/// up to date, for the online service.
#[derive(Debug, Clone)]
pub struct StoreRevocationSource {
    store: Store,
}

impl StoreRevocationSource {
    /// Reads `store`.
    pub fn new(store: Store) -> Self {
        StoreRevocationSource { store }
    }
}

fn reason_name(r: RevocationReason) -> String {
    serde_json::to_value(r)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{r:?}"))
}

impl RevocationSource for StoreRevocationSource {
    fn name(&self) -> &'static str {
        "ca-store"
    }

    fn status<'a>(
        &'a self,
        cert: &'a Certificate,
        _issuer: &'a Certificate,
        _at: OffsetDateTime,
        _validation_time: OffsetDateTime,
    ) -> StatusFuture<'a> {
        Box::pin(async move {
            let serial = match Serial::from_be_bytes(cert.tbs_certificate.serial_number.as_bytes())
            {
                Ok(s) => s,
                Err(e) => {
                    return RevocationStatus::Unknown {
                        reason: format!("serial number: {e}"),
                    }
                }
            };
            let record = match self.store.certificate(&serial).await {
                Ok(Some(r)) => r,
                Ok(None) => {
                    return RevocationStatus::Unknown {
                        reason: format!("serial {serial} was not issued by this CA"),
                    }
                }
                Err(e) => {
                    return RevocationStatus::Unknown {
                        reason: format!("the CA store cannot be read now: {e}"),
                    }
                }
            };
            // A certificate with the same serial but other contents is not ours.
            if cert.to_der().ok().as_deref() != Some(record.der.as_slice()) {
                return RevocationStatus::Unknown {
                    reason: format!("serial {serial} is recorded with another certificate"),
                };
            }
            let detail = format!("CA store record of serial {serial} ({})", record.issuer);
            match record.status {
                CertificateStatus::Good => RevocationStatus::Good {
                    known_until: OffsetDateTime::now_utc(),
                    detail,
                    source: "ca-store".into(),
                },
                CertificateStatus::Revoked { at, reason } => RevocationStatus::Revoked {
                    at,
                    reason: Some(reason_name(reason)),
                    on_hold: false,
                    detail,
                    source: "ca-store".into(),
                },
                CertificateStatus::OnHold { since } => RevocationStatus::Revoked {
                    at: since,
                    reason: Some("certificateHold".into()),
                    on_hold: true,
                    detail,
                    source: "ca-store".into(),
                },
            }
        })
    }
}

// ------------------------------------------------------------------ combined

/// Asks several sources in order; the first that knows (good or revoked) answers. E.g. the
/// CA store for end-entity certificates, then the root's ARL (a [`CrlRevocationSource`]) for
/// the issuing CA certificates, which are not in the store.
#[derive(Debug, Clone)]
pub struct FirstKnownRevocationSource {
    sources: Vec<std::sync::Arc<dyn RevocationSource>>,
}

impl FirstKnownRevocationSource {
    /// Asks `sources` in this order.
    pub fn new(sources: Vec<std::sync::Arc<dyn RevocationSource>>) -> Self {
        FirstKnownRevocationSource { sources }
    }
}

impl RevocationSource for FirstKnownRevocationSource {
    fn name(&self) -> &'static str {
        "combined"
    }

    fn status<'a>(
        &'a self,
        cert: &'a Certificate,
        issuer: &'a Certificate,
        at: OffsetDateTime,
        validation_time: OffsetDateTime,
    ) -> StatusFuture<'a> {
        Box::pin(async move {
            let mut reasons = Vec::new();
            for s in &self.sources {
                match s.status(cert, issuer, at, validation_time).await {
                    RevocationStatus::Unknown { reason } => {
                        reasons.push(format!("{}: {reason}", s.name()))
                    }
                    known => return known,
                }
            }
            RevocationStatus::Unknown {
                reason: if reasons.is_empty() {
                    "no revocation source configured".into()
                } else {
                    reasons.join("; ")
                },
            }
        })
    }
}
