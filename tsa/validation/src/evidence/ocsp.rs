//! OCSP as a relying party: requests (RFC 6960, with the SHA-1 CertID RFC 5019 requires)
//! and the checks of a response (RFC 6960 §3.2): its signature by the issuer itself or by a
//! delegated responder the issuer certified for id-kp-OCSPSigning, and the SingleResponse
//! about the certificate asked.

use const_oid::db::rfc5280::ID_KP_OCSP_SIGNING;
use const_oid::db::rfc5912::{ID_SHA_1, ID_SHA_256, ID_SHA_384, ID_SHA_512};
use const_oid::db::rfc6960::ID_PKIX_OCSP_BASIC;
use der::asn1::{Null, OctetString};
use der::{Decode, Encode};
use sha2::Digest;
use spki::AlgorithmIdentifierOwned;
use time::OffsetDateTime;
use x509_cert::ext::pkix::ExtendedKeyUsage;
use x509_cert::Certificate;
use x509_ocsp::{
    BasicOcspResponse, CertId, CertStatus, OcspRequest, OcspResponse, OcspResponseStatus, Request,
    ResponderId, SingleResponse, TbsRequest, Version,
};

/// The status an OCSP response gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OcspStatus {
    /// Not revoked at thisUpdate.
    Good,
    /// Revoked since `at`.
    Revoked {
        /// revocationTime.
        at: OffsetDateTime,
        /// RFC 5280 reason name (`keyCompromise`, `certificateHold`, …), when given.
        reason: Option<String>,
    },
    /// The responder does not know the certificate.
    Unknown,
}

/// A verified OCSP answer about one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcspEvidence {
    /// The certificate's status.
    pub status: OcspStatus,
    /// thisUpdate of the SingleResponse.
    pub this_update: OffsetDateTime,
    /// nextUpdate of the SingleResponse, when given.
    pub next_update: Option<OffsetDateTime>,
    /// producedAt of the response.
    pub produced_at: OffsetDateTime,
    /// Subject of the certificate whose key signed the response.
    pub responder: String,
    /// The DER BasicOCSPResponse, for embedding (revocation-values, id-ri-ocsp-response).
    pub basic_der: Vec<u8>,
}

fn gt(t: &x509_ocsp::OcspGeneralizedTime) -> OffsetDateTime {
    OffsetDateTime::from(t.0.to_system_time())
}

fn sha1_alg() -> Result<AlgorithmIdentifierOwned, String> {
    Ok(AlgorithmIdentifierOwned {
        oid: ID_SHA_1,
        // With NULL parameters, as OpenSSL sends them (our responder takes both forms).
        parameters: Some(Null.into()),
    })
}

/// issuerNameHash and issuerKeyHash.
type IssuerHashes = (Vec<u8>, Vec<u8>);

/// The issuerNameHash and issuerKeyHash of `issuer` under `alg`; `None` for another hash.
fn issuer_hashes(
    alg: &der::asn1::ObjectIdentifier,
    issuer: &Certificate,
) -> Result<Option<IssuerHashes>, String> {
    let name = issuer
        .tbs_certificate
        .subject
        .to_der()
        .map_err(|e| format!("issuer name: {e}"))?;
    let key = issuer
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes();
    fn pair<D: Digest>(name: &[u8], key: &[u8]) -> (Vec<u8>, Vec<u8>) {
        (D::digest(name).to_vec(), D::digest(key).to_vec())
    }
    Ok(match *alg {
        ID_SHA_1 => Some(pair::<sha1::Sha1>(&name, key)),
        ID_SHA_256 => Some(pair::<sha2::Sha256>(&name, key)),
        ID_SHA_384 => Some(pair::<sha2::Sha384>(&name, key)),
        ID_SHA_512 => Some(pair::<sha2::Sha512>(&name, key)),
        _ => None,
    })
}

/// The SHA-1 CertID of `cert` issued by `issuer` (RFC 5019 §2.1.1).
pub fn cert_id(cert: &Certificate, issuer: &Certificate) -> Result<CertId, String> {
    let (name_hash, key_hash) = issuer_hashes(&ID_SHA_1, issuer)?
        .ok_or_else(|| "SHA-1 is not available for the CertID".to_owned())?;
    Ok(CertId {
        hash_algorithm: sha1_alg()?,
        issuer_name_hash: OctetString::new(name_hash).map_err(|e| e.to_string())?,
        issuer_key_hash: OctetString::new(key_hash).map_err(|e| e.to_string())?,
        serial_number: cert.tbs_certificate.serial_number.clone(),
    })
}

/// A DER OCSPRequest for `cert` issued by `issuer`: one SHA-1 CertID, no nonce, unsigned
/// (RFC 5019 §2.1, what our responder pre-signs answers for).
pub fn ocsp_request(cert: &Certificate, issuer: &Certificate) -> Result<Vec<u8>, String> {
    OcspRequest {
        tbs_request: TbsRequest {
            version: Version::V1,
            requestor_name: None,
            request_list: vec![Request {
                req_cert: cert_id(cert, issuer)?,
                single_request_extensions: None,
            }],
            request_extensions: None,
        },
        optional_signature: None,
    }
    .to_der()
    .map_err(|e| format!("OCSP request: {e}"))
}

/// The BasicOCSPResponse in `der` (an OCSPResponse or a bare BasicOCSPResponse) with its DER.
pub fn parse_basic(der: &[u8]) -> Result<(BasicOcspResponse, Vec<u8>), String> {
    match OcspResponse::from_der(der) {
        Ok(resp) => {
            if resp.response_status != OcspResponseStatus::Successful {
                return Err(format!(
                    "the OCSP response status is {:?}, not successful",
                    resp.response_status
                ));
            }
            let bytes = resp
                .response_bytes
                .ok_or("a successful OCSP response without responseBytes")?;
            if bytes.response_type != ID_PKIX_OCSP_BASIC {
                return Err(format!(
                    "OCSP response type {} is not id-pkix-ocsp-basic",
                    bytes.response_type
                ));
            }
            let basic_der = bytes.response.as_bytes().to_vec();
            let basic = BasicOcspResponse::from_der(&basic_der)
                .map_err(|e| format!("BasicOCSPResponse: {e}"))?;
            Ok((basic, basic_der))
        }
        Err(e) => match BasicOcspResponse::from_der(der) {
            Ok(basic) => Ok((basic, der.to_vec())),
            Err(_) => Err(format!("not an OCSP response: {e}")),
        },
    }
}

/// Whether `cert` is named by the ResponderID.
fn matches_responder(id: &ResponderId, cert: &Certificate) -> bool {
    match id {
        ResponderId::ByName(n) => *n == cert.tbs_certificate.subject,
        ResponderId::ByKey(h) => {
            let key = cert
                .tbs_certificate
                .subject_public_key_info
                .subject_public_key
                .raw_bytes();
            sha1::Sha1::digest(key)[..] == *h.as_bytes()
        }
    }
}

fn has_ocsp_signing(cert: &Certificate) -> Result<(), String> {
    match cert.tbs_certificate.get::<ExtendedKeyUsage>() {
        Ok(Some((_, ExtendedKeyUsage(ekus)))) if ekus.contains(&ID_KP_OCSP_SIGNING) => Ok(()),
        Ok(_) => Err("no extended key usage id-kp-OCSPSigning".into()),
        Err(e) => Err(format!("extendedKeyUsage: {e}")),
    }
}

/// Checks the signature of `basic` with `signer`'s key (the issuer itself, or a delegated
/// responder checked by the caller).
fn verify_basic_signature(basic: &BasicOcspResponse, signer: &Certificate) -> Result<(), String> {
    let tbs = basic
        .tbs_response_data
        .to_der()
        .map_err(|e| format!("ResponseData: {e}"))?;
    let sig = basic
        .signature
        .as_bytes()
        .ok_or("the signature BIT STRING has unused bits")?;
    pkix::verify::verify_signature(
        &signer.tbs_certificate.subject_public_key_info,
        &basic.signature_algorithm,
        &tbs,
        sig,
    )
    .map_err(|e| e.to_string())
}

/// Who may sign `basic` for `issuer`: the issuer, or a certificate (from the response or
/// `pool`) named by the ResponderID, issued and signed by `issuer`, with id-kp-OCSPSigning,
/// valid at producedAt. Returns the signer after its signature over the response verified.
fn authorized_signer<'a>(
    basic: &'a BasicOcspResponse,
    issuer: &'a Certificate,
    pool: &[&'a Certificate],
    verify: &dyn Fn(&BasicOcspResponse, &Certificate) -> Result<(), String>,
) -> Result<&'a Certificate, String> {
    let id = &basic.tbs_response_data.responder_id;
    let produced_at = gt(&basic.tbs_response_data.produced_at);
    if matches_responder(id, issuer) {
        verify(basic, issuer).map_err(|e| {
            format!("the OCSP response signature by the issuer does not verify: {e}")
        })?;
        return Ok(issuer);
    }
    let mut reasons = Vec::new();
    let candidates = basic
        .certs
        .iter()
        .flatten()
        .chain(pool.iter().copied())
        .filter(|c| matches_responder(id, c));
    for cand in candidates {
        let who = crate::path::subject(cand);
        if cand.tbs_certificate.issuer != issuer.tbs_certificate.subject {
            reasons.push(format!(
                "responder {who} is not issued by the certificate's issuer"
            ));
            continue;
        }
        if let Err(e) = has_ocsp_signing(cand) {
            reasons.push(format!("responder {who}: {e}"));
            continue;
        }
        let (nb, na) = crate::path::validity(cand);
        if produced_at < nb || produced_at > na {
            reasons.push(format!(
                "responder {who} was not valid at producedAt {produced_at}"
            ));
            continue;
        }
        if let Err(e) = pkix::verify::verify_certificate_signed_by(cand, issuer) {
            reasons.push(format!(
                "responder {who} is not validly signed by the issuer: {e}"
            ));
            continue;
        }
        match verify(basic, cand) {
            Ok(()) => return Ok(cand),
            Err(e) => reasons.push(format!(
                "the OCSP response signature by {who} does not verify: {e}"
            )),
        }
    }
    Err(if reasons.is_empty() {
        "the OCSP response is signed neither by the issuer nor by a responder certificate known here".into()
    } else {
        reasons.join("; ")
    })
}

/// The SingleResponse about `cert` issued by `issuer` (a CertID hashed with SHA-1, SHA-256,
/// SHA-384 or SHA-512).
fn find_single<'a>(
    basic: &'a BasicOcspResponse,
    cert: &Certificate,
    issuer: &Certificate,
) -> Result<&'a SingleResponse, String> {
    let mut other_alg = None;
    for single in &basic.tbs_response_data.responses {
        let id = &single.cert_id;
        if id.serial_number != cert.tbs_certificate.serial_number {
            continue;
        }
        match issuer_hashes(&id.hash_algorithm.oid, issuer)? {
            Some((n, k)) => {
                if id.issuer_name_hash.as_bytes() == n && id.issuer_key_hash.as_bytes() == k {
                    return Ok(single);
                }
            }
            None => other_alg = Some(id.hash_algorithm.oid),
        }
    }
    Err(match other_alg {
        Some(oid) => format!("the OCSP response's CertID uses an unsupported hash {oid}"),
        None => "the OCSP response says nothing about this certificate (no matching CertID)".into(),
    })
}

/// Checks an OCSPResponse (status successful, id-pkix-ocsp-basic) or a bare
/// BasicOCSPResponse about `cert` issued by `issuer`: signed by the issuer or a delegated
/// responder (in the response's certificates or `pool`) the issuer certified for
/// id-kp-OCSPSigning and that was valid at producedAt, with a SingleResponse whose CertID is
/// `cert`'s. Freshness is the caller's decision.
pub fn check_ocsp_response(
    der: &[u8],
    cert: &Certificate,
    issuer: &Certificate,
    pool: &[&Certificate],
) -> Result<OcspEvidence, String> {
    check_ocsp_response_with(der, cert, issuer, pool, &verify_basic_signature)
}

/// [`check_ocsp_response`] with the signature check given (a cached one).
pub(crate) fn check_ocsp_response_with(
    der: &[u8],
    cert: &Certificate,
    issuer: &Certificate,
    pool: &[&Certificate],
    verify: &dyn Fn(&BasicOcspResponse, &Certificate) -> Result<(), String>,
) -> Result<OcspEvidence, String> {
    let (basic, basic_der) = parse_basic(der)?;
    check_basic(&basic, basic_der, cert, issuer, pool, verify)
}

pub(crate) fn check_basic(
    basic: &BasicOcspResponse,
    basic_der: Vec<u8>,
    cert: &Certificate,
    issuer: &Certificate,
    pool: &[&Certificate],
    verify: &dyn Fn(&BasicOcspResponse, &Certificate) -> Result<(), String>,
) -> Result<OcspEvidence, String> {
    if cert.tbs_certificate.issuer != issuer.tbs_certificate.subject {
        return Err("the issuer given did not issue the certificate".into());
    }
    let single = find_single(basic, cert, issuer)?;
    let signer = authorized_signer(basic, issuer, pool, verify)?;
    let this_update = gt(&single.this_update);
    let next_update = single.next_update.as_ref().map(gt);
    if next_update.is_some_and(|n| n < this_update) {
        return Err("the OCSP response's nextUpdate precedes its thisUpdate".into());
    }
    let status = match &single.cert_status {
        CertStatus::Good(_) => OcspStatus::Good,
        CertStatus::Revoked(info) => OcspStatus::Revoked {
            at: gt(&info.revocation_time),
            reason: info
                .revocation_reason
                .map(crate::revocation::crl_reason_name),
        },
        CertStatus::Unknown(_) => OcspStatus::Unknown,
    };
    Ok(OcspEvidence {
        status,
        this_update,
        next_update,
        produced_at: gt(&basic.tbs_response_data.produced_at),
        responder: crate::path::subject(signer),
        basic_der,
    })
}

/// Signature checks of OCSP responses already verified, process-wide: the same responses
/// (and responder certificates) come back in every long-term signature of a period. Keyed by
/// a SHA-256 over the signed data, the signature and the signer's certificate; successes only.
pub(crate) fn cached_verify(basic: &BasicOcspResponse, signer: &Certificate) -> Result<(), String> {
    static VERIFIED: super::VerifiedSignatures = super::VerifiedSignatures::new(16_384);
    let key: Option<[u8; 32]> = (|| {
        let mut h = sha2::Sha256::new();
        h.update(basic.tbs_response_data.to_der().ok()?);
        h.update(basic.signature_algorithm.to_der().ok()?);
        h.update(basic.signature.raw_bytes());
        h.update(signer.tbs_certificate.to_der().ok()?);
        Some(h.finalize().into())
    })();
    VERIFIED.check(key, || verify_basic_signature(basic, signer))
}
