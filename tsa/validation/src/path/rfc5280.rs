//! RFC 5280 §6.1 basic path validation of one complete path, the signatures excepted (the
//! search verifies each link as it builds the path: §6.1.3(a)(1), (a)(4)) and the dates and
//! revocation excepted (the caller checks them at the time its validation model asks for,
//! with the ETSI sub-indications that go with them: §6.1.3(a)(2), (a)(3)).
//!
//! The trust anchor is taken as RFC 5937 describes it: its name and key, plus the
//! constraints its certificate carries (pathLenConstraint and nameConstraints), so that a
//! root that limits its hierarchy is obeyed. Its extensions are checked like any other
//! certificate's: an anchor with a critical extension we do not recognise is refused.

use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages};
use x509_cert::Certificate;

use super::name_constraints::NameConstraintsState;
use super::policy::{PolicyInputs, PolicyOutcome, PolicyState};
use super::{extensions, subject, PathCheck, PathError};
use crate::report::SubIndication;

/// Validates `chain` (end entity first, trust anchor last); returns the checks made and the
/// policies the path is valid for.
pub fn validate(
    chain: &[Certificate],
    policy: &PolicyInputs,
) -> Result<(Vec<PathCheck>, PolicyOutcome), PathError> {
    let mut v = Validation {
        chain,
        checks: Vec::new(),
    };
    match v.run(policy) {
        Ok(outcome) => Ok((v.checks, outcome)),
        Err((position, sub, detail)) => {
            v.checks.push(PathCheck {
                position,
                subject: chain.get(position).map(subject).unwrap_or_default(),
                check: "rfc5280",
                passed: false,
                detail: detail.clone(),
            });
            Err(PathError {
                sub,
                detail,
                partial: chain.to_vec(),
                limit: None,
                checks: v.checks,
            })
        }
    }
}

impl Validation<'_> {
    /// A version 3 trust anchor certificate must say it is a CA: basicConstraints cA, and
    /// keyCertSign when it has a keyUsage (RFC 5937 §3 takes it as a CA's certificate). A
    /// version 1 anchor says nothing and is taken as name and key.
    fn anchor_is_a_ca(&self, anchor: &Certificate, top: usize) -> Result<(), Refusal> {
        let tbs = &anchor.tbs_certificate;
        if tbs.version != x509_cert::Version::V3 {
            return Ok(());
        }
        let refuse = |why: &str| {
            Err((
                top,
                SubIndication::ChainConstraintsFailure,
                format!("the trust anchor {} {why}", subject(anchor)),
            ))
        };
        match tbs.get::<BasicConstraints>() {
            Ok(Some((_, bc))) if bc.ca => {}
            _ => return refuse("is not a CA certificate (basicConstraints cA absent or false)"),
        }
        if let Ok(Some((_, KeyUsage(bits)))) = tbs.get::<KeyUsage>() {
            if !bits.contains(KeyUsages::KeyCertSign) {
                return refuse("has a keyUsage without keyCertSign");
            }
        }
        Ok(())
    }
}

/// A refusal: the position of the certificate in the chain (end entity 0), the ETSI
/// sub-indication, the reason.
type Refusal = (usize, SubIndication, String);

struct Validation<'a> {
    chain: &'a [Certificate],
    checks: Vec<PathCheck>,
}

impl Validation<'_> {
    fn pass(&mut self, position: usize, check: &'static str, detail: String) {
        self.checks.push(PathCheck {
            position,
            subject: self.chain.get(position).map(subject).unwrap_or_default(),
            check,
            passed: true,
            detail,
        });
    }

    fn run(&mut self, inputs: &PolicyInputs) -> Result<PolicyOutcome, Refusal> {
        let chain = self.chain;
        let Some((anchor, path)) = chain.split_last() else {
            return Err((0, SubIndication::Generic, "an empty path".into()));
        };
        let top = chain.len() - 1;
        // n: the certificates of the path, the anchor excepted; certificate i (1..=n) is
        // chain[n - i].
        let n = path.len();
        let general = SubIndication::CertificateChainGeneralFailure;
        let constraints = SubIndication::ChainConstraintsFailure;

        let extension_refusal = |position: usize, e: extensions::ExtensionError| {
            (
                position,
                if e.malformed { general } else { constraints },
                e.reason,
            )
        };
        extensions::check(anchor).map_err(|e| extension_refusal(top, e))?;
        if n > 0 {
            self.anchor_is_a_ca(anchor, top)?;
        }
        let mut max_path_length = n;
        match anchor.tbs_certificate.get::<BasicConstraints>() {
            Ok(Some((_, bc))) => {
                if let Some(p) = bc.path_len_constraint {
                    max_path_length = max_path_length.min(usize::from(p));
                }
            }
            Ok(None) => {}
            Err(e) => return Err((top, general, format!("basicConstraints: {e}"))),
        }
        let mut names = NameConstraintsState::new();
        // Constraints that cannot be read are a malformed certificate.
        names.update(anchor).map_err(|e| (top, general, e.reason))?;
        self.pass(
            top,
            "trust-anchor",
            "trust anchor: its name and key, and the constraints its certificate carries (pathLenConstraint, nameConstraints) as RFC 5937 inputs; its dates and self-signature are not examined (§6.1.1(d))"
                .into(),
        );
        let mut policies = PolicyState::new(inputs, n);
        let mut comparisons = 0usize;

        for i in 1..=n {
            let position = n - i;
            let cert = &chain[position];
            let tbs = &cert.tbs_certificate;
            let self_issued = pkix::name_compare::names_equivalent(&tbs.issuer, &tbs.subject);
            let last = i == n;
            extensions::check(cert).map_err(|e| extension_refusal(position, e))?;
            // §6.1.3(b)(c): a self-issued intermediate is not checked against the constraints.
            if !self_issued || last {
                names
                    .check(cert, &mut comparisons)
                    .map_err(|e| (position, constraints, e.reason))?;
                self.pass(
                    position,
                    "name-constraints",
                    "subject and subjectAltName within the permitted and outside the excluded subtrees (§6.1.3(b)(c))".into(),
                );
            }
            policies
                .process(cert, i, self_issued)
                .map_err(|e| (position, constraints, e.reason))?;
            if last {
                break;
            }
            // §6.1.4: preparation for certificate i + 1.
            if tbs.version != x509_cert::Version::V3 {
                return Err((
                    position,
                    constraints,
                    format!(
                        "{} is a version 1 or 2 certificate used as a CA: nothing says it is one (RFC 5280 §6.1.4(k))",
                        subject(cert)
                    ),
                ));
            }
            let bc = match tbs.get::<BasicConstraints>() {
                Ok(Some((_, bc))) if bc.ca => bc,
                Ok(_) => {
                    return Err((
                        position,
                        constraints,
                        format!(
                            "{} issues a certificate of the path but is not a CA: basicConstraints cA is absent or false (RFC 5280 §6.1.4(k))",
                            subject(cert)
                        ),
                    ))
                }
                Err(e) => return Err((position, general, format!("basicConstraints: {e}"))),
            };
            // §6.1.4(l)(m): self-issued certificates do not count against the path length.
            if !self_issued {
                if max_path_length == 0 {
                    return Err((
                        position,
                        constraints,
                        format!(
                            "{} is one intermediate CA too many: a pathLenConstraint above it allows no more (RFC 5280 §6.1.4(l))",
                            subject(cert)
                        ),
                    ));
                }
                max_path_length -= 1;
            }
            if let Some(p) = bc.path_len_constraint {
                max_path_length = max_path_length.min(usize::from(p));
            }
            // §6.1.4(n).
            if let Ok(Some((_, KeyUsage(bits)))) = tbs.get::<KeyUsage>() {
                if !bits.contains(KeyUsages::KeyCertSign) {
                    return Err((
                        position,
                        constraints,
                        format!(
                            "{} issues a certificate of the path but its keyUsage lacks keyCertSign (RFC 5280 §6.1.4(n))",
                            subject(cert)
                        ),
                    ));
                }
            }
            names
                .update(cert)
                .map_err(|e| (position, general, e.reason))?;
            self.pass(
                position,
                "ca-constraints",
                format!(
                    "a v3 CA certificate with keyCertSign{}; {max_path_length} more intermediate CA certificates allowed below (§6.1.4(k)-(n))",
                    if self_issued { ", self-issued" } else { "" }
                ),
            );
        }
        let outcome = policies.finish().map_err(|e| (0, constraints, e.reason))?;
        self.pass(0, "policies", format!("certificate policies: {}", outcome));
        Ok(outcome)
    }
}
