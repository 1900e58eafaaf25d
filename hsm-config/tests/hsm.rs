//! The HSM layer against a real token (SoftHSM2 by default, kryoptic or NSS softoken with
//! `IGC_TEST_TOKEN`): key generation, attributes, signing through both adapters, PIN handling.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use hsm_config::cryptoki::object::{Attribute, AttributeType, ObjectClass};
use hsm_config::cryptoki::types::AuthPin;
use hsm_config::keys::{generate_key, public_key};
use hsm_config::{Error, HsmSigner, KeySpec, PoolOptions, SignatureScheme, Token};
use signature::Verifier;
use spki::DecodePublicKey;

fn verify_sw(signer: &HsmSigner, msg: &[u8], sig: &[u8]) {
    let der = signer.spki_der();
    match signer.scheme() {
        SignatureScheme::EcdsaSha256 => {
            let vk = p256::ecdsa::VerifyingKey::from_public_key_der(der).unwrap();
            let sig = p256::ecdsa::DerSignature::try_from(sig).unwrap();
            vk.verify(msg, &sig).unwrap();
        }
        SignatureScheme::EcdsaSha384 => {
            let vk = p384::ecdsa::VerifyingKey::from_public_key_der(der).unwrap();
            let sig = p384::ecdsa::DerSignature::try_from(sig).unwrap();
            vk.verify(msg, &sig).unwrap();
        }
        SignatureScheme::RsaPkcs1Sha256 => {
            let pk = rsa::RsaPublicKey::from_public_key_der(der).unwrap();
            let vk = rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(pk);
            vk.verify(msg, &rsa::pkcs1v15::Signature::try_from(sig).unwrap())
                .unwrap();
        }
        SignatureScheme::RsaPssSha256 => {
            let pk = rsa::RsaPublicKey::from_public_key_der(der).unwrap();
            let vk = rsa::pss::VerifyingKey::<sha2::Sha256>::new(pk);
            vk.verify(msg, &rsa::pss::Signature::try_from(sig).unwrap())
                .unwrap();
        }
    }
}

#[test]
fn every_key_type_generates_in_token_and_signs() {
    let token = common::token("keys", PoolOptions::default());
    for spec in [
        KeySpec::EcP256,
        KeySpec::EcP384,
        KeySpec::Rsa2048,
        KeySpec::Rsa3072,
    ] {
        let label = format!("k-{spec}");
        let info = generate_key(&token, spec, &label).unwrap();
        assert_eq!(info.spec, spec);
        assert_eq!(public_key(&token, &label).unwrap(), info);
        let signer = HsmSigner::new(&token, &label).unwrap();
        let msg = format!("message for {spec}");
        let sig = signer.sign(msg.as_bytes()).unwrap();
        verify_sw(&signer, msg.as_bytes(), &sig);
        if spec.is_rsa() {
            let pss =
                HsmSigner::with_scheme(&token, &label, SignatureScheme::RsaPssSha256).unwrap();
            let sig = pss.sign(msg.as_bytes()).unwrap();
            verify_sw(&pss, msg.as_bytes(), &sig);
        } else {
            assert!(HsmSigner::with_scheme(&token, &label, SignatureScheme::RsaPssSha256).is_err());
        }
        // A key label is never reused.
        assert!(matches!(
            generate_key(&token, spec, &label),
            Err(Error::KeyExists(_))
        ));
    }
    // Private keys: token objects, sensitive, never extractable.
    let attrs = token
        .with_session(|s| {
            let mut out = vec![];
            for spec in ["ec-p256", "ec-p384", "rsa-2048", "rsa-3072"] {
                let label = format!("k-{spec}").into_bytes();
                let found = s.find_objects(&[
                    Attribute::Class(ObjectClass::PRIVATE_KEY),
                    Attribute::Label(label),
                ])?;
                assert_eq!(found.len(), 1, "one private key labelled k-{spec}");
                out.push(s.get_attributes(
                    found[0],
                    &[
                        AttributeType::Token,
                        AttributeType::Sensitive,
                        AttributeType::Extractable,
                        AttributeType::NeverExtractable,
                        AttributeType::AlwaysSensitive,
                    ],
                )?);
            }
            Ok(out)
        })
        .unwrap();
    assert_eq!(attrs.len(), 4);
    for key in attrs {
        for a in key {
            match a {
                Attribute::Token(v)
                | Attribute::Sensitive(v)
                | Attribute::NeverExtractable(v)
                | Attribute::AlwaysSensitive(v) => assert!(v, "{a:?}"),
                Attribute::Extractable(v) => assert!(!v),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
}

#[test]
fn same_key_signs_through_rcgen_and_x509_cert() {
    let token = common::token("adapters", PoolOptions::default());
    generate_key(&token, KeySpec::EcP256, "adapter").unwrap();
    let signer = HsmSigner::new(&token, "adapter").unwrap();

    // rcgen
    let mut params = rcgen::CertificateParams::new(vec!["hsm.test".to_string()]).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.serial_number = Some(rcgen::SerialNumber::from(vec![0x01, 0x02, 0x03]));
    let cert = params.self_signed(&signer).unwrap();
    let parsed = <x509_cert::Certificate as der::Decode>::from_der(cert.der()).unwrap();
    hsm_config_verify(&parsed, &signer);

    // x509-cert builder
    use std::str::FromStr;
    use x509_cert::builder::{Builder, CertificateBuilder, Profile};
    let name = x509_cert::name::Name::from_str("CN=builder").unwrap();
    let spki = signer.spki().clone();
    let validity =
        x509_cert::time::Validity::from_now(std::time::Duration::from_secs(3600)).unwrap();
    let builder = CertificateBuilder::new(
        Profile::Root,
        x509_cert::serial_number::SerialNumber::from(42u32),
        validity,
        name,
        spki,
        &signer,
    )
    .unwrap();
    let cert = builder.build::<hsm_config::HsmSignature>().unwrap();
    hsm_config_verify(&cert, &signer);
}

fn hsm_config_verify(cert: &x509_cert::Certificate, signer: &HsmSigner) {
    use der::Encode;
    let tbs = cert.tbs_certificate.to_der().unwrap();
    verify_sw(signer, &tbs, cert.signature.raw_bytes());
}

#[test]
fn wrong_pin_is_reported_and_never_retried() {
    let _ = common::token("pin-check", PoolOptions::default());
    let m = common::module();
    let wrong = Token::open(
        m.clone(),
        common::token_label("pin-check"),
        AuthPin::from("wrong-pin".to_owned()),
        PoolOptions::default(),
    );
    if common::kind() == common::Kind::Nss {
        // Login is a state of the application, not of a session (PKCS#11 §6.7.4): NSS
        // answers CKR_USER_ALREADY_LOGGED_IN without looking at the PIN once any token
        // object of this process logged in, and the tests share its one database.
        assert!(
            matches!(wrong, Ok(_) | Err(Error::PinRejected { .. })),
            "{:?}",
            wrong.err()
        );
    } else {
        let err = wrong.unwrap_err();
        assert!(matches!(err, Error::PinRejected { .. }), "{err}");
    }
    // A missing token is a clear error too.
    let err = Token::open(
        m,
        "no-such-token",
        AuthPin::from("x".to_owned()),
        PoolOptions::default(),
    )
    .unwrap_err();
    assert!(
        err.is_unavailable() || matches!(err, Error::TokenNotFound(_)),
        "{err}"
    );
}

#[test]
fn pool_is_bounded_and_shared_across_threads() {
    let token = common::token(
        "pool",
        PoolOptions {
            max_sessions: 2,
            ..PoolOptions::default()
        },
    );
    generate_key(&token, KeySpec::EcP256, "pool-key").unwrap();
    let signer = HsmSigner::new(&token, "pool-key").unwrap();
    std::thread::scope(|s| {
        for t in 0..6 {
            let signer = signer.clone();
            s.spawn(move || {
                for i in 0..50 {
                    let msg = format!("{t}-{i}");
                    let sig = signer.sign(msg.as_bytes()).unwrap();
                    verify_sw(&signer, msg.as_bytes(), &sig);
                }
            });
        }
    });
}

#[test]
fn async_callers_share_a_small_pool() {
    let token = common::token(
        "async",
        PoolOptions {
            max_sessions: 2,
            ..PoolOptions::default()
        },
    );
    generate_key(&token, KeySpec::EcP256, "async-key").unwrap();
    let signer = HsmSigner::new(&token, "async-key").unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut tasks = vec![];
        for i in 0..64 {
            let signer = signer.clone();
            tasks.push(tokio::spawn(async move {
                let msg = format!("async {i}").into_bytes();
                let sig = signer.sign_async(msg.clone()).await.unwrap();
                (msg, sig)
            }));
        }
        for t in tasks {
            let (msg, sig) = t.await.unwrap();
            verify_sw(&signer, &msg, &sig);
        }
    });
}

/// The TOTP sealing key: AES-256-GCM in the token, a fresh IV per seal, the associated data
/// bound, any change refused as "does not open" (not as an unavailable token), and a
/// key that could leave the token refused.
#[test]
fn sealing_key_seals_and_refuses_what_was_changed() {
    use hsm_config::cryptoki::mechanism::Mechanism;
    use hsm_config::cryptoki::object::{Attribute, KeyType, ObjectClass};
    use hsm_config::sealer::{generate_sealing_key, IV_LEN, TAG_LEN};
    use hsm_config::HsmSealer;
    use pkix::sealing::{SealError, SecretSealer};

    let token = common::token("sealing", PoolOptions::default());
    assert!(matches!(
        HsmSealer::new(&token, "seal"),
        Err(hsm_config::Error::KeyNotFound(_))
    ));
    generate_sealing_key(&token, "seal").unwrap();
    assert!(matches!(
        generate_sealing_key(&token, "seal"),
        Err(hsm_config::Error::KeyExists(_))
    ));
    let sealer = HsmSealer::new(&token, "seal").unwrap();
    let secret = b"JBSWY3DPEHPK3PXP";
    let a = sealer.seal(secret, b"login-a").unwrap();
    let b = sealer.seal(secret, b"login-a").unwrap();
    assert_eq!(a.len(), IV_LEN + secret.len() + TAG_LEN);
    assert_ne!(a[..IV_LEN], b[..IV_LEN], "a fresh IV each time");
    assert!(!a.windows(secret.len()).any(|w| w == secret));
    assert_eq!(sealer.open(&a, b"login-a").unwrap(), secret);
    assert_eq!(sealer.open(&a, b"login-b"), Err(SealError::DoesNotOpen));
    for i in [0, IV_LEN, a.len() - 1] {
        let mut t = a.clone();
        t[i] ^= 0x80;
        assert_eq!(
            sealer.open(&t, b"login-a"),
            Err(SealError::DoesNotOpen),
            "byte {i}"
        );
    }
    assert_eq!(
        sealer.open(&a[..IV_LEN + TAG_LEN - 1], b"login-a"),
        Err(SealError::DoesNotOpen)
    );
    // After the refusals, what is intact still opens.
    assert_eq!(sealer.open(&b, b"login-a").unwrap(), secret);

    // An AES key that may be extracted is no sealing key.
    token
        .with_session(|s| {
            s.generate_key(
                &Mechanism::AesKeyGen,
                &[
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(KeyType::AES),
                    Attribute::ValueLen(32.into()),
                    Attribute::Token(true),
                    Attribute::Private(true),
                    Attribute::Sensitive(false),
                    Attribute::Extractable(true),
                    Attribute::Encrypt(true),
                    Attribute::Decrypt(true),
                    Attribute::Label(b"weak".to_vec()),
                ],
            )
        })
        .unwrap();
    let err = HsmSealer::new(&token, "weak").unwrap_err().to_string();
    assert!(
        err.contains("CKA_EXTRACTABLE") && err.contains("CKA_SENSITIVE"),
        "{err}"
    );
}

/// The mechanism is chosen from the token's list (the token's own hashing first), and every
/// way the token offers for a scheme signs what software verifies: on SoftHSM the software
/// hash for ECDSA, on kryoptic and NSS CKM_ECDSA_SHA256 and CKM_ECDSA alike.
#[test]
fn signing_mechanism_follows_the_token() {
    use hsm_config::SignMechanism;
    let token = common::token("mechanisms", PoolOptions::default());
    let offered = token.mechanisms().unwrap();
    let schemes = [
        (KeySpec::EcP256, SignatureScheme::EcdsaSha256),
        (KeySpec::EcP384, SignatureScheme::EcdsaSha384),
        (KeySpec::Rsa2048, SignatureScheme::RsaPkcs1Sha256),
        (KeySpec::Rsa2048, SignatureScheme::RsaPssSha256),
    ];
    let mut tried = 0;
    for (spec, scheme) in schemes {
        let label = format!("mech-{spec}");
        if public_key(&token, &label).is_err() {
            generate_key(&token, spec, &label).unwrap();
        }
        let chosen = HsmSigner::with_scheme(&token, &label, scheme).unwrap();
        let combined = scheme.mechanism_type(SignMechanism::TokenHashes);
        let expected = if offered.contains(&combined) {
            SignMechanism::TokenHashes
        } else {
            SignMechanism::SoftwareHash
        };
        assert_eq!(chosen.mechanism(), expected, "{scheme:?}");
        for how in [SignMechanism::TokenHashes, SignMechanism::SoftwareHash] {
            let signer = match HsmSigner::with_mechanism(&token, &label, scheme, how) {
                Ok(s) => s,
                Err(e) => {
                    assert!(!offered.contains(&scheme.mechanism_type(how)), "{e}");
                    continue;
                }
            };
            let msg = format!("{scheme:?} by {how:?}");
            let sig = signer.sign(msg.as_bytes()).unwrap();
            verify_sw(&signer, msg.as_bytes(), &sig);
            tried += 1;
        }
    }
    assert!(tried >= schemes.len(), "at least one way per scheme");
}

/// Generated keys read back as asked (token, private, sensitive, never extractable), and a
/// private key made weaker by another tool is refused, naming what is wrong.
#[test]
fn private_key_attributes_are_read_back() {
    use hsm_config::cryptoki::mechanism::Mechanism;
    use hsm_config::keys::check_private_key;
    let token = common::token("attributes", PoolOptions::default());
    generate_key(&token, KeySpec::EcP256, "attr-good").unwrap();
    check_private_key(&token, "attr-good").unwrap();

    let curve = der::Encode::to_der(&const_oid::db::rfc5912::SECP_256_R_1).unwrap();
    token
        .with_session(|s| {
            s.generate_key_pair(
                &Mechanism::EccKeyPairGen,
                &[
                    Attribute::Token(true),
                    Attribute::EcParams(curve.clone()),
                    Attribute::Label(b"attr-weak".to_vec()),
                ],
                &[
                    Attribute::Token(true),
                    Attribute::Private(true),
                    Attribute::Sensitive(false),
                    Attribute::Extractable(true),
                    Attribute::Sign(true),
                    Attribute::Label(b"attr-weak".to_vec()),
                ],
            )
        })
        .unwrap();
    let err = check_private_key(&token, "attr-weak")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("CKA_EXTRACTABLE") && err.contains("CKA_SENSITIVE"),
        "{err}"
    );
}

/// Keys are named by label or by `id:` and their CKA_ID; a key made without CKA_ID (absent
/// on kryoptic, empty on SoftHSM) still signs by its label.
#[test]
fn keys_are_found_by_label_or_id() {
    use hsm_config::cryptoki::mechanism::Mechanism;
    use hsm_config::keys::key_id;
    let token = common::token("key-ids", PoolOptions::default());
    let info = generate_key(&token, KeySpec::EcP256, "by-id").unwrap();
    let id = key_id(&token, "by-id")
        .unwrap()
        .expect("generated keys have a CKA_ID");
    let reference = format!("id:{}", hex::encode(&id));
    assert_eq!(
        public_key(&token, &reference).unwrap().spki_der,
        info.spki_der
    );
    let signer = HsmSigner::new(&token, &reference).unwrap();
    let sig = signer.sign(b"by id").unwrap();
    verify_sw(&signer, b"by id", &sig);
    assert!(matches!(
        HsmSigner::new(&token, "id:not-hex"),
        Err(Error::Config(_))
    ));
    assert!(matches!(
        generate_key(&token, KeySpec::EcP256, "id:00"),
        Err(Error::Config(_))
    ));

    let curve = der::Encode::to_der(&const_oid::db::rfc5912::SECP_256_R_1).unwrap();
    token
        .with_session(|s| {
            s.generate_key_pair(
                &Mechanism::EccKeyPairGen,
                &[
                    Attribute::Token(true),
                    Attribute::EcParams(curve.clone()),
                    Attribute::Label(b"no-id".to_vec()),
                ],
                &[
                    Attribute::Token(true),
                    Attribute::Private(true),
                    Attribute::Sensitive(true),
                    Attribute::Extractable(false),
                    Attribute::Sign(true),
                    Attribute::Label(b"no-id".to_vec()),
                ],
            )
        })
        .unwrap();
    assert_eq!(key_id(&token, "no-id").unwrap(), None);
    let signer = HsmSigner::new(&token, "no-id").unwrap();
    let sig = signer.sign(b"no id").unwrap();
    verify_sw(&signer, b"no id", &sig);
}

/// The suite runs on the module IGC_TEST_TOKEN names, not on SoftHSM by accident.
#[test]
fn the_module_is_the_one_asked_for() {
    let description = common::module().description().unwrap().to_lowercase();
    let expected = match common::kind() {
        common::Kind::SoftHsm => "softhsm",
        common::Kind::Kryoptic => "kryoptic",
        common::Kind::Nss => "nss",
    };
    assert!(description.contains(expected), "{description}");
}

/// A token initialised by the HSM's own tool (`init-token` with `existing_token`): its first
/// PIN is replaced, then refused; a wrong first PIN or an unknown token changes nothing.
#[test]
fn a_token_made_elsewhere_is_taken_over() {
    if !common::kind().has_many_tokens() {
        // The one NSS database is shared by every test of this process: changing its PIN
        // would log them out. tests/token_e2e.rs takes NSS databases over, on their own.
        eprintln!("skipped on NSS: one shared token (see tests/token_e2e.rs)");
        return;
    }
    let m = common::module();
    let pin = |s: &str| AuthPin::from(s.to_owned());
    m.init_token(
        "made-elsewhere",
        &pin(common::SO_PIN),
        &pin("vendor-first-pin"),
    )
    .unwrap();
    let err = m
        .take_over_token(
            "made-elsewhere",
            &pin("not-the-first-pin"),
            &pin("new-pin-0001"),
        )
        .unwrap_err();
    assert!(matches!(err, Error::PinRejected { .. }), "{err}");
    let err = m
        .take_over_token(
            "no-such-token",
            &pin("vendor-first-pin"),
            &pin("new-pin-0001"),
        )
        .unwrap_err();
    assert!(matches!(err, Error::TokenNotFound(_)), "{err}");

    m.take_over_token(
        "made-elsewhere",
        &pin("vendor-first-pin"),
        &pin("new-pin-0001"),
    )
    .unwrap();
    let old = Token::open(
        m.clone(),
        "made-elsewhere",
        pin("vendor-first-pin"),
        PoolOptions::default(),
    );
    assert!(
        matches!(old, Err(Error::PinRejected { .. })),
        "{:?}",
        old.err()
    );
    Token::open(
        m,
        "made-elsewhere",
        pin("new-pin-0001"),
        PoolOptions::default(),
    )
    .unwrap();
}
