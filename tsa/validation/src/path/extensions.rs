//! The extensions of one certificate, as RFC 5280 §4.2 lets a relying party accept them:
//! each at most once, each known one decodable, each with the criticality the RFC requires,
//! and no critical extension we do not process ("A certificate-using system MUST reject the
//! certificate if it encounters a critical extension it does not recognize").

use const_oid::db::rfc5280 as oids;
use const_oid::db::rfc6960::ID_PKIX_OCSP_NOCHECK;
use der::asn1::ObjectIdentifier;
use der::Decode;
use x509_cert::ext::pkix::constraints::{BasicConstraints, NameConstraints, PolicyConstraints};
use x509_cert::ext::pkix::crl::CrlDistributionPoints;
use x509_cert::ext::pkix::{
    AuthorityInfoAccessSyntax, AuthorityKeyIdentifier, CertificatePolicies, ExtendedKeyUsage,
    InhibitAnyPolicy, IssuerAltName, KeyUsage, KeyUsages, PolicyMappings, SubjectAltName,
    SubjectInfoAccessSyntax, SubjectKeyIdentifier,
};
use x509_cert::Certificate;

/// What RFC 5280 says of an extension's criticality.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Criticality {
    /// Either.
    Any,
    /// "Conforming CAs MUST mark this extension as critical."
    Critical,
    /// "Conforming CAs MUST mark this extension as non-critical."
    NonCritical,
    /// basicConstraints: critical in a CA certificate whose key verifies certificates
    /// (§4.2.1.9), either in an end-entity certificate.
    CriticalInCa,
}

/// The extensions this validator recognises: RFC 5280 section, criticality rule, and a
/// DER check of the value (a known extension that does not decode is refused, critical or
/// not: its meaning cannot be trusted).
struct Known {
    oid: ObjectIdentifier,
    name: &'static str,
    section: &'static str,
    criticality: Criticality,
    decodes: fn(&[u8]) -> bool,
}

fn decodes<T: for<'a> Decode<'a>>(value: &[u8]) -> bool {
    T::from_der(value).is_ok()
}

/// id-pe-qcStatements is not processed: recognised only when non-critical.
const KNOWN: &[Known] = &[
    Known {
        oid: oids::ID_CE_SUBJECT_KEY_IDENTIFIER,
        name: "subjectKeyIdentifier",
        section: "§4.2.1.2",
        criticality: Criticality::NonCritical,
        decodes: decodes::<SubjectKeyIdentifier>,
    },
    Known {
        oid: oids::ID_CE_AUTHORITY_KEY_IDENTIFIER,
        name: "authorityKeyIdentifier",
        section: "§4.2.1.1",
        criticality: Criticality::NonCritical,
        decodes: decodes::<AuthorityKeyIdentifier>,
    },
    Known {
        oid: oids::ID_CE_KEY_USAGE,
        name: "keyUsage",
        section: "§4.2.1.3",
        criticality: Criticality::Any,
        decodes: decodes::<KeyUsage>,
    },
    Known {
        oid: oids::ID_CE_CERTIFICATE_POLICIES,
        name: "certificatePolicies",
        section: "§4.2.1.4",
        criticality: Criticality::Any,
        decodes: decodes::<CertificatePolicies>,
    },
    Known {
        oid: oids::ID_CE_POLICY_MAPPINGS,
        name: "policyMappings",
        section: "§4.2.1.5",
        criticality: Criticality::Any,
        decodes: decodes::<PolicyMappings>,
    },
    Known {
        oid: oids::ID_CE_SUBJECT_ALT_NAME,
        name: "subjectAltName",
        section: "§4.2.1.6",
        criticality: Criticality::Any,
        decodes: decodes::<SubjectAltName>,
    },
    Known {
        oid: oids::ID_CE_ISSUER_ALT_NAME,
        name: "issuerAltName",
        section: "§4.2.1.7",
        criticality: Criticality::Any,
        decodes: decodes::<IssuerAltName>,
    },
    Known {
        oid: oids::ID_CE_BASIC_CONSTRAINTS,
        name: "basicConstraints",
        section: "§4.2.1.9",
        criticality: Criticality::CriticalInCa,
        decodes: decodes::<BasicConstraints>,
    },
    Known {
        oid: oids::ID_CE_NAME_CONSTRAINTS,
        name: "nameConstraints",
        section: "§4.2.1.10",
        criticality: Criticality::Critical,
        decodes: decodes::<NameConstraints>,
    },
    Known {
        oid: oids::ID_CE_POLICY_CONSTRAINTS,
        name: "policyConstraints",
        section: "§4.2.1.11",
        criticality: Criticality::Critical,
        decodes: decodes::<PolicyConstraints>,
    },
    Known {
        oid: oids::ID_CE_EXT_KEY_USAGE,
        name: "extendedKeyUsage",
        section: "§4.2.1.12",
        criticality: Criticality::Any,
        decodes: decodes::<ExtendedKeyUsage>,
    },
    Known {
        oid: oids::ID_CE_CRL_DISTRIBUTION_POINTS,
        name: "cRLDistributionPoints",
        section: "§4.2.1.13",
        criticality: Criticality::Any,
        decodes: decodes::<CrlDistributionPoints>,
    },
    Known {
        oid: oids::ID_CE_INHIBIT_ANY_POLICY,
        name: "inhibitAnyPolicy",
        section: "§4.2.1.14",
        criticality: Criticality::Critical,
        decodes: decodes::<InhibitAnyPolicy>,
    },
    Known {
        oid: oids::ID_CE_FRESHEST_CRL,
        name: "freshestCRL",
        section: "§4.2.1.15",
        criticality: Criticality::NonCritical,
        decodes: decodes::<CrlDistributionPoints>,
    },
    Known {
        oid: oids::ID_PE_AUTHORITY_INFO_ACCESS,
        name: "authorityInfoAccess",
        section: "§4.2.2.1",
        criticality: Criticality::NonCritical,
        decodes: decodes::<AuthorityInfoAccessSyntax>,
    },
    Known {
        oid: oids::ID_PE_SUBJECT_INFO_ACCESS,
        name: "subjectInfoAccess",
        section: "§4.2.2.2",
        criticality: Criticality::NonCritical,
        decodes: decodes::<SubjectInfoAccessSyntax>,
    },
    Known {
        oid: ID_PKIX_OCSP_NOCHECK,
        name: "id-pkix-ocsp-nocheck",
        section: "RFC 6960 §4.2.2.2.1",
        criticality: Criticality::NonCritical,
        decodes: decodes::<der::asn1::Null>,
    },
];

/// Why a certificate's extensions are refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionError {
    /// In words, naming the extension and the RFC section.
    pub reason: String,
    /// The certificate is malformed (an extension twice, or not DER), as opposed to well
    /// formed but against a rule of RFC 5280.
    pub malformed: bool,
}

/// A rule of RFC 5280 not met.
fn refuse(reason: String) -> Result<(), ExtensionError> {
    Err(ExtensionError {
        reason,
        malformed: false,
    })
}

/// A malformed certificate.
fn malformed(reason: String) -> Result<(), ExtensionError> {
    Err(ExtensionError {
        reason,
        malformed: true,
    })
}

/// Whether `cert` asserts cA in a decodable basicConstraints.
pub fn is_ca(cert: &Certificate) -> bool {
    matches!(
        cert.tbs_certificate.get::<BasicConstraints>(),
        Ok(Some((_, BasicConstraints { ca: true, .. })))
    )
}

/// Checks every extension of `cert`: no duplicate (§4.2), each known one decodable with the
/// criticality its section requires, no critical one unknown; the consistency rules between
/// them that RFC 5280 states as MUSTs (pathLenConstraint or keyCertSign only with cA,
/// nameConstraints only in a CA certificate, a critical subjectAltName when the subject is
/// empty, a non-empty subject for a CA).
pub fn check(cert: &Certificate) -> Result<(), ExtensionError> {
    let exts = cert.tbs_certificate.extensions.as_deref().unwrap_or(&[]);
    for (i, e) in exts.iter().enumerate() {
        if exts[..i].iter().any(|o| o.extn_id == e.extn_id) {
            return malformed(format!(
                "extension {} appears more than once (RFC 5280 §4.2: a certificate MUST NOT include more than one instance of a particular extension)",
                name_of(&e.extn_id)
            ));
        }
    }
    let ca = is_ca(cert);
    for e in exts {
        let Some(k) = KNOWN.iter().find(|k| k.oid == e.extn_id) else {
            if e.critical {
                return refuse(format!(
                    "critical extension {} is not recognised (RFC 5280 §4.2: a certificate with a critical extension the relying party does not recognise MUST be rejected)",
                    e.extn_id
                ));
            }
            continue;
        };
        if !(k.decodes)(e.extn_value.as_bytes()) {
            return malformed(format!(
                "extension {} is not valid DER (RFC 5280 {})",
                k.name, k.section
            ));
        }
        let wrong = match k.criticality {
            Criticality::Any => None,
            Criticality::Critical if !e.critical => Some("critical"),
            Criticality::NonCritical if e.critical => Some("non-critical"),
            Criticality::CriticalInCa if ca && !e.critical => Some("critical in a CA certificate"),
            _ => None,
        };
        if let Some(must) = wrong {
            return refuse(format!(
                "extension {} MUST be {must} (RFC 5280 {})",
                k.name, k.section
            ));
        }
    }
    consistency(cert, ca)
}

fn consistency(cert: &Certificate, ca: bool) -> Result<(), ExtensionError> {
    let tbs = &cert.tbs_certificate;
    if let Ok(Some((_, san))) = tbs.get::<SubjectAltName>() {
        if san.0.is_empty() {
            return malformed(
                "subjectAltName is an empty sequence (RFC 5280 §4.2.1.6: GeneralNames holds at least one name)"
                    .into(),
            );
        }
    }
    if let Ok(Some((_, bc))) = tbs.get::<BasicConstraints>() {
        if !bc.ca && bc.path_len_constraint.is_some() {
            return refuse(
                "basicConstraints has a pathLenConstraint without cA (RFC 5280 §4.2.1.9: CAs MUST NOT include it unless cA is asserted)"
                    .into(),
            );
        }
    }
    if let Ok(Some((_, KeyUsage(bits)))) = tbs.get::<KeyUsage>() {
        if bits.contains(KeyUsages::KeyCertSign) && !ca {
            return refuse(
                "keyUsage asserts keyCertSign without basicConstraints cA (RFC 5280 §4.2.1.3)"
                    .into(),
            );
        }
    }
    if !ca && tbs.get::<NameConstraints>().ok().flatten().is_some() {
        return refuse(
            "nameConstraints in a certificate that is not a CA certificate (RFC 5280 §4.2.1.10: it MUST be used only in a CA certificate)"
                .into(),
        );
    }
    if tbs.subject.0.is_empty() {
        if ca {
            return refuse(
                "a CA certificate with an empty subject (RFC 5280 §4.1.2.6: the subject of a CA MUST be a non-empty distinguished name)"
                    .into(),
            );
        }
        match tbs.get::<SubjectAltName>() {
            Ok(Some((true, _))) => {}
            Ok(Some((false, _))) => {
                return refuse(
                    "the subject is empty and subjectAltName is not critical (RFC 5280 §4.2.1.6)"
                        .into(),
                )
            }
            _ => {
                return refuse(
                    "the subject is empty and there is no subjectAltName (RFC 5280 §4.1.2.6)"
                        .into(),
                )
            }
        }
    }
    Ok(())
}

/// The name of an extension, or its OID.
fn name_of(oid: &ObjectIdentifier) -> String {
    KNOWN
        .iter()
        .find(|k| k.oid == *oid)
        .map(|k| k.name.to_owned())
        .unwrap_or_else(|| oid.to_string())
}
