//! The one error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong in the time-stamping authority.
///
/// A request that is refused for a reason the client can act on (bad
/// algorithm, unknown policy, …) is not an error: it becomes a
/// [`crate::Rejection`] and an RFC 3161 reply. These variants are the
/// failures of the service itself; when one happens while a request is
/// served, the client gets `systemFailure` (or `timeNotAvailable` for
/// [`Error::ClockUntrusted`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid.
    #[error("TSA configuration: {0}")]
    Config(String),

    /// A certificate of the TSA (unit certificate or chain) is unusable.
    #[error("TSA certificate {path}: {reason}")]
    Certificate {
        /// File the certificate came from (empty when given in memory).
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// DER encoding or decoding failed.
    #[error("DER: {0}")]
    Der(#[from] der::Error),

    /// The signer (the HSM) failed; the message carries the whole cause
    /// chain, e.g. "HSM unavailable: …".
    #[error("signing the time-stamp token failed: {0}")]
    Signing(String),

    /// The clock is not trusted; no token may be issued.
    #[error("clock not trusted: {0}")]
    ClockUntrusted(String),

    /// Recording issued tokens failed or is lagging; no token may be issued
    /// that could not be recorded.
    #[error("token recorder: {0}")]
    Recorder(String),

    /// Too many requests are waiting for the signer.
    #[error("busy: {0}")]
    Busy(String),

    /// An SNTP exchange failed (one source; the clock guard decides what
    /// that means for trust).
    #[error("SNTP {server}: {reason}")]
    Sntp {
        /// The NTP server queried.
        server: String,
        /// What went wrong.
        reason: String,
    },

    /// File-system error, with the path concerned.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },

    /// The TSA's dedicated listener could not be set up.
    #[error("TSA listener on {addr}: {source}")]
    Listen {
        /// The address it was to listen on.
        addr: std::net::SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },

    /// A background task ended unexpectedly (panic or cancellation).
    #[error("internal: {0}")]
    Internal(String),
}

impl Error {
    pub(crate) fn config(msg: impl Into<String>) -> Self {
        Error::Config(msg.into())
    }

    pub(crate) fn sntp(server: impl std::fmt::Display, reason: impl Into<String>) -> Self {
        Error::Sntp {
            server: server.to_string(),
            reason: reason.into(),
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
