//! The one error type of this crate.

/// What can go wrong building a validator, making a CAdES signature, or anchoring the audit
/// journal in time.
///
/// A signature or a certificate that does not validate is not an error: it is a report
/// ([`crate::SignatureReport`], [`crate::CertificateReport`]) whatever its indication, and a
/// validation refused by its limits is a [`crate::LimitExceeded`]. An anchor that does not
/// verify is a [`crate::anchor::TokenCheck`] with its reason.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // Building a validator (bad configuration).
    /// No trust anchor, a certificate that cannot be used, limits out of range.
    #[error("validator configuration: {0}")]
    Config(String),
    /// Reference data (professions, signing rules) inconsistent.
    #[error("reference data: {0}")]
    Reference(#[source] ca::Error),

    // CAdES signing ([`crate::sign`]).
    /// The signer's key is not the certificate's.
    #[error("the signing key does not match the certificate")]
    KeyMismatch,
    /// DER encoding or decoding.
    #[error("DER: {0}")]
    Der(#[from] der::Error),
    /// The signer (HSM, card) failed; the cause chain is kept.
    #[error("signing failed: {0}")]
    Signer(String),
    /// The input signature cannot receive a time-stamp.
    #[error("cannot time-stamp this signature: {0}")]
    Input(String),
    /// The TSA refused or answered something unusable.
    #[error("time-stamping authority: {0}")]
    Tsa(String),

    // Anchoring the audit journal ([`crate::anchor`]): the caller logs it, and the next
    // period tries again.
    /// The TSA refused (clock not confirmed, overloaded, HSM unavailable…): retry later.
    #[error("the TSA refused to time-stamp the journal head: {0}")]
    Refused(String),
    /// The TSA answered something a client must not accept.
    #[error("the TSA's reply is not acceptable: {0}")]
    BadReply(String),
    /// The journal head is inconsistent with its entry (the chain needs `igc audit verify`).
    #[error("the journal head cannot be anchored: {0}")]
    Journal(String),
    /// The database failed.
    #[error("audit journal storage: {0}")]
    Store(#[source] ca::Error),
    /// Encoding the time-stamp request failed.
    #[error("encoding the time-stamp request: {0}")]
    Encoding(#[source] der::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
