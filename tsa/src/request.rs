//! Parsing and checking a `TimeStampReq` (RFC 3161 §2.4.1).
//!
//! [`parse_request`] never panics on any input (it is the cargo-fuzz target
//! under `tsa/fuzz/`): every problem becomes a [`Rejection`] with the
//! PKIFailureInfo the issue prescribes.

use const_oid::db::rfc5912;
use const_oid::ObjectIdentifier;
use der::asn1::Int;
use der::{Decode, Tag, Tagged};

use crate::asn1::{FailureInfo, MessageImprint, TimeStampReq};

/// Hash algorithms accepted in message imprints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ImprintAlgorithm {
    /// SHA-256 (32 octets).
    Sha256,
    /// SHA-384 (48 octets).
    Sha384,
    /// SHA-512 (64 octets).
    Sha512,
}

impl ImprintAlgorithm {
    /// The algorithm for `oid`, if accepted.
    pub fn from_oid(oid: &ObjectIdentifier) -> Option<Self> {
        match *oid {
            rfc5912::ID_SHA_256 => Some(ImprintAlgorithm::Sha256),
            rfc5912::ID_SHA_384 => Some(ImprintAlgorithm::Sha384),
            rfc5912::ID_SHA_512 => Some(ImprintAlgorithm::Sha512),
            _ => None,
        }
    }

    /// The OID.
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            ImprintAlgorithm::Sha256 => rfc5912::ID_SHA_256,
            ImprintAlgorithm::Sha384 => rfc5912::ID_SHA_384,
            ImprintAlgorithm::Sha512 => rfc5912::ID_SHA_512,
        }
    }

    /// Digest length in octets.
    pub fn digest_len(self) -> usize {
        match self {
            ImprintAlgorithm::Sha256 => 32,
            ImprintAlgorithm::Sha384 => 48,
            ImprintAlgorithm::Sha512 => 64,
        }
    }

    /// Name for logs.
    pub fn name(self) -> &'static str {
        match self {
            ImprintAlgorithm::Sha256 => "SHA-256",
            ImprintAlgorithm::Sha384 => "SHA-384",
            ImprintAlgorithm::Sha512 => "SHA-512",
        }
    }
}

/// Why a request gets no token: the failInfo bit and a short explanation for
/// the reply's statusString (never includes request bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// The PKIFailureInfo bit.
    pub failure: FailureInfo,
    /// Human-readable explanation (goes into statusString).
    pub text: String,
}

impl Rejection {
    /// A rejection.
    pub fn new(failure: FailureInfo, text: impl Into<String>) -> Self {
        Rejection {
            failure,
            text: text.into(),
        }
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.failure, self.text)
    }
}

/// A request that passed every check: what goes into the token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidRequest {
    /// The imprint, copied as received (including the parameters field of
    /// the algorithm, absent or NULL).
    pub message_imprint: MessageImprint,
    /// The imprint algorithm.
    pub algorithm: ImprintAlgorithm,
    /// The nonce, echoed exactly.
    pub nonce: Option<Int>,
    /// Whether the TSA certificate (and chain) must be included.
    pub cert_req: bool,
}

/// Decodes and checks a DER `TimeStampReq` against the policy served.
///
/// - undecodable (including version ≠ 1, trailing bytes, non-DER) →
///   `badDataFormat`;
/// - SHA-1 or any algorithm but SHA-256/384/512, or parameters other than
///   absent/NULL → `badAlg`;
/// - imprint of the wrong length → `badDataFormat`;
/// - a `reqPolicy` other than `policy` → `unacceptedPolicy`;
/// - any request extension → `unacceptedExtension` (none is supported).
pub fn parse_request(der: &[u8], policy: &ObjectIdentifier) -> Result<ValidRequest, Rejection> {
    let req = TimeStampReq::from_der(der).map_err(|e| {
        Rejection::new(
            FailureInfo::BadDataFormat,
            format!("the request is not a DER TimeStampReq v1 ({})", e.kind()),
        )
    })?;
    let alg = &req.message_imprint.hash_algorithm;
    let algorithm = match ImprintAlgorithm::from_oid(&alg.oid) {
        Some(a) => a,
        None if alg.oid == rfc5912::ID_SHA_1 => {
            return Err(Rejection::new(
                FailureInfo::BadAlg,
                "SHA-1 message imprints are not accepted; use SHA-256, SHA-384 or SHA-512",
            ))
        }
        None => {
            return Err(Rejection::new(
                FailureInfo::BadAlg,
                format!(
                    "unsupported message imprint algorithm {}; use SHA-256, SHA-384 or SHA-512",
                    alg.oid
                ),
            ))
        }
    };
    if let Some(params) = &alg.parameters {
        if params.tag() != Tag::Null || !params.value().is_empty() {
            return Err(Rejection::new(
                FailureInfo::BadAlg,
                "hash algorithm parameters must be absent or NULL",
            ));
        }
    }
    let got = req.message_imprint.hashed_message.as_bytes().len();
    if got != algorithm.digest_len() {
        return Err(Rejection::new(
            FailureInfo::BadDataFormat,
            format!(
                "a {} imprint has {} octets, not {got}",
                algorithm.name(),
                algorithm.digest_len()
            ),
        ));
    }
    if let Some(requested) = &req.req_policy {
        if requested != policy {
            return Err(Rejection::new(
                FailureInfo::UnacceptedPolicy,
                format!("policy {requested} is not served; this TSA serves {policy}"),
            ));
        }
    }
    if req.extensions.is_some() {
        return Err(Rejection::new(
            FailureInfo::UnacceptedExtension,
            "request extensions are not supported",
        ));
    }
    Ok(ValidRequest {
        message_imprint: req.message_imprint,
        algorithm,
        nonce: req.nonce,
        cert_req: req.cert_req,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    const POLICY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.3.4.1");

    // `openssl ts -query -data abc.txt -sha256` (from x509-tsp's tests).
    const OPENSSL_QUERY: &str = "30400201013031300D060960864801650304020105000420BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD0208314CFCE4E0651827";

    #[test]
    fn openssl_query_is_accepted() {
        let der = hex::decode(OPENSSL_QUERY).unwrap();
        let v = parse_request(&der, &POLICY).unwrap();
        assert_eq!(v.algorithm, ImprintAlgorithm::Sha256);
        assert_eq!(
            v.nonce.unwrap().as_bytes(),
            hex::decode("314CFCE4E0651827").unwrap()
        );
        assert!(!v.cert_req);
    }

    #[test]
    fn garbage_and_truncations_are_bad_data_format() {
        let der = hex::decode(OPENSSL_QUERY).unwrap();
        for n in 0..der.len() {
            let r = parse_request(&der[..n], &POLICY).unwrap_err();
            assert_eq!(r.failure, FailureInfo::BadDataFormat, "prefix {n}");
        }
        let mut trailing = der.clone();
        trailing.push(0);
        assert_eq!(
            parse_request(&trailing, &POLICY).unwrap_err().failure,
            FailureInfo::BadDataFormat
        );
    }
}
