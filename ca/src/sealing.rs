//! Sealing of secrets the store must keep but never hold in clear (the RA operators' TOTP
//! secrets): the store's side of [`pkix::sealing`].
//!
//! The store is given a [`SecretSealer`] by the binary — in production an AES-256-GCM key that
//! never leaves the online HSM token (`hsm_config::sealer`) — so that neither this crate nor
//! the RA portal links the HSM layer. The database holds only [`SealedValue`] text:
//! `sealed:v1:` followed by the standard base64 of what the sealer returned (for the HSM
//! sealer: 96-bit IV ‖ ciphertext ‖ 128-bit tag). A value that does not start with `sealed:`
//! is a clear value left by an older version; the start-up migration seals it.

use std::fmt;
use std::sync::Arc;

use pkix::sealing::{SealError, SecretSealer};

/// A shared sealer, as the store keeps it.
#[derive(Clone)]
pub struct SharedSealer(pub Arc<dyn SecretSealer>);

impl fmt::Debug for SharedSealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedSealer(..)")
    }
}

impl SharedSealer {
    /// Seals on the blocking pool.
    pub async fn seal(&self, plaintext: Vec<u8>, aad: Vec<u8>) -> Result<Vec<u8>, SealError> {
        let s = self.0.clone();
        tokio::task::spawn_blocking(move || s.seal(&plaintext, &aad))
            .await
            .map_err(|e| SealError::Failed(format!("sealing task: {e}")))?
    }

    /// Opens on the blocking pool.
    pub async fn open(&self, sealed: Vec<u8>, aad: Vec<u8>) -> Result<Vec<u8>, SealError> {
        let s = self.0.clone();
        tokio::task::spawn_blocking(move || s.open(&sealed, &aad))
            .await
            .map_err(|e| SealError::Failed(format!("opening task: {e}")))?
    }
}

/// Prefix of every sealed column value.
pub const SEALED_PREFIX: &str = "sealed:";
/// Prefix of the current format.
pub const SEALED_V1: &str = "sealed:v1:";

/// Whether a stored value is sealed (any version) rather than clear.
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(SEALED_PREFIX)
}

/// The column text of sealed bytes.
pub fn encode_sealed(sealed: &[u8]) -> String {
    use base64::Engine as _;
    format!(
        "{SEALED_V1}{}",
        base64::engine::general_purpose::STANDARD.encode(sealed)
    )
}

/// The sealed bytes of a column value in the current format.
pub fn decode_sealed(stored: &str) -> Result<Vec<u8>, SealError> {
    use base64::Engine as _;
    let Some(b64) = stored.strip_prefix(SEALED_V1) else {
        return Err(if is_sealed(stored) {
            SealError::Failed("unknown sealed format version".into())
        } else {
            SealError::Failed("value is not sealed".into())
        });
    };
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| SealError::DoesNotOpen)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn format_round_trips_and_tells_clear_from_sealed() {
        let s = encode_sealed(&[1, 2, 3, 255]);
        assert!(s.starts_with("sealed:v1:"));
        assert!(is_sealed(&s));
        assert_eq!(decode_sealed(&s).unwrap(), vec![1, 2, 3, 255]);
        assert!(!is_sealed("JBSWY3DPEHPK3PXP"));
        assert!(decode_sealed("JBSWY3DPEHPK3PXP").is_err());
        assert!(decode_sealed("sealed:v9:AAAA").is_err());
        assert_eq!(decode_sealed("sealed:v1:@@"), Err(SealError::DoesNotOpen));
    }
}
