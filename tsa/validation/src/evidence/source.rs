//! Revocation sources over OCSP responses and CRLs: the evidence embedded in a long-term
//! signature ([`EvidenceRevocationSource`], offline), and the evidence fetched from the AIA
//! and CDP of the certificates ([`OnlineRevocationSource`]), with [`collect_evidence`] for
//! embedding.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use der::{Decode, Encode};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use x509_cert::crl::CertificateList;
use x509_cert::ext::pkix::CrlReason;
use x509_cert::Certificate;
use x509_ocsp::BasicOcspResponse;

use super::fetch::{crl_urls, ocsp_url, Fetcher};
use super::ocsp::{
    cached_verify, check_basic, ocsp_request, parse_basic, OcspEvidence, OcspStatus,
};
use crate::revocation::{
    crl_reason_name, to_odt, RevocationSource, RevocationStatus, StatusFuture,
};

/// What one piece of evidence says, before the freshness rule.
#[derive(Debug, Clone)]
struct Said {
    this_update: OffsetDateTime,
    next_update: Option<OffsetDateTime>,
    /// revocationTime, reason, certificateHold.
    revoked: Option<(OffsetDateTime, Option<String>, bool)>,
    detail: String,
    source: String,
}

/// EN 319 102-1 §5.2.5: evidence is fresh enough for the time of interest `at` when it was
/// issued no earlier than `at` minus its own validity period (nextUpdate − thisUpdate); without
/// nextUpdate, when issued at or after `at`.
pub fn is_fresh(
    this_update: OffsetDateTime,
    next_update: Option<OffsetDateTime>,
    at: OffsetDateTime,
) -> bool {
    match next_update {
        Some(n) => this_update >= at - (n - this_update),
        None => this_update >= at,
    }
}

/// The most recent fresh evidence decides; the reasons of what was skipped explain Unknown.
fn decide(said: Vec<Said>, mut reasons: Vec<String>, at: OffsetDateTime) -> RevocationStatus {
    let mut best: Option<Said> = None;
    for s in said {
        if !is_fresh(s.this_update, s.next_update, at) {
            reasons.push(format!(
                "{} is not fresh for {at} (issued {}, next update {})",
                s.detail,
                s.this_update,
                s.next_update
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| "not given".into())
            ));
            continue;
        }
        if best.as_ref().is_none_or(|b| b.this_update < s.this_update) {
            best = Some(s);
        }
    }
    let Some(s) = best else {
        return RevocationStatus::Unknown {
            reason: if reasons.is_empty() {
                "no revocation evidence about the certificate".into()
            } else {
                reasons.join("; ")
            },
        };
    };
    match s.revoked {
        Some((rev_at, reason, on_hold)) if rev_at <= at => RevocationStatus::Revoked {
            at: rev_at,
            reason,
            on_hold,
            detail: s.detail,
            source: s.source,
        },
        Some((rev_at, _, on_hold)) => RevocationStatus::Good {
            known_until: s.this_update,
            detail: format!(
                "{} ({} only at {rev_at}, after {at})",
                s.detail,
                if on_hold { "suspended" } else { "revoked" }
            ),
            source: s.source,
        },
        None => RevocationStatus::Good {
            known_until: s.this_update,
            detail: s.detail,
            source: s.source,
        },
    }
}

fn said_of_ocsp(e: &OcspEvidence, source: &str) -> Result<Said, String> {
    let revoked = match &e.status {
        OcspStatus::Good => None,
        OcspStatus::Revoked { at, reason } => Some((
            *at,
            reason.clone(),
            reason.as_deref() == Some("certificateHold"),
        )),
        OcspStatus::Unknown => {
            return Err(format!(
                "the OCSP response of {} produced {} says the certificate is unknown",
                e.responder, e.produced_at
            ))
        }
    };
    Ok(Said {
        this_update: e.this_update,
        next_update: e.next_update,
        revoked,
        detail: format!(
            "OCSP response of {} produced {}",
            e.responder, e.produced_at
        ),
        source: source.to_owned(),
    })
}

/// What `crl` (already verified as signed by the certificate's issuer) says about `cert`.
fn said_of_crl(crl: &CertificateList, cert: &Certificate, source: &str) -> Said {
    let t = &crl.tbs_cert_list;
    let this_update = to_odt(&t.this_update);
    let mut revoked = None;
    for entry in t.revoked_certificates.iter().flatten() {
        if entry.serial_number != cert.tbs_certificate.serial_number {
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
        revoked = Some((
            to_odt(&entry.revocation_date),
            reason.map(crl_reason_name),
            reason == Some(CrlReason::CertificateHold),
        ));
        break;
    }
    Said {
        this_update,
        next_update: t.next_update.as_ref().map(to_odt),
        revoked,
        detail: format!(
            "CRL of {} issued {this_update}",
            pkix::name_to_string(&t.issuer)
        ),
        source: source.to_owned(),
    }
}

/// SHA-256 over the DER of `parts`' TBS parts; `None` when one does not encode.
fn key_of(cert: &Certificate, issuer: &Certificate) -> Option<[u8; 32]> {
    let mut h = Sha256::new();
    h.update(cert.tbs_certificate.to_der().ok()?);
    h.update(cert.signature.raw_bytes());
    h.update(issuer.tbs_certificate.to_der().ok()?);
    Some(h.finalize().into())
}

/// [`pkix::verify::verify_crl_signed_by`], remembered process-wide (successes only, keyed by
/// a SHA-256 over the signed list, its signature and the issuer's certificate): the same CRLs
/// come back in every long-term signature of a period.
pub(crate) fn cached_crl_verify(crl: &CertificateList, issuer: &Certificate) -> Result<(), String> {
    static VERIFIED: super::VerifiedSignatures = super::VerifiedSignatures::new(4096);
    let key: Option<[u8; 32]> = (|| {
        let mut h = Sha256::new();
        h.update(crl.tbs_cert_list.to_der().ok()?);
        h.update(crl.signature_algorithm.to_der().ok()?);
        h.update(crl.signature.raw_bytes());
        h.update(issuer.tbs_certificate.to_der().ok()?);
        Some(h.finalize().into())
    })();
    VERIFIED.check(key, || {
        pkix::verify::verify_crl_signed_by(crl, issuer).map_err(|e| e.to_string())
    })
}

// ------------------------------------------------------------------ embedded evidence

/// Entries of an [`EvidenceRevocationSource`]'s memo before it starts afresh.
const MEMO_MAX: usize = 4096;

/// Revocation status from the evidence a signature carries (CAdES revocation-values or the
/// SignedData's crls): OCSP responses and CRLs, each checked against the issuer of the
/// certificate asked about; no network. Bad or unverifiable evidence is skipped, its reason
/// kept for an Unknown answer.
#[derive(Debug)]
pub struct EvidenceRevocationSource {
    ocsp: Vec<Result<(BasicOcspResponse, Vec<u8>), String>>,
    crls: Vec<CertificateList>,
    extra_certs: Vec<Certificate>,
    /// (response index, certificate and issuer) → the checked answer.
    ocsp_memo: Memo<OcspEvidence>,
    /// (CRL index, certificate and issuer) → whether its signature verified.
    crl_memo: Memo<()>,
}

/// (evidence index, SHA-256 of the certificate and issuer) → the outcome of its checks.
type Memo<T> = Mutex<HashMap<(usize, [u8; 32]), Result<T, String>>>;

impl EvidenceRevocationSource {
    /// Holds `ocsp_responses` (DER BasicOCSPResponse or OCSPResponse), `crls`, and
    /// `extra_certs` (delegated OCSP responder certificates the signature carries).
    pub fn new(
        ocsp_responses: Vec<Vec<u8>>,
        crls: Vec<CertificateList>,
        extra_certs: Vec<Certificate>,
    ) -> Self {
        EvidenceRevocationSource {
            ocsp: ocsp_responses.iter().map(|d| parse_basic(d)).collect(),
            crls,
            extra_certs,
            ocsp_memo: Default::default(),
            crl_memo: Default::default(),
        }
    }

    /// Number of OCSP responses and of CRLs held.
    pub fn counts(&self) -> (usize, usize) {
        (self.ocsp.len(), self.crls.len())
    }

    fn lookup(
        &self,
        cert: &Certificate,
        issuer: &Certificate,
        at: OffsetDateTime,
    ) -> RevocationStatus {
        let key = key_of(cert, issuer);
        let pool: Vec<&Certificate> = self.extra_certs.iter().collect();
        let mut said = Vec::new();
        let mut reasons = Vec::new();
        for (i, parsed) in self.ocsp.iter().enumerate() {
            let (basic, der) = match parsed {
                Ok(p) => p,
                Err(e) => {
                    reasons.push(format!("OCSP response #{}: {e}", i + 1));
                    continue;
                }
            };
            // Only the responses about this serial are checked (and memoised).
            if !basic
                .tbs_response_data
                .responses
                .iter()
                .any(|s| s.cert_id.serial_number == cert.tbs_certificate.serial_number)
            {
                continue;
            }
            let memo_key = key.map(|k| (i, k));
            let lock = || self.ocsp_memo.lock().unwrap_or_else(|p| p.into_inner());
            let cached = memo_key.and_then(|k| lock().get(&k).cloned());
            let checked = match cached {
                Some(c) => c,
                None => {
                    let c = check_basic(basic, der.clone(), cert, issuer, &pool, &cached_verify);
                    if let Some(k) = memo_key {
                        let mut m = lock();
                        if m.len() >= MEMO_MAX {
                            m.clear();
                        }
                        m.insert(k, c.clone());
                    }
                    c
                }
            };
            match checked.and_then(|e| said_of_ocsp(&e, "embedded-ocsp")) {
                Ok(s) => said.push(s),
                Err(e) => reasons.push(format!("OCSP response #{}: {e}", i + 1)),
            }
        }
        for (i, crl) in self.crls.iter().enumerate() {
            if crl.tbs_cert_list.issuer != cert.tbs_certificate.issuer {
                continue;
            }
            let memo_key = key.map(|k| (i, k));
            let lock = || self.crl_memo.lock().unwrap_or_else(|p| p.into_inner());
            let cached = memo_key.and_then(|k| lock().get(&k).cloned());
            let checked = match cached {
                Some(c) => c,
                None => {
                    let c = cached_crl_verify(crl, issuer);
                    if let Some(k) = memo_key {
                        let mut m = lock();
                        if m.len() >= MEMO_MAX {
                            m.clear();
                        }
                        m.insert(k, c.clone());
                    }
                    c
                }
            };
            match checked {
                Ok(()) => said.push(said_of_crl(crl, cert, "embedded-crl")),
                Err(e) => {
                    reasons.push(format!("CRL #{} of the issuer does not verify: {e}", i + 1))
                }
            }
        }
        if said.is_empty() && reasons.is_empty() {
            return RevocationStatus::Unknown {
                reason: "the signature carries no OCSP response or CRL about the certificate"
                    .into(),
            };
        }
        decide(said, reasons, at)
    }
}

impl RevocationSource for EvidenceRevocationSource {
    fn name(&self) -> &'static str {
        "embedded"
    }

    fn status<'a>(
        &'a self,
        cert: &'a Certificate,
        issuer: &'a Certificate,
        at: OffsetDateTime,
        _validation_time: OffsetDateTime,
    ) -> StatusFuture<'a> {
        let s = self.lookup(cert, issuer, at);
        Box::pin(std::future::ready(s))
    }
}

// ------------------------------------------------------------------ online

/// Verified evidence for embedding in a long-term signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evidence {
    /// An OCSP response (its DER BasicOCSPResponse is [`OcspEvidence::basic_der`]).
    Ocsp(OcspEvidence),
    /// A CRL of the certificate's issuer, verified.
    Crl {
        /// The CRL, DER.
        der: Vec<u8>,
        /// thisUpdate.
        this_update: OffsetDateTime,
        /// nextUpdate, when given.
        next_update: Option<OffsetDateTime>,
        /// Where it was fetched.
        url: String,
    },
}

/// Parses a fetched CRL (DER; a PEM block tolerated).
fn parse_crl(bytes: &[u8]) -> Result<CertificateList, String> {
    match CertificateList::from_der(bytes) {
        Ok(c) => Ok(c),
        Err(e) if bytes.starts_with(b"-----") => {
            let block = pem::parse(bytes).map_err(|_| format!("not a CRL: {e}"))?;
            CertificateList::from_der(block.contents()).map_err(|e| format!("not a CRL: {e}"))
        }
        Err(e) => Err(format!("not a CRL: {e}")),
    }
}

async fn fetch_ocsp(
    fetcher: &Fetcher,
    url: &str,
    cert: &Certificate,
    issuer: &Certificate,
) -> Result<OcspEvidence, String> {
    fetcher.check_url(url).map_err(|e| e.to_string())?;
    let req = ocsp_request(cert, issuer)?;
    let body = fetcher
        .post(url, "application/ocsp-request", &req)
        .await
        .map_err(|e| e.to_string())?;
    let (basic, der) = parse_basic(&body).map_err(|e| format!("{url}: {e}"))?;
    check_basic(&basic, der, cert, issuer, &[], &cached_verify).map_err(|e| format!("{url}: {e}"))
}

async fn fetch_crl(
    fetcher: &Fetcher,
    url: &str,
    issuer: &Certificate,
) -> Result<(CertificateList, Vec<u8>), String> {
    fetcher.check_url(url).map_err(|e| e.to_string())?;
    let body = fetcher.get(url).await.map_err(|e| e.to_string())?;
    let crl = parse_crl(&body).map_err(|e| format!("{url}: {e}"))?;
    if crl.tbs_cert_list.issuer != issuer.tbs_certificate.subject {
        return Err(format!(
            "{url}: the CRL is not issued by the certificate's issuer"
        ));
    }
    cached_crl_verify(&crl, issuer).map_err(|e| format!("{url}: the CRL does not verify: {e}"))?;
    let der = if body.starts_with(b"-----") {
        crl.to_der().map_err(|e| format!("{url}: {e}"))?
    } else {
        body
    };
    Ok((crl, der))
}

/// Fetches verified revocation evidence about `cert` (issued by `issuer`) for embedding: the
/// OCSP response from its AIA first, else the CRL at its CDP. Not judged for freshness (the
/// caller embeds what is current). `Err` says why nothing was obtained, source by source.
pub async fn collect_evidence(
    fetcher: &Fetcher,
    cert: &Certificate,
    issuer: &Certificate,
) -> Result<Evidence, String> {
    let mut reasons = Vec::new();
    if let Some(url) = ocsp_url(cert) {
        match fetch_ocsp(fetcher, &url, cert, issuer).await {
            Ok(e) if e.status != OcspStatus::Unknown => return Ok(Evidence::Ocsp(e)),
            Ok(_) => reasons.push(format!(
                "OCSP {url}: the responder does not know the certificate"
            )),
            Err(e) => reasons.push(format!("OCSP: {e}")),
        }
    }
    for url in crl_urls(cert) {
        match fetch_crl(fetcher, &url, issuer).await {
            Ok((crl, der)) => {
                let t = &crl.tbs_cert_list;
                return Ok(Evidence::Crl {
                    der,
                    this_update: to_odt(&t.this_update),
                    next_update: t.next_update.as_ref().map(to_odt),
                    url,
                });
            }
            Err(e) => reasons.push(format!("CRL: {e}")),
        }
    }
    Err(if reasons.is_empty() {
        "the certificate names no http:// OCSP responder nor CRL distribution point".into()
    } else {
        reasons.join("; ")
    })
}

/// Entries kept by each cache of an [`OnlineRevocationSource`] by default.
pub const ONLINE_CACHE_DEFAULT: usize = 1024;

/// Revocation status fetched from the certificate's OCSP responder (AIA), else from its CRL
/// (CDP), within the [`Fetcher`]'s policy (allow-listed hosts only). Answers are kept in
/// memory until their nextUpdate (those without nextUpdate are not kept); each cache is
/// bounded.
#[derive(Debug)]
pub struct OnlineRevocationSource {
    fetcher: Fetcher,
    capacity: usize,
    /// (certificate, issuer) → the OCSP answer and its URL.
    ocsp: Mutex<HashMap<[u8; 32], (OcspEvidence, String)>>,
    /// URL → the CRL, verified against the issuers in the set.
    crls: Mutex<HashMap<String, CachedCrl>>,
}

#[derive(Debug, Clone)]
struct CachedCrl {
    crl: Arc<CertificateList>,
    next_update: OffsetDateTime,
    /// SHA-256 of the issuers' TBSCertificate it verified with.
    issuers: HashSet<[u8; 32]>,
}

fn issuer_key(issuer: &Certificate) -> Option<[u8; 32]> {
    issuer
        .tbs_certificate
        .to_der()
        .ok()
        .map(|d| Sha256::digest(d).into())
}

/// Drops expired entries when `map` is full, and everything when still full.
fn make_room<K: std::hash::Hash + Eq, V>(
    map: &mut HashMap<K, V>,
    capacity: usize,
    expiry: impl Fn(&V) -> OffsetDateTime,
) {
    if map.len() < capacity {
        return;
    }
    let now = OffsetDateTime::now_utc();
    map.retain(|_, v| expiry(v) > now);
    if map.len() >= capacity {
        map.clear();
    }
}

impl OnlineRevocationSource {
    /// Fetches through `fetcher`, caching up to [`ONLINE_CACHE_DEFAULT`] answers.
    pub fn new(fetcher: Fetcher) -> Self {
        OnlineRevocationSource {
            fetcher,
            capacity: ONLINE_CACHE_DEFAULT,
            ocsp: Default::default(),
            crls: Default::default(),
        }
    }

    /// Keeps at most `capacity` (at least 1) OCSP answers and as many CRLs.
    pub fn with_cache_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// The fetcher.
    pub fn fetcher(&self) -> &Fetcher {
        &self.fetcher
    }

    async fn ocsp_said(
        &self,
        url: &str,
        cert: &Certificate,
        issuer: &Certificate,
    ) -> Result<Said, String> {
        let key = key_of(cert, issuer);
        let source = format!("online-ocsp {url}");
        let now = OffsetDateTime::now_utc();
        let lock = || self.ocsp.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((e, _)) = key.and_then(|k| lock().get(&k).cloned()) {
            if e.next_update.is_some_and(|n| now < n) {
                return said_of_ocsp(&e, &source);
            }
        }
        let e = fetch_ocsp(&self.fetcher, url, cert, issuer).await?;
        if let (Some(k), Some(n)) = (key, e.next_update) {
            if now < n {
                let mut m = lock();
                make_room(&mut m, self.capacity, |(e, _)| {
                    e.next_update.unwrap_or(OffsetDateTime::UNIX_EPOCH)
                });
                m.insert(k, (e.clone(), url.to_owned()));
            }
        }
        said_of_ocsp(&e, &source)
    }

    async fn crl_said(
        &self,
        url: &str,
        cert: &Certificate,
        issuer: &Certificate,
    ) -> Result<Said, String> {
        let source = format!("online-crl {url}");
        let now = OffsetDateTime::now_utc();
        let ikey = issuer_key(issuer);
        let lock = || self.crls.lock().unwrap_or_else(|p| p.into_inner());
        let cached = lock().get(url).cloned();
        if let Some(c) = cached.filter(|c| now < c.next_update) {
            let known = ikey.is_some_and(|k| c.issuers.contains(&k));
            if known
                || (c.crl.tbs_cert_list.issuer == issuer.tbs_certificate.subject
                    && cached_crl_verify(&c.crl, issuer).is_ok())
            {
                if let (false, Some(k)) = (known, ikey) {
                    if let Some(entry) = lock().get_mut(url) {
                        entry.issuers.insert(k);
                    }
                }
                return Ok(said_of_crl(&c.crl, cert, &source));
            }
        }
        let (crl, _) = fetch_crl(&self.fetcher, url, issuer).await?;
        let said = said_of_crl(&crl, cert, &source);
        if let Some(n) = crl.tbs_cert_list.next_update.as_ref().map(to_odt) {
            if now < n {
                let mut m = lock();
                make_room(&mut m, self.capacity, |c| c.next_update);
                m.insert(
                    url.to_owned(),
                    CachedCrl {
                        crl: Arc::new(crl),
                        next_update: n,
                        issuers: ikey.into_iter().collect(),
                    },
                );
            }
        }
        Ok(said)
    }

    async fn lookup(
        &self,
        cert: &Certificate,
        issuer: &Certificate,
        at: OffsetDateTime,
    ) -> RevocationStatus {
        let mut reasons = Vec::new();
        if let Some(url) = ocsp_url(cert) {
            match self.ocsp_said(&url, cert, issuer).await {
                Ok(s) => {
                    let status = decide(vec![s], Vec::new(), at);
                    if !matches!(status, RevocationStatus::Unknown { .. }) {
                        return status;
                    }
                    if let RevocationStatus::Unknown { reason } = status {
                        reasons.push(reason);
                    }
                }
                Err(e) => reasons.push(format!("OCSP: {e}")),
            }
        }
        for url in crl_urls(cert) {
            match self.crl_said(&url, cert, issuer).await {
                Ok(s) => {
                    let status = decide(vec![s], Vec::new(), at);
                    if let RevocationStatus::Unknown { reason } = status {
                        reasons.push(reason);
                    } else {
                        return status;
                    }
                }
                Err(e) => reasons.push(format!("CRL: {e}")),
            }
        }
        RevocationStatus::Unknown {
            reason: if reasons.is_empty() {
                "the certificate names no http:// OCSP responder nor CRL distribution point".into()
            } else {
                reasons.join("; ")
            },
        }
    }
}

impl RevocationSource for OnlineRevocationSource {
    fn name(&self) -> &'static str {
        "online"
    }

    fn status<'a>(
        &'a self,
        cert: &'a Certificate,
        issuer: &'a Certificate,
        at: OffsetDateTime,
        _validation_time: OffsetDateTime,
    ) -> StatusFuture<'a> {
        Box::pin(self.lookup(cert, issuer, at))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use time::macros::datetime;

    fn said(
        this: OffsetDateTime,
        next: Option<OffsetDateTime>,
        revoked: Option<OffsetDateTime>,
    ) -> Said {
        Said {
            this_update: this,
            next_update: next,
            revoked: revoked.map(|r| (r, Some("keyCompromise".into()), false)),
            detail: format!("evidence of {this}"),
            source: "test".into(),
        }
    }

    #[test]
    fn freshness_window_is_the_evidence_validity_period() {
        let t = datetime!(2026-01-10 00:00 UTC);
        let week = time::Duration::days(7);
        // Issued 7 days before with a 7-day period: just fresh; 1 s earlier: not.
        assert!(is_fresh(t - week, Some(t), t));
        assert!(!is_fresh(
            t - week - time::Duration::seconds(1),
            Some(t - time::Duration::seconds(1)),
            t
        ));
        // Issued after the time of interest: always fresh.
        assert!(is_fresh(t + week, Some(t + week + week), t));
        // Without nextUpdate: only issued at or after the time of interest.
        assert!(is_fresh(t, None, t));
        assert!(!is_fresh(t - time::Duration::seconds(1), None, t));
    }

    #[test]
    fn most_recent_fresh_evidence_decides() {
        let t = datetime!(2026-01-10 00:00 UTC);
        let d = time::Duration::days(1);
        // Older says good, newer says revoked before t: revoked.
        let s = decide(
            vec![
                said(t, Some(t + d), None),
                said(t + d, Some(t + d + d), Some(t - d)),
            ],
            vec![],
            t,
        );
        assert!(
            matches!(s, RevocationStatus::Revoked { at, .. } if at == t - d),
            "{s:?}"
        );
        // Revoked after the time of interest: good at t.
        let s = decide(vec![said(t + d, Some(t + d + d), Some(t + d))], vec![], t);
        assert!(
            matches!(s, RevocationStatus::Good { ref detail, .. } if detail.contains("revoked only")),
            "{s:?}"
        );
        // Stale evidence only: unknown, with the reasons.
        let s = decide(
            vec![said(t - d - d - d, Some(t - d - d), None)],
            vec!["bad one".into()],
            t,
        );
        match s {
            RevocationStatus::Unknown { reason } => {
                assert!(
                    reason.contains("bad one") && reason.contains("not fresh"),
                    "{reason}"
                )
            }
            other => panic!("{other:?}"),
        }
    }
}
