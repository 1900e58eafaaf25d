//! The validation report, in the model of ETSI EN 319 102-1 §5.1.3: a main indication, a
//! sub-indication, and what the decision rests on (signer, times, chain, revocation status,
//! every check made).

use serde::Serialize;
use time::OffsetDateTime;

/// Main status indication (ETSI EN 319 102-1 §5.1.3, Table 4; written with underscores).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Indication {
    /// Every check passed: the signature (or certificate) is valid.
    TotalPassed,
    /// A check failed in a way no additional information can change.
    TotalFailed,
    /// The available information does not allow a decision.
    Indeterminate,
}

impl Indication {
    /// `TOTAL_PASSED`, …
    pub fn as_str(self) -> &'static str {
        match self {
            Indication::TotalPassed => "TOTAL_PASSED",
            Indication::TotalFailed => "TOTAL_FAILED",
            Indication::Indeterminate => "INDETERMINATE",
        }
    }
}

impl std::fmt::Display for Indication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Sub-indications (ETSI EN 319 102-1 §5.1.3, Table 5), the ones this validator produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SubIndication {
    /// The signature is not conformant to the format (CMS/CAdES) or cannot be decoded.
    FormatFailure,
    /// The hash of the signed data does not match the message-digest attribute.
    HashFailure,
    /// The signature value does not verify with the signer's public key.
    SigCryptoFailure,
    /// The signing certificate was revoked at the time of the proof of existence.
    Revoked,
    /// The signing certificate had expired at the time of the proof of existence.
    Expired,
    /// The signing certificate was not yet valid at the time of the proof of existence.
    NotYetValid,
    /// A constraint on the signature (key usage, signer's profession) is not met.
    SigConstraintsFailure,
    /// A constraint on the chain (basicConstraints, pathLen, CA key usage) is not met.
    ChainConstraintsFailure,
    /// The chain could not be validated for another reason (a CA signature does not verify).
    CertificateChainGeneralFailure,
    /// An algorithm or key size is not accepted by the policy.
    CryptoConstraintsFailure,
    /// The signing certificate cannot be identified (signing-certificate-v2 mismatch, missing).
    NoSigningCertificateFound,
    /// No chain from the signing certificate to a trust anchor.
    NoCertificateChainFound,
    /// Revoked, and no proof that the signature existed before the revocation.
    RevokedNoPoe,
    /// A CA certificate of the chain is revoked, without proof of existence before that.
    RevokedCaNoPoe,
    /// Expired (or not yet valid) at validation time, and no proof of existence within the
    /// validity period.
    OutOfBoundsNoPoe,
    /// The revocation status cannot be established now (no CRL, stale CRL, unknown serial).
    TryLater,
    /// The signed content is missing (detached signature without content).
    SignedDataNotFound,
    /// The signature time-stamp comes before the claimed signing time, or is not valid.
    TimestampOrderFailure,
    /// Anything else.
    Generic,
}

impl SubIndication {
    /// The ETSI name with underscores, as in the JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            SubIndication::FormatFailure => "FORMAT_FAILURE",
            SubIndication::HashFailure => "HASH_FAILURE",
            SubIndication::SigCryptoFailure => "SIG_CRYPTO_FAILURE",
            SubIndication::Revoked => "REVOKED",
            SubIndication::Expired => "EXPIRED",
            SubIndication::NotYetValid => "NOT_YET_VALID",
            SubIndication::SigConstraintsFailure => "SIG_CONSTRAINTS_FAILURE",
            SubIndication::ChainConstraintsFailure => "CHAIN_CONSTRAINTS_FAILURE",
            SubIndication::CertificateChainGeneralFailure => "CERTIFICATE_CHAIN_GENERAL_FAILURE",
            SubIndication::CryptoConstraintsFailure => "CRYPTO_CONSTRAINTS_FAILURE",
            SubIndication::NoSigningCertificateFound => "NO_SIGNING_CERTIFICATE_FOUND",
            SubIndication::NoCertificateChainFound => "NO_CERTIFICATE_CHAIN_FOUND",
            SubIndication::RevokedNoPoe => "REVOKED_NO_POE",
            SubIndication::RevokedCaNoPoe => "REVOKED_CA_NO_POE",
            SubIndication::OutOfBoundsNoPoe => "OUT_OF_BOUNDS_NO_POE",
            SubIndication::TryLater => "TRY_LATER",
            SubIndication::SignedDataNotFound => "SIGNED_DATA_NOT_FOUND",
            SubIndication::TimestampOrderFailure => "TIMESTAMP_ORDER_FAILURE",
            SubIndication::Generic => "GENERIC",
        }
    }
}

impl std::fmt::Display for SubIndication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Result of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckResult {
    /// The check passed.
    Passed,
    /// The check failed; see the report's indication.
    Failed,
    /// Passed with a reservation worth reading (e.g. a CA's status could not be checked).
    Warning,
    /// Not made (an earlier failure made it meaningless, or it does not apply).
    Skipped,
}

/// One check and its outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Stable identifier, e.g. `message-digest`, `signer-key-usage`.
    pub check: &'static str,
    /// Outcome.
    pub result: CheckResult,
    /// What was found, in English.
    pub detail: String,
    /// When failed: the indication and sub-indication this failure leads to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub indication: Option<Indication>,
    /// When failed: the sub-indication.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_indication: Option<SubIndication>,
}

/// The checks made so far; decides the indication.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(transparent)]
pub struct Checks(pub Vec<Check>);

impl Checks {
    /// Records a passed check.
    pub fn pass(&mut self, check: &'static str, detail: impl Into<String>) {
        self.push(check, CheckResult::Passed, detail, None);
    }

    /// Records a check passed with a reservation.
    pub fn warn(&mut self, check: &'static str, detail: impl Into<String>) {
        self.push(check, CheckResult::Warning, detail, None);
    }

    /// Records a skipped check.
    pub fn skip(&mut self, check: &'static str, detail: impl Into<String>) {
        self.push(check, CheckResult::Skipped, detail, None);
    }

    /// Records a failed check with its consequence.
    pub fn fail(
        &mut self,
        check: &'static str,
        indication: Indication,
        sub: SubIndication,
        detail: impl Into<String>,
    ) {
        self.push(check, CheckResult::Failed, detail, Some((indication, sub)));
    }

    fn push(
        &mut self,
        check: &'static str,
        result: CheckResult,
        detail: impl Into<String>,
        failure: Option<(Indication, SubIndication)>,
    ) {
        self.0.push(Check {
            check,
            result,
            detail: detail.into(),
            indication: failure.map(|f| f.0),
            sub_indication: failure.map(|f| f.1),
        });
    }

    /// Whether a check with this identifier failed.
    pub fn failed(&self, check: &str) -> bool {
        self.0
            .iter()
            .any(|c| c.check == check && c.result == CheckResult::Failed)
    }

    /// The decision: the first TOTAL_FAILED in check order (checks are made in the order of
    /// ETSI EN 319 102-1 §5.3), else the first INDETERMINATE of the signature's own checks,
    /// else the first INDETERMINATE of a time-stamp, else TOTAL_PASSED.
    ///
    /// A time-stamp that failed its own validation gives no proof of existence; when that
    /// leaves the signature undecided (a signer revoked after the time-stamp: REVOKED_NO_POE),
    /// the signature's sub-indication is the answer (EN 319 102-1 §5.6.3.4 returns the result
    /// of the validation without proof of existence), the time-stamp's reason stays in its
    /// check.
    pub fn decide(&self) -> (Indication, Option<SubIndication>, Option<&Check>) {
        if let Some(c) = self
            .0
            .iter()
            .find(|c| c.indication == Some(Indication::TotalFailed))
        {
            return (Indication::TotalFailed, c.sub_indication, Some(c));
        }
        let undecided = |c: &&Check| c.indication == Some(Indication::Indeterminate);
        let found = self
            .0
            .iter()
            .filter(undecided)
            .find(|c| !is_timestamp_check(c.check))
            .or_else(|| self.0.iter().find(undecided));
        match found {
            Some(c) => (Indication::Indeterminate, c.sub_indication, Some(c)),
            None => (Indication::TotalPassed, None, None),
        }
    }
}

/// The checks of a time-stamp's own validation (signature and archive time-stamps).
pub fn is_timestamp_check(check: &str) -> bool {
    matches!(check, "signature-timestamp" | "archive-timestamp")
}

/// A certificate as shown in a report.
#[derive(Debug, Clone, Serialize)]
pub struct CertificateInfo {
    /// Subject DN (RFC 4514-like text).
    pub subject: String,
    /// Issuer DN.
    pub issuer: String,
    /// Serial number, hexadecimal.
    pub serial: String,
    /// Start of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// End of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// SHA-256 of the DER certificate, hexadecimal.
    pub sha256: String,
}

/// The signer as identified from the signing certificate (and the registry).
#[derive(Debug, Clone, Serialize)]
pub struct SignerIdentity {
    /// IdNat_PS (the certificate's CN), when it parses as one.
    pub idnat: Option<String>,
    /// Surname (SN).
    pub surname: Option<String>,
    /// Given name (GN).
    pub given_name: Option<String>,
    /// Display name: "GN SN", or the CN.
    pub name: String,
    /// Profession code (TRE_G15), when known.
    pub profession_code: Option<String>,
    /// Profession label, e.g. "Médecin".
    pub profession: Option<String>,
    /// Organization (structure or Order).
    pub organization: Option<String>,
    /// The signing certificate.
    pub certificate: CertificateInfo,
}

/// The revocation status used for the decision.
#[derive(Debug, Clone, Serialize)]
pub struct RevocationUsed {
    /// Where it came from (`crl-files`, `ca-store`, …).
    pub source: String,
    /// `good`, `revoked`, `on-hold`, `unknown`.
    pub status: String,
    /// The time the status was evaluated at (the time-stamp's, or the validation time).
    #[serde(with = "time::serde::rfc3339")]
    pub evaluated_at: OffsetDateTime,
    /// When revoked or suspended: since when.
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub revoked_at: Option<OffsetDateTime>,
    /// RFC 5280 reason, when revoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What the source said, in words (CRL number and dates, …).
    pub detail: String,
}

/// The signature time-stamp (CAdES-T).
#[derive(Debug, Clone, Serialize)]
pub struct TimestampInfo {
    /// genTime.
    #[serde(with = "time::serde::rfc3339")]
    pub gen_time: OffsetDateTime,
    /// Token serial, hexadecimal.
    pub serial: String,
    /// TSA policy OID.
    pub policy: String,
    /// Whether the token was verified (imprint, signature, TSA chain, EKU).
    pub valid: bool,
    /// The TSA certificate, when found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tsa: Option<CertificateInfo>,
    /// `signature` (signature-time-stamp) or `archive` (archive-time-stamp-v3).
    pub kind: &'static str,
    /// The token's own validation, in words: what was verified, or why it proves nothing.
    pub detail: String,
}

/// The validation data a signature carries (CAdES-LT/LTA), counted.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ValidationDataInfo {
    /// Certificates (SignedData, certificate-values, time-stamp tokens).
    pub certificates: usize,
    /// OCSP responses.
    pub ocsp_responses: usize,
    /// CRLs.
    pub crls: usize,
}

/// Report of `POST /api/v1/verify` and `igc verify`.
#[derive(Debug, Clone, Serialize)]
pub struct SignatureReport {
    /// TOTAL_PASSED / TOTAL_FAILED / INDETERMINATE.
    pub indication: Indication,
    /// ETSI sub-indication when not passed.
    pub sub_indication: Option<SubIndication>,
    /// One or two sentences for a human (English, with the French indication words).
    pub summary: String,
    /// The level the signature meets: `CAdES-BASELINE-B`, `-T`, `-LT` or `-LTA` (ETSI EN 319
    /// 122-1); `CAdES-E-BES` / `CAdES-E-T` (EN 319 122-2) when a baseline requirement is
    /// missing (signing-time); `CMS` when not even that.
    pub signature_format: String,
    /// The document type checked (`prescription`, …, `generic`).
    pub document_type: String,
    /// The PDF signature field, for a signature or document time-stamp of a PDF.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Whether the content was detached (given separately).
    pub detached: bool,
    /// The validation time.
    #[serde(with = "time::serde::rfc3339")]
    pub validation_time: OffsetDateTime,
    /// The signer, when the signing certificate was found.
    pub signer: Option<SignerIdentity>,
    /// signing-time signed attribute (the signer's claim).
    #[serde(with = "time::serde::rfc3339::option")]
    pub claimed_signing_time: Option<OffsetDateTime>,
    /// The signature time-stamp, when present.
    pub timestamp: Option<TimestampInfo>,
    /// Every time-stamp (signature, then archive time-stamps newest first), each with its
    /// own validation.
    pub timestamps: Vec<TimestampInfo>,
    /// The validation data carried by the signature, when it carries any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation_data: Option<ValidationDataInfo>,
    /// The proof of existence of the signature: genTime of the valid signature time-stamp,
    /// else of the oldest valid archive time-stamp.
    #[serde(with = "time::serde::rfc3339::option")]
    pub timestamp_time: Option<OffsetDateTime>,
    /// The chain, signing certificate first, trust anchor last.
    pub chain: Vec<CertificateInfo>,
    /// The RFC 5280 §6.1 checks of the signing certificate's path, each certificate's in
    /// order (those of the path refused when none was accepted).
    pub path_checks: Vec<PathCheck>,
    /// The revocation status of the signing certificate used for the decision.
    pub revocation: Option<RevocationUsed>,
    /// Every check, in the order made.
    pub checks: Checks,
    /// When the SignedData has several SignerInfos: the report of each, in order (the
    /// fields above then give the overall indication and summary, and the details of the
    /// first signature). Empty for a single signature.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<SignatureReport>,
}

/// Report of `POST /api/v1/verify/certificate`.
#[derive(Debug, Clone, Serialize)]
pub struct CertificateReport {
    /// TOTAL_PASSED / TOTAL_FAILED / INDETERMINATE.
    pub indication: Indication,
    /// ETSI sub-indication when not passed.
    pub sub_indication: Option<SubIndication>,
    /// For a human.
    pub summary: String,
    /// The time the certificate was validated at.
    #[serde(with = "time::serde::rfc3339")]
    pub validation_time: OffsetDateTime,
    /// The certificate.
    pub certificate: CertificateInfo,
    /// Holder (professional certificates).
    pub holder: Option<SignerIdentity>,
    /// The chain, the certificate first, trust anchor last.
    pub chain: Vec<CertificateInfo>,
    /// The RFC 5280 §6.1 checks of the path, each certificate's in order (those of the path
    /// refused when none was accepted).
    pub path_checks: Vec<PathCheck>,
    /// Revocation status used.
    pub revocation: Option<RevocationUsed>,
    /// Every check.
    pub checks: Checks,
}

/// One check of RFC 5280 §6.1 on one certificate of a path.
#[derive(Debug, Clone, Serialize)]
pub struct PathCheck {
    /// Position in the path: the end entity is 0, the trust anchor last.
    pub position: usize,
    /// The certificate's subject.
    pub subject: String,
    /// What was checked (`extensions`, `name-constraints`, `ca-constraints`, `policies`, …).
    pub check: &'static str,
    pub passed: bool,
    /// In words, with the RFC 5280 section.
    pub detail: String,
}
