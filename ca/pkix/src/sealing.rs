//! Sealing of secrets a store must keep but never hold in clear (the RA operators' TOTP
//! secrets): the trait and its error.
//!
//! The implementation the binary hands to the store is an AES-256-GCM key that never leaves
//! the online HSM token (`hsm_config::sealer`); the store (`ca::storage`) only sees this trait,
//! so that neither `ca` nor the RA portal links the HSM layer. The store's column format of
//! sealed values and its blocking-pool wrapper live in `ca::sealing`.

/// What can go wrong sealing or opening. Never carries the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The sealing key cannot be used right now (HSM unavailable, key missing).
    #[error("sealing key unavailable: {0}")]
    Unavailable(String),
    /// The sealed bytes do not open with this key and associated data: tampered, truncated,
    /// moved to another row, or sealed by another key.
    #[error("sealed value does not open (tampered, moved to another record, or another key)")]
    DoesNotOpen,
    /// Any other failure of the sealer.
    #[error("sealing failed: {0}")]
    Failed(String),
}

/// Authenticated encryption with a key the caller never sees. Blocking (an HSM call): the
/// store runs it on Tokio's blocking pool.
pub trait SecretSealer: Send + Sync {
    /// Encrypts `plaintext`, binding it to `aad` (authenticated, not encrypted).
    fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, SealError>;
    /// Decrypts what [`SecretSealer::seal`] returned for the same `aad`; fails on any change.
    fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, SealError>;
}
