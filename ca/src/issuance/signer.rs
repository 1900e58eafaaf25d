//! The CA's signing key behind one concrete type.
//!
//! [`CaSigner::new`] accepts anything with the RustCrypto signer bounds that x509-cert's
//! builders use (`Keypair + DynSignatureAlgorithmIdentifier + Signer<Sig>`, the verifying key
//! encodable as SPKI, `Sig: SignatureBitStringEncoding`) — the HSM adapter
//! `hsm_config::HsmSigner` in production, a software key in unit tests — and erases it, so the
//! CA, the CRL publisher and the HTTP layer above them carry no signer type parameter. The
//! signature algorithm and public key are read once; every signature is checked with our own
//! verifier against that public key before it is used.

use std::fmt;
use std::sync::Arc;

use der::asn1::BitString;
use der::{Decode as _, Encode as _};
use pkix::verify;
use pkix::{signer_algorithm, X509Error};
use signature::{Keypair, Signer};
use spki::{
    AlgorithmIdentifierOwned, DynSignatureAlgorithmIdentifier, EncodePublicKey,
    SignatureBitStringEncoding, SubjectPublicKeyInfoOwned,
};

use crate::error::{Error, Result};

type SignFn = dyn Fn(&[u8]) -> std::result::Result<Vec<u8>, signature::Error> + Send + Sync;

/// A CA signing key, type-erased. Cheap to clone.
#[derive(Clone)]
pub struct CaSigner {
    algorithm: AlgorithmIdentifierOwned,
    spki: SubjectPublicKeyInfoOwned,
    sign: Arc<SignFn>,
}

impl fmt::Debug for CaSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaSigner")
            .field("algorithm", &self.algorithm.oid)
            .finish_non_exhaustive()
    }
}

impl CaSigner {
    /// Wraps a signer. Fails when its algorithm is not one our verifier supports for its key.
    pub fn new<S, Sig>(signer: S) -> Result<Self>
    where
        S: Keypair + DynSignatureAlgorithmIdentifier + Signer<Sig> + Send + Sync + 'static,
        S::VerifyingKey: EncodePublicKey,
        Sig: SignatureBitStringEncoding,
    {
        let (algorithm, spki) = signer_algorithm(&signer)?;
        let sign = move |msg: &[u8]| -> std::result::Result<Vec<u8>, signature::Error> {
            let sig = signer.try_sign(msg)?;
            let bits = sig.to_bitstring().map_err(signature::Error::from_source)?;
            bits.as_bytes()
                .map(<[u8]>::to_vec)
                .ok_or_else(signature::Error::new)
        };
        Ok(CaSigner {
            algorithm,
            spki,
            sign: Arc::new(sign),
        })
    }

    /// The signature algorithm (as it goes into TBS structures).
    pub fn algorithm(&self) -> &AlgorithmIdentifierOwned {
        &self.algorithm
    }

    /// The signer's public key.
    pub fn public_key(&self) -> &SubjectPublicKeyInfoOwned {
        &self.spki
    }

    /// Signs `message` and checks the signature with the public key. Blocking (a PKCS#11
    /// call): from async code use [`CaSigner::sign`].
    pub fn sign_blocking(&self, message: &[u8]) -> Result<Vec<u8>> {
        let sig = (self.sign)(message).map_err(|e| Error::Signer(signer_error(&e)))?;
        verify::verify_signature(&self.spki, &self.algorithm, message, &sig)
            .map_err(|e| Error::X509(X509Error::SelfCheck(e)))?;
        Ok(sig)
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

/// The message of a signer error with its source chain (the HSM error behind it).
fn signer_error(e: &signature::Error) -> String {
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

/// A signature made by a [`CaSigner`] (so that the x509 builders accept it as a signer too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaSignature(Vec<u8>);

impl TryFrom<&[u8]> for CaSignature {
    type Error = signature::Error;
    fn try_from(bytes: &[u8]) -> std::result::Result<Self, Self::Error> {
        Ok(CaSignature(bytes.to_vec()))
    }
}

impl From<CaSignature> for Box<[u8]> {
    fn from(s: CaSignature) -> Self {
        s.0.into_boxed_slice()
    }
}

impl signature::SignatureEncoding for CaSignature {
    type Repr = Box<[u8]>;
}

impl SignatureBitStringEncoding for CaSignature {
    fn to_bitstring(&self) -> der::Result<BitString> {
        BitString::from_bytes(&self.0)
    }
}

/// The public key of a [`CaSigner`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaPublicKey(SubjectPublicKeyInfoOwned);

impl EncodePublicKey for CaPublicKey {
    fn to_public_key_der(&self) -> spki::Result<der::Document> {
        Ok(der::Document::from_der(&self.0.to_der()?)?)
    }
}

impl Keypair for CaSigner {
    type VerifyingKey = CaPublicKey;
    fn verifying_key(&self) -> CaPublicKey {
        CaPublicKey(self.spki.clone())
    }
}

impl DynSignatureAlgorithmIdentifier for CaSigner {
    fn signature_algorithm_identifier(&self) -> spki::Result<AlgorithmIdentifierOwned> {
        Ok(self.algorithm.clone())
    }
}

impl Signer<CaSignature> for CaSigner {
    fn try_sign(&self, msg: &[u8]) -> std::result::Result<CaSignature, signature::Error> {
        (self.sign)(msg).map(CaSignature)
    }
}
