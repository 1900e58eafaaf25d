//! End-entity certificate profiles (DESIGN.md §3): the extensions each profile carries.
//!
//! | profile | keyUsage (critical) | extKeyUsage | other |
//! |---|---|---|---|
//! | AUTH | digitalSignature | clientAuth | |
//! | SIGN | nonRepudiation only | — | |
//! | CONF | keyEncipherment (RSA) / keyAgreement (EC) | emailProtection | |
//! | server | digitalSignature (+ keyEncipherment RSA) | serverAuth, clientAuth | SAN dNSName |
//! | RA operator | digitalSignature | clientAuth | |
//!
//! All of them: SKI (method 1), AKI (issuer SKI), CDP (the partition CRL's URL), AIA
//! (caIssuers + OCSP), certificatePolicies (the profile's OID), no basicConstraints.

use const_oid::db::rfc5280;
use der::asn1::{Ia5String, OctetString};
use pkix::verify::PublicKeyKind;
use pkix::{extension, subject_key_identifier};
use spki::{AlgorithmIdentifierOwned, ObjectIdentifier, SubjectPublicKeyInfoOwned};
use x509_cert::certificate::{TbsCertificate, Version};
use x509_cert::ext::pkix::certpolicy::PolicyInformation;
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AccessDescription, AuthorityInfoAccessSyntax, AuthorityKeyIdentifier, CertificatePolicies,
    CrlDistributionPoints, ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectAltName,
};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Validity;

use crate::domain::Profile;
use crate::error::Result;

/// Whether a key is RSA (keyEncipherment) or EC (keyAgreement) for the usages that depend on
/// the key type.
pub(crate) fn is_rsa(kind: PublicKeyKind) -> bool {
    matches!(kind, PublicKeyKind::Rsa { .. })
}

/// keyUsage of a profile for a key kind.
pub(crate) fn key_usage(profile: Profile, kind: PublicKeyKind) -> KeyUsage {
    KeyUsage(match profile {
        Profile::Auth | Profile::RaOperator | Profile::OcspSigner => {
            KeyUsages::DigitalSignature.into()
        }
        Profile::Sign => KeyUsages::NonRepudiation.into(),
        Profile::Conf if is_rsa(kind) => KeyUsages::KeyEncipherment.into(),
        Profile::Conf => KeyUsages::KeyAgreement.into(),
        Profile::Server if is_rsa(kind) => KeyUsages::DigitalSignature | KeyUsages::KeyEncipherment,
        Profile::Server => KeyUsages::DigitalSignature.into(),
        Profile::TsaUnit => KeyUsages::DigitalSignature | KeyUsages::NonRepudiation,
        Profile::SubCa => KeyUsages::KeyCertSign | KeyUsages::CRLSign,
    })
}

/// extKeyUsage of a profile (`None`: no extension).
pub(crate) fn ext_key_usage(profile: Profile) -> Option<Vec<ObjectIdentifier>> {
    match profile {
        Profile::Auth | Profile::RaOperator => Some(vec![rfc5280::ID_KP_CLIENT_AUTH]),
        Profile::Sign => None,
        Profile::Conf => Some(vec![rfc5280::ID_KP_EMAIL_PROTECTION]),
        Profile::Server => Some(vec![rfc5280::ID_KP_SERVER_AUTH, rfc5280::ID_KP_CLIENT_AUTH]),
        Profile::OcspSigner => Some(vec![rfc5280::ID_KP_OCSP_SIGNING]),
        Profile::TsaUnit => Some(vec![rfc5280::ID_KP_TIME_STAMPING]),
        // A CA certificate has no extKeyUsage (DESIGN.md §3).
        Profile::SubCa => None,
    }
}

/// Everything that goes into an end-entity TBSCertificate.
#[derive(Debug, Clone)]
pub(crate) struct TbsInputs<'a> {
    pub profile: Profile,
    pub key_kind: PublicKeyKind,
    pub serial: SerialNumber,
    pub algorithm: &'a AlgorithmIdentifierOwned,
    pub issuer: &'a Name,
    pub issuer_ski: &'a [u8],
    pub validity: Validity,
    pub subject: Name,
    pub spki: SubjectPublicKeyInfoOwned,
    pub policy_oid: ObjectIdentifier,
    pub crl_url: &'a str,
    pub ca_issuers_url: &'a str,
    pub ocsp_url: &'a str,
    pub dns_names: &'a [String],
}

fn uri(url: &str) -> Result<GeneralName> {
    Ok(GeneralName::UniformResourceIdentifier(
        Ia5String::new(url).map_err(pkix::X509Error::from)?,
    ))
}

/// Builds the TBSCertificate of an end-entity profile.
pub(crate) fn build_tbs(i: &TbsInputs<'_>) -> Result<TbsCertificate> {
    let der_err = pkix::X509Error::from;
    let mut exts: Vec<Extension> = Vec::with_capacity(9);
    exts.push(extension(
        rfc5280::ID_CE_KEY_USAGE,
        true,
        &key_usage(i.profile, i.key_kind),
    )?);
    if let Some(eku) = ext_key_usage(i.profile) {
        exts.push(extension(
            rfc5280::ID_CE_EXT_KEY_USAGE,
            false,
            &ExtendedKeyUsage(eku),
        )?);
    }
    if !i.dns_names.is_empty() {
        let names = i
            .dns_names
            .iter()
            .map(|n| Ia5String::new(n).map(GeneralName::DnsName))
            .collect::<der::Result<Vec<_>>>()
            .map_err(der_err)?;
        exts.push(extension(
            rfc5280::ID_CE_SUBJECT_ALT_NAME,
            false,
            &SubjectAltName(names),
        )?);
    }
    let ski = subject_key_identifier(&i.spki);
    exts.push(extension(
        rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER,
        false,
        &OctetString::new(ski).map_err(der_err)?,
    )?);
    exts.push(extension(
        rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER,
        false,
        &AuthorityKeyIdentifier {
            key_identifier: Some(OctetString::new(i.issuer_ski).map_err(der_err)?),
            authority_cert_issuer: None,
            authority_cert_serial_number: None,
        },
    )?);
    exts.push(extension(
        rfc5280::ID_CE_CRL_DISTRIBUTION_POINTS,
        false,
        &CrlDistributionPoints(vec![DistributionPoint {
            distribution_point: Some(DistributionPointName::FullName(vec![uri(i.crl_url)?])),
            reasons: None,
            crl_issuer: None,
        }]),
    )?);
    exts.push(extension(
        rfc5280::ID_PE_AUTHORITY_INFO_ACCESS,
        false,
        &AuthorityInfoAccessSyntax(vec![
            AccessDescription {
                access_method: rfc5280::ID_AD_CA_ISSUERS,
                access_location: uri(i.ca_issuers_url)?,
            },
            AccessDescription {
                access_method: rfc5280::ID_AD_OCSP,
                access_location: uri(i.ocsp_url)?,
            },
        ]),
    )?);
    exts.push(extension(
        rfc5280::ID_CE_CERTIFICATE_POLICIES,
        false,
        &CertificatePolicies(vec![PolicyInformation {
            policy_identifier: i.policy_oid,
            policy_qualifiers: None,
        }]),
    )?);
    Ok(TbsCertificate {
        version: Version::V3,
        serial_number: i.serial.clone(),
        signature: i.algorithm.clone(),
        issuer: i.issuer.clone(),
        validity: i.validity,
        subject: i.subject.clone(),
        subject_public_key_info: i.spki.clone(),
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(exts),
    })
}
