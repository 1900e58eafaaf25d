//! PKIX building blocks of the IGC, below every other crate of the workspace: typed
//! distinguished names ([`name`]), the object identifiers `const_oid::db` lacks ([`oid`]; use
//! the db for every other one), the infrastructure certificate profiles (root, sub-CA, OCSP
//! signer, TSA unit, RA operator, [`profiles`]), PKCS#10 requests ([`csr`]), v2 CRLs ([`crl`],
//! the one CRL encoder of the workspace), signature and issuer-linkage verification
//! ([`verify`]) and the secret-sealing trait ([`sealing`]).
//!
//! No storage, no HTTP, no async runtime and no PKCS#11 here: `hsm-config` (which implements
//! the signer and sealer traits for HSM keys), `ca` and `tsa` build on this crate.
//!
//! Everything that signs is generic over the RustCrypto signer traits (`Keypair +
//! DynSignatureAlgorithmIdentifier + Signer<Sig>`, the same bounds as x509-cert's builders), so
//! the same code signs with a software key in tests and with an HSM key through an adapter.
//!
//! Every object signed here is checked against the signer's public key with
//! [`crate::verify`] before it is returned: a signer that produces a bad signature (an HSM
//! mechanism mix-up, a wrong r‖s → DER conversion, …) is caught at once, and only algorithms
//! that our own verifier accepts can be produced.
#![forbid(unsafe_code)]

use der::asn1::{BitString, GeneralizedTime, UtcTime};
use der::{DateTime, Decode, Encode};
use sha1::{Digest, Sha1};
use signature::{Keypair, Signer};
use spki::{
    AlgorithmIdentifierOwned, DynSignatureAlgorithmIdentifier, EncodePublicKey, ObjectIdentifier,
    SignatureBitStringEncoding, SubjectPublicKeyInfoOwned,
};
use time::{OffsetDateTime, UtcOffset};
use x509_cert::certificate::Certificate;
use x509_cert::ext::pkix::SubjectKeyIdentifier;
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Time;

use crate::verify::VerifyError;

pub mod crl;
pub mod csr;
pub mod key;
pub mod name;
pub mod name_compare;
pub mod oid;
pub mod profiles;
pub mod sealing;
pub mod verify;

pub use crl::{build_crl, crl_to_pem, CrlParams, IssuingDistributionPointParams, RevokedEntry};
pub use csr::{build_csr, csr_to_pem, parse_and_verify_csr, CheckedCsr};
pub use name::{name_to_string, parse_dn, Attr, DnBuilder};
pub use profiles::{
    build_certificate, certificate_to_pem, subject_key_identifier, InfraCertParams, InfraProfile,
};

/// Errors of the crate: building or parsing names, certificates, CSRs and CRLs. Why a
/// signature or an issuer link does not verify is told by a [`VerifyError`] (carried by the
/// `SubjectKey`, `SelfCheck` and `CsrSignature` variants); a sealer reports a
/// [`sealing::SealError`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum X509Error {
    /// A distinguished name has no RDN at all.
    #[error("distinguished name is empty")]
    EmptyName,
    /// An attribute value is empty (or only whitespace).
    #[error("empty value for DN attribute {attr}")]
    EmptyValue {
        /// Short name of the attribute (C, O, CN, …).
        attr: &'static str,
    },
    /// An attribute value exceeds its RFC 5280 upper bound.
    #[error("value of DN attribute {attr} is {len} characters long, the upper bound is {max}")]
    ValueTooLong {
        /// Short name of the attribute.
        attr: &'static str,
        /// Length of the value, in characters.
        len: usize,
        /// RFC 5280 upper bound, in characters.
        max: usize,
    },
    /// An attribute value is not acceptable (control characters, surrounding spaces,
    /// characters outside PrintableString, …).
    #[error("invalid value for DN attribute {attr}: {reason}")]
    InvalidValue {
        /// Short name of the attribute.
        attr: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The country is not a two-letter upper-case ISO 3166 code.
    #[error("country must be a two-letter ISO 3166 code in upper case (e.g. FR), got {0:?}")]
    InvalidCountry(String),
    /// The same attribute type appears twice in one multi-valued RDN.
    #[error("attribute {attr} appears twice in the same RDN")]
    DuplicateAttributeInRdn {
        /// Short name of the attribute.
        attr: &'static str,
    },
    /// A DN string uses an attribute key this parser does not know.
    #[error("unknown DN attribute key {0:?} (known: C, ST, L, O, OU, CN, SN, GN, title, serialNumber, organizationIdentifier)")]
    UnknownAttribute(String),
    /// A DN string cannot be parsed.
    #[error("invalid DN string: {0}")]
    DnSyntax(String),
    /// A Name contains an attribute type this module cannot represent.
    #[error("DN attribute {0} is not supported")]
    UnsupportedAttribute(ObjectIdentifier),

    /// A URL is not an acceptable `http://` URL.
    #[error("{field} must be a plain http:// URL, got {url:?}")]
    InvalidUrl {
        /// Which parameter (crl_url, ca_issuers_url, ocsp_url, …).
        field: &'static str,
        /// The offending value.
        url: String,
    },
    /// The profile needs an input that was not given.
    #[error("profile {profile} requires {field}")]
    MissingInput {
        /// Profile name.
        profile: &'static str,
        /// Missing parameter.
        field: &'static str,
    },
    /// An input was given that the profile does not use (rejected rather than ignored).
    #[error("profile {profile} does not use {field}; remove it")]
    UnexpectedInput {
        /// Profile name.
        profile: &'static str,
        /// Superfluous parameter.
        field: &'static str,
    },
    /// Validity period (or thisUpdate/nextUpdate) is empty or reversed.
    #[error("{0}")]
    InvalidValidity(&'static str),
    /// A date cannot be encoded in X.509 (before 1970 or after 9999).
    #[error("date {0} cannot be encoded as an X.509 time (supported: 1970..=9999)")]
    TimeOutOfRange(String),
    /// The serial number is not acceptable.
    #[error("invalid serial number: {0}")]
    InvalidSerial(&'static str),
    /// A policy OID is listed twice.
    #[error("policy OID {0} is listed twice")]
    DuplicatePolicy(ObjectIdentifier),
    /// A key identifier is empty or too long.
    #[error("invalid key identifier: {0}")]
    InvalidKeyIdentifier(&'static str),
    /// The key of a self-signed certificate is not the signer's key.
    #[error("self-signed certificate: the subject public key is not the signer's public key")]
    SelfSignedKeyMismatch,
    /// The signer's key does not match the issuer key identifier given.
    #[error("the signer's public key does not match the issuer key identifier (SKI {expected}, signer key {actual})")]
    IssuerKeyMismatch {
        /// Issuer SKI that was given, hex.
        expected: String,
        /// SHA-1 key identifier of the signer's key, hex.
        actual: String,
    },
    /// The subject public key is not acceptable (algorithm, curve, RSA size).
    #[error("subject public key rejected: {0}")]
    SubjectKey(#[source] VerifyError),
    /// The signature just produced does not verify with the signer's public key, or the
    /// signer uses an algorithm our verifier does not support.
    #[error("signature self-check failed: {0}")]
    SelfCheck(#[source] VerifyError),
    /// A CRL parameter is not acceptable.
    #[error("invalid CRL: {0}")]
    InvalidCrl(String),
    /// A revoked entry given as text ([`crl::CrlEncoder::push_stored`]) cannot be read: the
    /// reason names the value (a store maps it to an unreadable row).
    #[error("invalid CRL entry: {0}")]
    InvalidCrlEntry(String),
    /// The request is larger than we accept.
    #[error("certificate request is too large ({0} bytes)")]
    CsrTooLarge(usize),
    /// The input is not a PEM or DER PKCS#10 request.
    #[error("malformed certificate request: {0}")]
    MalformedCsr(String),
    /// The PKCS#10 self-signature (proof of possession) does not verify.
    #[error("certificate request signature (proof of possession) is invalid: {0}")]
    CsrSignature(#[source] VerifyError),
    /// ASN.1 DER encoding or decoding error.
    #[error("DER error: {0}")]
    Der(#[from] der::Error),
    /// Public key encoding error.
    #[error("public key error: {0}")]
    PublicKey(#[from] spki::Error),
    /// The signer failed.
    #[error("signing failed: {0}")]
    Signing(#[from] signature::Error),
    /// PEM encoding or decoding error.
    #[error("PEM error: {0}")]
    Pem(String),
}

/// The issuing CA as seen by the objects it signs: its subject name and its subject key
/// identifier (which becomes the authority key identifier).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerInfo {
    /// Issuer distinguished name (the issuer certificate's subject, byte for byte).
    pub name: Name,
    /// Issuer subject key identifier.
    pub ski: Vec<u8>,
}

impl IssuerInfo {
    /// Takes the subject and SKI of an issuer certificate (the SKI is computed with
    /// RFC 5280 method 1 when the certificate has no SKI extension).
    pub fn from_certificate(cert: &Certificate) -> Result<Self, X509Error> {
        let tbs = &cert.tbs_certificate;
        let ski = match tbs.get::<SubjectKeyIdentifier>()? {
            Some((_, ski)) => ski.0.as_bytes().to_vec(),
            None => subject_key_identifier(&tbs.subject_public_key_info),
        };
        Ok(Self {
            name: tbs.subject.clone(),
            ski,
        })
    }

    pub(crate) fn validate(&self) -> Result<(), X509Error> {
        if self.name.is_empty() {
            return Err(X509Error::EmptyName);
        }
        if self.ski.is_empty() {
            return Err(X509Error::InvalidKeyIdentifier("issuer SKI is empty"));
        }
        if self.ski.len() > 64 {
            return Err(X509Error::InvalidKeyIdentifier(
                "issuer SKI is longer than 64 octets",
            ));
        }
        Ok(())
    }
}

/// Converts a date to an X.509 `Time` as RFC 5280 §4.1.2.5 requires: UTCTime through 2049,
/// GeneralizedTime from 2050 on. Sub-second precision is dropped (truncated).
pub fn x509_time(t: OffsetDateTime) -> Result<Time, X509Error> {
    let t = t.to_offset(UtcOffset::UTC);
    let out_of_range = || X509Error::TimeOutOfRange(t.to_string());
    let year = u16::try_from(t.year()).map_err(|_| out_of_range())?;
    let dt = DateTime::new(
        year,
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
    )
    .map_err(|_| out_of_range())?;
    if year <= UtcTime::MAX_YEAR {
        Ok(Time::UtcTime(
            UtcTime::from_date_time(dt).map_err(|_| out_of_range())?,
        ))
    } else {
        Ok(Time::GeneralTime(GeneralizedTime::from_date_time(dt)))
    }
}

/// A fresh certificate serial number: 16 random octets from the OS RNG, top bit cleared
/// (positive, so it encodes in exactly 16 octets) and a non-zero first octet: ≥ 120 bits of
/// entropy, well within the 20-octet limit.
pub fn random_serial() -> Result<SerialNumber, X509Error> {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes[0] &= 0x7f;
    if bytes[0] == 0 {
        bytes[0] = 0x01;
    }
    Ok(SerialNumber::new(&bytes)?)
}

/// Minimum length of a caller-supplied serial number (64 bits).
pub const MIN_SERIAL_OCTETS: usize = 8;

/// Checks a caller-supplied serial number: positive, non-zero, at most 20 octets and at least
/// [`MIN_SERIAL_OCTETS`] octets (a necessary condition for 64 bits of entropy).
pub fn check_serial(serial: &SerialNumber) -> Result<(), X509Error> {
    let bytes = serial.as_bytes();
    match bytes.first() {
        None => return Err(X509Error::InvalidSerial("empty")),
        Some(b) if b & 0x80 != 0 => return Err(X509Error::InvalidSerial("negative")),
        Some(_) => {}
    }
    if bytes.iter().all(|b| *b == 0) {
        return Err(X509Error::InvalidSerial("zero"));
    }
    if bytes.len() > 20 {
        return Err(X509Error::InvalidSerial("longer than 20 octets"));
    }
    // Leading 0x00 only carries the sign; it does not count as entropy.
    let significant = bytes.iter().skip_while(|b| **b == 0).count();
    if significant < MIN_SERIAL_OCTETS {
        return Err(X509Error::InvalidSerial(
            "shorter than 8 octets (64 bits of entropy required)",
        ));
    }
    Ok(())
}

/// Checks a URL published in CDP / AIA / IDP: plain `http://` (RFC 5280 §4.2.1.13 and
/// §4.2.2.1: CRLs and CA certificates are fetched over HTTP, HTTPS would make revocation
/// checking depend on itself), a host without user info, printable ASCII only, no fragment.
pub fn check_http_url(field: &'static str, url: &str) -> Result<(), X509Error> {
    let bad = || X509Error::InvalidUrl {
        field,
        url: url.to_owned(),
    };
    let rest = url.strip_prefix("http://").ok_or_else(bad)?;
    if !url.bytes().all(|b| b.is_ascii_graphic()) || url.contains('#') {
        return Err(bad());
    }
    // Authority = up to the first '/' or '?'; no user info, a non-empty host.
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    if authority.is_empty() || authority.starts_with(':') || authority.contains('@') {
        return Err(bad());
    }
    Ok(())
}

/// Builds an [`Extension`] from a DER-encodable value with explicit criticality.
pub fn extension<T: Encode>(
    oid: ObjectIdentifier,
    critical: bool,
    value: &T,
) -> Result<Extension, X509Error> {
    Ok(Extension {
        extn_id: oid,
        critical,
        extn_value: der::asn1::OctetString::new(value.to_der()?)?,
    })
}

/// What the builders of this crate sign with: a RustCrypto signer that announces its signature
/// algorithm and whose public key encodes as a SubjectPublicKeyInfo. Every such type is one
/// (blanket implementation); the trait only names the bounds they share.
pub trait X509Signer<Sig>:
    Keypair<VerifyingKey: EncodePublicKey> + DynSignatureAlgorithmIdentifier + Signer<Sig>
{
}

impl<S, Sig> X509Signer<Sig> for S
where
    S: Keypair + DynSignatureAlgorithmIdentifier + Signer<Sig>,
    S::VerifyingKey: EncodePublicKey,
{
}

/// The signer's public key as a SubjectPublicKeyInfo.
pub(crate) fn signer_spki<S>(signer: &S) -> Result<SubjectPublicKeyInfoOwned, X509Error>
where
    S: Keypair,
    S::VerifyingKey: EncodePublicKey,
{
    let der = signer.verifying_key().to_public_key_der()?;
    Ok(SubjectPublicKeyInfoOwned::from_der(der.as_bytes())?)
}

/// Signs `tbs_der` (already containing `alg`), then verifies the signature with the signer's
/// public key before handing it out.
pub(crate) fn sign_and_check<S, Sig>(
    signer: &S,
    signer_spki: &SubjectPublicKeyInfoOwned,
    alg: &AlgorithmIdentifierOwned,
    tbs_der: &[u8],
) -> Result<BitString, X509Error>
where
    S: Signer<Sig>,
    Sig: SignatureBitStringEncoding,
{
    let signature = signer.try_sign(tbs_der)?.to_bitstring()?;
    let raw = signature
        .as_bytes()
        .ok_or(X509Error::SelfCheck(VerifyError::MalformedSignature(
            "signature BIT STRING has unused bits".into(),
        )))?;
    verify::verify_signature(signer_spki, alg, tbs_der, raw).map_err(X509Error::SelfCheck)?;
    Ok(signature)
}

/// The signature algorithm the signer announces, rejected before anything is built if our
/// verifier does not support it for the signer's key. Returns the algorithm and the signer's
/// public key.
pub fn signer_algorithm<S>(
    signer: &S,
) -> Result<(AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned), X509Error>
where
    S: Keypair + DynSignatureAlgorithmIdentifier,
    S::VerifyingKey: EncodePublicKey,
{
    let alg = signer.signature_algorithm_identifier()?;
    let spki = signer_spki(signer)?;
    verify::check_signature_algorithm(&spki, &alg).map_err(X509Error::SelfCheck)?;
    Ok((alg, spki))
}

/// RFC 5280 method 1 key identifier of the signer's key, hex (for error messages).
pub(crate) fn key_id_hex(spki: &SubjectPublicKeyInfoOwned) -> String {
    hex::encode(Sha1::digest(spki.subject_public_key.raw_bytes()))
}
