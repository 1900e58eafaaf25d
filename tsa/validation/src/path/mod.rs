//! Certification path building and validation (RFC 5280 §6.1): [`search`] builds the paths
//! from a certificate to the trust anchors (every candidate issuer, with backtracking, within
//! a budget), [`rfc5280`] validates each complete path (extensions and their criticality,
//! name constraints, CA constraints, certificate policies); signatures are checked by
//! [`pkix::verify`] as links are made. Dates and revocation are checked by the caller, which
//! knows the time of interest and reports them with ETSI sub-indications.

use der::Encode;
use pkix::verify::VerifyError;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use x509_cert::ext::pkix::{ExtendedKeyUsage, KeyUsage, KeyUsages};
use x509_cert::Certificate;

mod extensions;
mod name_constraints;
mod policy;
mod rfc5280;
mod search;

pub use policy::{PolicyInputs, PolicyOutcome, PolicySet};
pub use search::MAX_DEPTH;

use crate::limits::{Budget, LimitExceeded};
pub use crate::report::PathCheck;
use crate::report::{CertificateInfo, SubIndication};

/// Why a link was not verified.
#[derive(Debug)]
enum LinkError {
    Verify(VerifyError),
    Limit(LimitExceeded),
}

/// Entries kept by [`LinkCache`] before it starts afresh.
const LINK_CACHE_MAX: usize = 16_384;

/// Remembers the certificate → issuer links already verified (names, key identifiers,
/// signature), keyed by a SHA-256 over both certificates' signed contents and the subject's
/// signature, so that the CA certificates of every validated signature are not verified
/// again. Only successes are kept.
#[derive(Debug, Default)]
pub struct LinkCache {
    verified: std::sync::Mutex<std::collections::HashSet<[u8; 32]>>,
}

impl LinkCache {
    fn key(cert: &Certificate, issuer: &Certificate) -> Option<[u8; 32]> {
        let mut h = Sha256::new();
        h.update(cert.tbs_certificate.to_der().ok()?);
        h.update(cert.signature_algorithm.to_der().ok()?);
        h.update(cert.signature.raw_bytes());
        h.update(issuer.tbs_certificate.to_der().ok()?);
        Some(h.finalize().into())
    }

    /// [`pkix::verify::verify_certificate_link`], remembered.
    pub fn verify(&self, cert: &Certificate, issuer: &Certificate) -> Result<(), VerifyError> {
        self.verify_within(cert, issuer, &Budget::unlimited())
            .map_err(|e| match e {
                LinkError::Verify(v) => v,
                // An unlimited budget is never exceeded.
                LinkError::Limit(_) => VerifyError::BadSignature,
            })
    }

    /// [`Self::verify`], spending one unit of `budget` when the signature is verified (a
    /// remembered link costs nothing).
    fn verify_within(
        &self,
        cert: &Certificate,
        issuer: &Certificate,
        budget: &Budget,
    ) -> Result<(), LinkError> {
        let key = Self::key(cert, issuer);
        let lock = || self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = &key {
            if lock().contains(k) {
                return Ok(());
            }
        }
        budget.spend(1).map_err(LinkError::Limit)?;
        pkix::verify::verify_certificate_link(cert, issuer).map_err(LinkError::Verify)?;
        if let Some(k) = key {
            let mut set = lock();
            if set.len() >= LINK_CACHE_MAX {
                set.clear();
            }
            set.insert(k);
        }
        Ok(())
    }
}

/// Why no valid path was found.
#[derive(Debug, Clone)]
pub struct PathError {
    /// NO_CERTIFICATE_CHAIN_FOUND, CHAIN_CONSTRAINTS_FAILURE,
    /// CERTIFICATE_CHAIN_GENERAL_FAILURE or CRYPTO_CONSTRAINTS_FAILURE.
    pub sub: SubIndication,
    /// In words.
    pub detail: String,
    /// The partial chain found (end entity first).
    pub partial: Vec<Certificate>,
    /// Set when a limit of the request stopped the search (the result then says nothing
    /// about the certificate).
    pub limit: Option<LimitExceeded>,
    /// The checks made on the path refused, when one was complete.
    pub checks: Vec<PathCheck>,
}

fn classify(e: &VerifyError) -> SubIndication {
    match e {
        VerifyError::IssuerNotCa | VerifyError::IssuerKeyUsage(_) => {
            SubIndication::ChainConstraintsFailure
        }
        VerifyError::BadSignature
        | VerifyError::MalformedSignature(_)
        | VerifyError::SignatureAlgorithmFieldMismatch
        | VerifyError::Der(_) => SubIndication::CertificateChainGeneralFailure,
        VerifyError::IssuerNameMismatch | VerifyError::KeyIdentifierMismatch => {
            SubIndication::NoCertificateChainFound
        }
        _ => SubIndication::CryptoConstraintsFailure,
    }
}

/// What the validation of a path is asked for.
#[derive(Debug, Clone, Default)]
pub struct PathOptions {
    /// The time of interest: among several paths, one whose certificates are all valid then
    /// is preferred (the dates themselves are checked by the caller).
    pub at: Option<OffsetDateTime>,
    /// The policy inputs of RFC 5280 §6.1.1 (c)-(f).
    pub policy: PolicyInputs,
}

/// A path that RFC 5280 §6.1 accepts (dates and revocation left to the caller).
#[derive(Debug, Clone)]
pub struct ValidatedPath {
    /// End entity first, trust anchor last.
    pub chain: Vec<Certificate>,
    /// Every check made, in order.
    pub checks: Vec<PathCheck>,
    /// The certificate policies the path is valid for (§6.1.5).
    pub policies: PolicyOutcome,
    /// `false` when no path valid at [`PathOptions::at`] was found and this one has a
    /// certificate outside its validity period then.
    pub within_validity: bool,
}

/// Builds and validates a path from `ee` to one of `anchors` through `pool`, without limits:
/// see [`validate_path_within`]. Returns the chain, `ee` first and the anchor last.
pub fn build_path(
    ee: &Certificate,
    pool: &[&Certificate],
    anchors: &[Certificate],
    links: &LinkCache,
) -> Result<Vec<Certificate>, PathError> {
    build_path_within(ee, pool, anchors, links, &Budget::unlimited(), None)
}

/// [`validate_path_within`] with default policy inputs (any policy, nothing required),
/// preferring a path valid at `at`; returns the chain.
pub fn build_path_within(
    ee: &Certificate,
    pool: &[&Certificate],
    anchors: &[Certificate],
    links: &LinkCache,
    budget: &Budget,
    at: Option<OffsetDateTime>,
) -> Result<Vec<Certificate>, PathError> {
    let options = PathOptions {
        at,
        ..PathOptions::default()
    };
    validate_path_within(ee, pool, anchors, links, budget, &options).map(|p| p.chain)
}

/// Searches the paths from `ee` to one of `anchors` through `pool` ([`search`]: every
/// candidate issuer, with backtracking) and returns the first that RFC 5280 §6.1 accepts
/// ([`rfc5280`]: extensions, name constraints, CA constraints, policies), preferring one
/// whose certificates are all valid at `options.at`. Within `budget`: each candidate issuer
/// examined costs one unit, each signature verified another, at most
/// [`Budget::max_candidates`] candidates per certificate; when a limit stops the search, the
/// error carries the limit. When no path is accepted, the error is the first complete path's
/// refusal, or else why no path reaches an anchor.
pub fn validate_path_within(
    ee: &Certificate,
    pool: &[&Certificate],
    anchors: &[Certificate],
    links: &LinkCache,
    budget: &Budget,
    options: &PathOptions,
) -> Result<ValidatedPath, PathError> {
    let mut accepted: Option<(Vec<PathCheck>, PolicyOutcome)> = None;
    let found = search::search(ee, pool, anchors, links, budget, options.at, |chain| {
        match rfc5280::validate(chain, &options.policy) {
            Err(e) => search::PathVerdict::Refused(e),
            Ok(done) => {
                let in_time = options
                    .at
                    .is_none_or(|t| first_invalid_in_path(chain, t).is_none());
                // A path valid but for dates is kept only if nothing better is found; its
                // checks are those of the first such path.
                if in_time || accepted.is_none() {
                    accepted = Some(done);
                }
                if in_time {
                    search::PathVerdict::Valid
                } else {
                    search::PathVerdict::OutOfValidity
                }
            }
        }
    })?;
    let (checks, policies) = match accepted {
        Some(a) => a,
        // The search returns a path only after `judge` accepted it.
        None => rfc5280::validate(&found.chain, &options.policy)?,
    };
    Ok(ValidatedPath {
        chain: found.chain,
        checks,
        policies,
        within_validity: found.within_validity,
    })
}

/// Subject DN as text.
pub fn subject(c: &Certificate) -> String {
    pkix::name_to_string(&c.tbs_certificate.subject)
}

/// `notBefore`, `notAfter`.
pub fn validity(c: &Certificate) -> (OffsetDateTime, OffsetDateTime) {
    let v = &c.tbs_certificate.validity;
    (
        OffsetDateTime::from(v.not_before.to_system_time()),
        OffsetDateTime::from(v.not_after.to_system_time()),
    )
}

/// The first certificate of `chain` not valid at `t`, with whether it is too early.
pub fn first_invalid_at(chain: &[Certificate], t: OffsetDateTime) -> Option<(&Certificate, bool)> {
    chain.iter().find_map(|c| {
        let (nb, na) = validity(c);
        if t < nb {
            Some((c, true))
        } else if t > na {
            Some((c, false))
        } else {
            None
        }
    })
}

/// The first certificate of the path `chain` (end entity first, trust anchor last) not valid
/// at `t`, with whether it is too early. The trust anchor's own dates are not examined (RFC
/// 5280 §6.1.1(d): an anchor is its name and key); a path of one certificate is the anchor.
pub fn first_invalid_in_path(
    chain: &[Certificate],
    t: OffsetDateTime,
) -> Option<(&Certificate, bool)> {
    let (_, path) = chain.split_last()?;
    first_invalid_at(path, t)
}

/// For a report.
pub fn info(c: &Certificate) -> CertificateInfo {
    let (not_before, not_after) = validity(c);
    CertificateInfo {
        subject: subject(c),
        issuer: pkix::name_to_string(&c.tbs_certificate.issuer),
        serial: hex::encode(c.tbs_certificate.serial_number.as_bytes()),
        not_before,
        not_after,
        sha256: c
            .to_der()
            .map(|d| hex::encode(Sha256::digest(d)))
            .unwrap_or_default(),
    }
}

/// Key usage of the SIGN profile: nonRepudiation (contentCommitment) only. Returns the
/// bits found when refused.
pub fn check_sign_key_usage(c: &Certificate) -> Result<(), String> {
    let ku = c
        .tbs_certificate
        .get::<KeyUsage>()
        .map_err(|e| format!("keyUsage: {e}"))?;
    let Some((_, KeyUsage(bits))) = ku else {
        return Err("the signing certificate has no keyUsage extension; the SIGN profile requires nonRepudiation only".into());
    };
    let names = key_usage_names(&KeyUsage(bits));
    let only_non_repudiation = bits.contains(KeyUsages::NonRepudiation)
        && bits.into_iter().all(|b| b == KeyUsages::NonRepudiation);
    if !only_non_repudiation {
        return Err(format!(
            "key usage is {{{}}}: a SIGN certificate (nonRepudiation only) is required to sign a document{}",
            names.join(", "),
            if bits.contains(KeyUsages::DigitalSignature) && !bits.contains(KeyUsages::NonRepudiation) {
                " (this looks like an authentication certificate)"
            } else {
                ""
            }
        ));
    }
    if let Some((_, ExtendedKeyUsage(ekus))) = c
        .tbs_certificate
        .get::<ExtendedKeyUsage>()
        .map_err(|e| format!("extendedKeyUsage: {e}"))?
    {
        if ekus.contains(&const_oid::db::rfc5280::ID_KP_CLIENT_AUTH) {
            return Err("the certificate's extended key usage is clientAuth (authentication), not signature".into());
        }
    }
    Ok(())
}

/// keyUsage bit names.
pub fn key_usage_names(ku: &KeyUsage) -> Vec<&'static str> {
    let bits = ku.0;
    let all = [
        (KeyUsages::DigitalSignature, "digitalSignature"),
        (KeyUsages::NonRepudiation, "nonRepudiation"),
        (KeyUsages::KeyEncipherment, "keyEncipherment"),
        (KeyUsages::DataEncipherment, "dataEncipherment"),
        (KeyUsages::KeyAgreement, "keyAgreement"),
        (KeyUsages::KeyCertSign, "keyCertSign"),
        (KeyUsages::CRLSign, "cRLSign"),
        (KeyUsages::EncipherOnly, "encipherOnly"),
        (KeyUsages::DecipherOnly, "decipherOnly"),
    ];
    all.iter()
        .filter(|(b, _)| bits.contains(*b))
        .map(|(_, n)| *n)
        .collect()
}
