//! Certification path building and validation (RFC 5280 §6, the basics): issuer name
//! chaining, signatures ([`pkix::verify`]), basicConstraints cA and pathLenConstraint, CA key
//! usage keyCertSign, validity at a time. Revocation is checked by the caller, which knows
//! the time of interest.

use der::Encode;
use pkix::verify::VerifyError;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages};
use x509_cert::Certificate;

use crate::limits::{Budget, LimitExceeded};
use crate::report::{CertificateInfo, SubIndication};

/// Why a link was not verified.
#[derive(Debug)]
enum LinkError {
    Verify(VerifyError),
    Limit(LimitExceeded),
}

/// Longest chain tried (end entity, intermediates, anchor).
const MAX_DEPTH: usize = 6;

/// Entries kept by [`LinkCache`] before it starts afresh.
const LINK_CACHE_MAX: usize = 16_384;

/// Remembers the certificate → issuer links already verified (signature, cA, keyCertSign,
/// names), keyed by a SHA-256 over both certificates' signed contents and the subject's
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

    /// [`pkix::verify::verify_certificate_signed_by`], remembered.
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
        pkix::verify::verify_certificate_signed_by(cert, issuer).map_err(LinkError::Verify)?;
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

/// Equal certificates. Compared as decoded values: re-encoding both for each candidate made
/// every candidate cost two encodings per certificate already in the chain.
fn same(a: &Certificate, b: &Certificate) -> bool {
    a == b
}

/// Builds a chain from `ee` to one of `anchors` through `pool`, checking each signature
/// (and issuer CA flag and keyCertSign) on the way, then pathLen constraints. Returns the
/// chain, `ee` first and the anchor last. Without limits: see [`build_path_within`].
pub fn build_path(
    ee: &Certificate,
    pool: &[&Certificate],
    anchors: &[Certificate],
    links: &LinkCache,
) -> Result<Vec<Certificate>, PathError> {
    build_path_within(ee, pool, anchors, links, &Budget::unlimited())
}

/// [`build_path`] within `budget`: each candidate issuer examined (a certificate whose subject
/// is the issuer sought, anchors included) costs one unit, each signature verified another,
/// and at most [`Budget::max_candidates`] candidates are examined per level. The search is
/// depth-first without backtracking (the first candidate whose signature verifies is kept),
/// so the work is at most depth × candidates per level. When a limit stops it, the error
/// carries the limit.
pub fn build_path_within(
    ee: &Certificate,
    pool: &[&Certificate],
    anchors: &[Certificate],
    links: &LinkCache,
    budget: &Budget,
) -> Result<Vec<Certificate>, PathError> {
    let mut chain = vec![ee.clone()];
    if anchors.iter().any(|a| same(a, ee)) {
        return Ok(chain);
    }
    let limited = |chain: &[Certificate], e: LimitExceeded| PathError {
        sub: SubIndication::Generic,
        detail: format!("path building stopped: {e}"),
        partial: chain.to_vec(),
        limit: Some(e),
    };
    let mut last_error: Option<(SubIndication, String)> = None;
    // A known CA skipped because it is already in the chain: the issuers form a loop.
    let mut looped = false;
    'up: while chain.len() < MAX_DEPTH {
        let cur = chain.last().cloned().ok_or_else(|| PathError {
            sub: SubIndication::Generic,
            detail: "empty chain".into(),
            partial: vec![],
            limit: None,
        })?;
        let wanted = &cur.tbs_certificate.issuer;
        let mut candidates = 0usize;
        let mut examine = |chain: &[Certificate]| {
            candidates += 1;
            if candidates > budget.max_candidates() {
                return Err(limited(
                    chain,
                    budget.exceed(LimitExceeded::Candidates {
                        issuer: pkix::name_to_string(wanted),
                        max: budget.max_candidates(),
                    }),
                ));
            }
            budget.spend(1).map_err(|e| limited(chain, e))
        };
        // One candidate issuer of `cur`: counted, then its signature checked; a signature that
        // does not verify is kept to explain a missing chain (`role` precedes its name there).
        let mut signed_by =
            |chain: &[Certificate], issuer: &Certificate, role: &str| -> Result<bool, PathError> {
                examine(chain)?;
                match links.verify_within(&cur, issuer, budget) {
                    Ok(()) => Ok(true),
                    Err(LinkError::Limit(e)) => Err(limited(chain, e)),
                    Err(LinkError::Verify(e)) => {
                        last_error = Some((
                            classify(&e),
                            format!(
                                "{} is not validly signed by {role}{}: {e}",
                                subject(&cur),
                                subject(issuer)
                            ),
                        ));
                        Ok(false)
                    }
                }
            };
        for anchor in anchors {
            if anchor.tbs_certificate.subject != *wanted {
                continue;
            }
            if signed_by(&chain, anchor, "the trust anchor ")? {
                chain.push(anchor.clone());
                check_path_len(&chain)?;
                return Ok(chain);
            }
        }
        for cand in pool {
            if cand.tbs_certificate.subject != *wanted {
                continue;
            }
            if chain.iter().any(|c| same(c, cand)) {
                looped = true;
                continue;
            }
            if signed_by(&chain, cand, "")? {
                chain.push((*cand).clone());
                continue 'up;
            }
        }
        break;
    }
    let issuer = chain
        .last()
        .map(|c| pkix::name_to_string(&c.tbs_certificate.issuer))
        .unwrap_or_default();
    let (sub, detail) = match last_error {
        Some((SubIndication::NoCertificateChainFound, _)) | None => (
            SubIndication::NoCertificateChainFound,
            if looped {
                format!(
                    "no chain from {} to a trust anchor: its issuers form a loop (back to {issuer}, already in the chain)",
                    subject(ee)
                )
            } else {
                format!(
                    "no chain from {} to a trust anchor: its issuer {issuer} is neither a trust anchor nor a known CA",
                    subject(ee)
                )
            },
        ),
        Some((sub, d)) => (sub, d),
    };
    Err(PathError {
        sub,
        detail,
        partial: chain,
        limit: None,
    })
}

/// pathLenConstraint: a CA at position `i` (end entity at 0) is followed by `i - 1`
/// intermediate CA certificates.
fn check_path_len(chain: &[Certificate]) -> Result<(), PathError> {
    for (i, ca_cert) in chain.iter().enumerate().skip(1) {
        let bc = ca_cert
            .tbs_certificate
            .get::<BasicConstraints>()
            .map_err(|e| PathError {
                sub: SubIndication::CertificateChainGeneralFailure,
                detail: format!("basicConstraints of {}: {e}", subject(ca_cert)),
                partial: chain.to_vec(),
                limit: None,
            })?;
        if let Some((
            _,
            BasicConstraints {
                ca: true,
                path_len_constraint: Some(n),
            },
        )) = bc
        {
            let below = i.saturating_sub(1);
            if below > usize::from(n) {
                return Err(PathError {
                    sub: SubIndication::ChainConstraintsFailure,
                    detail: format!(
                        "{} has pathLenConstraint {n} but {below} intermediate CA certificates follow it",
                        subject(ca_cert)
                    ),
                    partial: chain.to_vec(),
                    limit: None,
                });
            }
        }
    }
    Ok(())
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
