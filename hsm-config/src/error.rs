//! The one error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong in the HSM layer and the key ceremonies.
///
/// [`Error::Unavailable`] is the variant callers must treat as transient: the
/// token is unreachable right now and the layer is re-connecting by itself.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The token cannot be reached (module finalized, token removed, device
    /// error). Retrying later may succeed; the pool reconnects by itself.
    #[error("HSM unavailable: {0}")]
    Unavailable(String),

    /// The PKCS#11 module could not be loaded or initialised.
    #[error("cannot load PKCS#11 module {path}: {reason}")]
    Module { path: PathBuf, reason: String },

    /// No initialised token with that label is present.
    #[error("no token labelled {0:?} in the PKCS#11 module")]
    TokenNotFound(String),

    /// A token with that label exists already (init-token refuses to reuse it).
    #[error("a token labelled {0:?} exists already")]
    TokenExists(String),

    /// The token rejected the PIN. The layer stops trying so that retries never
    /// exhaust the token's PIN counter.
    #[error("the token {token:?} rejected the PIN ({detail}); no further login will be attempted")]
    PinRejected { token: String, detail: String },

    /// A PIN source (file, share set) is unusable.
    #[error("PIN: {0}")]
    Pin(String),

    /// No key with that label in the token.
    #[error("no private key labelled {0:?} in the token")]
    KeyNotFound(String),

    /// A key with that label exists already; key generation never overwrites.
    #[error("a key labelled {0:?} exists already in the token")]
    KeyExists(String),

    /// The key's type or size is not one this layer signs with.
    #[error("unsupported key: {0}")]
    UnsupportedKey(String),

    /// All sessions stayed busy for longer than the configured wait.
    #[error("all {0} HSM sessions stayed busy; giving up instead of waiting forever")]
    Busy(usize),

    /// Any other PKCS#11 failure, with the function that failed.
    #[error("PKCS#11 {0}")]
    Pkcs11(#[from] cryptoki::error::Error),

    /// DER or PEM encoding or decoding failed.
    #[error("encoding: {0}")]
    Encoding(String),

    /// Configuration is invalid.
    #[error("configuration: {0}")]
    Config(String),

    /// A ceremony file or ceremony run failed validation.
    #[error("ceremony: {0}")]
    Ceremony(String),

    /// Certificate or CRL construction failed.
    #[error("X.509: {0}")]
    X509(String),

    /// A signature did not verify.
    #[error("signature verification: {0}")]
    Verify(String),

    /// File system error, with the path concerned.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// True when the failure is transient (token unreachable or busy).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Error::Unavailable(_) | Error::Busy(_))
    }
}

impl From<der::Error> for Error {
    fn from(e: der::Error) -> Self {
        Error::Encoding(e.to_string())
    }
}

impl From<spki::Error> for Error {
    fn from(e: spki::Error) -> Self {
        Error::Encoding(e.to_string())
    }
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
