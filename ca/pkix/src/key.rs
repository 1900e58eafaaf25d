//! The signing seam: every certificate, CRL, OCSP response, time-stamp token and CMS signature
//! of the IGC is signed through a [`CheckedKey`], which verifies each signature against the
//! key's public key before handing it out.
//!
//! An HSM can return a well-formed signature that does not verify (SoftHSMv2 #901: CKM_ECDSA
//! on some builds; a mechanism mix-up; an `r‖s` → DER conversion bug). A time-stamp token or a
//! certificate carrying it is worthless evidence, and nobody would notice until a relying party
//! checks it, maybe years later. So there is one policy, whatever signs: **every signature is
//! verified in software before it leaves the process**; one that does not verify is refused
//! (the caller answers with a system failure) and counted in [`SELF_CHECK_FAILURES_METRIC`].
//!
//! [`SigningKey`] is the small object-safe trait a key implements (`hsm_config::HsmSigner` in
//! production); [`CheckedKey::from_signer`] adapts anything with the RustCrypto signer bounds
//! (a software key in tests, a test signer that corrupts signatures). [`CheckedKey`] implements
//! those same bounds, so x509-cert's, cms's and x509-ocsp's builders sign through it.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use der::asn1::BitString;
use der::{Decode as _, Encode as _};
use signature::{Keypair, Signer};
use spki::{
    AlgorithmIdentifierOwned, DynSignatureAlgorithmIdentifier, EncodePublicKey,
    SignatureBitStringEncoding, SubjectPublicKeyInfoOwned,
};

use crate::verify::{PreparedVerifier, VerifyError};
use crate::X509Signer;

/// Signatures the key made that did not verify, by `purpose` (`ca`, `ocsp`, `tsa`, `cms`…).
pub const SELF_CHECK_FAILURES_METRIC: &str = "igc_signature_self_check_failures_total";

/// Why [`CheckedKey`] gave no signature.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The key could not sign (HSM unavailable, session error…): the key's own message.
    #[error("signing failed: {0}")]
    Key(String),
    /// The key signed, but the signature does not verify with its public key.
    #[error("the signature made does not verify with the key's public key: {0}")]
    SelfCheck(VerifyError),
    /// The key's algorithm cannot be verified here, so it may not sign.
    #[error("signature algorithm not usable with this key: {0}")]
    Unsupported(VerifyError),
}

/// A private key that signs. Object-safe; implemented by `hsm_config::HsmSigner`.
pub trait SigningKey: Send + Sync {
    /// The signature algorithm, as it goes into TBS structures and SignerInfos.
    fn algorithm(&self) -> &AlgorithmIdentifierOwned;
    /// The key's public half.
    fn public_key(&self) -> &SubjectPublicKeyInfoOwned;
    /// Signs `message` (blocking: a PKCS#11 call); returns the raw content of the signature
    /// BIT STRING (DER `Ecdsa-Sig-Value` for ECDSA, the RSA signature octets for RSA).
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError>;
}

/// A [`SigningKey`] whose every signature is verified before it is returned. Cheap to clone.
#[derive(Clone)]
pub struct CheckedKey {
    key: Arc<dyn SigningKey>,
    verifier: Arc<PreparedVerifier>,
    purpose: &'static str,
}

impl fmt::Debug for CheckedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckedKey")
            .field("purpose", &self.purpose)
            .field("algorithm", &self.key.algorithm().oid)
            .finish_non_exhaustive()
    }
}

impl CheckedKey {
    /// Wraps `key`; `purpose` labels its self-check failures in the metrics. Fails when the
    /// key's algorithm is not one our verifier supports for its key.
    pub fn new(key: Arc<dyn SigningKey>, purpose: &'static str) -> Result<Self, SignError> {
        let verifier = PreparedVerifier::new(key.public_key(), key.algorithm())
            .map_err(SignError::Unsupported)?;
        Ok(CheckedKey {
            key,
            verifier: Arc::new(verifier),
            purpose,
        })
    }

    /// Wraps anything with the RustCrypto signer bounds of x509-cert's builders.
    pub fn from_signer<S, Sig>(signer: S, purpose: &'static str) -> Result<Self, SignError>
    where
        S: X509Signer<Sig> + Send + Sync + 'static,
        Sig: SignatureBitStringEncoding + 'static,
    {
        let (algorithm, public_key) =
            crate::signer_algorithm(&signer).map_err(|e| SignError::Key(e.to_string()))?;
        let key = RustCryptoKey {
            signer,
            algorithm,
            public_key,
            _sig: PhantomData::<fn() -> Sig>,
        };
        Self::new(Arc::new(key), purpose)
    }

    /// The signature algorithm.
    pub fn algorithm(&self) -> &AlgorithmIdentifierOwned {
        self.key.algorithm()
    }

    /// The key's public half.
    pub fn public_key(&self) -> &SubjectPublicKeyInfoOwned {
        self.key.public_key()
    }

    /// What the self-check failures of this key are counted under.
    pub fn purpose(&self) -> &'static str {
        self.purpose
    }

    /// Signs `message` and verifies the signature (blocking: a PKCS#11 call).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        let signature = self.key.sign(message)?;
        if let Err(e) = self.verifier.verify(message, &signature) {
            metrics::counter!(SELF_CHECK_FAILURES_METRIC, "purpose" => self.purpose).increment(1);
            return Err(SignError::SelfCheck(e));
        }
        Ok(signature)
    }
}

/// A RustCrypto signer seen as a [`SigningKey`].
struct RustCryptoKey<S, Sig> {
    signer: S,
    algorithm: AlgorithmIdentifierOwned,
    public_key: SubjectPublicKeyInfoOwned,
    _sig: PhantomData<fn() -> Sig>,
}

impl<S, Sig> SigningKey for RustCryptoKey<S, Sig>
where
    S: Signer<Sig> + Send + Sync,
    Sig: SignatureBitStringEncoding,
{
    fn algorithm(&self) -> &AlgorithmIdentifierOwned {
        &self.algorithm
    }

    fn public_key(&self) -> &SubjectPublicKeyInfoOwned {
        &self.public_key
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        let signature = self
            .signer
            .try_sign(message)
            .map_err(|e| SignError::Key(error_chain(&e)))?;
        let bits = signature
            .to_bitstring()
            .map_err(|e| SignError::Key(format!("signature encoding: {e}")))?;
        bits.as_bytes()
            .map(<[u8]>::to_vec)
            .ok_or_else(|| SignError::Key("signature BIT STRING with unused bits".into()))
    }
}

/// An error's message followed by its sources' (the HSM error behind a `signature::Error`),
/// each cause once, so that "HSM unavailable: token not present" survives wrappers that only
/// say "signature error".
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        source = s.source();
    }
    msg
}

/// A signature made by a [`CheckedKey`], for the builders' `Signer<Sig>` bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedSignature(Vec<u8>);

impl CheckedSignature {
    /// The raw content of the signature BIT STRING.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl From<Vec<u8>> for CheckedSignature {
    /// Takes the raw signature bytes as they are (no check: the signer made them).
    fn from(bytes: Vec<u8>) -> Self {
        CheckedSignature(bytes)
    }
}

impl TryFrom<&[u8]> for CheckedSignature {
    type Error = signature::Error;
    fn try_from(bytes: &[u8]) -> Result<Self, Self::Error> {
        Ok(CheckedSignature(bytes.to_vec()))
    }
}

impl From<CheckedSignature> for Box<[u8]> {
    fn from(s: CheckedSignature) -> Self {
        s.0.into_boxed_slice()
    }
}

impl signature::SignatureEncoding for CheckedSignature {
    type Repr = Box<[u8]>;
}

impl SignatureBitStringEncoding for CheckedSignature {
    fn to_bitstring(&self) -> der::Result<BitString> {
        BitString::from_bytes(&self.0)
    }
}

/// The public key of a [`CheckedKey`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedPublicKey(SubjectPublicKeyInfoOwned);

impl CheckedPublicKey {
    /// The SubjectPublicKeyInfo.
    pub fn spki(&self) -> &SubjectPublicKeyInfoOwned {
        &self.0
    }
}

impl From<SubjectPublicKeyInfoOwned> for CheckedPublicKey {
    fn from(spki: SubjectPublicKeyInfoOwned) -> Self {
        CheckedPublicKey(spki)
    }
}

impl EncodePublicKey for CheckedPublicKey {
    fn to_public_key_der(&self) -> spki::Result<der::Document> {
        Ok(der::Document::from_der(&self.0.to_der()?)?)
    }
}

impl Keypair for CheckedKey {
    type VerifyingKey = CheckedPublicKey;
    fn verifying_key(&self) -> CheckedPublicKey {
        CheckedPublicKey(self.key.public_key().clone())
    }
}

impl DynSignatureAlgorithmIdentifier for CheckedKey {
    fn signature_algorithm_identifier(&self) -> spki::Result<AlgorithmIdentifierOwned> {
        Ok(self.key.algorithm().clone())
    }
}

impl Signer<CheckedSignature> for CheckedKey {
    fn try_sign(&self, message: &[u8]) -> Result<CheckedSignature, signature::Error> {
        self.sign(message)
            .map(CheckedSignature)
            .map_err(signature::Error::from_source)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    /// A software P-256 key that flips one bit of every `n`th signature it makes.
    struct Corrupting {
        key: p256::ecdsa::SigningKey,
        every: usize,
        made: std::sync::atomic::AtomicUsize,
    }

    impl Keypair for Corrupting {
        type VerifyingKey = p256::ecdsa::VerifyingKey;
        fn verifying_key(&self) -> Self::VerifyingKey {
            *self.key.verifying_key()
        }
    }

    impl DynSignatureAlgorithmIdentifier for Corrupting {
        fn signature_algorithm_identifier(&self) -> spki::Result<AlgorithmIdentifierOwned> {
            self.key.signature_algorithm_identifier()
        }
    }

    impl Signer<p256::ecdsa::DerSignature> for Corrupting {
        fn try_sign(&self, msg: &[u8]) -> Result<p256::ecdsa::DerSignature, signature::Error> {
            let sig: p256::ecdsa::Signature = self.key.try_sign(msg)?;
            let n = self.made.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if !n.is_multiple_of(self.every) {
                return Ok(sig.to_der());
            }
            // Well-formed, wrong: s + 1.
            let mut bytes = sig.to_bytes();
            bytes[63] ^= 1;
            Ok(p256::ecdsa::Signature::from_slice(&bytes)?.to_der())
        }
    }

    fn corrupting(every: usize) -> CheckedKey {
        let key = p256::ecdsa::SigningKey::random(&mut rand::thread_rng());
        let signer = Corrupting {
            key,
            every,
            made: 0.into(),
        };
        CheckedKey::from_signer::<_, p256::ecdsa::DerSignature>(signer, "test").unwrap()
    }

    #[test]
    fn a_good_signature_passes_and_a_corrupted_one_never_leaves() {
        let key = corrupting(3);
        assert!(key.sign(b"one").is_ok());
        assert!(key.sign(b"two").is_ok());
        match key.sign(b"three") {
            Err(SignError::SelfCheck(VerifyError::BadSignature)) => {}
            other => panic!("a corrupted signature came out: {other:?}"),
        }
        assert!(key.sign(b"four").is_ok(), "the next good one passes again");
        // Through the builders' trait as well.
        assert!(Signer::<CheckedSignature>::try_sign(&key, b"five").is_ok());
        assert!(Signer::<CheckedSignature>::try_sign(&key, b"six").is_err());
    }
}
