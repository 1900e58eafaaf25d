//! The CA's signing key: a [`pkix::key::CheckedKey`] (every signature verified before it is
//! used) with the async helpers the CA and the CRL publisher call it through.
//!
//! [`CaSigner::new`] accepts anything with the RustCrypto signer bounds that x509-cert's
//! builders use — the HSM adapter `hsm_config::HsmSigner` in production, a software key in
//! unit tests — so the CA, the CRL publisher and the HTTP layer above them carry no signer type
//! parameter.

use pkix::key::{CheckedKey, CheckedPublicKey, CheckedSignature, SignError};
use signature::{Keypair, Signer};
use spki::{
    AlgorithmIdentifierOwned, DynSignatureAlgorithmIdentifier, EncodePublicKey,
    SignatureBitStringEncoding, SubjectPublicKeyInfoOwned,
};

use crate::error::{Error, Result};

/// A CA signing key. Cheap to clone.
#[derive(Clone, Debug)]
pub struct CaSigner(CheckedKey);

impl CaSigner {
    /// Wraps a signer. Fails when its algorithm is not one our verifier supports for its key.
    pub fn new<S, Sig>(signer: S) -> Result<Self>
    where
        S: Keypair + DynSignatureAlgorithmIdentifier + Signer<Sig> + Send + Sync + 'static,
        S::VerifyingKey: EncodePublicKey,
        Sig: SignatureBitStringEncoding + 'static,
    {
        CheckedKey::from_signer(signer, "ca")
            .map(CaSigner)
            .map_err(sign_error)
    }

    /// Wraps a key already behind the signing seam.
    pub fn from_key(key: CheckedKey) -> Self {
        CaSigner(key)
    }

    /// The signature algorithm (as it goes into TBS structures).
    pub fn algorithm(&self) -> &AlgorithmIdentifierOwned {
        self.0.algorithm()
    }

    /// The signer's public key.
    pub fn public_key(&self) -> &SubjectPublicKeyInfoOwned {
        self.0.public_key()
    }

    /// Signs `message` and checks the signature with the public key. Blocking (a PKCS#11
    /// call): from async code use [`CaSigner::sign`].
    pub fn sign_blocking(&self, message: &[u8]) -> Result<Vec<u8>> {
        self.0.sign(message).map_err(sign_error)
    }

    /// [`CaSigner::sign_blocking`] on the blocking thread pool; gives the message back.
    pub async fn sign(&self, message: Vec<u8>) -> Result<(Vec<u8>, Vec<u8>)> {
        let len = message.len();
        self.sign_range(message, 0..len).await
    }

    /// Signs `buf[range]` on the blocking thread pool (the buffer moves there and back, it
    /// is not copied); returns the buffer and the signature.
    pub async fn sign_range(
        &self,
        buf: Vec<u8>,
        range: std::ops::Range<usize>,
    ) -> Result<(Vec<u8>, Vec<u8>)> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let message = buf
                .get(range)
                .ok_or_else(|| Error::Task("signing range outside the buffer".into()))?;
            let sig = this.sign_blocking(message)?;
            Ok((buf, sig))
        })
        .await
        .map_err(|e| Error::Task(format!("signing task failed: {e}")))?
    }
}

/// The CA's error for a signing-seam error: a self-check failure keeps its own variant (the
/// HSM signed wrongly), anything else is the signer's.
fn sign_error(e: SignError) -> Error {
    match e {
        SignError::SelfCheck(v) => Error::X509(pkix::X509Error::SelfCheck(v)),
        SignError::Unsupported(v) => Error::X509(pkix::X509Error::SelfCheck(v)),
        SignError::Key(message) => Error::Signer(message),
        other => Error::Signer(other.to_string()),
    }
}

impl Keypair for CaSigner {
    type VerifyingKey = CheckedPublicKey;
    fn verifying_key(&self) -> CheckedPublicKey {
        self.0.verifying_key()
    }
}

impl DynSignatureAlgorithmIdentifier for CaSigner {
    fn signature_algorithm_identifier(&self) -> spki::Result<AlgorithmIdentifierOwned> {
        self.0.signature_algorithm_identifier()
    }
}

impl Signer<CheckedSignature> for CaSigner {
    fn try_sign(&self, msg: &[u8]) -> std::result::Result<CheckedSignature, signature::Error> {
        self.0.try_sign(msg)
    }
}
