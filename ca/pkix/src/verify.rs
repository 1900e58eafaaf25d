//! Software signature verification for the algorithms the IGC produces and accepts:
//!
//! - ecdsa-with-SHA256 / SHA384 / SHA512 on P-256 and P-384 (DER `Ecdsa-Sig-Value`),
//! - sha256 / sha384 / sha512WithRSAEncryption (PKCS#1 v1.5),
//! - RSASSA-PSS with SHA-256/384/512, MGF1 with the same hash, explicit salt length,
//!   trailer field 1.
//!
//! RSA keys below 2048 bits (or above 8192) and anything else are rejected with a variant
//! that says why. The certificate / CRL helpers check the signature and the issuer linkage
//! (name, key identifiers, CA flags); they are not a path validator (no validity dates, no
//! revocation, no policies).

use const_oid::db::rfc5912;
use der::asn1::ObjectIdentifier;
use der::{Decode, Encode, Tagged};
use p256::NistP256;
use p384::NistP384;
use rsa::pkcs1::RsaPssParams;
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPublicKey};
use sha2::{Digest, Sha256, Sha384, Sha512};
use signature::hazmat::PrehashVerifier;
use signature::Verifier;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::certificate::Certificate;
use x509_cert::crl::CertificateList;
use x509_cert::ext::pkix::SubjectKeyIdentifier;
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, BasicConstraints, KeyUsage, KeyUsages};

/// Smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted, in bits.
pub const MAX_RSA_BITS: usize = 8192;

/// Why a signature (or a key, or an algorithm) was not accepted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The signature algorithm OID is not one we support.
    #[error("unsupported signature algorithm {0}")]
    UnsupportedSignatureAlgorithm(ObjectIdentifier),
    /// The public key algorithm OID is not one we support.
    #[error("unsupported public key algorithm {0}")]
    UnsupportedKeyAlgorithm(ObjectIdentifier),
    /// The EC key is on a curve we do not support (only P-256 and P-384).
    #[error("unsupported elliptic curve {0} (supported: P-256, P-384)")]
    UnsupportedCurve(ObjectIdentifier),
    /// The hash algorithm is not supported (only SHA-256/384/512).
    #[error("unsupported hash algorithm {0} (supported: SHA-256, SHA-384, SHA-512)")]
    UnsupportedHash(ObjectIdentifier),
    /// The signature algorithm does not go with the key type.
    #[error("signature algorithm {signature_algorithm} cannot be used with a {key_algorithm} key")]
    AlgorithmKeyMismatch {
        /// Signature algorithm OID.
        signature_algorithm: ObjectIdentifier,
        /// Public key algorithm OID.
        key_algorithm: ObjectIdentifier,
    },
    /// The AlgorithmIdentifier parameters are malformed or not allowed.
    #[error("invalid algorithm parameters: {0}")]
    InvalidAlgorithmParameters(String),
    /// RSASSA-PSS parameters we do not support (e.g. MGF1 with another hash).
    #[error("unsupported RSASSA-PSS parameters: {0}")]
    UnsupportedPssParameters(String),
    /// The public key cannot be decoded or is invalid.
    #[error("invalid public key: {0}")]
    InvalidPublicKey(String),
    /// The RSA key is too small.
    #[error("RSA key of {bits} bits is too small (minimum {min})")]
    RsaKeyTooSmall {
        /// Modulus size.
        bits: usize,
        /// Minimum accepted.
        min: usize,
    },
    /// The RSA key is larger than we accept.
    #[error("RSA key of {bits} bits is too large (maximum {max})")]
    RsaKeyTooLarge {
        /// Modulus size.
        bits: usize,
        /// Maximum accepted.
        max: usize,
    },
    /// The signature value cannot be decoded.
    #[error("malformed signature: {0}")]
    MalformedSignature(String),
    /// The signature does not verify.
    #[error("signature verification failed")]
    BadSignature,
    /// The inner (signed) and outer signature algorithm fields differ.
    #[error("signed and unsigned signature algorithm fields differ")]
    SignatureAlgorithmFieldMismatch,
    /// The issuer name is not the issuer certificate's subject.
    #[error("issuer name does not match the issuer certificate's subject")]
    IssuerNameMismatch,
    /// The authority key identifier is not the issuer's subject key identifier.
    #[error("authority key identifier does not match the issuer's subject key identifier")]
    KeyIdentifierMismatch,
    /// The issuer certificate is not a CA certificate (basicConstraints cA).
    #[error("issuer certificate is not a CA (basicConstraints cA missing or false)")]
    IssuerNotCa,
    /// The issuer's keyUsage does not allow this signature.
    #[error("issuer keyUsage does not include {0}")]
    IssuerKeyUsage(&'static str),
    /// DER decoding error (of a key, parameters or extension).
    #[error("DER error: {0}")]
    Der(#[from] der::Error),
}

/// The kind of a supported public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublicKeyKind {
    /// ECDSA P-256.
    EcP256,
    /// ECDSA P-384.
    EcP384,
    /// RSA with its modulus size.
    Rsa {
        /// Modulus size in bits.
        bits: usize,
        /// `true` for an id-RSASSA-PSS key (usable with PSS only).
        pss_only: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn from_oid(oid: ObjectIdentifier) -> Result<Self, VerifyError> {
        match oid {
            rfc5912::ID_SHA_256 => Ok(Hash::Sha256),
            rfc5912::ID_SHA_384 => Ok(Hash::Sha384),
            rfc5912::ID_SHA_512 => Ok(Hash::Sha512),
            other => Err(VerifyError::UnsupportedHash(other)),
        }
    }

    fn digest(self, message: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha256 => Sha256::digest(message).to_vec(),
            Hash::Sha384 => Sha384::digest(message).to_vec(),
            Hash::Sha512 => Sha512::digest(message).to_vec(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Ecdsa(Hash),
    RsaPkcs1v15(Hash),
    RsaPss { hash: Hash, salt_len: usize },
}

enum Key {
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    Rsa { key: RsaPublicKey, pss_only: bool },
}

/// Whether optional parameters are absent or NULL.
fn absent_or_null(params: Option<&der::Any>) -> bool {
    match params {
        None => true,
        Some(any) => any.tag() == der::Tag::Null && any.value().is_empty(),
    }
}

fn parse_scheme(alg: &AlgorithmIdentifierOwned) -> Result<Scheme, VerifyError> {
    let params = alg.parameters.as_ref();
    let ecdsa = |hash| {
        // RFC 5758 §3.2: the parameters MUST be absent.
        if params.is_some() {
            return Err(VerifyError::InvalidAlgorithmParameters(
                "ECDSA signature algorithm parameters must be absent".into(),
            ));
        }
        Ok(Scheme::Ecdsa(hash))
    };
    let pkcs1 = |hash| {
        // RFC 4055 §5: NULL (absent tolerated, as many implementations do).
        if !absent_or_null(params) {
            return Err(VerifyError::InvalidAlgorithmParameters(
                "RSA PKCS#1 v1.5 signature algorithm parameters must be NULL".into(),
            ));
        }
        Ok(Scheme::RsaPkcs1v15(hash))
    };
    match alg.oid {
        rfc5912::ECDSA_WITH_SHA_256 => ecdsa(Hash::Sha256),
        rfc5912::ECDSA_WITH_SHA_384 => ecdsa(Hash::Sha384),
        rfc5912::ECDSA_WITH_SHA_512 => ecdsa(Hash::Sha512),
        rfc5912::SHA_256_WITH_RSA_ENCRYPTION => pkcs1(Hash::Sha256),
        rfc5912::SHA_384_WITH_RSA_ENCRYPTION => pkcs1(Hash::Sha384),
        rfc5912::SHA_512_WITH_RSA_ENCRYPTION => pkcs1(Hash::Sha512),
        rfc5912::ID_RSASSA_PSS => parse_pss(params),
        other => Err(VerifyError::UnsupportedSignatureAlgorithm(other)),
    }
}

fn parse_pss(params: Option<&der::Any>) -> Result<Scheme, VerifyError> {
    let params = params.ok_or_else(|| {
        VerifyError::InvalidAlgorithmParameters(
            "RSASSA-PSS parameters are required (the defaults use SHA-1)".into(),
        )
    })?;
    let bytes = params.to_der()?;
    let pss = RsaPssParams::from_der(&bytes).map_err(|e| {
        VerifyError::InvalidAlgorithmParameters(format!("RSASSA-PSS parameters: {e}"))
    })?;
    if !pss
        .hash
        .parameters
        .is_none_or(|p| p.tag() == der::Tag::Null && p.value().is_empty())
    {
        return Err(VerifyError::InvalidAlgorithmParameters(
            "RSASSA-PSS hash algorithm parameters must be NULL or absent".into(),
        ));
    }
    let hash = Hash::from_oid(pss.hash.oid)?;
    if pss.mask_gen.oid != rfc5912::ID_MGF_1 {
        return Err(VerifyError::UnsupportedPssParameters(format!(
            "mask generation function {} (only MGF1)",
            pss.mask_gen.oid
        )));
    }
    let mgf_hash = pss.mask_gen.parameters.ok_or_else(|| {
        VerifyError::InvalidAlgorithmParameters("MGF1 without a hash algorithm".into())
    })?;
    if mgf_hash.oid != pss.hash.oid {
        return Err(VerifyError::UnsupportedPssParameters(format!(
            "MGF1 hash {} differs from the message hash {}",
            mgf_hash.oid, pss.hash.oid
        )));
    }
    // The trailer field is checked by the decoder (only trailerFieldBC = 1 decodes).
    Ok(Scheme::RsaPss {
        hash,
        salt_len: usize::from(pss.salt_len),
    })
}

fn parse_key(spki: &SubjectPublicKeyInfoOwned) -> Result<Key, VerifyError> {
    let key_bytes = spki.subject_public_key.as_bytes().ok_or_else(|| {
        VerifyError::InvalidPublicKey("subjectPublicKey BIT STRING has unused bits".into())
    })?;
    match spki.algorithm.oid {
        rfc5912::ID_EC_PUBLIC_KEY => {
            let curve: ObjectIdentifier = spki
                .algorithm
                .parameters
                .as_ref()
                .ok_or_else(|| {
                    VerifyError::InvalidPublicKey("EC key without namedCurve parameter".into())
                })?
                .decode_as()
                .map_err(|_| {
                    VerifyError::InvalidPublicKey(
                        "EC key parameters are not a namedCurve OID".into(),
                    )
                })?;
            let bad_point =
                |e: ecdsa::Error| VerifyError::InvalidPublicKey(format!("EC point: {e}"));
            match curve {
                rfc5912::SECP_256_R_1 => Ok(Key::P256(
                    p256::ecdsa::VerifyingKey::from_sec1_bytes(key_bytes).map_err(bad_point)?,
                )),
                rfc5912::SECP_384_R_1 => Ok(Key::P384(
                    p384::ecdsa::VerifyingKey::from_sec1_bytes(key_bytes).map_err(bad_point)?,
                )),
                other => Err(VerifyError::UnsupportedCurve(other)),
            }
        }
        rfc5912::RSA_ENCRYPTION | rfc5912::ID_RSASSA_PSS => {
            let pss_only = spki.algorithm.oid == rfc5912::ID_RSASSA_PSS;
            if !pss_only && !absent_or_null(spki.algorithm.parameters.as_ref()) {
                return Err(VerifyError::InvalidPublicKey(
                    "rsaEncryption parameters must be NULL".into(),
                ));
            }
            let pk = rsa::pkcs1::RsaPublicKey::from_der(key_bytes)
                .map_err(|e| VerifyError::InvalidPublicKey(format!("RSA public key: {e}")))?;
            let n = BigUint::from_bytes_be(pk.modulus.as_bytes());
            let e = BigUint::from_bytes_be(pk.public_exponent.as_bytes());
            let bits = n.bits();
            if bits < MIN_RSA_BITS {
                return Err(VerifyError::RsaKeyTooSmall {
                    bits,
                    min: MIN_RSA_BITS,
                });
            }
            if bits > MAX_RSA_BITS {
                return Err(VerifyError::RsaKeyTooLarge {
                    bits,
                    max: MAX_RSA_BITS,
                });
            }
            let key = RsaPublicKey::new_with_max_size(n, e, MAX_RSA_BITS)
                .map_err(|e| VerifyError::InvalidPublicKey(format!("RSA public key: {e}")))?;
            Ok(Key::Rsa { key, pss_only })
        }
        other => Err(VerifyError::UnsupportedKeyAlgorithm(other)),
    }
}

fn check_compatible(
    scheme: Scheme,
    key: &Key,
    spki: &SubjectPublicKeyInfoOwned,
    alg: &AlgorithmIdentifierOwned,
) -> Result<(), VerifyError> {
    let ok = matches!(
        (scheme, key),
        (Scheme::Ecdsa(_), Key::P256(_) | Key::P384(_))
            | (
                Scheme::RsaPkcs1v15(_),
                Key::Rsa {
                    pss_only: false,
                    ..
                }
            )
            | (Scheme::RsaPss { .. }, Key::Rsa { .. })
    );
    if ok {
        Ok(())
    } else {
        Err(VerifyError::AlgorithmKeyMismatch {
            signature_algorithm: alg.oid,
            key_algorithm: spki.algorithm.oid,
        })
    }
}

/// Checks that a public key is one we accept (EC P-256/P-384 on the curve, RSA 2048..=8192
/// bits) and says which kind it is.
pub fn check_public_key(spki: &SubjectPublicKeyInfoOwned) -> Result<PublicKeyKind, VerifyError> {
    Ok(match parse_key(spki)? {
        Key::P256(_) => PublicKeyKind::EcP256,
        Key::P384(_) => PublicKeyKind::EcP384,
        Key::Rsa { key, pss_only } => PublicKeyKind::Rsa {
            bits: key.n().bits(),
            pss_only,
        },
    })
}

/// Checks that `alg` is a supported signature algorithm usable with the key, without
/// verifying anything.
pub fn check_signature_algorithm(
    spki: &SubjectPublicKeyInfoOwned,
    alg: &AlgorithmIdentifierOwned,
) -> Result<(), VerifyError> {
    let scheme = parse_scheme(alg)?;
    let key = parse_key(spki)?;
    check_compatible(scheme, &key, spki, alg)
}

/// Verifies `signature` (the raw content of the signature BIT STRING: DER `Ecdsa-Sig-Value`
/// for ECDSA, the RSA signature octets for RSA) over `message` with the key and algorithm
/// given.
pub fn verify_signature(
    spki: &SubjectPublicKeyInfoOwned,
    alg: &AlgorithmIdentifierOwned,
    message: &[u8],
    signature: &[u8],
) -> Result<(), VerifyError> {
    let scheme = parse_scheme(alg)?;
    let key = parse_key(spki)?;
    check_compatible(scheme, &key, spki, alg)?;
    match (scheme, key) {
        (Scheme::Ecdsa(hash), Key::P256(vk)) => {
            let sig = ecdsa::Signature::<NistP256>::from_der(signature)
                .map_err(|e| VerifyError::MalformedSignature(format!("ECDSA: {e}")))?;
            vk.verify_prehash(&hash.digest(message), &sig)
                .map_err(|_| VerifyError::BadSignature)
        }
        (Scheme::Ecdsa(hash), Key::P384(vk)) => {
            let sig = ecdsa::Signature::<NistP384>::from_der(signature)
                .map_err(|e| VerifyError::MalformedSignature(format!("ECDSA: {e}")))?;
            vk.verify_prehash(&hash.digest(message), &sig)
                .map_err(|_| VerifyError::BadSignature)
        }
        (Scheme::RsaPkcs1v15(hash), Key::Rsa { key, .. }) => {
            let sig = rsa_signature::<rsa::pkcs1v15::Signature>(&key, signature)?;
            let result = match hash {
                Hash::Sha256 => {
                    rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key).verify(message, &sig)
                }
                Hash::Sha384 => {
                    rsa::pkcs1v15::VerifyingKey::<Sha384>::new(key).verify(message, &sig)
                }
                Hash::Sha512 => {
                    rsa::pkcs1v15::VerifyingKey::<Sha512>::new(key).verify(message, &sig)
                }
            };
            result.map_err(|_| VerifyError::BadSignature)
        }
        (Scheme::RsaPss { hash, salt_len }, Key::Rsa { key, .. }) => {
            let sig = rsa_signature::<rsa::pss::Signature>(&key, signature)?;
            let result = match hash {
                Hash::Sha256 => rsa::pss::VerifyingKey::<Sha256>::new_with_salt_len(key, salt_len)
                    .verify(message, &sig),
                Hash::Sha384 => rsa::pss::VerifyingKey::<Sha384>::new_with_salt_len(key, salt_len)
                    .verify(message, &sig),
                Hash::Sha512 => rsa::pss::VerifyingKey::<Sha512>::new_with_salt_len(key, salt_len)
                    .verify(message, &sig),
            };
            result.map_err(|_| VerifyError::BadSignature)
        }
        // Excluded by check_compatible above.
        _ => Err(VerifyError::AlgorithmKeyMismatch {
            signature_algorithm: alg.oid,
            key_algorithm: spki.algorithm.oid,
        }),
    }
}

/// A verifier for one key and one signature algorithm, both checked once: what the signing
/// seam ([`crate::key::CheckedKey`]) uses to verify every signature it makes. `ring` verifies
/// where it implements the combination (every scheme the HSM signer produces), the RustCrypto
/// code of [`verify_signature`] otherwise; both accept and refuse the same signatures.
#[derive(Debug)]
pub struct PreparedVerifier {
    spki: SubjectPublicKeyInfoOwned,
    alg: AlgorithmIdentifierOwned,
    fast: Option<&'static dyn ring::signature::VerificationAlgorithm>,
}

impl PreparedVerifier {
    /// Checks that `alg` is supported with the key `spki`, and picks the verifier.
    pub fn new(
        spki: &SubjectPublicKeyInfoOwned,
        alg: &AlgorithmIdentifierOwned,
    ) -> Result<Self, VerifyError> {
        use ring::signature as r;
        let scheme = parse_scheme(alg)?;
        let key = parse_key(spki)?;
        check_compatible(scheme, &key, spki, alg)?;
        let fast: Option<&'static dyn r::VerificationAlgorithm> = match (scheme, &key) {
            (Scheme::Ecdsa(Hash::Sha256), Key::P256(_)) => Some(&r::ECDSA_P256_SHA256_ASN1),
            (Scheme::Ecdsa(Hash::Sha384), Key::P256(_)) => Some(&r::ECDSA_P256_SHA384_ASN1),
            (Scheme::Ecdsa(Hash::Sha256), Key::P384(_)) => Some(&r::ECDSA_P384_SHA256_ASN1),
            (Scheme::Ecdsa(Hash::Sha384), Key::P384(_)) => Some(&r::ECDSA_P384_SHA384_ASN1),
            (Scheme::RsaPkcs1v15(Hash::Sha256), Key::Rsa { .. }) => {
                Some(&r::RSA_PKCS1_2048_8192_SHA256)
            }
            (Scheme::RsaPkcs1v15(Hash::Sha384), Key::Rsa { .. }) => {
                Some(&r::RSA_PKCS1_2048_8192_SHA384)
            }
            (Scheme::RsaPkcs1v15(Hash::Sha512), Key::Rsa { .. }) => {
                Some(&r::RSA_PKCS1_2048_8192_SHA512)
            }
            // ring's PSS takes the salt as long as the hash, as our signer makes it.
            (
                Scheme::RsaPss {
                    hash: Hash::Sha256,
                    salt_len: 32,
                },
                Key::Rsa { .. },
            ) => Some(&r::RSA_PSS_2048_8192_SHA256),
            (
                Scheme::RsaPss {
                    hash: Hash::Sha384,
                    salt_len: 48,
                },
                Key::Rsa { .. },
            ) => Some(&r::RSA_PSS_2048_8192_SHA384),
            (
                Scheme::RsaPss {
                    hash: Hash::Sha512,
                    salt_len: 64,
                },
                Key::Rsa { .. },
            ) => Some(&r::RSA_PSS_2048_8192_SHA512),
            _ => None,
        };
        Ok(PreparedVerifier {
            spki: spki.clone(),
            alg: alg.clone(),
            fast,
        })
    }

    /// Verifies `signature` (the raw content of the signature BIT STRING) over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), VerifyError> {
        match self.fast {
            Some(alg) => ring::signature::UnparsedPublicKey::new(
                alg,
                self.spki.subject_public_key.raw_bytes(),
            )
            .verify(message, signature)
            .map_err(|_| VerifyError::BadSignature),
            None => verify_signature(&self.spki, &self.alg, message, signature),
        }
    }
}

/// An RSA signature must be exactly as long as the modulus (RFC 8017 §8.1.2 / §8.2.2 step 1).
fn rsa_signature<T>(key: &RsaPublicKey, signature: &[u8]) -> Result<T, VerifyError>
where
    T: for<'a> TryFrom<&'a [u8], Error = signature::Error>,
{
    if signature.len() != key.size() {
        return Err(VerifyError::MalformedSignature(format!(
            "RSA signature is {} octets, the modulus is {}",
            signature.len(),
            key.size()
        )));
    }
    T::try_from(signature).map_err(|e| VerifyError::MalformedSignature(format!("RSA: {e}")))
}

fn signature_octets(bits: &der::asn1::BitString) -> Result<&[u8], VerifyError> {
    bits.as_bytes().ok_or_else(|| {
        VerifyError::MalformedSignature("signature BIT STRING has unused bits".into())
    })
}

/// Checks the authority key identifier of the signed object against the issuer's SKI, when
/// both are present.
fn check_key_ids(
    aki: Option<AuthorityKeyIdentifier>,
    issuer: &Certificate,
) -> Result<(), VerifyError> {
    let issuer_ski = issuer.tbs_certificate.get::<SubjectKeyIdentifier>()?;
    if let (Some(aki_id), Some((_, ski))) = (aki.and_then(|a| a.key_identifier), issuer_ski) {
        if aki_id != ski.0 {
            return Err(VerifyError::KeyIdentifierMismatch);
        }
    }
    Ok(())
}

fn issuer_key_usage(
    issuer: &Certificate,
    bit: KeyUsages,
    name: &'static str,
) -> Result<(), VerifyError> {
    if let Some((_, ku)) = issuer.tbs_certificate.get::<KeyUsage>()? {
        if !ku.0.contains(bit) {
            return Err(VerifyError::IssuerKeyUsage(name));
        }
    }
    Ok(())
}

/// A certificate or a CRL, for the checks they share in [`verify_signed_by`].
#[derive(Clone, Copy)]
enum Signed<'a> {
    Certificate(&'a Certificate),
    Crl(&'a CertificateList),
}

/// Checks that `signed` was signed by `issuer`, in this order: the algorithm inside the signed
/// part equals the outer one; the issuer name is `issuer`'s subject; for a certificate, the
/// issuer is a CA (basicConstraints cA) whose keyUsage (if present) has keyCertSign, for a CRL
/// the issuer's keyUsage (if present) has cRLSign; the AKI equals the issuer's SKI (when both
/// are present); the signature over the DER signed part verifies with the issuer's key.
fn verify_signed_by(signed: Signed<'_>, issuer: &Certificate) -> Result<(), VerifyError> {
    verify_signed_by_checking(signed, issuer, true)
}

/// The checks of [`verify_signed_by`]; `issuer_flags` says whether the issuer's cA and
/// keyUsage are checked (a path validator checks them itself, where RFC 5280 §6.1.4 says).
fn verify_signed_by_checking(
    signed: Signed<'_>,
    issuer: &Certificate,
    issuer_flags: bool,
) -> Result<(), VerifyError> {
    let (inner_algorithm, outer_algorithm, issuer_name, signature) = match signed {
        Signed::Certificate(c) => (
            &c.tbs_certificate.signature,
            &c.signature_algorithm,
            &c.tbs_certificate.issuer,
            &c.signature,
        ),
        Signed::Crl(c) => (
            &c.tbs_cert_list.signature,
            &c.signature_algorithm,
            &c.tbs_cert_list.issuer,
            &c.signature,
        ),
    };
    if inner_algorithm != outer_algorithm {
        return Err(VerifyError::SignatureAlgorithmFieldMismatch);
    }
    if !crate::name_compare::names_equivalent(issuer_name, &issuer.tbs_certificate.subject) {
        return Err(VerifyError::IssuerNameMismatch);
    }
    let aki = match signed {
        Signed::Certificate(c) => {
            if issuer_flags {
                match issuer.tbs_certificate.get::<BasicConstraints>()? {
                    Some((_, bc)) if bc.ca => {}
                    _ => return Err(VerifyError::IssuerNotCa),
                }
                issuer_key_usage(issuer, KeyUsages::KeyCertSign, "keyCertSign")?;
            }
            c.tbs_certificate
                .get::<AuthorityKeyIdentifier>()?
                .map(|(_, a)| a)
        }
        Signed::Crl(c) => {
            issuer_key_usage(issuer, KeyUsages::CRLSign, "cRLSign")?;
            let aki_oid = <AuthorityKeyIdentifier as const_oid::AssociatedOid>::OID;
            let mut aki = None;
            for ext in c.tbs_cert_list.crl_extensions.as_deref().unwrap_or(&[]) {
                if ext.extn_id == aki_oid {
                    aki = Some(AuthorityKeyIdentifier::from_der(ext.extn_value.as_bytes())?);
                }
            }
            aki
        }
    };
    check_key_ids(aki, issuer)?;
    let tbs_der = match signed {
        Signed::Certificate(c) => c.tbs_certificate.to_der()?,
        Signed::Crl(c) => c.tbs_cert_list.to_der()?,
    };
    verify_signature(
        &issuer.tbs_certificate.subject_public_key_info,
        outer_algorithm,
        &tbs_der,
        signature_octets(signature)?,
    )
}

/// Checks that `cert` was signed by `issuer`: equal inner/outer algorithm fields, issuer
/// name = issuer's subject, AKI = issuer SKI (when both present), issuer is a CA
/// (basicConstraints cA) whose keyUsage (if present) has keyCertSign, and the signature over
/// the DER TBSCertificate verifies with the issuer key.
pub fn verify_certificate_signed_by(
    cert: &Certificate,
    issuer: &Certificate,
) -> Result<(), VerifyError> {
    verify_signed_by(Signed::Certificate(cert), issuer)
}

/// The link of a certification path: equal inner/outer algorithm fields, issuer name = the
/// issuer's subject (RFC 5280 §7.1 comparison), AKI = issuer SKI (when both present), and the
/// signature over the DER TBSCertificate verifies with the issuer key. The issuer's cA and
/// keyUsage are not looked at: the path validator checks them for the certificates of the
/// path (RFC 5280 §6.1.4(k)(n)) and takes a trust anchor as its name and key.
pub fn verify_certificate_link(
    cert: &Certificate,
    issuer: &Certificate,
) -> Result<(), VerifyError> {
    verify_signed_by_checking(Signed::Certificate(cert), issuer, false)
}

/// Checks that `crl` was signed by `issuer`: equal inner/outer algorithm fields, CRL issuer =
/// issuer's subject, AKI = issuer SKI (when both present), issuer keyUsage (if present) has
/// cRLSign, and the signature over the DER TBSCertList verifies with the issuer key.
pub fn verify_crl_signed_by(
    crl: &CertificateList,
    issuer: &Certificate,
) -> Result<(), VerifyError> {
    verify_signed_by(Signed::Crl(crl), issuer)
}
