//! Parsing of OCSP requests (RFC 6960 §4.1) and of the GET form of RFC 5019 §5.
//!
//! Everything here is pure and total: any input gives a parsed request or a
//! [`RequestError`], which the responder answers with `malformedRequest`. (This is the entry
//! point of the fuzz target in `ca/fuzz`.)

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use const_oid::db::rfc5912::{ID_SHA_1, ID_SHA_256};
use const_oid::db::rfc6960::ID_PKIX_OCSP_NONCE;
use der::asn1::{Null, OctetString};
use der::{Decode, Encode};
use x509_ocsp::{CertId, OcspRequest};

/// Hash algorithms accepted in a CertID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertIdHash {
    Sha1,
    Sha256,
}

impl CertIdHash {
    /// Output length in octets.
    pub fn output_len(self) -> usize {
        match self {
            CertIdHash::Sha1 => 20,
            CertIdHash::Sha256 => 32,
        }
    }
}

/// One certificate asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestedCert {
    /// The CertID as received; responses echo it exactly (clients compare the hash
    /// AlgorithmIdentifier too, parameters included).
    pub cert_id: CertId,
    /// `None` when the hash algorithm is not SHA-1 or SHA-256 (the responder cannot tell the
    /// issuer: `unauthorized`).
    pub hash: Option<CertIdHash>,
    /// The hash AlgorithmIdentifier carried explicit NULL parameters (as OpenSSL sends them)
    /// rather than none.
    pub null_params: bool,
}

impl RequestedCert {
    /// The serial number's DER content octets (two's complement, minimal).
    pub fn serial_octets(&self) -> &[u8] {
        self.cert_id.serial_number.as_bytes()
    }
}

/// A request as the responder uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedRequest {
    /// One entry per Request of the requestList, in order (at least one).
    pub certs: Vec<RequestedCert>,
    /// The nonce extension's extnValue, to be echoed as is (RFC 9654 checked: an OCTET
    /// STRING of 1 to [`MAX_NONCE_LEN`] octets).
    pub nonce: Option<OctetString>,
}

/// Why a request is refused as malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    #[error("request is larger than {max} octets")]
    TooLarge { max: usize },
    #[error("request is empty")]
    Empty,
    #[error("request is not DER-encoded OCSPRequest: {0}")]
    Der(String),
    #[error("request list is empty")]
    NoCertificates,
    #[error("{found} certificates in one request, at most {max}")]
    TooManyCertificates { found: usize, max: usize },
    #[error("nonce must be an OCTET STRING of 1 to 128 octets (RFC 9654): {0}")]
    BadNonce(&'static str),
    #[error("nonce extension present twice")]
    DuplicateNonce,
    #[error("unsupported critical extension {0}")]
    CriticalExtension(String),
    #[error("CertID hash algorithm parameters must be NULL or absent")]
    BadHashParameters,
    #[error("GET path is not percent-encoded base64: {0}")]
    BadGetPath(&'static str),
}

/// Largest nonce accepted: RFC 9654 §2.1 (which obsoletes RFC 8954 and its 32-octet cap)
/// allows 1 to 128 octets in a request, and a responder that supports nonces rejects a request
/// whose nonce is empty or longer with `malformedRequest`. Every length in between is echoed
/// (when the fresh-signing budget allows: see the module documentation).
pub const MAX_NONCE_LEN: usize = 128;

/// Parses a DER OCSPRequest, keeping at most `max_certs` CertIDs.
pub fn parse_request(der: &[u8], max_certs: usize) -> Result<ParsedRequest, RequestError> {
    if der.is_empty() {
        return Err(RequestError::Empty);
    }
    let req = OcspRequest::from_der(der).map_err(|e| RequestError::Der(e.to_string()))?;
    let tbs = req.tbs_request;
    let n = tbs.request_list.len();
    if n == 0 {
        return Err(RequestError::NoCertificates);
    }
    if n > max_certs {
        return Err(RequestError::TooManyCertificates {
            found: n,
            max: max_certs,
        });
    }

    let mut nonce = None;
    for ext in tbs.request_extensions.iter().flatten() {
        if ext.extn_id == ID_PKIX_OCSP_NONCE {
            if nonce.is_some() {
                return Err(RequestError::DuplicateNonce);
            }
            let inner = OctetString::from_der(ext.extn_value.as_bytes())
                .map_err(|_| RequestError::BadNonce("not an OCTET STRING"))?;
            match inner.as_bytes().len() {
                0 => return Err(RequestError::BadNonce("empty")),
                len if len > MAX_NONCE_LEN => return Err(RequestError::BadNonce("too long")),
                _ => {}
            }
            nonce = Some(ext.extn_value.clone());
        } else if ext.critical {
            return Err(RequestError::CriticalExtension(ext.extn_id.to_string()));
        }
    }

    let mut certs = Vec::with_capacity(n);
    for r in tbs.request_list {
        if let Some(ext) = r
            .single_request_extensions
            .iter()
            .flatten()
            .find(|e| e.critical)
        {
            return Err(RequestError::CriticalExtension(ext.extn_id.to_string()));
        }
        let alg = &r.req_cert.hash_algorithm;
        let null_params = match &alg.parameters {
            None => false,
            Some(p) if p.to_der().ok().as_deref() == Null.to_der().ok().as_deref() => true,
            Some(_) => return Err(RequestError::BadHashParameters),
        };
        let hash = match alg.oid {
            ID_SHA_1 => Some(CertIdHash::Sha1),
            ID_SHA_256 => Some(CertIdHash::Sha256),
            _ => None,
        };
        certs.push(RequestedCert {
            cert_id: r.req_cert,
            hash,
            null_params,
        });
    }
    Ok(ParsedRequest { certs, nonce })
}

/// Base64 decoder that accepts the standard alphabet with or without padding.
const LENIENT_B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// The value of an ASCII hex digit (either case).
fn hex_value(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Decodes the part of a GET URL after `/ocsp/` (RFC 5019 §5: `url-encoding of base64
/// encoding of the DER encoding of the OCSPRequest`), tolerating what clients really send:
/// percent-encoded or raw characters, `+` turned into a space (or `%20`) by form-encoding
/// code, the URL-safe alphabet, missing or extra padding, line breaks from line-wrapping
/// encoders, and repeated leading slashes (`/ocsp//MEow…`). `max_bytes` bounds the decoded
/// request.
pub fn decode_get_path(path: &str, max_bytes: usize) -> Result<Vec<u8>, RequestError> {
    // Base64 grows 4/3, percent-encoding triples: anything longer cannot fit.
    if path.len() > max_bytes.saturating_mul(4).saturating_add(64) {
        return Err(RequestError::TooLarge { max: max_bytes });
    }
    let raw = path.as_bytes();
    let mut text = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if b == b'%' {
            let (Some(h), Some(l)) = (
                raw.get(i + 1).copied().and_then(hex_value),
                raw.get(i + 2).copied().and_then(hex_value),
            ) else {
                return Err(RequestError::BadGetPath("bad percent-escape"));
            };
            text.push(h << 4 | l);
            i += 3;
        } else {
            text.push(b);
            i += 1;
        }
    }
    // A DER SEQUENCE encodes as "M…", never "/": leading slashes are path noise.
    let start = text.iter().position(|&c| c != b'/').unwrap_or(text.len());
    let mut b64 = Vec::with_capacity(text.len());
    for &c in &text[start..] {
        match c {
            b' ' | b'-' => b64.push(b'+'),
            b'_' => b64.push(b'/'),
            b'\r' | b'\n' | b'\t' => {}
            b'=' => {}
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' => b64.push(c),
            _ => return Err(RequestError::BadGetPath("character outside base64")),
        }
    }
    if b64.is_empty() {
        return Err(RequestError::Empty);
    }
    let der = LENIENT_B64
        .decode(&b64)
        .map_err(|_| RequestError::BadGetPath("invalid base64"))?;
    if der.len() > max_bytes {
        return Err(RequestError::TooLarge { max: max_bytes });
    }
    Ok(der)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use der::asn1::ObjectIdentifier;
    use spki::AlgorithmIdentifierOwned;
    use x509_cert::ext::Extension;
    use x509_cert::serial_number::SerialNumber;
    use x509_ocsp::{Request, TbsRequest};

    fn cert_id(oid: ObjectIdentifier, null: bool, hash_len: usize) -> CertId {
        CertId {
            hash_algorithm: AlgorithmIdentifierOwned {
                oid,
                parameters: null.then(|| Null.into()),
            },
            issuer_name_hash: OctetString::new(vec![1; hash_len]).unwrap(),
            issuer_key_hash: OctetString::new(vec![2; hash_len]).unwrap(),
            serial_number: SerialNumber::new(&[0x12, 0x34]).unwrap(),
        }
    }

    fn request(ids: Vec<CertId>, exts: Option<Vec<Extension>>) -> Vec<u8> {
        OcspRequest {
            tbs_request: TbsRequest {
                request_list: ids.into_iter().map(Request::new).collect(),
                request_extensions: exts,
                ..Default::default()
            },
            optional_signature: None,
        }
        .to_der()
        .unwrap()
    }

    fn nonce_ext(value: Vec<u8>) -> Extension {
        Extension {
            extn_id: ID_PKIX_OCSP_NONCE,
            critical: false,
            extn_value: OctetString::new(value).unwrap(),
        }
    }

    #[test]
    fn parses_hashes_and_parameters() {
        let der = request(
            vec![
                cert_id(ID_SHA_1, true, 20),
                cert_id(ID_SHA_256, false, 32),
                cert_id(const_oid::db::rfc5912::ID_SHA_384, true, 48),
            ],
            None,
        );
        let p = parse_request(&der, 8).unwrap();
        assert_eq!(p.certs.len(), 3);
        assert_eq!(p.certs[0].hash, Some(CertIdHash::Sha1));
        assert!(p.certs[0].null_params);
        assert_eq!(p.certs[1].hash, Some(CertIdHash::Sha256));
        assert!(!p.certs[1].null_params);
        assert_eq!(p.certs[2].hash, None);
        assert_eq!(p.certs[0].serial_octets(), &[0x12, 0x34]);
        assert!(p.nonce.is_none());
    }

    #[test]
    fn limits() {
        let der = request(vec![cert_id(ID_SHA_1, true, 20); 3], None);
        assert_eq!(
            parse_request(&der, 2),
            Err(RequestError::TooManyCertificates { found: 3, max: 2 })
        );
        assert_eq!(parse_request(&[], 2), Err(RequestError::Empty));
        assert!(matches!(
            parse_request(&der[..der.len() - 1], 8),
            Err(RequestError::Der(_))
        ));
        let mut trailing = der.clone();
        trailing.push(0);
        assert!(matches!(
            parse_request(&trailing, 8),
            Err(RequestError::Der(_))
        ));
        assert_eq!(
            parse_request(&request(vec![], None), 8),
            Err(RequestError::NoCertificates)
        );
    }

    #[test]
    fn nonces() {
        let ok = |len: usize| {
            let inner = OctetString::new(vec![7; len]).unwrap().to_der().unwrap();
            parse_request(
                &request(
                    vec![cert_id(ID_SHA_1, true, 20)],
                    Some(vec![nonce_ext(inner)]),
                ),
                8,
            )
        };
        assert!(ok(1).unwrap().nonce.is_some());
        assert!(ok(32).is_ok());
        assert!(ok(33).is_ok());
        assert_eq!(ok(128).unwrap().nonce.unwrap().as_bytes().len(), 128 + 3);
        assert_eq!(ok(129), Err(RequestError::BadNonce("too long")));
        assert_eq!(ok(0), Err(RequestError::BadNonce("empty")));
        let raw = request(
            vec![cert_id(ID_SHA_1, true, 20)],
            Some(vec![nonce_ext(vec![0xff; 16])]),
        );
        assert_eq!(
            parse_request(&raw, 8),
            Err(RequestError::BadNonce("not an OCTET STRING"))
        );
        let inner = OctetString::new(vec![7; 16]).unwrap().to_der().unwrap();
        let twice = request(
            vec![cert_id(ID_SHA_1, true, 20)],
            Some(vec![nonce_ext(inner.clone()), nonce_ext(inner)]),
        );
        assert_eq!(parse_request(&twice, 8), Err(RequestError::DuplicateNonce));
    }

    #[test]
    fn critical_extensions_are_refused() {
        let ext = Extension {
            extn_id: ObjectIdentifier::new_unwrap("1.2.3.4"),
            critical: true,
            extn_value: OctetString::new(vec![5, 0]).unwrap(),
        };
        let der = request(vec![cert_id(ID_SHA_1, true, 20)], Some(vec![ext.clone()]));
        assert!(matches!(
            parse_request(&der, 8),
            Err(RequestError::CriticalExtension(_))
        ));
        let lax = Extension {
            critical: false,
            ..ext
        };
        let der = request(vec![cert_id(ID_SHA_1, true, 20)], Some(vec![lax]));
        assert!(parse_request(&der, 8).is_ok());
    }

    #[test]
    fn get_paths() {
        let der = request(vec![cert_id(ID_SHA_1, true, 20)], None);
        let std = base64::engine::general_purpose::STANDARD.encode(&der);
        assert!(std.contains('+') || std.contains('/') || std.ends_with('='));
        let forms = [
            std.clone(),
            std.trim_end_matches('=').to_owned(),
            std.replace('+', "%2B")
                .replace('/', "%2F")
                .replace('=', "%3D"),
            std.replace('+', " "),
            std.replace('+', "%20"),
            std.replace('+', "-").replace('/', "_"),
            format!("//{std}"),
            format!("///{}", std.replace('/', "%2f")),
            format!("{}\n{}", &std[..10], &std[10..]),
            format!("{std}=="),
        ];
        for f in &forms {
            assert_eq!(decode_get_path(f, 8192).unwrap(), der, "{f:?}");
        }
        assert!(decode_get_path("%zz", 8192).is_err());
        assert!(decode_get_path("%4", 8192).is_err());
        assert!(decode_get_path("MEow!", 8192).is_err());
        assert_eq!(decode_get_path("///", 8192), Err(RequestError::Empty));
        assert!(matches!(
            decode_get_path(&"A".repeat(100), 16),
            Err(RequestError::TooLarge { .. })
        ));
        assert!(matches!(
            decode_get_path(&std, 10),
            Err(RequestError::TooLarge { .. })
        ));
    }
}
