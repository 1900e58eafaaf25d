//! What verifying every signature costs (issue 21's signing seam): verifications per second of
//! [`pkix::verify::PreparedVerifier`] (ring where it applies, what `CheckedKey` uses) beside the
//! RustCrypto path of [`pkix::verify::verify_signature`] (the reference peer, what path
//! validation uses), for the schemes the HSM signer produces, one thread, software keys.
//!
//! Run: `cargo run --release -p pkix --example verify_bench` (part of `make bench`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use der::Decode;
use pkix::verify::{verify_signature, PreparedVerifier};
use signature::{Keypair, SignatureEncoding, Signer};
use spki::{
    AlgorithmIdentifierOwned, DynSignatureAlgorithmIdentifier, EncodePublicKey,
    SignatureBitStringEncoding, SubjectPublicKeyInfoOwned,
};

const MESSAGE: [u8; 300] = [0x42; 300];
const RUN: Duration = Duration::from_secs(2);

fn rate(mut f: impl FnMut()) -> f64 {
    for _ in 0..20 {
        f();
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < RUN {
        f();
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn case<S, Sig>(name: &str, signer: &S)
where
    S: Keypair + DynSignatureAlgorithmIdentifier + Signer<Sig>,
    S::VerifyingKey: EncodePublicKey,
    Sig: SignatureBitStringEncoding + SignatureEncoding,
{
    let alg: AlgorithmIdentifierOwned = signer.signature_algorithm_identifier().unwrap();
    let spki = SubjectPublicKeyInfoOwned::from_der(
        signer
            .verifying_key()
            .to_public_key_der()
            .unwrap()
            .as_bytes(),
    )
    .unwrap();
    let sig = signer.try_sign(&MESSAGE).unwrap().to_bitstring().unwrap();
    let sig = sig.raw_bytes().to_vec();
    let prepared = PreparedVerifier::new(&spki, &alg).unwrap();
    prepared.verify(&MESSAGE, &sig).unwrap();
    let seam = rate(|| prepared.verify(&MESSAGE, &sig).unwrap());
    let reference = rate(|| verify_signature(&spki, &alg, &MESSAGE, &sig).unwrap());
    println!(
        "| {name} | {seam:.0} | {:.0} | {reference:.0} | {:.0} | {:.1}× |",
        1e6 / seam,
        1e6 / reference,
        seam / reference
    );
}

fn main() {
    let mut rng = rand::thread_rng();
    println!("| scheme | seam (ring) /s | µs | RustCrypto /s | µs | ratio |");
    println!("|---|---:|---:|---:|---:|---:|");
    let p256 = p256::ecdsa::SigningKey::random(&mut rng);
    case::<_, p256::ecdsa::DerSignature>("ECDSA P-256 / SHA-256", &p256);
    let p384 = p384::ecdsa::SigningKey::random(&mut rng);
    case::<_, p384::ecdsa::DerSignature>("ECDSA P-384 / SHA-384", &p384);
    for bits in [2048, 3072] {
        let key = rsa::RsaPrivateKey::new(&mut rng, bits).unwrap();
        let pkcs1 = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key.clone());
        case::<_, rsa::pkcs1v15::Signature>(&format!("RSA-{bits} PKCS#1 v1.5 / SHA-256"), &pkcs1);
        let pss = rsa::pss::SigningKey::<sha2::Sha256>::new(key);
        let pss = PssSigner(pss);
        case::<_, rsa::pss::Signature>(&format!("RSA-{bits} PSS / SHA-256"), &pss);
    }
}

/// RSA-PSS signing with a random salt (`rsa::pss::SigningKey` signs through
/// `RandomizedSigner`); the salt is as long as the hash, as the HSM signer makes it.
struct PssSigner(rsa::pss::SigningKey<sha2::Sha256>);

impl Keypair for PssSigner {
    type VerifyingKey = rsa::pss::VerifyingKey<sha2::Sha256>;
    fn verifying_key(&self) -> Self::VerifyingKey {
        self.0.verifying_key()
    }
}

impl DynSignatureAlgorithmIdentifier for PssSigner {
    fn signature_algorithm_identifier(&self) -> spki::Result<AlgorithmIdentifierOwned> {
        self.0.signature_algorithm_identifier()
    }
}

impl Signer<rsa::pss::Signature> for PssSigner {
    fn try_sign(&self, msg: &[u8]) -> Result<rsa::pss::Signature, signature::Error> {
        use signature::RandomizedSigner;
        self.0.try_sign_with_rng(&mut rand::thread_rng(), msg)
    }
}
