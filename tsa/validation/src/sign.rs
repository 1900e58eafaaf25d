//! CAdES baseline B signing (ETSI EN 319 122-1 §6.3) through any RustCrypto signer (the HSM
//! signer of `hsm-config`, a professional's card), and CAdES-T by adding a signature
//! time-stamp token obtained from a TSA.
//!
//! Signed attributes: content-type, message-digest (SHA-256), signing-time (not in the CMS
//! of a PAdES signature: [`sign_pades_cms`]), signing-certificate-v2 (ESSCertIDv2 of the
//! signer's certificate, SHA-256, with issuerSerial).

use cms::builder::SignerInfoBuilder;
use cms::cert::IssuerAndSerialNumber;
use cms::content_info::ContentInfo;
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfos,
};
use const_oid::db::{rfc5911, rfc5912};
use const_oid::ObjectIdentifier;
use der::asn1::{Any, OctetString, SetOfVec, UtcTime};
use der::{Decode, Encode, Tag};
use sha2::{Digest, Sha256};
use signature::{Keypair, Signer};
use spki::{
    AlgorithmIdentifierOwned, DynSignatureAlgorithmIdentifier, EncodePublicKey,
    SignatureBitStringEncoding,
};
use time::OffsetDateTime;
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::Certificate;

use tsa::asn1::{EssCertIdV2, IssuerSerial, PkiStatus, SigningCertificateV2, TimeStampResp};

use crate::{Error, Result};

fn sha256_alg() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: rfc5912::ID_SHA_256,
        parameters: None,
    }
}

/// Options of [`sign_cades_b`].
#[derive(Debug, Clone, Default)]
pub struct SignOptions {
    /// Leave the content out of the SignedData (the verifier gets it separately).
    pub detached: bool,
    /// signing-time to claim; now when `None`.
    pub signing_time: Option<OffsetDateTime>,
    /// CA certificates to include after the signer's (the chain, without the root).
    pub chain: Vec<Certificate>,
}

/// Signs `content` as CAdES-B with `signer`, whose certificate is `cert`. Returns the DER
/// ContentInfo.
pub fn sign_cades_b<S, Sig>(
    signer: &S,
    cert: &Certificate,
    content: &[u8],
    options: &SignOptions,
) -> Result<Vec<u8>>
where
    S: Keypair + DynSignatureAlgorithmIdentifier + Signer<Sig>,
    S::VerifyingKey: EncodePublicKey,
    Sig: SignatureBitStringEncoding,
{
    let when = options.signing_time.unwrap_or_else(OffsetDateTime::now_utc);
    let encap = EncapsulatedContentInfo {
        econtent_type: rfc5911::ID_DATA,
        econtent: if options.detached {
            None
        } else {
            Some(Any::new(Tag::OctetString, content.to_vec())?)
        },
    };
    let digest: [u8; 32] = Sha256::digest(content).into();
    signed_data::<S, Sig>(signer, cert, encap, &digest, Some(when), &options.chain)
}

/// The CMS of a PAdES signature (ETSI EN 319 142-1 §6.3, SubFilter ETSI.CAdES.detached):
/// detached, over content whose SHA-256 is `content_sha256` (the PDF's ByteRange, hashed by
/// the caller without copying it), with content-type, message-digest and
/// signing-certificate-v2 — and no signing-time attribute, which PAdES forbids (the claimed
/// time is the signature dictionary's /M).
pub fn sign_pades_cms<S, Sig>(
    signer: &S,
    cert: &Certificate,
    content_sha256: &[u8; 32],
    chain: &[Certificate],
) -> Result<Vec<u8>>
where
    S: Keypair + DynSignatureAlgorithmIdentifier + Signer<Sig>,
    S::VerifyingKey: EncodePublicKey,
    Sig: SignatureBitStringEncoding,
{
    let encap = EncapsulatedContentInfo {
        econtent_type: rfc5911::ID_DATA,
        econtent: None,
    };
    signed_data::<S, Sig>(signer, cert, encap, content_sha256, None, chain)
}

/// A SignedData with one SignerInfo by `signer` (certificate `cert`) over content whose
/// SHA-256 is `digest`: content-type, message-digest, signing-time when given,
/// signing-certificate-v2; `cert` and `chain` in the certificates.
fn signed_data<S, Sig>(
    signer: &S,
    cert: &Certificate,
    encap: EncapsulatedContentInfo,
    digest: &[u8; 32],
    signing_time: Option<OffsetDateTime>,
    chain: &[Certificate],
) -> Result<Vec<u8>>
where
    S: Keypair + DynSignatureAlgorithmIdentifier + Signer<Sig>,
    S::VerifyingKey: EncodePublicKey,
    Sig: SignatureBitStringEncoding,
{
    let tbs = &cert.tbs_certificate;
    let key = signer
        .verifying_key()
        .to_public_key_der()
        .map_err(|e| Error::Signer(format!("public key: {e}")))?;
    if key.as_bytes() != tbs.subject_public_key_info.to_der()? {
        return Err(Error::KeyMismatch);
    }
    let cert_der = cert.to_der()?;
    let ess = SigningCertificateV2 {
        certs: vec![EssCertIdV2 {
            hash_algorithm: None,
            cert_hash: OctetString::new(Sha256::digest(&cert_der).to_vec())?,
            issuer_serial: Some(IssuerSerial {
                issuer: vec![GeneralName::DirectoryName(tbs.issuer.clone())],
                serial_number: tbs.serial_number.clone(),
            }),
        }],
        policies: None,
    };
    let sid = SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
        issuer: tbs.issuer.clone(),
        serial_number: tbs.serial_number.clone(),
    });
    let cms_err = |e: cms::builder::Error| Error::Signer(format!("CMS: {e}"));
    // The builder hashes an encapsulated content itself; a detached one is given by digest.
    let mut builder = SignerInfoBuilder::new(
        signer,
        sid,
        sha256_alg(),
        &encap,
        encap.econtent.is_none().then_some(digest.as_slice()),
    )
    .map_err(cms_err)?;
    if let Some(when) = signing_time {
        let secs = u64::try_from(when.unix_timestamp())
            .map_err(|_| Error::Input("signing time before 1970".into()))?;
        let signing_time = x509_cert::time::Time::UtcTime(UtcTime::from_unix_duration(
            std::time::Duration::from_secs(secs),
        )?);
        builder
            .add_signed_attribute(Attribute {
                oid: rfc5911::ID_SIGNING_TIME,
                values: SetOfVec::try_from(vec![Any::encode_from(&signing_time)?])?,
            })
            .map_err(cms_err)?;
    }
    builder
        .add_signed_attribute(Attribute {
            oid: rfc5911::ID_AA_SIGNING_CERTIFICATE_V_2,
            values: SetOfVec::try_from(vec![Any::encode_from(&ess)?])?,
        })
        .map_err(cms_err)?;
    let signer_info = {
        use x509_cert::builder::Builder;
        builder.build::<Sig>().map_err(|e| {
            let mut msg = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg.push_str(": ");
                msg.push_str(&s.to_string());
                src = s.source();
            }
            Error::Signer(msg)
        })?
    };
    let mut certs = vec![cms::cert::CertificateChoices::Certificate(cert.clone())];
    for c in chain {
        if c.to_der()? != cert_der {
            certs.push(cms::cert::CertificateChoices::Certificate(c.clone()));
        }
    }
    let mut cert_set = SetOfVec::new();
    for c in certs {
        // Duplicates are skipped rather than refused.
        let _ = cert_set.insert(c);
    }
    let sd = SignedData {
        // v1: issuerAndSerialNumber, id-data, no attribute certificates (RFC 5652 §5.1).
        version: cms::content_info::CmsVersion::V1,
        digest_algorithms: SetOfVec::try_from(vec![sha256_alg()])?,
        encap_content_info: encap,
        certificates: Some(CertificateSet(cert_set)),
        crls: None,
        signer_infos: SignerInfos(SetOfVec::try_from(vec![signer_info])?),
    };
    Ok(ContentInfo {
        content_type: rfc5911::ID_SIGNED_DATA,
        content: Any::encode_from(&sd)?,
    }
    .to_der()?)
}

/// The DER TimeStampReq for the signature time-stamp of `cms_der` (SHA-256 imprint of the
/// signature value, certReq, a random nonce) and the nonce sent.
pub fn timestamp_request(cms_der: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    let parsed = crate::cades::parse_cms(cms_der).map_err(Error::Input)?;
    let imprint = Sha256::digest(parsed.signer.signature.as_bytes());
    Ok(crate::timestamp::sha256_request(&imprint)?)
}

/// A TimeStampReq over `digest` made with `hash` (SHA-256/384/512), with certReq and a random
/// positive nonce: the DER request and the nonce sent.
pub fn timestamp_request_with(hash: ObjectIdentifier, digest: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    let (req, nonce) = crate::timestamp::sha256_request(digest)?;
    if hash == rfc5912::ID_SHA_256 {
        return Ok((req, nonce));
    }
    crate::cades::digest(&hash, b"").map_err(Error::Input)?;
    let mut req = tsa::asn1::TimeStampReq::from_der(&req)?;
    req.message_imprint.hash_algorithm.oid = hash;
    Ok((req.to_der()?, nonce))
}

/// The token of a DER TimeStampResp whose status is granted (with or without modifications).
pub fn granted_token(reply_der: &[u8]) -> Result<ContentInfo> {
    let resp = TimeStampResp::from_der(reply_der)
        .map_err(|e| Error::Tsa(format!("the reply is not a TimeStampResp: {e}")))?;
    if !matches!(
        resp.status.status,
        PkiStatus::Granted | PkiStatus::GrantedWithMods
    ) {
        return Err(Error::Tsa(format!(
            "refused ({})",
            crate::timestamp::refusal_text(&resp.status)
        )));
    }
    resp.time_stamp_token
        .ok_or_else(|| Error::Tsa("granted without a token".into()))
}

/// The TSTInfo of `token`, checked to be over `data` (hashed with the token's imprint
/// algorithm, which must be `expected_hash` when given) and to echo `nonce`.
pub fn check_token_over(
    token: &ContentInfo,
    data: &[u8],
    expected_hash: Option<ObjectIdentifier>,
    nonce: &[u8],
) -> Result<tsa::asn1::TstInfo> {
    check_token_over_parts(token, &[data], expected_hash, nonce)
}

/// [`check_token_over`] for data in parts, hashed in order (a PDF's ByteRange).
pub fn check_token_over_parts(
    token: &ContentInfo,
    data: &[&[u8]],
    expected_hash: Option<ObjectIdentifier>,
    nonce: &[u8],
) -> Result<tsa::asn1::TstInfo> {
    let tparsed = crate::cades::parse_signed_data(&token.content).map_err(Error::Tsa)?;
    let tst = tsa::asn1::TstInfo::from_der(tparsed.attached.as_deref().unwrap_or_default())
        .map_err(|e| Error::Tsa(format!("TSTInfo: {e}")))?;
    let alg = tst.message_imprint.hash_algorithm.oid;
    if expected_hash.is_some_and(|h| h != alg) {
        return Err(Error::Tsa(format!(
            "the token's imprint uses {}, {} was requested",
            crate::cades::hash_name(&alg),
            crate::cades::hash_name(&expected_hash.unwrap_or(alg))
        )));
    }
    let expected = crate::cades::digest_parts(&alg, data).map_err(Error::Tsa)?;
    if expected.as_slice() != tst.message_imprint.hashed_message.as_bytes() {
        return Err(Error::Tsa(
            "the token's imprint is not over the data sent".into(),
        ));
    }
    if tst.nonce.as_ref().map(|n| n.as_bytes()) != Some(nonce) {
        return Err(Error::Tsa(
            "the token does not echo the request's nonce".into(),
        ));
    }
    Ok(tst)
}

/// Adds the token of the TSA's reply `reply_der` (a DER TimeStampResp answering
/// [`timestamp_request`]) to `cms_der` as the signature-time-stamp unsigned attribute:
/// CAdES-B becomes CAdES-T. The reply's status, imprint and nonce are checked.
pub fn attach_timestamp(cms_der: &[u8], reply_der: &[u8], nonce: &[u8]) -> Result<Vec<u8>> {
    let token = granted_token(reply_der)?;
    let ci = ContentInfo::from_der(cms_der)?;
    let mut sd: SignedData = ci.content.decode_as()?;
    let mut infos: Vec<_> = sd.signer_infos.0.into_vec();
    let [si] = infos.as_mut_slice() else {
        return Err(Error::Input("one SignerInfo expected".into()));
    };
    // The token must be over this signature, with our nonce.
    check_token_over(&token, si.signature.as_bytes(), None, nonce).map_err(|e| match e {
        Error::Tsa(m) if m.contains("imprint is not") => {
            Error::Tsa("the token's imprint is not this signature's".into())
        }
        other => other,
    })?;
    let attr = Attribute {
        oid: pkix::oid::ID_AA_SIGNATURE_TIME_STAMP_TOKEN,
        values: SetOfVec::try_from(vec![Any::encode_from(&token)?])?,
    };
    let mut unsigned: Vec<Attribute> = si
        .unsigned_attrs
        .take()
        .map(|u| u.into_vec())
        .unwrap_or_default();
    unsigned.retain(|a| a.oid != pkix::oid::ID_AA_SIGNATURE_TIME_STAMP_TOKEN);
    unsigned.push(attr);
    si.unsigned_attrs = Some(SetOfVec::try_from(unsigned)?);
    sd.signer_infos = SignerInfos(SetOfVec::try_from(infos)?);
    Ok(ContentInfo {
        content_type: rfc5911::ID_SIGNED_DATA,
        content: Any::encode_from(&sd)?,
    }
    .to_der()?)
}

/// CAdES-B → CAdES-T in one call: `tsa` turns a DER TimeStampReq into a DER TimeStampResp
/// (e.g. by POSTing it to our TSA).
pub fn add_signature_timestamp<F, E>(cms_der: &[u8], tsa: F) -> Result<Vec<u8>>
where
    F: FnOnce(&[u8]) -> Result<Vec<u8>, E>,
    E: std::fmt::Display,
{
    let (req, nonce) = timestamp_request(cms_der)?;
    let reply = tsa(&req).map_err(|e| Error::Tsa(e.to_string()))?;
    attach_timestamp(cms_der, &reply, &nonce)
}
