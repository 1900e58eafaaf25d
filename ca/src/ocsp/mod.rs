//! OCSP responder (RFC 6960, RFC 5019 lightweight profile, RFC 8954 nonces).
//!
//! # Pieces
//!
//! - [`OcspCa`]: one CA served — the issuer hashes that identify it in CertIDs (SHA-1 and
//!   SHA-256) and its delegated responder (certificate with id-kp-OCSPSigning, key in the HSM
//!   behind the RustCrypto signer traits).
//! - [`OcspResponder`]: answers DER requests ([`OcspResponder::respond`]), keeps pre-signed
//!   responses, re-signs on status changes ([`OcspResponder::notify_status_change`]) and
//!   follows changes made by other instances through the database.
//! - [`ocsp_router`]: the HTTP front, `POST /ocsp` and `GET /ocsp/{base64}`.
//! - [`OcspConfig`]: the `[ocsp]` section of `igc.toml`.
//!
//! # Pre-signed responses
//!
//! Responses are signed on the first request for a (CA, serial, CertID form) and then served
//! from memory until shortly before their nextUpdate; a response that was asked for again is
//! re-signed in the background [`OcspConfig::refresh_margin_secs`] (with jitter) before it
//! expires, one that was not is dropped. So the HSM signs the working set once per validity
//! period rather than every certificate, and memory follows the working set, bounded by
//! [`OcspConfig::cache_capacity`] (≈ 0.45 KB per cached response with a P-256 responder key,
//! measured by `ca/examples/ocsp_bench.rs`).
//! [`OcspResponder::presign`] warms the cache for every known serial (e.g. at start-up).
//!
//! Requests with a nonce, or with several CertIDs, are signed fresh. A cached response is
//! never signed on the request path; concurrent misses for the same response share one
//! signature.
//!
//! # Status changes
//!
//! Revocation, suspension and reinstatement go through the store, which journals them.
//! [`OcspResponder::notify_status_change`] (called by the revoking code on this instance) drops
//! the serial's cached responses synchronously and re-signs them in the background; every
//! [`OcspConfig::poll_interval_ms`], each instance also reads the journal entries written since
//! its last poll ([`crate::storage::Store::status_changes_since`]) and does the same for the
//! serials they name, which is how instances sharing PostgreSQL learn of each other's changes.
//!
//! # Failures
//!
//! Garbage gets `malformedRequest`, CertIDs of other issuers (or hashed with another
//! algorithm) `unauthorized`, and a database or HSM failure `tryLater` — always as an
//! `application/ocsp-response` body, never an HTTP error page. Cached responses keep being
//! served while the database or the HSM is away.

mod cache;
mod config;
mod http;
mod request;
mod responder;
mod response;
mod signer;

pub use cache::CacheStats;
pub use config::OcspConfig;
pub use http::{ocsp_router, CONTENT_TYPE_REQUEST, CONTENT_TYPE_RESPONSE};
pub use request::{
    decode_get_path, parse_request, CertIdHash, ParsedRequest, RequestError, RequestedCert,
};
pub use responder::{OcspReply, OcspResponder};
pub use response::{error_response, ResponseStatus};
pub use signer::OcspCa;
pub use x509_ocsp::OcspResponseStatus;

use crate::verify::VerifyError;
use crate::x509::X509Error;

/// Errors of the OCSP responder's set-up and background work. Request-level problems are not
/// errors: they are OCSP response statuses.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OcspError {
    /// A configuration value is out of bounds.
    #[error("ocsp.{field}: {reason}")]
    Config { field: &'static str, reason: String },
    /// The responder certificate or signer of a CA is not acceptable.
    #[error("OCSP responder of {ca}: {reason}")]
    ResponderCertificate { ca: String, reason: String },
    /// No CA configured, or too many.
    #[error("OCSP responder: {0}")]
    Setup(String),
    /// The signer failed (HSM unavailable, …).
    #[error("OCSP signing failed: {0}")]
    Signing(String),
    /// A signature just produced does not verify with the responder certificate's key.
    #[error("OCSP signature self-check failed: {0}")]
    SelfCheck(#[source] VerifyError),
    /// A blocking signing task did not complete.
    #[error("OCSP signing task failed: {0}")]
    Task(String),
    #[error(transparent)]
    X509(#[from] X509Error),
    #[error("DER error: {0}")]
    Der(#[from] der::Error),
    /// The store failed (database unreachable, …).
    #[error(transparent)]
    Storage(#[from] crate::Error),
}
