//! OCSP responder (RFC 6960, RFC 5019 lightweight profile, RFC 9654 nonces).
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
//! # What the public may make the HSM sign
//!
//! The HSM sessions are shared with issuance and time-stamping, so what anyone on the network
//! can make the HSM sign is bounded. Responses for the certificates the CAs issued are signed
//! once per validity period and form (bounded by the certificates issued). Everything else —
//! a nonce to echo, several CertIDs in one request, a serial no CA issued — draws on one
//! budget of [`OcspConfig::fresh_signatures_per_sec`] signatures a second (a token bucket
//! holding one second's worth), and beyond it:
//!
//! - a request with a nonce and one CertID is answered as without nonce: the pre-signed
//!   response, which does not carry the nonce (the extension is optional for a responder,
//!   RFC 6960 §4.4, which RFC 9654 keeps; RFC 5019 §4 has a client that gets no nonce back
//!   fall back to checking freshness by time). A real certificate
//!   thus always gets its correct status, signed; counted as `ocsp_nonce_dropped`;
//! - a serial no CA issued is answered from a separate cache of signed `unknown` answers
//!   (per serial and CertID form, at most [`OcspConfig::unknown_cache_capacity`] serials,
//!   valid [`OcspConfig::unknown_validity_secs`], never refreshed, dropped at once when the
//!   serial's status changes, e.g. at its issuance), or, when it has none, with the unsigned
//!   `tryLater` status; counted as `ocsp_unknown_try_later`. Random serials never evict the
//!   responses of real certificates;
//! - a request with several CertIDs gets `tryLater` (`ocsp_multi_try_later`).
//!
//! The counts go to [`crate::limits::REFUSED_METRIC`] (listener `main`).
//!
//! # Nonces
//!
//! RFC 9654 (which obsoletes RFC 8954 and its 32-octet cap) allows nonces of 1 to 128 octets;
//! every such nonce is echoed (within the budget above). A nonce that is empty, longer than
//! 128 octets, not an OCTET STRING, or present twice makes the request `malformedRequest`, as
//! RFC 9654 §2.1 requires of a responder that supports nonces.
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

mod budget;
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

use pkix::verify::VerifyError;
use pkix::X509Error;

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
