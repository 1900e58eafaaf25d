//! Validation of signed e-prescriptions, medical certificates and X.509 certificates
//! (issue 7, DESIGN.md §6), CAdES signing, and the time anchors of the CA's audit journal.
//!
//! - [`Validator::validate_signature`]: CAdES baseline B and T (ETSI EN 319 122-1) over
//!   attached or detached content — content-type, message-digest, signing-certificate-v2,
//!   the signature, algorithm and key-size policy ([`pkix::verify`]), the path to a trust
//!   anchor ([`path`]), SIGN-profile key usage, revocation at the relevant time
//!   ([`RevocationSource`]: CRL files or the CA store), the signature time-stamp
//!   ([`timestamp`]) and the document-type rule ([`ca::domain::SigningRules`]). The result is
//!   a [`SignatureReport`] in the ETSI EN 319 102-1 model.
//! - [`Validator::validate_certificate`]: path and status of a certificate at a time.
//! - [`sign`]: CAdES-B signing through any RustCrypto signer, and CAdES-T by adding a
//!   time-stamp token.
//! - [`http`]: `POST /api/v1/verify` and `POST /api/v1/verify/certificate`.
//! - [`limits`]: what one validation may cost (`[validation]` of `igc.toml`): the size and
//!   number of certificates, candidate issuers, verification work and time, concurrency.
//! - [`anchor`]: time-stamping the head of the CA's audit journal with our TSA, and checking
//!   those anchors as a relying party checks a time-stamp token.
//!
//! Above `ca` (the CA store as a revocation source and registry, profiles, signing rules) and
//! `tsa` (the RFC 3161 types, and the authority that time-stamps the journal head); neither
//! depends on this crate. No PKCS#11: signatures are checked in software ([`pkix::verify`])
//! and made through the RustCrypto signer traits.
//!
//! Validation policy decisions (documented here because they go beyond ETSI's defaults):
//! - the SIGN key usage and the signer's profession are *definitive* constraints of this
//!   PKI: failing them gives TOTAL_FAILED / SIG_CONSTRAINTS_FAILURE (ETSI lists
//!   SIG_CONSTRAINTS_FAILURE under INDETERMINATE; no additional data can change these);
//! - revocation of the signing certificate is required; for CA certificates and the TSA
//!   certificate a missing status is reported as a warning (CA certificates are not in the
//!   CA store, and the root ARL is not always supplied offline);
//! - an invalid time-stamp gives no proof of existence and makes the result INDETERMINATE
//!   (TIMESTAMP_ORDER_FAILURE when it predates the claimed signing time).
//!
//! ```ignore
//! // In `igc serve`: statuses from the CA store, then the root's ARL for the issuing CAs.
//! let revocation = FirstKnownRevocationSource::new(vec![
//!     Arc::new(StoreRevocationSource::new(store.clone())),
//!     Arc::new(CrlRevocationSource::from_bytes(&[root_arl_der])?),
//! ]);
//! let validator = validation::Validator::new(
//!     vec![root],                       // trust anchors
//!     vec![ca_personnes, ca_orgs],      // intermediate CA certificates
//!     Arc::new(revocation),
//!     SigningRules::builtin()?, ProfessionTable::builtin()?,
//! )?.with_registry(store.clone());
//! let app = app.merge(validation::http::router(Arc::new(validator)));
//! ```
#![forbid(unsafe_code)]

pub mod anchor;
pub mod cades;
mod error;
pub mod evidence;
pub mod http;
pub mod limits;
pub mod longterm;
pub mod ltv;
pub mod pades;
pub mod path;
pub mod pdf;
pub mod report;
pub mod revocation;
pub mod sign;
pub mod timestamp;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

use ca::domain::{
    DocumentType, IdNatPs, ProfessionCode, ProfessionTable, SigningDecision, SigningRules,
};
use ca::storage::Store;
use der::asn1::Any;
use der::{Decode, Tag, Tagged};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use x509_cert::Certificate;

pub use error::{Error, Result};
pub use limits::{Budget, LimitExceeded, ValidationLimits};
pub use report::{
    CertificateInfo, CertificateReport, Check, CheckResult, Checks, Indication, RevocationUsed,
    SignatureReport, SignerIdentity, SubIndication, TimestampInfo,
};
pub use revocation::{
    CrlRevocationSource, FirstKnownRevocationSource, RevocationSource, RevocationStatus,
    StoreRevocationSource,
};

use cades::CryptoCheck;
use Indication::{Indeterminate, TotalFailed};

/// The kind of document signed: one of the rule-governed types, or `generic` (any
/// professional may sign).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DocumentKind {
    /// Ordonnance.
    Prescription,
    /// Certificat médical.
    MedicalCertificate,
    /// Certificat de décès.
    DeathCertificate,
    /// Any other document: no profession rule.
    Generic,
}

impl DocumentKind {
    /// The rule-governed type, `None` for generic.
    pub fn rule_type(self) -> Option<DocumentType> {
        match self {
            DocumentKind::Prescription => Some(DocumentType::Prescription),
            DocumentKind::MedicalCertificate => Some(DocumentType::MedicalCertificate),
            DocumentKind::DeathCertificate => Some(DocumentType::DeathCertificate),
            DocumentKind::Generic => None,
        }
    }

    /// `prescription`, `medical-certificate`, `death-certificate`, `generic`.
    pub fn as_str(self) -> &'static str {
        match self.rule_type() {
            Some(t) => t.as_str(),
            None => "generic",
        }
    }
}

impl FromStr for DocumentKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "prescription" => Ok(DocumentKind::Prescription),
            "medical-certificate" => Ok(DocumentKind::MedicalCertificate),
            "death-certificate" => Ok(DocumentKind::DeathCertificate),
            "generic" => Ok(DocumentKind::Generic),
            other => Err(format!(
                "unknown document type {other:?} (prescription, medical-certificate, death-certificate, generic)"
            )),
        }
    }
}

/// Tunable parts of the validation policy.
#[derive(Debug, Clone)]
pub struct ValidationPolicy {
    /// Clock tolerance between the claimed signing time and the time-stamp, added to the
    /// token's declared accuracy (signing-time has one-second precision).
    pub signing_time_tolerance: time::Duration,
    /// Refuse CAdES-B (no time-stamp) as INDETERMINATE/NO_POE.
    pub require_timestamp: bool,
    /// The certificate policies under which a signing certificate must be issued to sign a
    /// document of a type with a rule (prescription, medical or death certificate): the
    /// SIGN profile's policy OIDs. Required through RFC 5280 §6.1 (user-initial-policy-set,
    /// initial-explicit-policy). Empty: no policy required.
    pub signature_policies: Vec<der::asn1::ObjectIdentifier>,
    /// Check the revocation status of the certificates (`false` only for `igc verify-cert
    /// --revocation none`: the report then says it was not checked).
    pub check_revocation: bool,
}

impl Default for ValidationPolicy {
    fn default() -> Self {
        ValidationPolicy {
            signing_time_tolerance: time::Duration::seconds(1),
            require_timestamp: false,
            signature_policies: Vec::new(),
            check_revocation: true,
        }
    }
}

/// What to validate.
#[derive(Debug, Clone, Copy)]
pub struct SignatureInput<'a> {
    /// DER (or PEM) CMS ContentInfo.
    pub signature: &'a [u8],
    /// The content, for a detached signature.
    pub content: Option<&'a [u8]>,
    /// The content of a detached signature as byte ranges hashed in order, when `content` is
    /// `None` (a PDF signature's /ByteRange, not copied).
    pub content_ranges: Option<&'a [&'a [u8]]>,
    /// The document type, for the profession rule.
    pub document: DocumentKind,
    /// Validation time; now when `None`.
    pub validation_time: Option<OffsetDateTime>,
    /// A PAdES signature: what the PDF around it carries (`pades`).
    pub pdf: Option<&'a PdfContext<'a>>,
}

/// What a PDF carries for one of its signatures (ETSI EN 319 142-1): the validation data of
/// its DSS, the document time-stamps added after the signature, and the claimed signing time
/// of the signature dictionary.
#[derive(Debug, Default)]
pub struct PdfContext<'a> {
    /// Certificates of the DSS.
    pub certificates: Vec<Certificate>,
    /// OCSP responses of the DSS (DER).
    pub ocsp: Vec<Vec<u8>>,
    /// CRLs of the DSS (DER).
    pub crls: Vec<Vec<u8>>,
    /// Document time-stamps of later revisions, newest first.
    pub document_timestamps: Vec<DocumentTimestamp<'a>>,
    /// /M of the signature dictionary.
    pub claimed_signing_time: Option<OffsetDateTime>,
}

/// A document time-stamp (/Type /DocTimeStamp, ETSI.RFC3161) of a later revision.
#[derive(Debug)]
pub struct DocumentTimestamp<'a> {
    /// Its field name.
    pub field: String,
    /// The TimeStampToken (ContentInfo).
    pub token: Any,
    /// The bytes its ByteRange covers.
    pub ranges: [&'a [u8]; 2],
    /// Whether its revision follows a DSS (it then protects validation data: B-LTA).
    pub covers_dss: bool,
}

/// The validation service: trust anchors, known CA certificates, revocation source and the
/// reference data. Cheap to share (`Arc`).
#[derive(Debug)]
pub struct Validator {
    anchors: Vec<Certificate>,
    intermediates: Vec<Certificate>,
    revocation: Arc<dyn RevocationSource>,
    rules: SigningRules,
    professions: ProfessionTable,
    registry: Option<Store>,
    policy: ValidationPolicy,
    links: path::LinkCache,
    limits: ValidationLimits,
    /// Validations running at once ([`ValidationLimits::concurrency`]), taken by [`http`].
    slots: Arc<tokio::sync::Semaphore>,
}

/// Reads every certificate of PEM (one or several) or DER bytes.
pub fn parse_certificates(bytes: &[u8]) -> Result<Vec<Certificate>, String> {
    let text_start = bytes.iter().position(|b| !b.is_ascii_whitespace());
    if text_start.is_some_and(|i| bytes[i..].starts_with(b"-----")) {
        let certs =
            Certificate::load_pem_chain(bytes).map_err(|e| format!("PEM certificate: {e}"))?;
        if certs.is_empty() {
            return Err("no certificate in the PEM text".into());
        }
        Ok(certs)
    } else {
        Ok(vec![
            Certificate::from_der(bytes).map_err(|e| format!("DER certificate: {e}"))?
        ])
    }
}

impl Validator {
    /// A validator trusting `anchors` (self-signed roots), knowing the CA certificates
    /// `intermediates` (signatures may omit them), asking `revocation` for statuses and
    /// applying `rules` over `professions`.
    pub fn new(
        anchors: Vec<Certificate>,
        intermediates: Vec<Certificate>,
        revocation: Arc<dyn RevocationSource>,
        rules: SigningRules,
        professions: ProfessionTable,
    ) -> Result<Self> {
        if anchors.is_empty() {
            return Err(Error::Config("no trust anchor".into()));
        }
        rules
            .check_against(&professions)
            .map_err(Error::Reference)?;
        let limits = ValidationLimits::default();
        Ok(Validator {
            slots: Arc::new(tokio::sync::Semaphore::new(limits.concurrency())),
            limits,
            anchors,
            intermediates,
            revocation,
            rules,
            professions,
            registry: None,
            policy: ValidationPolicy::default(),
            links: path::LinkCache::default(),
        })
    }

    /// Also looks the signer's profession up in the registry when the certificate has no
    /// (known) `title`.
    pub fn with_registry(mut self, store: Store) -> Self {
        self.registry = Some(store);
        self
    }

    /// Replaces the policy.
    pub fn with_policy(mut self, policy: ValidationPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Replaces the limits (checked first).
    pub fn with_limits(mut self, limits: ValidationLimits) -> Result<Self> {
        limits.validate()?;
        self.slots = Arc::new(tokio::sync::Semaphore::new(limits.concurrency()));
        self.limits = limits;
        Ok(self)
    }

    /// The limits.
    pub fn limits(&self) -> &ValidationLimits {
        &self.limits
    }

    /// The slots of concurrent validations (one permit per validation running).
    pub fn slots(&self) -> &Arc<tokio::sync::Semaphore> {
        &self.slots
    }

    /// The trust anchors.
    pub fn anchors(&self) -> &[Certificate] {
        &self.anchors
    }

    /// The known CA certificates first, then those the signature carries: a signature carrying
    /// many certificates named like our CAs cannot make the search examine them before ours.
    fn pool<'a>(&'a self, extra: &'a [Certificate]) -> Vec<&'a Certificate> {
        self.intermediates.iter().chain(extra.iter()).collect()
    }

    /// Validates a CAdES signature within this validator's [`ValidationLimits`] (the deadline
    /// counted from now). Never fails: problems, a limit exceeded included, are in the report.
    pub async fn validate_signature(&self, input: SignatureInput<'_>) -> SignatureReport {
        let budget = Budget::new(&self.limits, Instant::now());
        match self.validate_signature_within(input, &budget).await {
            Ok(r) => r,
            Err(e) => {
                let mut report = empty_signature_report(
                    &input,
                    input
                        .validation_time
                        .unwrap_or_else(OffsetDateTime::now_utc),
                );
                report.checks.fail(
                    "limits",
                    Indeterminate,
                    SubIndication::Generic,
                    format!("validation refused ({}): {e}", e.limit()),
                );
                finish_signature(&mut report);
                report
            }
        }
    }

    /// Validates a CAdES signature within `budget`, after a pre-scan of its structure
    /// ([`limits::prescan`]). `Err` when a limit was exceeded: the report would then say
    /// nothing about the signature.
    pub async fn validate_signature_within(
        &self,
        input: SignatureInput<'_>,
        budget: &Budget,
    ) -> Result<SignatureReport, LimitExceeded> {
        if let Ok(der) = cades::cms_der(input.signature) {
            limits::prescan(&der, &self.limits).map_err(|e| budget.exceed(e))?;
        }
        let validation_time = input
            .validation_time
            .unwrap_or_else(OffsetDateTime::now_utc);
        let parsed = match cades::parse_cms_all(input.signature) {
            Ok(p) => p,
            Err(e) => {
                let mut report = empty_signature_report(&input, validation_time);
                report
                    .checks
                    .fail("format", TotalFailed, SubIndication::FormatFailure, e);
                finish_signature(&mut report);
                return Ok(report);
            }
        };
        let count = parsed.signers.len();
        let mut reports = Vec::with_capacity(count);
        for si in &parsed.signers {
            let mut report = empty_signature_report(&input, validation_time);
            let mut checks = Checks::default();
            checks.pass(
                "format",
                if count == 1 {
                    "a CMS SignedData with one SignerInfo".to_owned()
                } else {
                    format!("a CMS SignedData with {count} SignerInfos, each validated")
                },
            );
            self.run_signature_checks(
                &parsed,
                si,
                &input,
                validation_time,
                budget,
                &mut checks,
                &mut report,
            )
            .await;
            if let Some(e) = budget.exceeded() {
                return Err(e);
            }
            report.checks = checks;
            finish_signature(&mut report);
            reports.push(report);
        }
        Ok(combine_signatures(reports))
    }

    /// The checks of one SignerInfo `si` of `parsed` (EN 319 102-1 §5.3, then §5.5 with the
    /// time-stamp): content, signed attributes, signing certificate, signature value, level,
    /// time-stamp, path and status, key usage, the document-type rule.
    #[allow(clippy::too_many_arguments)]
    async fn run_signature_checks(
        &self,
        parsed: &cades::ParsedCms,
        si: &cms::signed_data::SignerInfo,
        input: &SignatureInput<'_>,
        validation_time: OffsetDateTime,
        budget: &Budget,
        checks: &mut Checks,
        report: &mut SignatureReport,
    ) {
        // --- content
        let given: Option<Vec<&[u8]>> = match (input.content, input.content_ranges) {
            (Some(c), _) => Some(vec![c]),
            (None, Some(ranges)) => Some(ranges.to_vec()),
            (None, None) => None,
        };
        let content: Vec<&[u8]> = match (&parsed.attached, given) {
            (Some(a), Some(c)) if c.len() != 1 || a.as_slice() != c[0] => {
                checks.fail(
                    "content",
                    TotalFailed,
                    SubIndication::HashFailure,
                    "the content given differs from the content encapsulated in the signature",
                );
                return;
            }
            (Some(a), _) => {
                report.detached = false;
                vec![a.as_slice()]
            }
            (None, Some(c)) => c,
            (None, None) => {
                checks.fail(
                    "content",
                    Indeterminate,
                    SubIndication::SignedDataNotFound,
                    "detached signature: the signed content must be given",
                );
                return;
            }
        };
        checks.pass(
            "content",
            format!(
                "{} content of {} bytes",
                if report.detached {
                    "detached"
                } else {
                    "attached"
                },
                content.iter().map(|p| p.len()).sum::<usize>()
            ),
        );
        match cades::check_content_type(si, parsed.econtent_type) {
            Ok(()) => checks.pass(
                "content-type",
                format!(
                    "content-type signed attribute = eContentType {}",
                    parsed.econtent_type
                ),
            ),
            Err(e) => checks.fail("content-type", TotalFailed, SubIndication::FormatFailure, e),
        }
        record_crypto_check(
            checks,
            "message-digest",
            cades::check_message_digest_parts(si, &content),
            SubIndication::HashFailure,
        );
        // --- validation data carried by the signature (B-LT/B-LTA) and in its time-stamps
        let tokens = cades::timestamp_tokens(si);
        let mut archives = match ltv::archive_timestamps(si) {
            Ok(a) => a,
            Err(e) => {
                checks.fail(
                    "archive-timestamp",
                    TotalFailed,
                    SubIndication::FormatFailure,
                    format!("an archive time-stamp cannot be read: {e}"),
                );
                Vec::new()
            }
        };
        // Newest first: SET OF attributes are sorted by encoding, not by time.
        archives.sort_by_key(|a| std::cmp::Reverse(a.gen_time));
        // Encoded once: gathered from here, verified below.
        let archive_tokens: Vec<Option<Any>> = archives
            .iter()
            .map(|a| Any::encode_from(&a.token).ok())
            .collect();
        let mut all_tokens: Vec<&Any> = tokens.clone();
        all_tokens.extend(archive_tokens.iter().flatten());
        let mut embedded = longterm::Embedded::gather(&parsed.signed_data, si, &all_tokens);
        if let Some(pdf) = input.pdf {
            embedded.add_document_data(&pdf.certificates, &pdf.ocsp, &pdf.crls);
        }
        // Each revocation value may cost a signature check: paid from the budget before.
        let evidence_work =
            u32::try_from(embedded.ocsp.len() + embedded.crls.len()).unwrap_or(u32::MAX);
        if budget.spend(evidence_work).is_err() {
            return; // the caller reports the limit
        }
        for problem in &embedded.problems {
            checks.warn("validation-data", problem.clone());
        }
        if embedded.has_revocation_values() || !archives.is_empty() {
            report.validation_data = Some(report::ValidationDataInfo {
                certificates: embedded.certificates.len(),
                ocsp_responses: embedded.ocsp.len(),
                crls: embedded.crls.len(),
            });
        }
        // The signature's own evidence first (it answers offline, for the times it was
        // collected for), then the service's sources.
        let revocation: Arc<dyn RevocationSource> = if embedded.has_revocation_values() {
            Arc::new(FirstKnownRevocationSource::new(vec![
                Arc::new(evidence::EvidenceRevocationSource::new(
                    embedded.ocsp.clone(),
                    embedded.crls.clone(),
                    embedded.certificates.clone(),
                )),
                self.revocation.clone(),
            ]))
        } else {
            self.revocation.clone()
        };
        // --- signing certificate
        let pool = self.pool(&embedded.certificates);
        let Some(signer_cert) = cades::find_signer_certificate(si, pool.iter().copied()).cloned()
        else {
            checks.fail(
                "signing-certificate",
                Indeterminate,
                SubIndication::NoSigningCertificateFound,
                "the certificate named by the SignerInfo is neither in the signature nor among the known certificates",
            );
            return;
        };
        checks.pass(
            "signing-certificate",
            format!("signer certificate {}", path::subject(&signer_cert)),
        );
        report.signer = Some(self.identity(&signer_cert).await);
        match cades::check_signing_certificate_v2(si, &signer_cert) {
            Ok(d) => checks.pass("signing-certificate-v2", d),
            Err(e) => checks.fail(
                "signing-certificate-v2",
                Indeterminate,
                SubIndication::NoSigningCertificateFound,
                e,
            ),
        }
        // --- signature value
        if budget.spend(1).is_err() {
            return; // the caller reports the limit
        }
        record_crypto_check(
            checks,
            "signature",
            cades::check_signature(si, &signer_cert),
            SubIndication::SigCryptoFailure,
        );
        match (cades::signing_time(si), input.pdf) {
            // PAdES (EN 319 142-1 §6.3): the claimed time is /M, the CMS has no signing-time.
            (Ok(Some(t)), Some(_)) => {
                report.claimed_signing_time = Some(t);
                checks.warn(
                    "signing-time",
                    format!("the CMS carries a signing-time attribute ({t}); PAdES baseline signatures claim their time in the signature dictionary's /M instead"),
                );
            }
            (Ok(None), Some(pdf)) => {
                report.claimed_signing_time = pdf.claimed_signing_time;
                match pdf.claimed_signing_time {
                    Some(t) => checks.pass(
                        "signing-time",
                        format!("claimed signing time {t} (the signature dictionary's /M)"),
                    ),
                    None => checks.skip("signing-time", "no /M in the signature dictionary"),
                }
            }
            (Ok(t), None) => {
                report.claimed_signing_time = t;
                match t {
                    Some(t) => checks.pass("signing-time", format!("claimed signing time {t}")),
                    None => checks.skip("signing-time", "no signing-time attribute"),
                }
            }
            (Err(e), _) => {
                checks.fail("signing-time", TotalFailed, SubIndication::FormatFailure, e)
            }
        }
        // --- signature time-stamp (CAdES-T)
        // CAdES (EN 319 122-1 §5.2): signed attributes with content-type, message-digest and
        // the signing certificate reference; the baseline adds signing-time.
        let cades_b = !checks.failed("content-type")
            && !checks.failed("message-digest")
            && !checks.failed("signing-certificate-v2")
            && si.signed_attrs.is_some();
        // --- archive time-stamps (B-LTA), newest first. Each valid one proves that everything
        // it covers existed at its time, the older time-stamps included; the newest valid one
        // needs its TSA certificate still valid now (EN 319 102-1 §5.6.2.4).
        // An archive time-stamp covers the detached content as one octet string: content in
        // ranges is joined only when there is one to check (PDF signatures have none).
        let joined: Vec<u8>;
        let detached: Option<&[u8]> = match (report.detached, content.as_slice()) {
            (false, _) => None,
            (true, [one]) => Some(one),
            (true, parts) => {
                joined = if archives.is_empty() {
                    Vec::new()
                } else {
                    parts.concat()
                };
                Some(joined.as_slice())
            }
        };
        let mut archive_poe: Option<OffsetDateTime> = None;
        // PAdES: the document time-stamps of later revisions (newer than anything inside the
        // CMS) prove the signature, and the DSS before them, existed at their time.
        let mut document_poe: Option<OffsetDateTime> = None;
        let mut archived_by_document = false;
        for dts in input.pdf.iter().flat_map(|p| p.document_timestamps.iter()) {
            let name = format!("document time-stamp {}", dts.field);
            let out = timestamp::verify_imprint_token_within(
                &dts.token,
                timestamp::Imprint::HashOfParts(&dts.ranges),
                &self.anchors,
                &pool,
                &self.links,
                revocation.as_ref(),
                validation_time,
                budget,
            )
            .await;
            if budget.exceeded().is_some() {
                return;
            }
            let verdict = judge_timestamp(&out, archive_poe.is_some(), validation_time);
            let mut info = out
                .info
                .clone()
                .unwrap_or_else(|| unverified_timestamp(validation_time, "document"));
            info.kind = "document";
            match verdict {
                Ok(detail) => {
                    info.valid = true;
                    info.detail = detail.clone();
                    checks.pass("document-timestamp", format!("{name}: {detail}"));
                    if let Some(t) = out.poe {
                        archive_poe = Some(archive_poe.map_or(t, |a| a.min(t)));
                        document_poe = Some(document_poe.map_or(t, |a| a.min(t)));
                    }
                    archived_by_document |= dts.covers_dss;
                }
                Err((sub, e)) => {
                    info.valid = false;
                    info.detail = e.clone();
                    checks.fail(
                        "document-timestamp",
                        Indeterminate,
                        sub,
                        format!("{name} is not valid, so it proves nothing: {e}"),
                    );
                }
            }
            report.timestamps.push(info);
        }
        for (ats, token) in archives.iter().zip(&archive_tokens) {
            let name = format!("archive time-stamp of {}", ats.gen_time);
            let expected = match ltv::ats_v3_imprint(
                &parsed.signed_data,
                si,
                detached,
                ats.hash,
                &ats.index,
            ) {
                Ok(d) => d,
                Err(e) => {
                    checks.fail(
                        "archive-timestamp",
                        Indeterminate,
                        SubIndication::CryptoConstraintsFailure,
                        format!("{name}: {e}"),
                    );
                    continue;
                }
            };
            let covered = ltv::check_ats_hash_index(&parsed.signed_data, si, &ats.index).and_then(
                |()| {
                    if expected == ats.imprint {
                        Ok(())
                    } else {
                        Err("its imprint does not match the signature as it is now: the content, the signed attributes or the signature value changed".to_owned())
                    }
                },
            );
            if let Err(e) = covered {
                report.timestamps.push(archive_info(ats, e.clone()));
                checks.fail(
                    "archive-timestamp",
                    TotalFailed,
                    SubIndication::HashFailure,
                    format!("{name}: {e}"),
                );
                continue;
            }
            let Some(token) = token else {
                continue;
            };
            let out = timestamp::verify_imprint_token_within(
                token,
                timestamp::Imprint::Digest(&expected),
                &self.anchors,
                &pool,
                &self.links,
                revocation.as_ref(),
                validation_time,
                budget,
            )
            .await;
            if budget.exceeded().is_some() {
                return;
            }
            let verdict = judge_timestamp(&out, archive_poe.is_some(), validation_time);
            let mut info = out
                .info
                .clone()
                .unwrap_or_else(|| archive_info(ats, String::new()));
            info.kind = "archive";
            match verdict {
                Ok(detail) => {
                    info.valid = true;
                    info.detail = detail.clone();
                    checks.pass("archive-timestamp", format!("{name}: {detail}"));
                    archive_poe = Some(archive_poe.map_or(ats.gen_time, |t| t.min(ats.gen_time)));
                }
                Err((sub, e)) => {
                    info.valid = false;
                    info.detail = e.clone();
                    checks.fail(
                        "archive-timestamp",
                        Indeterminate,
                        sub,
                        format!("{name} is not valid, so it proves nothing: {e}"),
                    );
                }
            }
            report.timestamps.push(info);
        }
        // --- signature time-stamp (CAdES-T)
        let mut poe: Option<OffsetDateTime> = None;
        match tokens.as_slice() {
            [] => {
                if self.policy.require_timestamp {
                    checks.fail(
                        "signature-timestamp",
                        Indeterminate,
                        SubIndication::TryLater,
                        "the policy requires a signature time-stamp (CAdES-T) and there is none",
                    );
                } else {
                    checks.skip("signature-timestamp", "no signature time-stamp (CAdES-B)");
                }
            }
            [token, ..] => {
                let out = timestamp::verify_token_within(
                    token,
                    si.signature.as_bytes(),
                    &self.anchors,
                    &pool,
                    &self.links,
                    revocation.as_ref(),
                    validation_time,
                    budget,
                )
                .await;
                if budget.exceeded().is_some() {
                    return;
                }
                let verdict = judge_timestamp(&out, archive_poe.is_some(), validation_time);
                let mut info = out.info.clone();
                match verdict {
                    Ok(detail) => {
                        let t = out.poe.unwrap_or(validation_time);
                        if let Some(i) = info.as_mut() {
                            i.detail = detail.clone();
                        }
                        if out.warnings.is_empty() {
                            checks.pass("signature-timestamp", detail);
                        } else {
                            checks.warn("signature-timestamp", detail);
                        }
                        // Order: the claimed signing time must not follow the time-stamp.
                        if let Some(claimed) = report.claimed_signing_time {
                            let slack = out.accuracy + self.policy.signing_time_tolerance;
                            if claimed > t + slack {
                                checks.fail(
                                    "timestamp-order",
                                    Indeterminate,
                                    SubIndication::TimestampOrderFailure,
                                    format!("the claimed signing time {claimed} is after the time-stamp {t}"),
                                );
                            } else {
                                checks.pass(
                                    "timestamp-order",
                                    format!("claimed signing time {claimed} ≤ time-stamp {t}"),
                                );
                                poe = Some(t);
                            }
                        } else {
                            poe = Some(t);
                        }
                    }
                    Err((sub, e)) => {
                        if let Some(i) = info.as_mut() {
                            i.valid = false;
                            i.detail = e.clone();
                        }
                        checks.fail(
                            "signature-timestamp",
                            Indeterminate,
                            sub,
                            format!(
                                "the signature time-stamp is not valid, so it proves nothing: {e}"
                            ),
                        );
                    }
                }
                report.timestamp = info.clone();
                if let Some(i) = info {
                    report.timestamps.insert(0, i);
                }
            }
        }
        let signature_poe = poe;
        // Without a valid signature time-stamp, the oldest valid archive time-stamp proves the
        // signature existed (it covers the signature value).
        let poe = poe.or(archive_poe);
        report.timestamp_time = poe;
        // --- X.509 validation of the signing certificate
        let reference = poe.unwrap_or(validation_time);
        let established = match (signature_poe, poe) {
            (Some(_), _) => Some("the signature time-stamp"),
            (None, Some(t)) if document_poe == Some(t) => Some("a document time-stamp"),
            (None, Some(_)) => Some("an archive time-stamp"),
            (None, None) => None,
        };
        let policy = self.signature_policy(input.document);
        self.check_certificate(
            &signer_cert,
            &pool,
            revocation.as_ref(),
            reference,
            established,
            validation_time,
            &policy,
            budget,
            checks,
            Findings {
                chain: &mut report.chain,
                path_checks: &mut report.path_checks,
                revocation: &mut report.revocation,
            },
        )
        .await;
        if budget.exceeded().is_some() {
            return;
        }
        // --- the level reached
        let decided_by_evidence = report
            .revocation
            .as_ref()
            .is_some_and(|r| r.source.starts_with("embedded"));
        // Compared by the fingerprint the chain entries carry (not the whole report entry).
        let carried: Vec<String> = embedded
            .certificates
            .iter()
            .filter_map(|c| der::Encode::to_der(c).ok())
            .map(|d| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(d)))
            .collect();
        // The trust anchor need not be carried.
        let chain_carried = report.chain.len() > 1
            && report.chain[..report.chain.len() - 1]
                .iter()
                .all(|c| carried.contains(&c.sha256));
        let family = if input.pdf.is_some() {
            Family::Pades
        } else {
            Family::Cades
        };
        let level = match family {
            Family::Cades => SignatureLevel::of(
                cades_b,
                report.claimed_signing_time.is_some(),
                signature_poe,
                decided_by_evidence && chain_carried,
                archive_poe.is_some(),
            ),
            // PAdES-B-T: a signature or a document time-stamp; B-LTA: a document time-stamp
            // over the DSS (EN 319 142-1 §5.4, §6).
            Family::Pades => SignatureLevel::of(
                cades_b,
                true,
                signature_poe.or(document_poe),
                decided_by_evidence && chain_carried,
                archived_by_document,
            ),
        };
        report.signature_format = level.name(family);
        match level {
            SignatureLevel::ExtendedBes | SignatureLevel::ExtendedT => checks.warn(
                "signature-level",
                format!(
                    "no signing-time signed attribute: EN 319 122-1 requires it from CAdES-BASELINE-B on; the signature meets {} (EN 319 122-2)",
                    level.name(family)
                ),
            ),
            SignatureLevel::Cms => checks.skip(
                "signature-level",
                "not a CAdES signature (signed attributes missing or malformed)",
            ),
            _ => checks.pass(
                "signature-level",
                format!("the signature meets {}", level.describe(family)),
            ),
        }

        match path::check_sign_key_usage(&signer_cert) {
            Ok(()) => checks.pass(
                "signer-key-usage",
                "key usage nonRepudiation only (SIGN profile)",
            ),
            Err(e) => checks.fail(
                "signer-key-usage",
                TotalFailed,
                SubIndication::SigConstraintsFailure,
                e,
            ),
        }
        // --- document-type rule
        self.check_profession(input.document, report.signer.as_ref(), checks);
    }

    /// The RFC 5280 policy inputs for the signing certificate of a `document`: the SIGN
    /// policies required for a document type with a rule, any policy otherwise.
    fn signature_policy(&self, document: DocumentKind) -> path::PolicyInputs {
        let required = &self.policy.signature_policies;
        if document.rule_type().is_none() || required.is_empty() {
            return path::PolicyInputs::default();
        }
        path::PolicyInputs {
            initial_policy_set: Some(required.clone()),
            initial_explicit_policy: true,
            ..path::PolicyInputs::default()
        }
    }

    /// Path, validity and revocation of `cert` at `reference`. `established` names what
    /// makes `reference` a proven time (the signature time-stamp; the validation time asked
    /// for a certificate): an expiry or revocation before it is then final (TOTAL_FAILED);
    /// `None` means no proof of existence (INDETERMINATE …_NO_POE).
    #[allow(clippy::too_many_arguments)]
    async fn check_certificate(
        &self,
        cert: &Certificate,
        pool: &[&Certificate],
        revocation: &dyn RevocationSource,
        reference: OffsetDateTime,
        established: Option<&str>,
        validation_time: OffsetDateTime,
        policy: &path::PolicyInputs,
        budget: &Budget,
        checks: &mut Checks,
        out: Findings<'_>,
    ) {
        let Findings {
            chain: chain_out,
            path_checks: path_out,
            revocation: revocation_out,
        } = out;
        let have_poe = established.is_some();
        let proven = established.unwrap_or("the validation time");
        let options = path::PathOptions {
            at: Some(reference),
            policy: policy.clone(),
        };
        let chain = match path::validate_path_within(
            cert,
            pool,
            &self.anchors,
            &self.links,
            budget,
            &options,
        ) {
            Ok(p) => {
                checks.pass(
                    "certificate-chain",
                    format!(
                        "chain of {} certificates to the trust anchor {}, valid per RFC 5280 §6.1 (certificate policies: {})",
                        p.chain.len(),
                        p.chain.last().map(path::subject).unwrap_or_default(),
                        p.policies
                    ),
                );
                *path_out = p.checks;
                p.chain
            }
            Err(e) if e.limit.is_some() => return, // the caller reports the limit
            Err(e) => {
                chain_out.extend(e.partial.iter().map(path::info));
                *path_out = e.checks;
                checks.fail("certificate-chain", Indeterminate, e.sub, e.detail);
                return;
            }
        };
        chain_out.extend(chain.iter().map(path::info));
        // Validity.
        match path::first_invalid_in_path(&chain, reference) {
            None => checks.pass(
                "certificate-validity",
                format!("every certificate of the chain was valid at {reference} ({proven})"),
            ),
            Some((c, early)) => {
                let (nb, na) = path::validity(c);
                let (ind, sub, what) = match (early, have_poe) {
                    (true, _) => (
                        TotalFailed,
                        SubIndication::NotYetValid,
                        format!("not valid before {nb}"),
                    ),
                    (false, true) => (
                        TotalFailed,
                        SubIndication::Expired,
                        format!("expired at {na}, before {proven}"),
                    ),
                    (false, false) => (
                        Indeterminate,
                        SubIndication::OutOfBoundsNoPoe,
                        format!("expired at {na}, and no time-stamp proves the signature existed before"),
                    ),
                };
                checks.fail(
                    "certificate-validity",
                    ind,
                    sub,
                    format!("{} is {what} (time checked: {reference})", path::subject(c)),
                );
            }
        }
        if !self.policy.check_revocation {
            checks.skip(
                "revocation",
                "the revocation status was not checked, as asked (--revocation none)",
            );
            return;
        }
        // Revocation: the end entity must have a status; CA certificates when available.
        for (i, c) in chain.iter().enumerate() {
            let Some(issuer) = chain.get(i + 1) else {
                break; // the trust anchor
            };
            let status = revocation
                .status(c, issuer, reference, validation_time)
                .await;
            let is_ee = i == 0;
            let check = if is_ee { "revocation" } else { "ca-revocation" };
            let source = match &status {
                RevocationStatus::Good { source, .. }
                | RevocationStatus::Revoked { source, .. } => source.clone(),
                RevocationStatus::Unknown { .. } => revocation.name().into(),
            };
            let used = |status: &str, revoked_at, reason, detail: String| RevocationUsed {
                source: source.clone(),
                status: status.into(),
                evaluated_at: reference,
                revoked_at,
                reason,
                detail,
            };
            match status {
                RevocationStatus::Good { detail, .. } => {
                    checks.pass(
                        check,
                        format!("{} not revoked at {reference} ({detail})", path::subject(c)),
                    );
                    if is_ee {
                        *revocation_out = Some(used("good", None, None, detail));
                    }
                }
                RevocationStatus::Revoked {
                    at,
                    reason,
                    on_hold,
                    detail,
                    ..
                } => {
                    let word = if on_hold { "suspended" } else { "revoked" };
                    if is_ee {
                        *revocation_out = Some(used(
                            if on_hold { "on-hold" } else { "revoked" },
                            Some(at),
                            reason.clone(),
                            detail.clone(),
                        ));
                    }
                    let why = reason.map(|r| format!(" ({r})")).unwrap_or_default();
                    if at > reference {
                        checks.pass(
                            check,
                            format!(
                                "{} was {word} at {at}{why}, after {reference} ({proven})",
                                path::subject(c)
                            ),
                        );
                    } else if have_poe {
                        checks.fail(
                            check,
                            TotalFailed,
                            SubIndication::Revoked,
                            format!(
                                "{} was {word} at {at}{why}, before {proven} ({reference})",
                                path::subject(c)
                            ),
                        );
                    } else {
                        checks.fail(
                            check,
                            Indeterminate,
                            if is_ee {
                                SubIndication::RevokedNoPoe
                            } else {
                                SubIndication::RevokedCaNoPoe
                            },
                            format!(
                                "{} was {word} at {at}{why}, and no time-stamp proves the signature existed before",
                                path::subject(c)
                            ),
                        );
                    }
                }
                RevocationStatus::Unknown { reason } => {
                    if is_ee {
                        *revocation_out = Some(used("unknown", None, None, reason.clone()));
                        checks.fail(
                            check,
                            Indeterminate,
                            SubIndication::TryLater,
                            format!(
                                "the revocation status of {} is not known: {reason}",
                                path::subject(c)
                            ),
                        );
                    } else {
                        checks.warn(
                            check,
                            format!(
                                "the status of CA certificate {} was not checked: {reason}",
                                path::subject(c)
                            ),
                        );
                    }
                }
            }
        }
    }

    fn check_profession(
        &self,
        document: DocumentKind,
        signer: Option<&SignerIdentity>,
        checks: &mut Checks,
    ) {
        let Some(doc) = document.rule_type() else {
            checks.skip("profession", "generic document: no profession rule");
            return;
        };
        let Some(signer) = signer else {
            return;
        };
        let Some(code) = signer
            .profession_code
            .as_deref()
            .and_then(|c| c.parse::<ProfessionCode>().ok())
        else {
            checks.fail(
                "profession",
                TotalFailed,
                SubIndication::SigConstraintsFailure,
                format!(
                    "the signer's profession is unknown (certificate title {:?}); a {doc} can only be signed by a listed profession",
                    signer.profession.as_deref().unwrap_or("absent")
                ),
            );
            return;
        };
        let label = signer
            .profession
            .clone()
            .unwrap_or_else(|| code.to_string());
        match self.rules.may_sign(doc, &code) {
            SigningDecision::Allowed { note } => checks.pass(
                "profession",
                format!(
                    "{label} ({code}) may sign a {doc}{}",
                    note.map(|n| format!(" ({n})")).unwrap_or_default()
                ),
            ),
            SigningDecision::NotAllowed { .. } => {
                let allowed: Vec<String> = self
                    .rules
                    .signers_of(doc)
                    .into_iter()
                    .map(|c| {
                        self.professions
                            .lookup(c)
                            .map_or_else(|| c.to_string(), |p| p.label.clone())
                    })
                    .collect();
                checks.fail(
                    "profession",
                    TotalFailed,
                    SubIndication::SigConstraintsFailure,
                    format!(
                        "a {label} (profession {code}) may not sign a {doc}; allowed: {}",
                        allowed.join(", ")
                    ),
                );
            }
        }
    }

    /// The holder of a certificate: IdNat, names, profession (title, else the registry).
    async fn identity(&self, c: &Certificate) -> SignerIdentity {
        let mut cn = None;
        let mut sn = None;
        let mut gn = None;
        let mut title = None;
        let mut org = None;
        for rdn in c.tbs_certificate.subject.0.iter() {
            for atv in rdn.0.iter() {
                let v = attr_text(&atv.value);
                match atv.oid.to_string().as_str() {
                    "2.5.4.3" => cn = v,
                    "2.5.4.4" => sn = v,
                    "2.5.4.42" => gn = v,
                    "2.5.4.12" => title = v,
                    "2.5.4.10" => org = v,
                    _ => {}
                }
            }
        }
        let idnat = cn.as_deref().and_then(|s| s.parse::<IdNatPs>().ok());
        let mut profession = title.as_deref().and_then(|t| {
            self.professions
                .iter()
                .find(|p| p.label.to_lowercase() == t.trim().to_lowercase())
                .map(|p| (p.code.to_string(), p.label.clone()))
        });
        if profession.is_none() {
            if let (Some(store), Some(id)) = (&self.registry, &idnat) {
                if let Ok(Some(p)) = store.find_professional(id).await {
                    profession = self
                        .professions
                        .lookup(&p.profession)
                        .map(|x| (x.code.to_string(), x.label.clone()));
                }
            }
        }
        let name = match (&gn, &sn) {
            (Some(g), Some(s)) => format!("{g} {s}"),
            _ => cn.clone().unwrap_or_else(|| path::subject(c)),
        };
        SignerIdentity {
            idnat: idnat.map(|i| i.to_string()),
            surname: sn,
            given_name: gn,
            name,
            profession_code: profession.as_ref().map(|p| p.0.clone()),
            profession: profession.map(|p| p.1).or(title),
            organization: org,
            certificate: path::info(c),
        }
    }

    /// Validates a certificate (DER or PEM) at `at` (now when `None`): path to a trust
    /// anchor, validity, revocation status at that time; within this validator's
    /// [`ValidationLimits`] (a limit exceeded is in the report).
    pub async fn validate_certificate(
        &self,
        cert: &Certificate,
        at: Option<OffsetDateTime>,
    ) -> CertificateReport {
        let question = CertificateQuestion {
            at,
            ..CertificateQuestion::default()
        };
        self.validate_certificate_with(cert, &question).await
    }

    /// [`Self::validate_certificate`] with the untrusted certificates and policy inputs of
    /// `question`.
    pub async fn validate_certificate_with(
        &self,
        cert: &Certificate,
        question: &CertificateQuestion<'_>,
    ) -> CertificateReport {
        let budget = Budget::new(&self.limits, Instant::now());
        match self
            .validate_certificate_within(cert, question, &budget)
            .await
        {
            Ok(r) => r,
            Err(e) => {
                let t = question.at.unwrap_or_else(OffsetDateTime::now_utc);
                let mut checks = Checks::default();
                checks.fail(
                    "limits",
                    Indeterminate,
                    SubIndication::Generic,
                    format!("validation refused ({}): {e}", e.limit()),
                );
                let info = path::info(cert);
                CertificateReport {
                    indication: Indeterminate,
                    sub_indication: Some(SubIndication::Generic),
                    summary: format!(
                        "INDETERMINATE — validation refusée / the validation of {} was refused: {e}",
                        info.subject
                    ),
                    validation_time: t,
                    certificate: info,
                    holder: None,
                    chain: Vec::new(),
                    path_checks: Vec::new(),
                    revocation: None,
                    checks,
                }
            }
        }
    }

    /// [`Self::validate_certificate_with`] within `budget`; `Err` when a limit was exceeded
    /// (the certificate larger than `max_certificate_bytes`, the work, the deadline).
    pub async fn validate_certificate_within(
        &self,
        cert: &Certificate,
        question: &CertificateQuestion<'_>,
        budget: &Budget,
    ) -> Result<CertificateReport, LimitExceeded> {
        let size = der::Encode::encoded_len(cert)
            .ok()
            .and_then(|l| usize::try_from(l).ok())
            .unwrap_or(usize::MAX);
        limits::check_certificate_size(size, &self.limits).map_err(|e| budget.exceed(e))?;
        let t = question.at.unwrap_or_else(OffsetDateTime::now_utc);
        let mut checks = Checks::default();
        let mut chain = Vec::new();
        let mut path_checks = Vec::new();
        let mut revocation = None;
        let pool = self.pool(question.untrusted);
        // A certificate is judged at the given time: treat that time as established (a
        // revocation or expiry before it is final).
        self.check_certificate(
            cert,
            &pool,
            self.revocation.as_ref(),
            t,
            Some("the validation time"),
            t,
            &question.policy,
            budget,
            &mut checks,
            Findings {
                chain: &mut chain,
                path_checks: &mut path_checks,
                revocation: &mut revocation,
            },
        )
        .await;
        let (indication, sub, first) = checks.decide();
        let info = path::info(cert);
        let summary = match indication {
            Indication::TotalPassed => format!(
                "TOTAL_PASSED — certificat valide / the certificate {} is valid at {t}.",
                info.subject
            ),
            _ => format!(
                "{indication}{} — certificat non valide / the certificate {} is not valid at {t}: {}",
                sub.map(|s| format!(" / {s}")).unwrap_or_default(),
                info.subject,
                first.map(|c| c.detail.as_str()).unwrap_or("")
            ),
        };
        if let Some(e) = budget.exceeded() {
            return Err(e);
        }
        let holder = Some(self.identity(cert).await);
        Ok(CertificateReport {
            indication,
            sub_indication: sub,
            summary,
            validation_time: t,
            certificate: info,
            holder,
            chain,
            path_checks,
            revocation,
            checks,
        })
    }
}

/// What a certificate is validated for, besides itself.
#[derive(Debug, Clone, Default)]
pub struct CertificateQuestion<'a> {
    /// The validation time; now when `None`.
    pub at: Option<OffsetDateTime>,
    /// Certificates that may help build the path (intermediates), not trusted.
    pub untrusted: &'a [Certificate],
    /// The certificate policy inputs of RFC 5280 §6.1.1.
    pub policy: path::PolicyInputs,
}

/// Where [`Validator::check_certificate`] writes what it found besides the checks.
struct Findings<'r> {
    chain: &'r mut Vec<CertificateInfo>,
    path_checks: &'r mut Vec<path::PathCheck>,
    revocation: &'r mut Option<RevocationUsed>,
}

/// The level a signature meets (ETSI EN 319 122-1 baselines, EN 319 122-2 extended forms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SignatureLevel {
    /// Not CAdES: signed attributes missing or malformed.
    Cms,
    /// CAdES without signing-time.
    ExtendedBes,
    /// CAdES without signing-time, with a valid signature time-stamp.
    ExtendedT,
    /// CAdES-BASELINE-B.
    BaselineB,
    /// CAdES-BASELINE-T.
    BaselineT,
    /// CAdES-BASELINE-LT: T, and the signature carries its chain and the revocation evidence
    /// that decided the signer's status.
    BaselineLt,
    /// CAdES-BASELINE-LTA: LT, and a valid archive time-stamp.
    BaselineLta,
}

impl SignatureLevel {
    fn of(
        cades: bool,
        signing_time: bool,
        signature_timestamp: Option<OffsetDateTime>,
        carries_evidence: bool,
        archived: bool,
    ) -> Self {
        match (cades, signing_time, signature_timestamp.is_some()) {
            (false, _, _) => SignatureLevel::Cms,
            (true, false, false) => SignatureLevel::ExtendedBes,
            (true, false, true) => SignatureLevel::ExtendedT,
            (true, true, false) => SignatureLevel::BaselineB,
            (true, true, true) => match (carries_evidence, archived) {
                (true, true) => SignatureLevel::BaselineLta,
                (true, false) => SignatureLevel::BaselineLt,
                (false, _) => SignatureLevel::BaselineT,
            },
        }
    }

    fn name(self, family: Family) -> String {
        let level = match self {
            SignatureLevel::Cms => return "CMS".into(),
            SignatureLevel::ExtendedBes => "E-BES",
            SignatureLevel::ExtendedT => "E-T",
            SignatureLevel::BaselineB => "BASELINE-B",
            SignatureLevel::BaselineT => "BASELINE-T",
            SignatureLevel::BaselineLt => "BASELINE-LT",
            SignatureLevel::BaselineLta => "BASELINE-LTA",
        };
        format!("{}-{level}", family.as_str())
    }

    fn describe(self, family: Family) -> String {
        let why = match self {
            SignatureLevel::BaselineLt => {
                " (its certificates and the revocation evidence of its signer are embedded)"
            }
            SignatureLevel::BaselineLta => match family {
                Family::Cades => {
                    " (embedded validation data, protected by a valid archive time-stamp)"
                }
                Family::Pades => {
                    " (validation data in the DSS, protected by a valid document time-stamp)"
                }
            },
            _ => "",
        };
        format!("{}{why}", self.name(family))
    }
}

/// Which baseline family a signature belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    /// A CMS signature (EN 319 122).
    Cades,
    /// A PDF signature (EN 319 142).
    Pades,
}

impl Family {
    fn as_str(self) -> &'static str {
        match self {
            Family::Cades => "CAdES",
            Family::Pades => "PAdES",
        }
    }
}

/// The report entry of an archive time-stamp whose token was not verified.
fn archive_info(ats: &ltv::ArchiveTimestamp, detail: String) -> TimestampInfo {
    TimestampInfo {
        detail,
        ..unverified_timestamp(ats.gen_time, "archive")
    }
}

/// The report entry of a time-stamp of `kind` whose token could not be read, at `time`.
fn unverified_timestamp(time: OffsetDateTime, kind: &'static str) -> TimestampInfo {
    TimestampInfo {
        gen_time: time,
        serial: String::new(),
        policy: String::new(),
        valid: false,
        tsa: None,
        kind,
        detail: String::new(),
    }
}

/// A verified time-stamp token's verdict: `Ok` with what was verified, or the sub-indication
/// and the reason it proves nothing. `covered` says whether a later valid archive time-stamp
/// proves the token existed; when none does, its TSA certificate must still be valid at the
/// validation time (archive time-stamps are renewed before their TSA certificates expire).
fn judge_timestamp(
    out: &timestamp::TimestampOutcome,
    covered: bool,
    validation_time: OffsetDateTime,
) -> Result<String, (SubIndication, String)> {
    if let Some(e) = &out.error {
        return Err((out.sub, e.clone()));
    }
    if out.poe.is_none() {
        return Err((out.sub, "no time".into()));
    }
    if !covered {
        if let Some(tsa) = out.info.as_ref().and_then(|i| i.tsa.as_ref()) {
            if tsa.not_after < validation_time {
                return Err((
                    SubIndication::OutOfBoundsNoPoe,
                    format!(
                        "the TSA certificate {} expired at {} and no later archive time-stamp proves the token existed before (renew archive time-stamps before their TSA certificates expire)",
                        tsa.subject, tsa.not_after
                    ),
                ));
            }
        }
    }
    let mut detail = out.passed.join("; ");
    if covered {
        detail.push_str("; covered by a later archive time-stamp");
    }
    for w in &out.warnings {
        detail.push_str("; warning: ");
        detail.push_str(w);
    }
    Ok(detail)
}

/// One report for a SignedData: the signature's own when it has one SignerInfo; otherwise the
/// overall indication (TOTAL_FAILED if any signature failed, else INDETERMINATE if any is
/// undecided, else TOTAL_PASSED, with the sub-indication of the first signature that
/// decided it), the first signature's details and every signature's report.
fn combine_signatures(mut reports: Vec<SignatureReport>) -> SignatureReport {
    if reports.len() <= 1 {
        return reports.pop().unwrap_or_else(|| {
            // parse_cms_all never returns a SignedData without SignerInfo.
            let mut r = empty_signature_report(
                &SignatureInput {
                    content_ranges: None,
                    pdf: None,
                    signature: &[],
                    content: None,
                    document: DocumentKind::Generic,
                    validation_time: None,
                },
                OffsetDateTime::now_utc(),
            );
            r.checks.fail(
                "format",
                TotalFailed,
                SubIndication::FormatFailure,
                "the SignedData has no SignerInfo",
            );
            finish_signature(&mut r);
            r
        });
    }
    let decider = [TotalFailed, Indeterminate]
        .into_iter()
        .find_map(|wanted| reports.iter().find(|r| r.indication == wanted));
    let (indication, sub) = decider.map_or((Indication::TotalPassed, None), |r| {
        (r.indication, r.sub_indication)
    });
    let passed = reports
        .iter()
        .filter(|r| r.indication == Indication::TotalPassed)
        .count();
    let mut summary = format!(
        "{indication}{} — {} signatures, {passed} valid:",
        sub.map(|s| format!(" / {s}")).unwrap_or_default(),
        reports.len()
    );
    for (i, r) in reports.iter().enumerate() {
        summary.push_str(&format!(" [{}] {}", i + 1, r.summary));
    }
    let mut overall = reports[0].clone();
    overall.indication = indication;
    overall.sub_indication = sub;
    overall.summary = summary;
    overall.signatures = reports;
    overall
}

/// Records a [`CryptoCheck`]: a value that does not match fails with `mismatch`
/// (HASH_FAILURE for the message digest, SIG_CRYPTO_FAILURE for the signature value).
fn record_crypto_check(
    checks: &mut Checks,
    check: &'static str,
    outcome: CryptoCheck,
    mismatch: SubIndication,
) {
    match outcome {
        CryptoCheck::Ok(d) => checks.pass(check, d),
        CryptoCheck::Format(e) => checks.fail(check, TotalFailed, SubIndication::FormatFailure, e),
        CryptoCheck::Mismatch(e) => checks.fail(check, TotalFailed, mismatch, e),
        CryptoCheck::Policy(e) => checks.fail(
            check,
            Indeterminate,
            SubIndication::CryptoConstraintsFailure,
            e,
        ),
    }
}

/// Text of a directory string attribute value.
fn attr_text(v: &Any) -> Option<String> {
    match v.tag() {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::TeletexString => {
            Some(String::from_utf8_lossy(v.value()).into_owned())
        }
        Tag::BmpString => {
            let units: Vec<u16> = v
                .value()
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        _ => None,
    }
}

/// A report before any check.
fn empty_signature_report(
    input: &SignatureInput<'_>,
    validation_time: OffsetDateTime,
) -> SignatureReport {
    SignatureReport {
        indication: Indication::TotalPassed,
        sub_indication: None,
        summary: String::new(),
        signature_format: "CMS".into(),
        document_type: input.document.as_str().into(),
        field: None,
        detached: input.content.is_some() || input.content_ranges.is_some(),
        validation_time,
        signer: None,
        claimed_signing_time: None,
        timestamp: None,
        timestamps: Vec::new(),
        validation_data: None,
        timestamp_time: None,
        chain: Vec::new(),
        path_checks: Vec::new(),
        revocation: None,
        checks: Checks::default(),
        signatures: Vec::new(),
    }
}

fn finish_signature(report: &mut SignatureReport) {
    let (indication, sub, first) = report.checks.decide();
    report.indication = indication;
    report.sub_indication = sub;
    let who = report
        .signer
        .as_ref()
        .map(|s| {
            format!(
                "{}{}{}",
                s.name,
                s.idnat
                    .as_deref()
                    .map(|i| format!(" ({i})"))
                    .unwrap_or_default(),
                s.profession
                    .as_deref()
                    .map(|p| format!(", {p}"))
                    .unwrap_or_default()
            )
        })
        .unwrap_or_else(|| "an unidentified signer".into());
    let when = match (report.timestamp_time, report.claimed_signing_time) {
        (Some(t), _) => format!(", time-stamped {t}"),
        (None, Some(t)) => format!(", claimed signing time {t} (not time-stamped)"),
        _ => String::new(),
    };
    report.summary = match indication {
        Indication::TotalPassed => format!(
            "TOTAL_PASSED — signature valide / valid {} signed by {who}{when} ({}).",
            report.document_type, report.signature_format
        ),
        Indication::TotalFailed => format!(
            "TOTAL_FAILED / {} — signature invalide / invalid signature of a {} by {who}{when}: {}",
            sub.map(|s| s.as_str()).unwrap_or("GENERIC"),
            report.document_type,
            first.map(|c| c.detail.as_str()).unwrap_or("")
        ),
        Indication::Indeterminate => format!(
            "INDETERMINATE / {} — validité indéterminée / cannot decide on the {} signed by {who}{when}: {}",
            sub.map(|s| s.as_str()).unwrap_or("GENERIC"),
            report.document_type,
            first.map(|c| c.detail.as_str()).unwrap_or("")
        ),
    };
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn document_kinds_parse_and_map_to_rules() {
        for (s, rule) in [
            ("prescription", Some(DocumentType::Prescription)),
            (
                "medical-certificate",
                Some(DocumentType::MedicalCertificate),
            ),
            ("death-certificate", Some(DocumentType::DeathCertificate)),
            ("generic", None),
        ] {
            let k: DocumentKind = s.parse().unwrap();
            assert_eq!(k.rule_type(), rule);
            assert_eq!(k.as_str(), s);
            assert_eq!(serde_json::to_value(k).unwrap(), s);
        }
        assert!("ordonnance".parse::<DocumentKind>().is_err());
    }

    #[test]
    fn total_failed_wins_over_indeterminate_then_check_order() {
        let mut c = Checks::default();
        c.pass("format", "ok");
        c.fail(
            "certificate-chain",
            Indeterminate,
            SubIndication::NoCertificateChainFound,
            "x",
        );
        c.fail("revocation", TotalFailed, SubIndication::Revoked, "y");
        c.fail(
            "profession",
            TotalFailed,
            SubIndication::SigConstraintsFailure,
            "z",
        );
        let (i, s, first) = c.decide();
        assert_eq!((i, s), (TotalFailed, Some(SubIndication::Revoked)));
        assert_eq!(first.unwrap().check, "revocation");
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json[1]["sub_indication"], "NO_CERTIFICATE_CHAIN_FOUND");
        assert_eq!(json[1]["result"], "failed");
        assert_eq!(Checks::default().decide().0, Indication::TotalPassed);
    }

    #[test]
    fn parse_certificates_rejects_garbage() {
        assert!(parse_certificates(b"").is_err());
        assert!(parse_certificates(
            b"-----BEGIN CERTIFICATE-----\nAA\n-----END CERTIFICATE-----\n"
        )
        .is_err());
        assert!(parse_certificates(&[0x30, 0x03, 0x02, 0x01, 0x01]).is_err());
    }
}
