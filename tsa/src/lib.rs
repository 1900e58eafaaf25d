//! RFC 3161 / RFC 5816 time-stamping authority (ETSI EN 319 422 profile)
//! with a clock guard that fails closed.
//!
//! - [`request`]: parsing and checking `TimeStampReq` (the fuzzed parser);
//! - [`authority`]: [`TimeStampAuthority`] — TSTInfo, CMS SignedData with
//!   ESSCertIDv2 through any RustCrypto signer (the HSM signer of
//!   `hsm-config` in production), recording, replies;
//! - [`clock`]: [`ClockGuard`] — SNTP checks against several sources,
//!   trusted/untrusted with reasons, metrics;
//! - [`recorder`]: [`TokenRecorder`] (implemented by the CA storage) and
//!   the batching [`TokenLog`];
//! - [`serial`]: serial numbers unique across instances;
//! - [`http`]: the axum router (`POST /tsa`);
//! - [`listener`]: the dedicated listener (per-thread runtimes that sign
//!   their own requests);
//! - [`asn1`]: the RFC 3161 types `x509-tsp` 0.1 cannot express.
//!
//! Signature validation, CAdES signing and the time anchors of the audit journal are in the
//! `validation` crate (`tsa/validation`), which builds on this one.
//!
//! This crate links neither PKCS#11 nor SQL: the signer and the recorder
//! are plugged in by the binary.
//!
//! ```ignore
//! // In `igc serve`, inside the Tokio runtime:
//! let signer = hsm_config::HsmSigner::new(&token, &cfg.tsa.key_label)?;
//! let authority = tsa::start::<_, hsm_config::HsmSignature, _>(&cfg.tsa, signer, recorder)?;
//! let app = app.merge(tsa::http::router(authority.clone()));
//! ```
#![forbid(unsafe_code)]

pub mod asn1;
pub mod authority;
pub mod clock;
pub mod config;
mod error;
pub mod http;
mod lanes;
pub mod listener;
pub mod probe;
pub mod recorder;
pub mod request;
pub mod serial;
pub mod sntp;
mod time_source;

pub use asn1::FailureInfo;
pub use authority::{
    Outcome, Reply, TimeStampAuthority, TsaCertificates, TsaStatus, REQUEST_DURATION_BUCKETS,
    REQUEST_DURATION_METRIC,
};
pub use clock::{ClockGuard, ClockStatus, SystemClock, TimeSource, UntrustedReason};
pub use config::{ClockConfig, RecorderConfig, TsaConfig};
pub use error::{Error, Result};
pub use listener::TsaListener;
pub use recorder::{
    IssuedToken, MemoryRecorder, RecorderStatus, StoreRecorder, TokenLog, TokenRecorder,
};
pub use request::{parse_request, ImprintAlgorithm, Rejection, ValidRequest};

use signature::{Keypair, Signer};
use spki::{DynSignatureAlgorithmIdentifier, EncodePublicKey, SignatureBitStringEncoding};

/// Starts a TSA from its configuration: reads the certificates, starts
/// the clock guard and the token log on the current Tokio runtime, and
/// checks that `signer` holds the certificate's key. The TSA refuses
/// requests (`timeNotAvailable`) until the first clock round passes.
pub fn start<S, Sig, R>(cfg: &TsaConfig, signer: S, recorder: R) -> Result<TimeStampAuthority>
where
    S: Keypair + DynSignatureAlgorithmIdentifier + Signer<Sig> + Send + Sync + 'static,
    S::VerifyingKey: EncodePublicKey,
    Sig: SignatureBitStringEncoding + 'static,
    R: TokenRecorder,
{
    cfg.validate()?;
    let certs = TsaCertificates::from_pem_files(&cfg.certificate, &cfg.chain)?;
    let clock = ClockGuard::start(cfg.clock.clone(), cfg.accuracy())?;
    let log = TokenLog::start(recorder, &cfg.recorder)?;
    TimeStampAuthority::new(cfg, signer, certs, clock, log)
}
