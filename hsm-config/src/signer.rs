//! One signer adapter for HSM keys, usable through `rcgen` and through the
//! RustCrypto builders (`x509-cert`, `cms`, `x509-ocsp`).
//!
//! This is the only place that knows both trait families. The PKCS#11 mechanism is chosen
//! from what the token offers ([`SignMechanism`]): the token hashes itself when it has the
//! combined mechanism (CKM_ECDSA_SHA256, CKM_SHA256_RSA_PKCS, …); otherwise (SoftHSM has no
//! CKM_ECDSA_SHA256) the message is hashed in software and the token signs the digest with
//! CKM_ECDSA, CKM_RSA_PKCS (over a DigestInfo built here) or CKM_RSA_PKCS_PSS. ECDSA's raw
//! `r‖s` is converted to DER.

use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::ObjectClass;
use der::Decode;
use serde::{Deserialize, Serialize};
use sha2::Digest;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

use crate::error::{Error, Result};
use crate::keys::{public_key, KeyInfo, KeySpec};
use crate::token::Token;

/// Signature schemes the HSM signer produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignatureScheme {
    /// ecdsa-with-SHA256 (P-256 keys).
    EcdsaSha256,
    /// ecdsa-with-SHA384 (P-384 keys).
    EcdsaSha384,
    /// sha256WithRSAEncryption (PKCS#1 v1.5).
    RsaPkcs1Sha256,
    /// RSASSA-PSS with SHA-256, MGF1-SHA-256, 32-byte salt.
    RsaPssSha256,
}

impl SignatureScheme {
    /// The scheme used for a key when none is configured.
    pub fn default_for(spec: KeySpec) -> Self {
        match spec {
            KeySpec::EcP256 => SignatureScheme::EcdsaSha256,
            KeySpec::EcP384 => SignatureScheme::EcdsaSha384,
            KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => {
                SignatureScheme::RsaPkcs1Sha256
            }
        }
    }

    fn fits(self, spec: KeySpec) -> bool {
        match self {
            SignatureScheme::EcdsaSha256 => spec == KeySpec::EcP256,
            SignatureScheme::EcdsaSha384 => spec == KeySpec::EcP384,
            SignatureScheme::RsaPkcs1Sha256 | SignatureScheme::RsaPssSha256 => spec.is_rsa(),
        }
    }

    /// The X.509 AlgorithmIdentifier of signatures made with this scheme.
    pub fn algorithm_identifier(self) -> Result<AlgorithmIdentifierOwned> {
        use const_oid::db::rfc5912;
        Ok(match self {
            SignatureScheme::EcdsaSha256 => AlgorithmIdentifierOwned {
                oid: rfc5912::ECDSA_WITH_SHA_256,
                parameters: None,
            },
            SignatureScheme::EcdsaSha384 => AlgorithmIdentifierOwned {
                oid: rfc5912::ECDSA_WITH_SHA_384,
                parameters: None,
            },
            SignatureScheme::RsaPkcs1Sha256 => AlgorithmIdentifierOwned {
                oid: rfc5912::SHA_256_WITH_RSA_ENCRYPTION,
                parameters: Some(der::asn1::Null.into()),
            },
            SignatureScheme::RsaPssSha256 => {
                rsa::pss::get_default_pss_signature_algo_id::<sha2::Sha256>()?
            }
        })
    }
}

/// How the token is asked for a signature of a [`SignatureScheme`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignMechanism {
    /// The token hashes and signs in one mechanism (CKM_ECDSA_SHA256, CKM_ECDSA_SHA384,
    /// CKM_SHA256_RSA_PKCS, CKM_SHA256_RSA_PKCS_PSS).
    TokenHashes,
    /// The message is hashed here; the token signs the digest (CKM_ECDSA, CKM_RSA_PKCS over
    /// a DigestInfo, CKM_RSA_PKCS_PSS).
    SoftwareHash,
}

impl SignatureScheme {
    /// The mechanism for [`SignMechanism::TokenHashes`] and the one for
    /// [`SignMechanism::SoftwareHash`].
    fn mechanism_types(self) -> [MechanismType; 2] {
        match self {
            SignatureScheme::EcdsaSha256 => [MechanismType::ECDSA_SHA256, MechanismType::ECDSA],
            SignatureScheme::EcdsaSha384 => [MechanismType::ECDSA_SHA384, MechanismType::ECDSA],
            SignatureScheme::RsaPkcs1Sha256 => {
                [MechanismType::SHA256_RSA_PKCS, MechanismType::RSA_PKCS]
            }
            SignatureScheme::RsaPssSha256 => [
                MechanismType::SHA256_RSA_PKCS_PSS,
                MechanismType::RSA_PKCS_PSS,
            ],
        }
    }

    /// The PKCS#11 mechanism type `how` uses for this scheme.
    pub fn mechanism_type(self, how: SignMechanism) -> MechanismType {
        let [combined, raw] = self.mechanism_types();
        match how {
            SignMechanism::TokenHashes => combined,
            SignMechanism::SoftwareHash => raw,
        }
    }

    /// The way to sign with this scheme on a token offering `offered`: the token's own
    /// hashing when it has it, else a software hash; `None` when it offers neither.
    pub fn choose_mechanism(self, offered: &[MechanismType]) -> Option<SignMechanism> {
        [SignMechanism::TokenHashes, SignMechanism::SoftwareHash]
            .into_iter()
            .find(|how| offered.contains(&self.mechanism_type(*how)))
    }
}

/// DER prefix of a PKCS#1 v1.5 DigestInfo for SHA-256 (RFC 8017 §9.2, note 1): what
/// CKM_RSA_PKCS signs ahead of the digest when the token does not hash.
const SHA256_DIGEST_INFO_PREFIX: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// A private key in the token, ready to sign. Cheap to clone; thread-safe.
#[derive(Debug, Clone)]
pub struct HsmSigner {
    token: Token,
    key: KeyInfo,
    scheme: SignatureScheme,
    mechanism: SignMechanism,
    /// The subjectPublicKey bits: what rcgen calls the key's `der_bytes`.
    public_bits: Vec<u8>,
    spki: SubjectPublicKeyInfoOwned,
    alg_id: AlgorithmIdentifierOwned,
}

fn bad_ecdsa(e: p256::ecdsa::Error) -> Error {
    Error::Encoding(format!("HSM returned a bad ECDSA value: {e}"))
}

impl HsmSigner {
    /// Signer for the key labelled `label`, with the key's default scheme.
    pub fn new(token: &Token, label: &str) -> Result<Self> {
        let key = public_key(token, label)?;
        let scheme = SignatureScheme::default_for(key.spec);
        Self::from_parts(token, key, scheme)
    }

    /// Signer with an explicit scheme (e.g. RSA-PSS).
    pub fn with_scheme(token: &Token, label: &str, scheme: SignatureScheme) -> Result<Self> {
        let key = public_key(token, label)?;
        Self::from_parts(token, key, scheme)
    }

    /// Signer with an explicit scheme and mechanism (tests, `igc hsm check`); fails when the
    /// token does not offer that mechanism.
    pub fn with_mechanism(
        token: &Token,
        label: &str,
        scheme: SignatureScheme,
        mechanism: SignMechanism,
    ) -> Result<Self> {
        let mut signer = Self::with_scheme(token, label, scheme)?;
        let wanted = scheme.mechanism_type(mechanism);
        if !token.offers(wanted)? {
            return Err(Error::UnsupportedKey(format!(
                "token {:?} does not offer {wanted}",
                token.label()
            )));
        }
        signer.mechanism = mechanism;
        Ok(signer)
    }

    fn from_parts(token: &Token, key: KeyInfo, scheme: SignatureScheme) -> Result<Self> {
        if !scheme.fits(key.spec) {
            return Err(Error::UnsupportedKey(format!(
                "scheme {scheme:?} does not fit a {} key",
                key.spec
            )));
        }
        let mut offered = vec![];
        for candidate in scheme.mechanism_types() {
            if token.offers(candidate)? {
                offered.push(candidate);
            }
        }
        let mechanism = scheme.choose_mechanism(&offered).ok_or_else(|| {
            let [a, b] = scheme.mechanism_types();
            Error::UnsupportedKey(format!(
                "token {:?} offers neither {a} nor {b} for {scheme:?}",
                token.label()
            ))
        })?;
        tracing::info!(
            token = token.label(),
            key = %key.label,
            ?scheme,
            ?mechanism,
            pkcs11_mechanism = %scheme.mechanism_type(mechanism),
            "signing mechanism chosen from the token's list"
        );
        let spki = SubjectPublicKeyInfoOwned::from_der(&key.spki_der)?;
        let public_bits = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| Error::Encoding("public key bit string is not octet-aligned".into()))?
            .to_vec();
        Ok(HsmSigner {
            token: token.clone(),
            alg_id: scheme.algorithm_identifier()?,
            key,
            scheme,
            mechanism,
            public_bits,
            spki,
        })
    }

    /// The key this signer uses.
    pub fn key(&self) -> &KeyInfo {
        &self.key
    }

    /// The scheme this signer produces.
    pub fn scheme(&self) -> SignatureScheme {
        self.scheme
    }

    /// DER SubjectPublicKeyInfo of the key.
    pub fn spki_der(&self) -> &[u8] {
        &self.key.spki_der
    }

    /// Parsed SubjectPublicKeyInfo of the key.
    pub fn spki(&self) -> &SubjectPublicKeyInfoOwned {
        &self.spki
    }

    /// AlgorithmIdentifier of the signatures this signer makes.
    pub fn algorithm(&self) -> &AlgorithmIdentifierOwned {
        &self.alg_id
    }

    /// How the token is asked for signatures.
    pub fn mechanism(&self) -> SignMechanism {
        self.mechanism
    }

    /// What the token signs with `mechanism`: the message itself or its digest (ECDSA,
    /// PSS), or a DigestInfo (PKCS#1 v1.5).
    fn token_signs(&self, mechanism: &Mechanism<'_>, data: &[u8]) -> Result<Vec<u8>> {
        self.token
            .with_object(ObjectClass::PRIVATE_KEY, &self.key.label, |s, h| {
                s.sign(mechanism, h, data)
            })
    }

    /// Signs `msg`; returns a DER ECDSA-Sig-Value or the raw RSA signature,
    /// i.e. the bytes that go into an X.509/CMS signature field.
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>> {
        let token_hashes = self.mechanism == SignMechanism::TokenHashes;
        let pss = PkcsPssParams {
            hash_alg: MechanismType::SHA256,
            mgf: PkcsMgfType::MGF1_SHA256,
            s_len: 32u64.into(),
        };
        match self.scheme {
            SignatureScheme::EcdsaSha256 => {
                let raw = if token_hashes {
                    self.token_signs(&Mechanism::EcdsaSha256, msg)?
                } else {
                    self.token_signs(&Mechanism::Ecdsa, &sha2::Sha256::digest(msg))?
                };
                let sig = p256::ecdsa::Signature::from_slice(&raw).map_err(bad_ecdsa)?;
                Ok(sig.to_der().as_bytes().to_vec())
            }
            SignatureScheme::EcdsaSha384 => {
                let raw = if token_hashes {
                    self.token_signs(&Mechanism::EcdsaSha384, msg)?
                } else {
                    self.token_signs(&Mechanism::Ecdsa, &sha2::Sha384::digest(msg))?
                };
                let sig = p384::ecdsa::Signature::from_slice(&raw).map_err(bad_ecdsa)?;
                Ok(sig.to_der().as_bytes().to_vec())
            }
            SignatureScheme::RsaPkcs1Sha256 if token_hashes => {
                self.token_signs(&Mechanism::Sha256RsaPkcs, msg)
            }
            SignatureScheme::RsaPkcs1Sha256 => {
                let mut digest_info = SHA256_DIGEST_INFO_PREFIX.to_vec();
                digest_info.extend_from_slice(&sha2::Sha256::digest(msg));
                self.token_signs(&Mechanism::RsaPkcs, &digest_info)
            }
            SignatureScheme::RsaPssSha256 if token_hashes => {
                self.token_signs(&Mechanism::Sha256RsaPkcsPss(pss), msg)
            }
            SignatureScheme::RsaPssSha256 => {
                self.token_signs(&Mechanism::RsaPkcsPss(pss), &sha2::Sha256::digest(msg))
            }
        }
    }
}

/// The signing seam's view of an HSM key: wrap it in a [`pkix::key::CheckedKey`] so that every
/// signature is verified before it is used.
impl pkix::key::SigningKey for HsmSigner {
    fn algorithm(&self) -> &AlgorithmIdentifierOwned {
        &self.alg_id
    }

    fn public_key(&self) -> &SubjectPublicKeyInfoOwned {
        &self.spki
    }

    fn sign(&self, message: &[u8]) -> std::result::Result<Vec<u8>, pkix::key::SignError> {
        HsmSigner::sign(self, message).map_err(|e| pkix::key::SignError::Key(e.to_string()))
    }
}

impl HsmSigner {
    /// Signs from async code without blocking the runtime's workers: the
    /// PKCS#11 call runs on tokio's blocking pool.
    pub async fn sign_async(&self, msg: Vec<u8>) -> Result<Vec<u8>> {
        let signer = self.clone();
        tokio::task::spawn_blocking(move || signer.sign(&msg))
            .await
            .map_err(|e| Error::Unavailable(format!("signing task failed: {e}")))?
    }
}

// ---------------------------------------------------------------- rcgen

impl rcgen::PublicKeyData for HsmSigner {
    fn der_bytes(&self) -> &[u8] {
        &self.public_bits
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        match self.scheme {
            SignatureScheme::EcdsaSha256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            SignatureScheme::EcdsaSha384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            // rcgen has no RSA-PSS without a crypto backend; sign() refuses
            // PSS for rcgen below rather than mislabel the signature.
            SignatureScheme::RsaPkcs1Sha256 | SignatureScheme::RsaPssSha256 => {
                &rcgen::PKCS_RSA_SHA256
            }
        }
    }
}

impl rcgen::SigningKey for HsmSigner {
    fn sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, rcgen::Error> {
        if self.scheme == SignatureScheme::RsaPssSha256 {
            return Err(rcgen::Error::UnsupportedSignatureAlgorithm);
        }
        HsmSigner::sign(self, msg).map_err(|e| {
            tracing::error!(error = %e, key = %self.key.label, "HSM signature failed");
            rcgen::Error::RemoteKeyError
        })
    }
}

// ---------------------------------------------------------------- RustCrypto

/// A signature produced by the HSM, in the encoding of its scheme, and the public half of an
/// [`HsmSigner`] (for `Keypair`): the same raw-bytes signature and SubjectPublicKeyInfo
/// wrappers as the software [`pkix::key::CheckedKey`] uses, so that both signers feed the
/// RustCrypto builders through one pair of types.
pub use pkix::key::{CheckedPublicKey as HsmPublicKey, CheckedSignature as HsmSignature};

impl signature::Keypair for HsmSigner {
    type VerifyingKey = HsmPublicKey;
    fn verifying_key(&self) -> HsmPublicKey {
        HsmPublicKey::from(self.spki.clone())
    }
}

impl spki::DynSignatureAlgorithmIdentifier for HsmSigner {
    fn signature_algorithm_identifier(&self) -> spki::Result<AlgorithmIdentifierOwned> {
        Ok(self.alg_id.clone())
    }
}

impl signature::Signer<HsmSignature> for HsmSigner {
    fn try_sign(&self, msg: &[u8]) -> std::result::Result<HsmSignature, signature::Error> {
        self.sign(msg)
            .map(HsmSignature::from)
            .map_err(signature::Error::from_source)
    }
}

/// Recovers the HSM error behind a `signature::Error` from the RustCrypto
/// builders, so callers can tell "HSM unavailable" from other failures.
pub fn hsm_error_of(e: &signature::Error) -> Option<&Error> {
    std::error::Error::source(e).and_then(|s| s.downcast_ref::<Error>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mechanism_follows_what_the_token_offers() {
        use MechanismType as M;
        let ec = SignatureScheme::EcdsaSha256;
        // SoftHSM: no CKM_ECDSA_SHA256.
        assert_eq!(
            ec.choose_mechanism(&[M::ECDSA, M::SHA256_RSA_PKCS]),
            Some(SignMechanism::SoftwareHash)
        );
        // kryoptic, NSS: both; the token's own hashing wins.
        assert_eq!(
            ec.choose_mechanism(&[M::ECDSA, M::ECDSA_SHA256]),
            Some(SignMechanism::TokenHashes)
        );
        // opencryptoki 3.8 without EC: nothing to sign with.
        assert_eq!(
            ec.choose_mechanism(&[M::RSA_PKCS, M::SHA256_RSA_PKCS]),
            None
        );
        let pkcs1 = SignatureScheme::RsaPkcs1Sha256;
        assert_eq!(
            pkcs1.choose_mechanism(&[M::RSA_PKCS]),
            Some(SignMechanism::SoftwareHash)
        );
        let pss = SignatureScheme::RsaPssSha256;
        assert_eq!(
            pss.choose_mechanism(&[M::RSA_PKCS, M::RSA_PKCS_PSS]),
            Some(SignMechanism::SoftwareHash)
        );
        assert_eq!(
            SignatureScheme::EcdsaSha384.mechanism_type(SignMechanism::TokenHashes),
            M::ECDSA_SHA384
        );
    }

    #[test]
    fn digest_info_prefix_is_sha256s() {
        // RFC 8017 §9.2 note 1: the DER of DigestInfo{sha256, NULL} ahead of a 32-byte digest.
        let algorithm =
            der::Encode::to_der(&const_oid::db::rfc5912::ID_SHA_256).unwrap_or_default();
        assert_eq!(&SHA256_DIGEST_INFO_PREFIX[4..15], algorithm.as_slice());
        assert_eq!(SHA256_DIGEST_INFO_PREFIX[1] as usize, 17 + 32);
    }
}
