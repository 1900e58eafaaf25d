//! Decoding of a CMS SignedData (RFC 5652) carrying a CAdES signature (ETSI EN 319 122-1),
//! and the checks of one SignerInfo: content-type, message-digest, signing-certificate-v2,
//! the signature value. Used for the signature and for its time-stamp token.
//!
//! [`parse_cms`] is the fuzzed entry point: any input gives `Ok` or `Err`, never a panic.

use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use const_oid::db::{rfc5911, rfc5912};
use const_oid::ObjectIdentifier;
use der::asn1::{Any, OctetString, SetOfVec};
use der::{Decode, Encode, Tag, Tagged};
use sha2::{Digest, Sha256, Sha384, Sha512};
use spki::AlgorithmIdentifierOwned;
use time::OffsetDateTime;
use x509_cert::ext::pkix::SubjectKeyIdentifier;
use x509_cert::Certificate;

use tsa::asn1::SigningCertificateV2;

/// A decoded SignedData with its SignerInfos.
#[derive(Debug, Clone)]
pub struct ParsedCms {
    /// The SignedData.
    pub signed_data: SignedData,
    /// The first SignerInfo (the only one for [`parse_cms`] and time-stamp tokens).
    pub signer: SignerInfo,
    /// Every SignerInfo, in the order of the encoding (at least one).
    pub signers: Vec<SignerInfo>,
    /// The X.509 certificates carried in `certificates`.
    pub certificates: Vec<Certificate>,
    /// eContentType.
    pub econtent_type: ObjectIdentifier,
    /// The encapsulated content, when attached.
    pub attached: Option<Vec<u8>>,
}

/// Decodes a DER (or PEM `CMS` / `PKCS7`) ContentInfo of type signedData with exactly one
/// SignerInfo.
pub fn parse_cms(input: &[u8]) -> Result<ParsedCms, String> {
    one_signer(parse_cms_all(input)?)
}

/// Decodes a DER (or PEM) ContentInfo of type signedData with one or more SignerInfos (a
/// document co-signed by several professionals).
pub fn parse_cms_all(input: &[u8]) -> Result<ParsedCms, String> {
    let der = cms_der(input)?;
    let ci = ContentInfo::from_der(&der).map_err(|e| format!("not a DER CMS ContentInfo: {e}"))?;
    if ci.content_type != rfc5911::ID_SIGNED_DATA {
        return Err(format!(
            "content type {} is not id-signedData",
            ci.content_type
        ));
    }
    parse_signed_data_all(&ci.content)
}

fn one_signer(parsed: ParsedCms) -> Result<ParsedCms, String> {
    match parsed.signers.len() {
        1 => Ok(parsed),
        n => Err(format!(
            "the SignedData has {n} SignerInfos; one is expected"
        )),
    }
}

/// The DER of a CMS given as DER or as a PEM `CMS` / `PKCS7` block.
pub fn cms_der(input: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, String> {
    if input.starts_with(b"-----BEGIN") {
        let block = pem::parse(input).map_err(|e| format!("PEM: {e}"))?;
        if block.tag() != "CMS" && block.tag() != "PKCS7" {
            return Err(format!(
                "PEM block {:?}, expected CMS or PKCS7",
                block.tag()
            ));
        }
        Ok(std::borrow::Cow::Owned(block.into_contents()))
    } else {
        Ok(std::borrow::Cow::Borrowed(input))
    }
}

/// Decodes the `content` of a ContentInfo as SignedData with exactly one SignerInfo (a
/// time-stamp token, a signature to extend).
pub fn parse_signed_data(content: &Any) -> Result<ParsedCms, String> {
    one_signer(parse_signed_data_all(content)?)
}

/// Decodes the `content` of a ContentInfo as SignedData with at least one SignerInfo.
pub fn parse_signed_data_all(content: &Any) -> Result<ParsedCms, String> {
    let sd: SignedData = content
        .decode_as()
        .map_err(|e| format!("SignedData: {e}"))?;
    let signers: Vec<SignerInfo> = sd.signer_infos.0.iter().cloned().collect();
    let Some(signer) = signers.first().cloned() else {
        return Err("the SignedData has no SignerInfo".into());
    };
    let certificates = sd
        .certificates
        .iter()
        .flat_map(|set| set.0.iter())
        .filter_map(|c| match c {
            CertificateChoices::Certificate(c) => Some(c.clone()),
            CertificateChoices::Other(_) => None,
        })
        .collect();
    let econtent_type = sd.encap_content_info.econtent_type;
    let attached = match &sd.encap_content_info.econtent {
        None => None,
        Some(any) => {
            if any.tag() != Tag::OctetString {
                return Err(format!("eContent is a {}, not an OCTET STRING", any.tag()));
            }
            Some(any.value().to_vec())
        }
    };
    Ok(ParsedCms {
        signed_data: sd,
        signer,
        signers,
        certificates,
        econtent_type,
        attached,
    })
}

/// The only value of the only attribute `oid` in `attrs`; `Ok(None)` when absent.
pub fn single_attribute(
    attrs: Option<&SetOfVec<x509_cert::attr::Attribute>>,
    oid: ObjectIdentifier,
) -> Result<Option<&Any>, String> {
    let Some(attrs) = attrs else {
        return Ok(None);
    };
    let found: Vec<_> = attrs.iter().filter(|a| a.oid == oid).collect();
    match found.as_slice() {
        [] => Ok(None),
        [a] => {
            let values: Vec<&Any> = a.values.iter().collect();
            match values.as_slice() {
                [v] => Ok(Some(*v)),
                _ => Err(format!(
                    "attribute {oid} has {} values; one is required",
                    values.len()
                )),
            }
        }
        _ => Err(format!("attribute {oid} appears {} times", found.len())),
    }
}

/// Hash algorithms accepted for message digests, signing-certificate-v2 and imprints.
pub fn digest(alg: &ObjectIdentifier, data: &[u8]) -> Result<Vec<u8>, String> {
    digest_parts(alg, &[data])
}

/// [`digest`] of the concatenation of `parts`, without making it (a PDF's ByteRange).
pub fn digest_parts(alg: &ObjectIdentifier, parts: &[&[u8]]) -> Result<Vec<u8>, String> {
    fn run<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
        let mut h = D::new();
        for p in parts {
            h.update(p);
        }
        h.finalize().to_vec()
    }
    Ok(match *alg {
        rfc5912::ID_SHA_256 => run::<Sha256>(parts),
        rfc5912::ID_SHA_384 => run::<Sha384>(parts),
        rfc5912::ID_SHA_512 => run::<Sha512>(parts),
        rfc5912::ID_SHA_1 => return Err("SHA-1 is not accepted".into()),
        other => return Err(format!("hash algorithm {other} is not accepted")),
    })
}

/// Hash name for messages.
pub fn hash_name(alg: &ObjectIdentifier) -> String {
    match *alg {
        rfc5912::ID_SHA_256 => "SHA-256".into(),
        rfc5912::ID_SHA_384 => "SHA-384".into(),
        rfc5912::ID_SHA_512 => "SHA-512".into(),
        other => other.to_string(),
    }
}

/// The certificate the SignerInfo's `sid` designates, among `certs`.
pub fn find_signer_certificate<'a>(
    si: &SignerInfo,
    certs: impl IntoIterator<Item = &'a Certificate>,
) -> Option<&'a Certificate> {
    certs.into_iter().find(|c| match &si.sid {
        SignerIdentifier::IssuerAndSerialNumber(ias) => {
            c.tbs_certificate.issuer == ias.issuer
                && c.tbs_certificate.serial_number == ias.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => c
            .tbs_certificate
            .get::<SubjectKeyIdentifier>()
            .ok()
            .flatten()
            .is_some_and(|(_, s)| s.0 == ski.0),
    })
}

/// Outcome of a cryptographic check of the SignerInfo: its message digest or its signature
/// value.
#[derive(Debug)]
pub enum CryptoCheck {
    /// Verified: what was found.
    Ok(String),
    /// The attribute is missing or malformed, or signed attributes are absent (not CAdES).
    Format(String),
    /// The value does not match: the content was altered (message digest), or the signature
    /// does not verify or cannot be decoded (signature value).
    Mismatch(String),
    /// The algorithm or key is refused by the policy (SHA-1, unknown).
    Policy(String),
}

impl CryptoCheck {
    /// What was found, or why the check failed whatever the reason.
    pub fn into_result(self) -> Result<String, String> {
        match self {
            CryptoCheck::Ok(d) => Ok(d),
            CryptoCheck::Format(e) | CryptoCheck::Mismatch(e) | CryptoCheck::Policy(e) => Err(e),
        }
    }
}

/// content-type signed attribute = eContentType.
pub fn check_content_type(si: &SignerInfo, econtent_type: ObjectIdentifier) -> Result<(), String> {
    let v = single_attribute(si.signed_attrs.as_ref(), rfc5911::ID_CONTENT_TYPE)?
        .ok_or("the content-type signed attribute is missing")?;
    let ct: ObjectIdentifier = v
        .decode_as()
        .map_err(|e| format!("content-type attribute: {e}"))?;
    if ct != econtent_type {
        return Err(format!(
            "content-type attribute {ct} differs from eContentType {econtent_type}"
        ));
    }
    Ok(())
}

/// message-digest signed attribute = hash of the content with the SignerInfo's digest
/// algorithm.
pub fn check_message_digest(si: &SignerInfo, content: &[u8]) -> CryptoCheck {
    check_message_digest_parts(si, &[content])
}

/// [`check_message_digest`] of content given in several parts, hashed in order.
pub fn check_message_digest_parts(si: &SignerInfo, content: &[&[u8]]) -> CryptoCheck {
    let v = match single_attribute(si.signed_attrs.as_ref(), rfc5911::ID_MESSAGE_DIGEST) {
        Ok(Some(v)) => v,
        Ok(None) => {
            return CryptoCheck::Format("the message-digest signed attribute is missing".into())
        }
        Err(e) => return CryptoCheck::Format(e),
    };
    let md: OctetString = match v.decode_as() {
        Ok(m) => m,
        Err(e) => return CryptoCheck::Format(format!("message-digest attribute: {e}")),
    };
    if si
        .digest_alg
        .parameters
        .as_ref()
        .is_some_and(|p| p.tag() != Tag::Null)
    {
        return CryptoCheck::Format("digest algorithm parameters must be absent or NULL".into());
    }
    let computed = match digest_parts(&si.digest_alg.oid, content) {
        Ok(d) => d,
        Err(e) => return CryptoCheck::Policy(e),
    };
    if computed.as_slice() == md.as_bytes() {
        CryptoCheck::Ok(format!(
            "{} of the content matches the message-digest attribute",
            hash_name(&si.digest_alg.oid)
        ))
    } else {
        CryptoCheck::Mismatch(format!(
            "{} of the content ({}) differs from the message-digest attribute ({}): the content was altered",
            hash_name(&si.digest_alg.oid),
            hex::encode(&computed),
            hex::encode(md.as_bytes())
        ))
    }
}

/// signing-certificate-v2 (RFC 5035) binds `cert`: first ESSCertIDv2's hash of the DER
/// certificate matches, and its issuerSerial (when present) names it.
pub fn check_signing_certificate_v2(si: &SignerInfo, cert: &Certificate) -> Result<String, String> {
    let v = single_attribute(
        si.signed_attrs.as_ref(),
        rfc5911::ID_AA_SIGNING_CERTIFICATE_V_2,
    )?;
    let Some(v) = v else {
        if single_attribute(si.signed_attrs.as_ref(), rfc5911::ID_AA_SIGNING_CERTIFICATE)?.is_some()
        {
            return Err(
                "only the SHA-1 signing-certificate (v1) attribute is present; signing-certificate-v2 is required".into(),
            );
        }
        return Err("the signing-certificate-v2 signed attribute is missing".into());
    };
    let scv2: SigningCertificateV2 = v
        .decode_as()
        .map_err(|e| format!("signing-certificate-v2: {e}"))?;
    let first = scv2
        .certs
        .first()
        .ok_or("signing-certificate-v2 lists no certificate")?;
    let alg = first
        .hash_algorithm
        .as_ref()
        .map_or(rfc5912::ID_SHA_256, |a| a.oid);
    let der = cert.to_der().map_err(|e| e.to_string())?;
    let h = digest(&alg, &der)?;
    if h.as_slice() != first.cert_hash.as_bytes() {
        return Err(format!(
            "signing-certificate-v2 hash ({}) is not the signing certificate's {}",
            hex::encode(first.cert_hash.as_bytes()),
            hash_name(&alg)
        ));
    }
    if let Some(is) = &first.issuer_serial {
        let issuer_ok = is.issuer.iter().any(|g| {
            matches!(g, x509_cert::ext::pkix::name::GeneralName::DirectoryName(n)
                if *n == cert.tbs_certificate.issuer)
        });
        if !issuer_ok || is.serial_number != cert.tbs_certificate.serial_number {
            return Err(
                "signing-certificate-v2 issuerSerial does not name the signing certificate".into(),
            );
        }
    }
    Ok(format!(
        "signing-certificate-v2 binds the signing certificate ({})",
        hash_name(&alg)
    ))
}

/// The signature algorithm to verify with: CMS producers often write rsaEncryption (or
/// id-ecPublicKey) and leave the hash to digestAlgorithm; turn those into the combined OID.
fn effective_signature_algorithm(si: &SignerInfo) -> Result<AlgorithmIdentifierOwned, String> {
    let alg = &si.signature_algorithm;
    let hash = si.digest_alg.oid;
    let combined = match alg.oid {
        rfc5912::RSA_ENCRYPTION => match hash {
            rfc5912::ID_SHA_256 => rfc5912::SHA_256_WITH_RSA_ENCRYPTION,
            rfc5912::ID_SHA_384 => rfc5912::SHA_384_WITH_RSA_ENCRYPTION,
            rfc5912::ID_SHA_512 => rfc5912::SHA_512_WITH_RSA_ENCRYPTION,
            other => return Err(format!("RSA with digest algorithm {other} is not accepted")),
        },
        rfc5912::ID_EC_PUBLIC_KEY => {
            let id = match hash {
                rfc5912::ID_SHA_256 => rfc5912::ECDSA_WITH_SHA_256,
                rfc5912::ID_SHA_384 => rfc5912::ECDSA_WITH_SHA_384,
                rfc5912::ID_SHA_512 => rfc5912::ECDSA_WITH_SHA_512,
                other => {
                    return Err(format!(
                        "ECDSA with digest algorithm {other} is not accepted"
                    ))
                }
            };
            return Ok(AlgorithmIdentifierOwned {
                oid: id,
                parameters: None,
            });
        }
        _ => return Ok(alg.clone()),
    };
    Ok(AlgorithmIdentifierOwned {
        oid: combined,
        parameters: Some(Any::from(der::asn1::Null)),
    })
}

/// Verifies the SignerInfo's signature over its DER signed attributes with `cert`'s key.
pub fn check_signature(si: &SignerInfo, cert: &Certificate) -> CryptoCheck {
    use pkix::verify::VerifyError as V;
    let Some(attrs) = si.signed_attrs.as_ref() else {
        return CryptoCheck::Format("no signed attributes (CAdES requires them)".into());
    };
    let message = match attrs.to_der() {
        Ok(m) => m,
        Err(e) => return CryptoCheck::Format(format!("signed attributes: {e}")),
    };
    let alg = match effective_signature_algorithm(si) {
        Ok(a) => a,
        Err(e) => return CryptoCheck::Policy(e),
    };
    let spki = &cert.tbs_certificate.subject_public_key_info;
    // ring first (faster, docs/BENCHMARKS.md: the signer's and every time-stamp's signature
    // pass here); on a refusal the RustCrypto check gives the verdict and its reason.
    let fast = pkix::verify::PreparedVerifier::new(spki, &alg)
        .and_then(|v| v.verify(&message, si.signature.as_bytes()));
    let verified = fast
        .or_else(|_| pkix::verify::verify_signature(spki, &alg, &message, si.signature.as_bytes()));
    match verified {
        Ok(()) => {
            let kind = match pkix::verify::check_public_key(spki) {
                Ok(pkix::verify::PublicKeyKind::EcP256) => "ECDSA P-256".to_owned(),
                Ok(pkix::verify::PublicKeyKind::EcP384) => "ECDSA P-384".to_owned(),
                Ok(pkix::verify::PublicKeyKind::Rsa { bits, .. }) => format!("RSA-{bits}"),
                Err(_) => "key".to_owned(),
            };
            CryptoCheck::Ok(format!(
                "the signature ({}, {kind}) verifies with the signing certificate's key",
                alg.oid
            ))
        }
        Err(e @ (V::BadSignature | V::MalformedSignature(_))) => {
            CryptoCheck::Mismatch(format!("the signature value does not verify: {e}"))
        }
        Err(e) => CryptoCheck::Policy(format!("signature algorithm or key refused: {e}")),
    }
}

/// The signing-time signed attribute, when present.
pub fn signing_time(si: &SignerInfo) -> Result<Option<OffsetDateTime>, String> {
    let Some(v) = single_attribute(si.signed_attrs.as_ref(), rfc5911::ID_SIGNING_TIME)? else {
        return Ok(None);
    };
    let t = v
        .to_der()
        .and_then(|d| x509_cert::time::Time::from_der(&d))
        .map_err(|e| format!("signing-time attribute: {e}"))?;
    Ok(Some(OffsetDateTime::from(t.to_system_time())))
}

/// The DER of every signature-time-stamp token (unsigned attribute values).
pub fn timestamp_tokens(si: &SignerInfo) -> Vec<&Any> {
    si.unsigned_attrs
        .iter()
        .flat_map(|a| a.iter())
        .filter(|a| a.oid == pkix::oid::ID_AA_SIGNATURE_TIME_STAMP_TOKEN)
        .flat_map(|a| a.values.iter())
        .collect()
}
