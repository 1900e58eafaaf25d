//! Encoding of OCSP responses.
//!
//! A signed response is kept as its *core* — the DER of `tbsResponseData`,
//! `signatureAlgorithm` and `signature`, the three fields that differ from one response to the
//! next (≈ 250 octets with ECDSA P-256) — and is wrapped at serving time into
//!
//! ```text
//! OCSPResponse ::= SEQUENCE {                       30 L
//!    responseStatus  ENUMERATED successful,         0A 01 00
//!    responseBytes   [0] EXPLICIT SEQUENCE {        A0 L 30 L
//!       responseType  id-pkix-ocsp-basic,           06 09 2B06010505073001 01
//!       response      OCTET STRING {                04 L
//!          BasicOCSPResponse ::= SEQUENCE {         30 L
//!             <core>
//!             certs [0] EXPLICIT SEQUENCE OF Certificate  -- shared, per CA
//! ```
//!
//! so that the delegated responder certificate (≈ 600 octets, identical in every response of a
//! CA) is stored once rather than once per cached response.

use std::time::{Duration, SystemTime};

use der::asn1::{BitString, GeneralizedTime, Null};
use der::Encode;
use x509_cert::ext::pkix::CrlReason;
use x509_cert::ext::Extension;
use x509_ocsp::{
    CertId, CertStatus, OcspGeneralizedTime, OcspResponseStatus, ResponderId, ResponseData,
    RevokedInfo, SingleResponse, Version,
};

use crate::domain::RevocationReason;
use crate::storage::CertificateStatus;

/// DER of the OID id-pkix-ocsp-basic (1.3.6.1.5.5.7.48.1.1).
const ID_PKIX_OCSP_BASIC: [u8; 11] = [
    0x06, 0x09, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01,
];

/// Status of one certificate as a response states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseStatus {
    Good,
    /// Revoked or on hold (reason `certificateHold`); `reason` is absent for `unspecified`.
    Revoked {
        /// Unix time of the revocation, in seconds.
        at: u64,
        reason: Option<CrlReason>,
    },
    /// Not issued by this CA (as far as its database knows).
    Unknown,
}

impl ResponseStatus {
    /// From the stored state; `None` means the CA never issued the serial.
    pub fn from_stored(status: Option<&CertificateStatus>) -> Self {
        let unix = |t: time::OffsetDateTime| u64::try_from(t.unix_timestamp()).unwrap_or(0);
        match status {
            None => ResponseStatus::Unknown,
            Some(CertificateStatus::Good) => ResponseStatus::Good,
            Some(CertificateStatus::Revoked { at, reason }) => ResponseStatus::Revoked {
                at: unix(*at),
                reason: crl_reason(*reason),
            },
            Some(CertificateStatus::OnHold { since }) => ResponseStatus::Revoked {
                at: unix(*since),
                reason: Some(CrlReason::CertificateHold),
            },
        }
    }
}

/// RFC 5280 §5.3.1: the reason code `unspecified` SHOULD be absent.
fn crl_reason(r: RevocationReason) -> Option<CrlReason> {
    Some(match r {
        RevocationReason::Unspecified => return None,
        RevocationReason::KeyCompromise => CrlReason::KeyCompromise,
        RevocationReason::CaCompromise => CrlReason::CaCompromise,
        RevocationReason::AffiliationChanged => CrlReason::AffiliationChanged,
        RevocationReason::Superseded => CrlReason::Superseded,
        RevocationReason::CessationOfOperation => CrlReason::CessationOfOperation,
        RevocationReason::CertificateHold => CrlReason::CertificateHold,
        RevocationReason::PrivilegeWithdrawn => CrlReason::PrivilegeWithdrawn,
        RevocationReason::AaCompromise => CrlReason::AaCompromise,
    })
}

pub(crate) fn gtime(unix: u64) -> der::Result<OcspGeneralizedTime> {
    Ok(OcspGeneralizedTime(GeneralizedTime::from_unix_duration(
        Duration::from_secs(unix),
    )?))
}

/// Current Unix time in seconds.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// One SingleResponse.
pub(crate) fn single_response(
    cert_id: CertId,
    status: ResponseStatus,
    this_update: u64,
    next_update: u64,
) -> der::Result<SingleResponse> {
    let cert_status = match status {
        ResponseStatus::Good => CertStatus::Good(Null),
        ResponseStatus::Unknown => CertStatus::Unknown(Null),
        ResponseStatus::Revoked { at, reason } => CertStatus::Revoked(RevokedInfo {
            revocation_time: gtime(at)?,
            revocation_reason: reason,
        }),
    };
    Ok(SingleResponse {
        cert_id,
        cert_status,
        this_update: gtime(this_update)?,
        next_update: Some(gtime(next_update)?),
        single_extensions: None,
    })
}

/// The to-be-signed ResponseData.
pub(crate) fn response_data(
    responder_key_hash: &[u8],
    produced_at: u64,
    responses: Vec<SingleResponse>,
    nonce: Option<Extension>,
) -> der::Result<ResponseData> {
    Ok(ResponseData {
        version: Version::V1,
        responder_id: ResponderId::ByKey(der::asn1::OctetString::new(responder_key_hash)?),
        produced_at: gtime(produced_at)?,
        responses,
        response_extensions: nonce.map(|n| vec![n]),
    })
}

/// The core of a signed BasicOCSPResponse: tbsResponseData ‖ signatureAlgorithm ‖ signature.
pub(crate) fn core(tbs_der: &[u8], alg_der: &[u8], signature: &BitString) -> der::Result<Vec<u8>> {
    let sig = signature.to_der()?;
    let mut out = Vec::with_capacity(tbs_der.len() + alg_der.len() + sig.len());
    out.extend_from_slice(tbs_der);
    out.extend_from_slice(alg_der);
    out.extend_from_slice(&sig);
    Ok(out)
}

/// Length of a DER header (tag + length octets) for `len` content octets.
fn header_len(len: usize) -> usize {
    1 + match len {
        0..=0x7f => 1,
        0x80..=0xff => 2,
        0x100..=0xffff => 3,
        0x1_0000..=0xff_ffff => 4,
        _ => 5,
    }
}

fn push_header(out: &mut Vec<u8>, tag: u8, len: usize) {
    out.push(tag);
    match len {
        0..=0x7f => out.push(len as u8),
        _ => {
            let bytes = (len as u64).to_be_bytes();
            let skip = bytes.iter().take_while(|&&b| b == 0).count();
            out.push(0x80 | (8 - skip) as u8);
            out.extend_from_slice(&bytes[skip..]);
        }
    }
}

/// `[0] EXPLICIT SEQUENCE OF Certificate` holding the responder certificate.
pub(crate) fn certs_field(cert_der: &[u8]) -> Vec<u8> {
    let seq_len = cert_der.len();
    let mut out = Vec::with_capacity(header_len(header_len(seq_len) + seq_len) + 8 + seq_len);
    push_header(&mut out, 0xa0, header_len(seq_len) + seq_len);
    push_header(&mut out, 0x30, seq_len);
    out.extend_from_slice(cert_der);
    out
}

/// A successful OCSPResponse from a signed core and the CA's certs field.
pub(crate) fn assemble(core: &[u8], certs: &[u8]) -> Vec<u8> {
    let basic = core.len() + certs.len();
    let octets = header_len(basic) + basic;
    let response_bytes = ID_PKIX_OCSP_BASIC.len() + header_len(octets) + octets;
    let explicit = header_len(response_bytes) + response_bytes;
    let outer = 3 + header_len(explicit) + explicit;
    let mut out = Vec::with_capacity(header_len(outer) + outer);
    push_header(&mut out, 0x30, outer);
    out.extend_from_slice(&[0x0a, 0x01, 0x00]);
    push_header(&mut out, 0xa0, explicit);
    push_header(&mut out, 0x30, response_bytes);
    out.extend_from_slice(&ID_PKIX_OCSP_BASIC);
    push_header(&mut out, 0x04, octets);
    push_header(&mut out, 0x30, basic);
    out.extend_from_slice(core);
    out.extend_from_slice(certs);
    out
}

/// An unsuccessful OCSPResponse (status only, no responseBytes).
pub const fn error_response(status: OcspResponseStatus) -> [u8; 5] {
    [0x30, 0x03, 0x0a, 0x01, status as u8]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use der::asn1::OctetString;
    use der::Decode;
    use spki::AlgorithmIdentifierOwned;
    use x509_cert::serial_number::SerialNumber;
    use x509_ocsp::{BasicOcspResponse, OcspResponse};

    #[test]
    fn error_responses_decode() {
        for s in [
            OcspResponseStatus::MalformedRequest,
            OcspResponseStatus::InternalError,
            OcspResponseStatus::TryLater,
            OcspResponseStatus::SigRequired,
            OcspResponseStatus::Unauthorized,
        ] {
            let r = OcspResponse::from_der(&error_response(s)).unwrap();
            assert_eq!(r.response_status, s);
            assert!(r.response_bytes.is_none());
        }
    }

    /// The hand-written wrapper equals what x509-ocsp encodes, at every length form.
    #[test]
    fn assembled_response_matches_library_encoding() {
        let alg = AlgorithmIdentifierOwned {
            oid: const_oid::db::rfc5912::ECDSA_WITH_SHA_256,
            parameters: None,
        };
        for (n_singles, sig_len, cert) in [
            (1usize, 70usize, None),
            (1, 70, Some(600)),
            (40, 256, Some(70_000)),
        ] {
            let singles = (0..n_singles)
                .map(|i| {
                    single_response(
                        CertId {
                            hash_algorithm: AlgorithmIdentifierOwned {
                                oid: const_oid::db::rfc5912::ID_SHA_1,
                                parameters: Some(Null.into()),
                            },
                            issuer_name_hash: OctetString::new(vec![1; 20]).unwrap(),
                            issuer_key_hash: OctetString::new(vec![2; 20]).unwrap(),
                            serial_number: SerialNumber::new(&[1, 2, i as u8 + 1]).unwrap(),
                        },
                        if i % 2 == 0 {
                            ResponseStatus::Good
                        } else {
                            ResponseStatus::Revoked {
                                at: 1_700_000_000,
                                reason: Some(CrlReason::KeyCompromise),
                            }
                        },
                        1_700_000_100,
                        1_700_003_700,
                    )
                    .unwrap()
                })
                .collect();
            let tbs = response_data(&[9; 20], 1_700_000_100, singles, None).unwrap();
            let signature = BitString::from_bytes(&vec![0x5a; sig_len]).unwrap();
            // A fake "certificate": any DER SEQUENCE will do for the framing.
            let fake_cert = cert.map(|len| {
                let mut c = Vec::new();
                push_header(&mut c, 0x30, len);
                c.extend(std::iter::repeat_n(0u8, len));
                c
            });
            let core = core(&tbs.to_der().unwrap(), &alg.to_der().unwrap(), &signature).unwrap();
            let certs = fake_cert.as_deref().map(certs_field).unwrap_or_default();
            let ours = assemble(&core, &certs);

            // Decode with the library (certificates excluded: the fake one does not parse).
            let parsed = OcspResponse::from_der(&assemble(&core, &[])).unwrap();
            let basic = BasicOcspResponse::from_der(
                parsed.response_bytes.as_ref().unwrap().response.as_bytes(),
            )
            .unwrap();
            assert_eq!(basic.tbs_response_data, tbs);
            assert_eq!(basic.signature, signature);
            // And the framing with certificates is well-formed DER of the right total length.
            let any = der::asn1::AnyRef::from_der(&ours).unwrap();
            assert_eq!(
                any.value().len() + header_len(any.value().len()),
                ours.len()
            );
        }
    }
}
