//! PKCS#10 certificate requests: building one for a key, and parsing + checking one received
//! from a device (proof of possession).

use const_oid::db::rfc5912::ID_EXTENSION_REQ;
use der::asn1::SetOfVec;
use der::{Decode, Encode, Reader, SliceReader};

use spki::{AlgorithmIdentifierOwned, SignatureBitStringEncoding, SubjectPublicKeyInfoOwned};
use x509_cert::builder::{Builder, RequestBuilder};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::request::{CertReq, CertReqInfo, Version};

use super::{sign_and_check, signer_algorithm, X509Error, X509Signer};
use crate::verify;

/// Largest request accepted by [`parse_and_verify_csr`] (PEM or DER).
pub const MAX_CSR_SIZE: usize = 64 * 1024;

/// Builds and signs a PKCS#10 request for the signer's key.
///
/// With extensions, x509-cert's `RequestBuilder` is used. Without any, the request is
/// assembled directly with an empty attribute set: `RequestBuilder` always adds an
/// extensionRequest attribute, which would then hold an empty `Extensions` (invalid, it is
/// `SIZE (1..MAX)`). The signature is verified with the signer's key before returning.
pub fn build_csr<S, Sig>(
    subject: &Name,
    extensions: &[Extension],
    signer: &S,
) -> Result<CertReq, X509Error>
where
    S: X509Signer<Sig>,
    Sig: SignatureBitStringEncoding,
{
    let (alg, signer_spki) = signer_algorithm(signer)?;
    let req = if extensions.is_empty() {
        let info = CertReqInfo {
            version: Version::V1,
            subject: subject.clone(),
            public_key: signer_spki.clone(),
            attributes: SetOfVec::new(),
        };
        let info_der = info.to_der()?;
        let signature = sign_and_check(signer, &signer_spki, &alg, &info_der)?;
        CertReq {
            info,
            algorithm: alg,
            signature,
        }
    } else {
        let mut builder = RequestBuilder::new(subject.clone(), signer).map_err(builder_error)?;
        for ext in extensions {
            builder
                .add_extension(&RawExtension(ext))
                .map_err(builder_error)?;
        }
        let req = builder.build::<Sig>().map_err(builder_error)?;
        let raw = req.signature.as_bytes().ok_or_else(|| {
            X509Error::SelfCheck(verify::VerifyError::MalformedSignature(
                "signature BIT STRING has unused bits".into(),
            ))
        })?;
        verify::verify_signature(&signer_spki, &req.algorithm, &req.info.to_der()?, raw)
            .map_err(X509Error::SelfCheck)?;
        req
    };
    Ok(req)
}

/// PEM encoding of a request (`CERTIFICATE REQUEST`).
pub fn csr_to_pem(req: &CertReq) -> Result<String, X509Error> {
    Ok(pem::encode(&pem::Pem::new(
        "CERTIFICATE REQUEST",
        req.to_der()?,
    )))
}

/// What a checked request carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedCsr {
    /// Requested subject (the CA decides what it actually certifies).
    pub subject: Name,
    /// The public key whose possession was proven.
    pub subject_spki: SubjectPublicKeyInfoOwned,
    /// Signature algorithm of the request.
    pub signature_algorithm: AlgorithmIdentifierOwned,
    /// Extensions from the extensionRequest attribute, if any.
    pub requested_extensions: Vec<Extension>,
}

/// Decodes a PEM (`CERTIFICATE REQUEST` or `NEW CERTIFICATE REQUEST`) or DER PKCS#10 request,
/// checks its public key (EC P-256/P-384, RSA ≥ 2048) and verifies its self-signature over
/// the certificationRequestInfo bytes as received (proof of possession).
///
/// Any malformed input gives an error, never a panic.
pub fn parse_and_verify_csr(input: &[u8]) -> Result<CheckedCsr, X509Error> {
    if input.len() > MAX_CSR_SIZE {
        return Err(X509Error::CsrTooLarge(input.len()));
    }
    let der = if looks_like_pem(input) {
        let block = pem::parse(input).map_err(|e| X509Error::Pem(e.to_string()))?;
        if block.tag() != "CERTIFICATE REQUEST" && block.tag() != "NEW CERTIFICATE REQUEST" {
            return Err(X509Error::Pem(format!(
                "expected a CERTIFICATE REQUEST PEM block, got {:?}",
                block.tag()
            )));
        }
        block.into_contents()
    } else {
        input.to_vec()
    };

    let req = CertReq::from_der(&der).map_err(|e| X509Error::MalformedCsr(e.to_string()))?;
    let info_bytes = first_element_tlv(&der).map_err(|e| X509Error::MalformedCsr(e.to_string()))?;

    verify::check_public_key(&req.info.public_key).map_err(X509Error::CsrSignature)?;
    let signature = req.signature.as_bytes().ok_or_else(|| {
        X509Error::CsrSignature(verify::VerifyError::MalformedSignature(
            "signature BIT STRING has unused bits".into(),
        ))
    })?;
    verify::verify_signature(&req.info.public_key, &req.algorithm, info_bytes, signature)
        .map_err(X509Error::CsrSignature)?;

    let mut requested_extensions = Vec::new();
    for attr in req.info.attributes.iter() {
        if attr.oid != ID_EXTENSION_REQ {
            continue;
        }
        for value in attr.values.iter() {
            let exts: Vec<Extension> = value
                .decode_as()
                .map_err(|e| X509Error::MalformedCsr(format!("extensionRequest: {e}")))?;
            requested_extensions.extend(exts);
        }
    }

    Ok(CheckedCsr {
        subject: req.info.subject,
        subject_spki: req.info.public_key,
        signature_algorithm: req.algorithm,
        requested_extensions,
    })
}

fn looks_like_pem(input: &[u8]) -> bool {
    let start = input
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(input.len());
    input[start..].starts_with(b"-----BEGIN")
}

/// The complete TLV of the first element of the outer SEQUENCE (the signed part of a
/// certificate, CRL or request), byte for byte as received.
pub fn first_element_tlv(der: &[u8]) -> der::Result<&[u8]> {
    let mut reader = SliceReader::new(der)?;
    let header = der::Header::decode(&mut reader)?;
    header.tag.assert_eq(der::Tag::Sequence)?;
    // The reader now sits right after the outer header: the next TLV is the first element.
    // (The caller has already decoded the whole structure strictly.)
    reader.tlv_bytes()
}

fn builder_error(e: x509_cert::builder::Error) -> X509Error {
    match e {
        x509_cert::builder::Error::Asn1(e) => X509Error::Der(e),
        x509_cert::builder::Error::PublicKey(e) => X509Error::PublicKey(e),
        x509_cert::builder::Error::Signature(e) => X509Error::Signing(e),
        // The enum is non_exhaustive.
        other => X509Error::MalformedCsr(other.to_string()),
    }
}

/// Lets an already-built [`Extension`] go through `RequestBuilder::add_extension`, keeping its
/// OID, criticality and value as they are.
struct RawExtension<'a>(&'a Extension);

impl const_oid::AssociatedOid for RawExtension<'_> {
    // Never read: `to_extension` is overridden below and uses the wrapped extension's OID.
    const OID: spki::ObjectIdentifier = ID_EXTENSION_REQ;
}

impl der::Encode for RawExtension<'_> {
    fn encoded_len(&self) -> der::Result<der::Length> {
        der::Length::try_from(self.0.extn_value.as_bytes().len())
    }

    fn encode(&self, writer: &mut impl der::Writer) -> der::Result<()> {
        writer.write(self.0.extn_value.as_bytes())
    }
}

impl x509_cert::ext::AsExtension for RawExtension<'_> {
    fn critical(&self, _subject: &Name, _extensions: &[Extension]) -> bool {
        self.0.critical
    }

    fn to_extension(&self, _subject: &Name, _extensions: &[Extension]) -> der::Result<Extension> {
        Ok(self.0.clone())
    }
}
