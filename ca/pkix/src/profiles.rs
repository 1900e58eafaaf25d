//! Infrastructure certificate profiles (DESIGN.md §3): root, sub-CA, OCSP signer, TSA unit,
//! RA operator.
//!
//! Every extension and its criticality is set here explicitly. The TBSCertificate is assembled
//! directly (x509-cert 0.2's `CertificateBuilder` would need its `hazmat` feature for
//! `Profile::Manual`, the only profile that does not add extensions of its own); the signer
//! bounds are the ones of `CertificateBuilder::build`.

use const_oid::db::rfc5280::{
    ID_AD_CA_ISSUERS, ID_AD_OCSP, ID_CE_AUTHORITY_KEY_IDENTIFIER, ID_CE_BASIC_CONSTRAINTS,
    ID_CE_CERTIFICATE_POLICIES, ID_CE_CRL_DISTRIBUTION_POINTS, ID_CE_EXT_KEY_USAGE,
    ID_CE_KEY_USAGE, ID_CE_SUBJECT_KEY_IDENTIFIER, ID_KP_CLIENT_AUTH, ID_KP_OCSP_SIGNING,
    ID_KP_TIME_STAMPING, ID_PE_AUTHORITY_INFO_ACCESS,
};
use const_oid::db::rfc6960::ID_PKIX_OCSP_NOCHECK;
use der::asn1::{Ia5String, Null, OctetString};
use der::Encode;
use sha1::{Digest, Sha1};

use spki::{ObjectIdentifier, SignatureBitStringEncoding, SubjectPublicKeyInfoOwned};
use time::OffsetDateTime;
use x509_cert::certificate::{Certificate, TbsCertificate, Version};
use x509_cert::ext::pkix::certpolicy::PolicyInformation;
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AccessDescription, AuthorityInfoAccessSyntax, AuthorityKeyIdentifier, BasicConstraints,
    CertificatePolicies, CrlDistributionPoints, ExtendedKeyUsage, KeyUsage, KeyUsages,
};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Validity;

use super::{
    check_http_url, check_serial, extension, key_id_hex, random_serial, sign_and_check,
    signer_algorithm, x509_time, IssuerInfo, X509Error, X509Signer,
};
use crate::verify;

/// The infrastructure certificate profiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InfraProfile {
    /// Self-signed root: BC critical CA pathLen 1; KU critical keyCertSign|cRLSign; SKI;
    /// AKI = own SKI.
    Root,
    /// Sub-CA: BC critical CA pathLen 0; KU critical keyCertSign|cRLSign; SKI; AKI; CDP (root
    /// ARL); AIA caIssuers (root certificate); certificatePolicies.
    SubCa,
    /// Delegated OCSP responder: KU critical digitalSignature; EKU OCSPSigning;
    /// id-pkix-ocsp-nocheck; SKI; AKI; AIA caIssuers; certificatePolicies; no CDP.
    OcspSigner,
    /// TSA unit: KU critical digitalSignature|nonRepudiation; EKU **critical** timeStamping
    /// only; SKI; AKI; CDP; AIA caIssuers + OCSP; certificatePolicies.
    TsaUnit,
    /// RA operator (clerk): KU critical digitalSignature; EKU clientAuth; SKI; AKI; CDP;
    /// AIA caIssuers + OCSP; certificatePolicies.
    RaOperator,
}

impl InfraProfile {
    /// Profile name for messages.
    pub const fn name(self) -> &'static str {
        match self {
            InfraProfile::Root => "root",
            InfraProfile::SubCa => "sub-CA",
            InfraProfile::OcspSigner => "OCSP signer",
            InfraProfile::TsaUnit => "TSA unit",
            InfraProfile::RaOperator => "RA operator",
        }
    }

    fn is_self_signed(self) -> bool {
        self == InfraProfile::Root
    }

    /// (crl_url, ca_issuers_url, ocsp_url, policies) — `true` = required, `false` = must be
    /// absent.
    fn inputs(self) -> (bool, bool, bool, bool) {
        match self {
            InfraProfile::Root => (false, false, false, false),
            InfraProfile::SubCa => (true, true, false, true),
            InfraProfile::OcspSigner => (false, true, false, true),
            InfraProfile::TsaUnit | InfraProfile::RaOperator => (true, true, true, true),
        }
    }
}

/// Inputs of [`build_certificate`].
#[derive(Debug, Clone)]
pub struct InfraCertParams {
    /// Which profile.
    pub profile: InfraProfile,
    /// Subject DN (see [`crate::name::DnBuilder`]).
    pub subject: Name,
    /// Subject public key (EC P-256/P-384 or RSA ≥ 2048).
    pub subject_spki: SubjectPublicKeyInfoOwned,
    /// Issuer; `None` for the self-signed root, required otherwise.
    pub issuer: Option<IssuerInfo>,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity (after `not_before`).
    pub not_after: OffsetDateTime,
    /// Serial number; `None` draws a random one (recommended).
    pub serial: Option<SerialNumber>,
    /// certificatePolicies (required and non-empty for all profiles but the root, absent for
    /// the root).
    pub policy_oids: Vec<ObjectIdentifier>,
    /// CRL distribution point (HTTP): required for sub-CA, TSA unit, RA operator.
    pub crl_url: Option<String>,
    /// AIA caIssuers (HTTP URL of the issuer certificate): required for all but the root.
    pub ca_issuers_url: Option<String>,
    /// AIA OCSP (HTTP): required for TSA unit and RA operator.
    pub ocsp_url: Option<String>,
}

/// RFC 5280 method 1 key identifier: SHA-1 of the subjectPublicKey BIT STRING value
/// (without tag, length and unused-bits octet).
pub fn subject_key_identifier(spki: &SubjectPublicKeyInfoOwned) -> Vec<u8> {
    Sha1::digest(spki.subject_public_key.raw_bytes()).to_vec()
}

impl InfraCertParams {
    /// Checks the parameters against the profile without signing anything.
    pub fn validate(&self) -> Result<(), X509Error> {
        let p = self.profile;
        let pname = p.name();
        if self.subject.is_empty() {
            return Err(X509Error::EmptyName);
        }
        verify::check_public_key(&self.subject_spki).map_err(X509Error::SubjectKey)?;

        let issuer_field = if p.is_self_signed() {
            "issuer (the root is self-signed)"
        } else {
            "issuer"
        };
        check_presence(
            pname,
            issuer_field,
            !p.is_self_signed(),
            self.issuer.is_some(),
        )?;
        if let Some(issuer) = &self.issuer {
            issuer.validate()?;
        }

        if self.not_after <= self.not_before {
            return Err(X509Error::InvalidValidity(
                "not_after must be later than not_before",
            ));
        }
        let validity = self.validity()?;
        if validity.not_after.to_unix_duration() <= validity.not_before.to_unix_duration() {
            return Err(X509Error::InvalidValidity(
                "not_after must be at least one second after not_before",
            ));
        }
        if let Some(serial) = &self.serial {
            check_serial(serial)?;
        }

        let (crl, ca_issuers, ocsp, policies) = p.inputs();
        check_url_input(pname, "crl_url", crl, self.crl_url.as_deref())?;
        check_url_input(
            pname,
            "ca_issuers_url",
            ca_issuers,
            self.ca_issuers_url.as_deref(),
        )?;
        check_url_input(pname, "ocsp_url", ocsp, self.ocsp_url.as_deref())?;
        check_presence(pname, "policy_oids", policies, !self.policy_oids.is_empty())?;
        for (i, oid) in self.policy_oids.iter().enumerate() {
            if self.policy_oids[..i].contains(oid) {
                return Err(X509Error::DuplicatePolicy(*oid));
            }
        }
        Ok(())
    }

    fn validity(&self) -> Result<Validity, X509Error> {
        Ok(Validity {
            not_before: x509_time(self.not_before)?,
            not_after: x509_time(self.not_after)?,
        })
    }

    fn extensions(&self, ski: &[u8]) -> Result<Vec<Extension>, X509Error> {
        let mut exts = Vec::new();
        let aki_id = match &self.issuer {
            Some(issuer) => issuer.ski.as_slice(),
            None => ski,
        };

        match self.profile {
            InfraProfile::Root | InfraProfile::SubCa => {
                let path_len = if self.profile == InfraProfile::Root {
                    1
                } else {
                    0
                };
                exts.push(extension(
                    ID_CE_BASIC_CONSTRAINTS,
                    true,
                    &BasicConstraints {
                        ca: true,
                        path_len_constraint: Some(path_len),
                    },
                )?);
                exts.push(extension(
                    ID_CE_KEY_USAGE,
                    true,
                    &KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign),
                )?);
            }
            // RFC 3161 §2.3 / ETSI EN 319 422: critical, timeStamping as the sole purpose.
            InfraProfile::TsaUnit => push_usages(
                &mut exts,
                KeyUsage(KeyUsages::DigitalSignature | KeyUsages::NonRepudiation),
                true,
                ID_KP_TIME_STAMPING,
            )?,
            // digitalSignature, and a non-critical extKeyUsage naming the one purpose.
            InfraProfile::OcspSigner | InfraProfile::RaOperator => {
                let purpose = if self.profile == InfraProfile::OcspSigner {
                    ID_KP_OCSP_SIGNING
                } else {
                    ID_KP_CLIENT_AUTH
                };
                push_usages(
                    &mut exts,
                    KeyUsage(KeyUsages::DigitalSignature.into()),
                    false,
                    purpose,
                )?;
            }
        }

        exts.push(extension(
            ID_CE_SUBJECT_KEY_IDENTIFIER,
            false,
            &OctetString::new(ski)?,
        )?);
        exts.push(extension(
            ID_CE_AUTHORITY_KEY_IDENTIFIER,
            false,
            &AuthorityKeyIdentifier {
                key_identifier: Some(OctetString::new(aki_id)?),
                authority_cert_issuer: None,
                authority_cert_serial_number: None,
            },
        )?);

        if let Some(url) = &self.crl_url {
            exts.push(extension(
                ID_CE_CRL_DISTRIBUTION_POINTS,
                false,
                &CrlDistributionPoints(vec![DistributionPoint {
                    distribution_point: Some(DistributionPointName::FullName(vec![uri(url)?])),
                    reasons: None,
                    crl_issuer: None,
                }]),
            )?);
        }

        let mut aia = Vec::new();
        if let Some(url) = &self.ca_issuers_url {
            aia.push(AccessDescription {
                access_method: ID_AD_CA_ISSUERS,
                access_location: uri(url)?,
            });
        }
        if let Some(url) = &self.ocsp_url {
            aia.push(AccessDescription {
                access_method: ID_AD_OCSP,
                access_location: uri(url)?,
            });
        }
        if !aia.is_empty() {
            exts.push(extension(
                ID_PE_AUTHORITY_INFO_ACCESS,
                false,
                &AuthorityInfoAccessSyntax(aia),
            )?);
        }

        if !self.policy_oids.is_empty() {
            exts.push(extension(
                ID_CE_CERTIFICATE_POLICIES,
                false,
                &CertificatePolicies(
                    self.policy_oids
                        .iter()
                        .map(|oid| PolicyInformation {
                            policy_identifier: *oid,
                            policy_qualifiers: None,
                        })
                        .collect(),
                ),
            )?);
        }

        if self.profile == InfraProfile::OcspSigner {
            // RFC 6960 §4.2.2.2.1: extension value NULL.
            exts.push(extension(ID_PKIX_OCSP_NOCHECK, false, &Null)?);
        }
        Ok(exts)
    }
}

/// The usages of an end-entity profile: keyUsage (critical) and an extendedKeyUsage with one
/// purpose.
fn push_usages(
    exts: &mut Vec<Extension>,
    key_usage: KeyUsage,
    eku_critical: bool,
    purpose: ObjectIdentifier,
) -> Result<(), X509Error> {
    exts.push(extension(ID_CE_KEY_USAGE, true, &key_usage)?);
    exts.push(extension(
        ID_CE_EXT_KEY_USAGE,
        eku_critical,
        &ExtendedKeyUsage(vec![purpose]),
    )?);
    Ok(())
}

/// Refuses an input the profile needs but was not given, or was given but has no use for.
fn check_presence(
    profile: &'static str,
    field: &'static str,
    required: bool,
    given: bool,
) -> Result<(), X509Error> {
    match (required, given) {
        (true, false) => Err(X509Error::MissingInput { profile, field }),
        (false, true) => Err(X509Error::UnexpectedInput { profile, field }),
        _ => Ok(()),
    }
}

fn check_url_input(
    profile: &'static str,
    field: &'static str,
    required: bool,
    value: Option<&str>,
) -> Result<(), X509Error> {
    check_presence(profile, field, required, value.is_some())?;
    match value {
        Some(url) => check_http_url(field, url),
        None => Ok(()),
    }
}

pub(crate) fn uri(url: &str) -> Result<GeneralName, X509Error> {
    Ok(GeneralName::UniformResourceIdentifier(Ia5String::new(url)?))
}

/// Builds and signs an infrastructure certificate.
///
/// The parameters are validated first ([`InfraCertParams::validate`]); the signer's key must
/// be the subject key for the root and must match the issuer SKI otherwise (both computed with
/// RFC 5280 method 1); the signature is verified with the signer's public key before the
/// certificate is returned.
pub fn build_certificate<S, Sig>(
    params: &InfraCertParams,
    signer: &S,
) -> Result<Certificate, X509Error>
where
    S: X509Signer<Sig>,
    Sig: SignatureBitStringEncoding,
{
    params.validate()?;
    let (alg, signer_spki) = signer_algorithm(signer)?;

    let issuer_name = match &params.issuer {
        None => {
            if signer_spki != params.subject_spki {
                return Err(X509Error::SelfSignedKeyMismatch);
            }
            params.subject.clone()
        }
        Some(issuer) => {
            if subject_key_identifier(&signer_spki) != issuer.ski {
                return Err(X509Error::IssuerKeyMismatch {
                    expected: hex::encode(&issuer.ski),
                    actual: key_id_hex(&signer_spki),
                });
            }
            issuer.name.clone()
        }
    };

    let serial = match &params.serial {
        Some(serial) => serial.clone(),
        None => random_serial()?,
    };
    let ski = subject_key_identifier(&params.subject_spki);

    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: serial,
        signature: alg.clone(),
        issuer: issuer_name,
        validity: params.validity()?,
        subject: params.subject.clone(),
        subject_public_key_info: params.subject_spki.clone(),
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(params.extensions(&ski)?),
    };
    let tbs_der = tbs.to_der()?;
    let signature = sign_and_check(signer, &signer_spki, &alg, &tbs_der)?;
    Ok(Certificate {
        tbs_certificate: tbs,
        signature_algorithm: alg,
        signature,
    })
}

/// PEM encoding of a certificate (`CERTIFICATE`).
pub fn certificate_to_pem(cert: &Certificate) -> Result<String, X509Error> {
    Ok(pem::encode(&pem::Pem::new("CERTIFICATE", cert.to_der()?)))
}
