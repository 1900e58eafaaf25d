//! Infrastructure certificate profiles, CSRs and CRLs built with software keys and checked
//! with the real tools: `openssl verify / x509 / crl / req` and pkilint.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use der::{Decode, Encode, Tag, Tagged};
use pkix::crl::{build_crl, crl_to_pem, CrlParams, IssuingDistributionPointParams, RevokedEntry};
use pkix::csr::{build_csr, csr_to_pem, parse_and_verify_csr};
use pkix::name::{name_to_string, parse_dn, Attr, DnBuilder};
use pkix::profiles::{
    build_certificate, certificate_to_pem, subject_key_identifier, InfraCertParams, InfraProfile,
};
use pkix::verify::{
    check_public_key, verify_certificate_signed_by, verify_crl_signed_by, verify_signature,
    PublicKeyKind, VerifyError,
};
use pkix::{random_serial, x509_time, IssuerInfo, X509Error};
use rand::rngs::OsRng;
use sha2::Sha256;
use signature::{Keypair, RandomizedSigner, SignatureEncoding, Signer};
use spki::{
    AlgorithmIdentifierOwned, DynSignatureAlgorithmIdentifier, EncodePublicKey, ObjectIdentifier,
    SubjectPublicKeyInfoOwned,
};
use time::{Duration, OffsetDateTime};
use x509_cert::certificate::Certificate;
use x509_cert::crl::CertificateList;
use x509_cert::ext::pkix::CrlReason;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Time;

/// Example policy arc under PEN 32473 (RFC 5612, reserved for documentation), never the real
/// ANS arc. (2.999.x would be nicer but const-oid 0.9 cannot encode a second arc > 39.)
const POLICY_PERSONNES: &str = "1.3.6.1.4.1.32473.1.7.1.1";
const POLICY_ORGS: &str = "1.3.6.1.4.1.32473.1.7.1.2";
const BASE: &str = "http://pki.igc-sante.example";

type P256Signer = p256::ecdsa::SigningKey;
type P384Signer = p384::ecdsa::SigningKey;
type P256Sig = p256::ecdsa::DerSignature;
type P384Sig = p384::ecdsa::DerSignature;
type RsaSigner = rsa::pkcs1v15::SigningKey<Sha256>;

fn spki_of<K: EncodePublicKey>(key: &K) -> SubjectPublicKeyInfoOwned {
    SubjectPublicKeyInfoOwned::from_der(key.to_public_key_der().unwrap().as_bytes()).unwrap()
}

fn oid(s: &str) -> ObjectIdentifier {
    ObjectIdentifier::new(s).unwrap()
}

fn url(path: &str) -> Option<String> {
    Some(format!("{BASE}/{path}"))
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// RSASSA-PSS signer the way an HSM adapter would look: a deterministic `Signer` API on top of
/// a randomized primitive (rsa's own `pss::SigningKey` only implements `Signer` with its
/// `getrandom` feature, which the workspace does not enable).
struct PssSigner(rsa::pss::SigningKey<Sha256>);

impl Keypair for PssSigner {
    type VerifyingKey = rsa::pss::VerifyingKey<Sha256>;
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
        self.0.try_sign_with_rng(&mut OsRng, msg)
    }
}

// ---------------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------------

#[test]
fn dn_string_round_trip() {
    let s = "C=FR, O=IGC Santé DEV, CN=IGC Santé Root CA DEV";
    let builder = DnBuilder::parse(s).unwrap();
    let name = builder.build().unwrap();
    assert_eq!(name.0.len(), 3);
    assert_eq!(name_to_string(&name), s);
    assert_eq!(builder.to_string(), s);
    assert_eq!(DnBuilder::from_name(&name).unwrap(), builder);
    assert_eq!(parse_dn(&name_to_string(&name)).unwrap(), name);
    // DER round trip.
    assert_eq!(Name::from_der(&name.to_der().unwrap()).unwrap(), name);

    // Multi-valued RDN, escapes, extra spaces and case-insensitive keys.
    let pro = "c=FR ,  O=Ordre des médecins, OU=10B0012345, title=Médecin, \
               CN=810001234567 + SN=DUPONT\\, dit \\+Jean + givenName=Jean";
    let name = parse_dn(pro).unwrap();
    assert_eq!(name.0.len(), 5);
    assert_eq!(name.0[4].0.len(), 3);
    let canonical = name_to_string(&name);
    assert!(canonical.starts_with("C=FR, O=Ordre des médecins, OU=10B0012345, title=Médecin, "));
    assert!(
        canonical.contains("SN=DUPONT\\, dit \\+Jean"),
        "{canonical}"
    );
    assert_eq!(parse_dn(&canonical).unwrap(), name);

    // All the supported keys.
    let all = "C=FR, ST=Paris (75), L=Paris, O=Clinique, OU=110000000, title=Pharmacien, \
               serialNumber=ABC-123, organizationIdentifier=NTRFR-123456789, CN=host.example, \
               SN=Martin, GN=Anne";
    let name = parse_dn(all).unwrap();
    assert_eq!(name.0.len(), 11);
    assert_eq!(parse_dn(&name_to_string(&name)).unwrap(), name);
}

#[test]
fn country_and_serial_number_are_printable_strings() {
    let name = DnBuilder::new()
        .country("FR")
        .organization("IGC Santé")
        .serial_number("12345")
        .common_name("Test")
        .build()
        .unwrap();
    let country = name.0[0].0.iter().next().unwrap();
    assert_eq!(country.oid, Attr::Country.oid());
    assert_eq!(country.value.tag(), Tag::PrintableString);
    assert_eq!(
        name.0[2].0.iter().next().unwrap().value.tag(),
        Tag::PrintableString
    );
    assert_eq!(
        name.0[1].0.iter().next().unwrap().value.tag(),
        Tag::Utf8String
    );
    assert_eq!(
        name.0[3].0.iter().next().unwrap().value.tag(),
        Tag::Utf8String
    );

    // The raw DER: OID 2.5.4.6 then 0x13 (PrintableString) "FR"; UTF8String (0x0C) for O.
    let der = name.to_der().unwrap();
    let country_atv = [0x06, 0x03, 0x55, 0x04, 0x06, 0x13, 0x02, b'F', b'R'];
    assert!(der.windows(country_atv.len()).any(|w| w == country_atv));
    let org_prefix = [0x06, 0x03, 0x55, 0x04, 0x0a, 0x0c];
    assert!(der.windows(org_prefix.len()).any(|w| w == org_prefix));
}

#[test]
fn multi_valued_rdn_has_three_attributes() {
    let name = DnBuilder::new()
        .country("FR")
        .organization("Ordre des médecins")
        .title("Médecin")
        .multi([
            (Attr::CommonName, "810001234567"),
            (Attr::Surname, "DUPONT"),
            (Attr::GivenName, "Jean"),
        ])
        .build()
        .unwrap();
    assert_eq!(name.0.len(), 4);
    let rdn = &name.0[3];
    assert_eq!(rdn.0.len(), 3);
    let mut oids: Vec<_> = rdn.0.iter().map(|atv| atv.oid).collect();
    oids.sort();
    let mut expected = vec![
        Attr::CommonName.oid(),
        Attr::Surname.oid(),
        Attr::GivenName.oid(),
    ];
    expected.sort();
    assert_eq!(oids, expected);
    // DER encoding of the RDN: one SET (0x31) holding three SEQUENCEs.
    let rdn_der = rdn.to_der().unwrap();
    assert_eq!(rdn_der[0], 0x31);
    assert_eq!(
        name_to_string(&name).matches('+').count(),
        2,
        "{}",
        name_to_string(&name)
    );
}

#[test]
fn bad_names_are_rejected() {
    assert!(matches!(
        DnBuilder::new().country("FR").common_name("").build(),
        Err(X509Error::EmptyValue { attr: "CN" })
    ));
    assert!(matches!(
        DnBuilder::new().country("FR").common_name("   ").build(),
        Err(X509Error::EmptyValue { attr: "CN" })
    ));
    assert!(matches!(
        DnBuilder::new().country("FRA").build(),
        Err(X509Error::InvalidCountry(_))
    ));
    assert!(matches!(
        DnBuilder::new().country("fr").build(),
        Err(X509Error::InvalidCountry(_))
    ));
    assert!(matches!(
        DnBuilder::new().country("F1").build(),
        Err(X509Error::InvalidCountry(_))
    ));
    assert!(matches!(
        DnBuilder::new().common_name("x".repeat(65)).build(),
        Err(X509Error::ValueTooLong {
            attr: "CN",
            len: 65,
            max: 64
        })
    ));
    // 64 characters (not bytes) is fine, even with multi-byte characters.
    assert!(DnBuilder::new().common_name("é".repeat(64)).build().is_ok());
    assert!(matches!(
        DnBuilder::new().state("x".repeat(129)).build(),
        Err(X509Error::ValueTooLong { max: 128, .. })
    ));
    assert!(matches!(
        DnBuilder::new().common_name(" padded").build(),
        Err(X509Error::InvalidValue { .. })
    ));
    assert!(matches!(
        DnBuilder::new().common_name("a\u{0}b").build(),
        Err(X509Error::InvalidValue { .. })
    ));
    assert!(matches!(
        DnBuilder::new().serial_number("é").build(),
        Err(X509Error::InvalidValue { .. })
    ));
    assert!(matches!(
        DnBuilder::new().build(),
        Err(X509Error::EmptyName)
    ));
    assert!(matches!(
        DnBuilder::new()
            .multi([(Attr::CommonName, "a"), (Attr::CommonName, "b")])
            .build(),
        Err(X509Error::DuplicateAttributeInRdn { attr: "CN" })
    ));

    assert!(matches!(
        parse_dn("C=FR, XX=foo"),
        Err(X509Error::UnknownAttribute(k)) if k == "XX"
    ));
    assert!(matches!(
        parse_dn("C=FR, emailAddress=a@b.example"),
        Err(X509Error::UnknownAttribute(_))
    ));
    assert!(matches!(parse_dn("C=FR, CN"), Err(X509Error::DnSyntax(_))));
    assert!(matches!(
        parse_dn("C=FR,, CN=x"),
        Err(X509Error::DnSyntax(_))
    ));
    assert!(matches!(
        parse_dn("C=FR, CN=x\\"),
        Err(X509Error::DnSyntax(_))
    ));
    assert!(matches!(parse_dn(""), Err(X509Error::EmptyName)));
    assert!(matches!(
        parse_dn("C=FR, CN="),
        Err(X509Error::EmptyValue { attr: "CN" })
    ));
    assert!(matches!(
        parse_dn("C=FRA, CN=x"),
        Err(X509Error::InvalidCountry(_))
    ));
}

// ---------------------------------------------------------------------------------------------
// Profile input validation
// ---------------------------------------------------------------------------------------------

fn sample_issued_params(profile: InfraProfile, issuer_key: &P256Signer) -> InfraCertParams {
    let subject_key = P256Signer::random(&mut OsRng);
    let issuer_spki = spki_of(issuer_key.verifying_key());
    InfraCertParams {
        profile,
        subject: parse_dn("C=FR, O=IGC Santé DEV, CN=Test").unwrap(),
        subject_spki: spki_of(subject_key.verifying_key()),
        issuer: Some(IssuerInfo {
            name: parse_dn("C=FR, O=IGC Santé DEV, CN=CA Test").unwrap(),
            ski: subject_key_identifier(&issuer_spki),
        }),
        not_before: now(),
        not_after: now() + Duration::days(365),
        serial: None,
        policy_oids: vec![oid(POLICY_PERSONNES)],
        crl_url: url("crl/test.crl"),
        ca_issuers_url: url("ca/test.crt"),
        ocsp_url: url("ocsp"),
    }
}

#[test]
fn bad_profile_inputs_are_rejected() {
    let ca = P256Signer::random(&mut OsRng);
    let good = sample_issued_params(InfraProfile::RaOperator, &ca);
    let cert = build_certificate::<_, P256Sig>(&good, &ca).unwrap();
    verify_signature(
        &spki_of(ca.verifying_key()),
        &cert.signature_algorithm,
        &cert.tbs_certificate.to_der().unwrap(),
        cert.signature.raw_bytes(),
    )
    .unwrap();

    let check = |mutate: &dyn Fn(&mut InfraCertParams), what: &str| {
        let mut p = good.clone();
        mutate(&mut p);
        let err = build_certificate::<_, P256Sig>(&p, &ca).expect_err(what);
        eprintln!("rejected as expected ({what}): {err}");
        err
    };

    assert!(matches!(
        check(
            &|p| p.crl_url = Some("ftp://pki.example/x.crl".into()),
            "ftp URL"
        ),
        X509Error::InvalidUrl {
            field: "crl_url",
            ..
        }
    ));
    assert!(matches!(
        check(
            &|p| p.ocsp_url = Some("https://pki.example/ocsp".into()),
            "https URL"
        ),
        X509Error::InvalidUrl {
            field: "ocsp_url",
            ..
        }
    ));
    assert!(matches!(
        check(
            &|p| p.ca_issuers_url = Some("http:///ca.crt".into()),
            "no host"
        ),
        X509Error::InvalidUrl { .. }
    ));
    assert!(matches!(
        check(
            &|p| p.ca_issuers_url = Some("http://pki.example/a b".into()),
            "space"
        ),
        X509Error::InvalidUrl { .. }
    ));
    assert!(matches!(
        check(
            &|p| p.not_after = p.not_before - Duration::days(1),
            "not_after before not_before"
        ),
        X509Error::InvalidValidity(_)
    ));
    assert!(matches!(
        check(&|p| p.not_after = p.not_before, "empty validity"),
        X509Error::InvalidValidity(_)
    ));
    assert!(matches!(
        check(&|p| p.ocsp_url = None, "missing OCSP URL"),
        X509Error::MissingInput {
            field: "ocsp_url",
            ..
        }
    ));
    assert!(matches!(
        check(&|p| p.policy_oids.clear(), "no policy"),
        X509Error::MissingInput {
            field: "policy_oids",
            ..
        }
    ));
    assert!(matches!(
        check(
            &|p| p.policy_oids = vec![oid(POLICY_PERSONNES), oid(POLICY_PERSONNES)],
            "duplicate policy"
        ),
        X509Error::DuplicatePolicy(_)
    ));
    assert!(matches!(
        check(&|p| p.issuer = None, "missing issuer"),
        X509Error::MissingInput {
            field: "issuer",
            ..
        }
    ));
    assert!(matches!(
        check(
            &|p| p.profile = InfraProfile::OcspSigner,
            "OCSP signer with a CDP"
        ),
        X509Error::UnexpectedInput {
            field: "crl_url",
            ..
        }
    ));
    assert!(matches!(
        check(
            &|p| p.serial = Some(SerialNumber::new(&[1, 2, 3]).unwrap()),
            "short serial"
        ),
        X509Error::InvalidSerial(_)
    ));
    assert!(matches!(
        check(
            &|p| p.issuer.as_mut().unwrap().ski = vec![0x42; 20],
            "signer is not the issuer"
        ),
        X509Error::IssuerKeyMismatch { .. }
    ));
    assert!(matches!(
        check(
            &|p| p.not_before = OffsetDateTime::UNIX_EPOCH - Duration::days(1),
            "date before 1970"
        ),
        X509Error::TimeOutOfRange(_)
    ));

    // Root: self-signed with the subject key only, and no issuer / URLs / policies.
    let root_key = P384Signer::random(&mut OsRng);
    let root = InfraCertParams {
        profile: InfraProfile::Root,
        subject: parse_dn("C=FR, O=IGC Santé DEV, CN=Root").unwrap(),
        subject_spki: spki_of(root_key.verifying_key()),
        issuer: None,
        not_before: now(),
        not_after: now() + Duration::days(3650),
        serial: None,
        policy_oids: vec![],
        crl_url: None,
        ca_issuers_url: None,
        ocsp_url: None,
    };
    build_certificate::<_, P384Sig>(&root, &root_key).unwrap();
    let other = P384Signer::random(&mut OsRng);
    assert!(matches!(
        build_certificate::<_, P384Sig>(&root, &other),
        Err(X509Error::SelfSignedKeyMismatch)
    ));
    let mut with_policy = root.clone();
    with_policy.policy_oids = vec![oid(POLICY_PERSONNES)];
    assert!(matches!(
        build_certificate::<_, P384Sig>(&with_policy, &root_key),
        Err(X509Error::UnexpectedInput {
            field: "policy_oids",
            ..
        })
    ));
    let mut with_url = root.clone();
    with_url.crl_url = url("arl.crl");
    assert!(matches!(
        build_certificate::<_, P384Sig>(&with_url, &root_key),
        Err(X509Error::UnexpectedInput {
            field: "crl_url",
            ..
        })
    ));
}

#[test]
fn serials_and_times() {
    let mut seen = std::collections::HashSet::new();
    for _ in 0..200 {
        let s = random_serial().unwrap();
        let b = s.as_bytes();
        assert_eq!(b.len(), 16, "{s}");
        assert!(b[0] > 0 && b[0] < 0x80, "{s}");
        assert!(seen.insert(b.to_vec()));
    }

    let utc = x509_time(time::macros::datetime!(2049-12-31 23:59:59 UTC)).unwrap();
    assert!(matches!(utc, Time::UtcTime(_)));
    let gen = x509_time(time::macros::datetime!(2050-01-01 00:00:00 UTC)).unwrap();
    assert!(matches!(gen, Time::GeneralTime(_)));
    // Offsets are normalised to UTC.
    let paris = x509_time(time::macros::datetime!(2050-01-01 00:30:00 +01:00)).unwrap();
    assert!(matches!(paris, Time::UtcTime(_)));
}

// ---------------------------------------------------------------------------------------------
// CSR and signature verification
// ---------------------------------------------------------------------------------------------

#[test]
fn csr_round_trip_and_garbage() {
    let key = P256Signer::random(&mut OsRng);
    let subject =
        parse_dn("C=FR, O=Ordre des médecins, title=Médecin, CN=810001234567+SN=DUPONT+GN=Jean")
            .unwrap();
    let csr = build_csr::<_, P256Sig>(&subject, &[], &key).unwrap();
    let der = csr.to_der().unwrap();
    let pem = csr_to_pem(&csr).unwrap();

    for input in [der.as_slice(), pem.as_bytes()] {
        let checked = parse_and_verify_csr(input).unwrap();
        assert_eq!(checked.subject, subject);
        assert_eq!(checked.subject_spki, spki_of(key.verifying_key()));
        assert!(checked.requested_extensions.is_empty());
    }

    // Garbage of all kinds: errors, never panics.
    let mut garbage: Vec<Vec<u8>> = vec![
        vec![],
        b"hello".to_vec(),
        vec![0x30],
        vec![0x30, 0x80, 0x00, 0x00],
        vec![0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
        b"-----BEGIN CERTIFICATE REQUEST-----\nnot base64!\n-----END CERTIFICATE REQUEST-----\n"
            .to_vec(),
        pem.replace("CERTIFICATE REQUEST", "CERTIFICATE")
            .into_bytes(),
        vec![0u8; 70 * 1024],
    ];
    for cut in [1, 10, der.len() / 2, der.len() - 1] {
        garbage.push(der[..cut].to_vec());
    }
    let mut trailing = der.clone();
    trailing.push(0);
    garbage.push(trailing);
    for _ in 0..200 {
        let mut bytes = der.clone();
        let i = (rand::random::<usize>()) % bytes.len();
        bytes[i] ^= 1 << (rand::random::<u8>() % 8);
        garbage.push(bytes);
    }
    for input in &garbage {
        match parse_and_verify_csr(input) {
            Err(_) => {}
            // A flipped bit can land in a part that still decodes, but then the signature
            // must fail — unless the flip was a no-op for the signed bytes, which is impossible
            // since every byte of a DER CSR is significant.
            Ok(_) => panic!("garbage accepted: {}", hex::encode(input)),
        }
    }

    // Tampered signature → proof-of-possession failure.
    let mut bad = csr.clone();
    let mut sig = bad.signature.raw_bytes().to_vec();
    let last = sig.len() - 2;
    sig[last] ^= 0x01;
    bad.signature = der::asn1::BitString::from_bytes(&sig).unwrap();
    assert!(matches!(
        parse_and_verify_csr(&bad.to_der().unwrap()),
        Err(X509Error::CsrSignature(_))
    ));
    // Subject swapped after signing → proof-of-possession failure.
    let mut swapped = csr.clone();
    swapped.info.subject = parse_dn("C=FR, CN=Mallory").unwrap();
    assert!(matches!(
        parse_and_verify_csr(&swapped.to_der().unwrap()),
        Err(X509Error::CsrSignature(VerifyError::BadSignature))
    ));
}

#[test]
fn verify_rejects_tampering_wrong_keys_and_weak_algorithms() {
    let msg = b"ordonnance: amoxicilline 1 g";
    let tampered = b"ordonnance: amoxicilline 9 g";

    // ECDSA P-256 and P-384.
    let k256 = P256Signer::random(&mut OsRng);
    let k384 = P384Signer::random(&mut OsRng);
    let other256 = P256Signer::random(&mut OsRng);
    let sig256: P256Sig = k256.sign(msg);
    let sig384: P384Sig = k384.sign(msg);
    let alg256 = k256.signature_algorithm_identifier().unwrap();
    let alg384 = k384.signature_algorithm_identifier().unwrap();
    let spki256 = spki_of(k256.verifying_key());
    let spki384 = spki_of(k384.verifying_key());
    verify_signature(&spki256, &alg256, msg, sig256.as_bytes()).unwrap();
    verify_signature(&spki384, &alg384, msg, sig384.as_bytes()).unwrap();
    assert!(matches!(
        verify_signature(&spki256, &alg256, tampered, sig256.as_bytes()),
        Err(VerifyError::BadSignature)
    ));
    assert!(matches!(
        verify_signature(
            &spki_of(other256.verifying_key()),
            &alg256,
            msg,
            sig256.as_bytes()
        ),
        Err(VerifyError::BadSignature)
    ));
    assert!(matches!(
        verify_signature(&spki384, &alg384, msg, &sig384.as_bytes()[..10]),
        Err(VerifyError::MalformedSignature(_))
    ));
    assert_eq!(check_public_key(&spki256).unwrap(), PublicKeyKind::EcP256);
    assert_eq!(check_public_key(&spki384).unwrap(), PublicKeyKind::EcP384);

    // ECDSA with a hash other than the curve's default (P-256 + SHA-384).
    {
        use sha2::Digest;
        use signature::hazmat::PrehashSigner;
        let digest = sha2::Sha384::digest(msg);
        let sig: p256::ecdsa::Signature = k256.sign_prehash(&digest).unwrap();
        let alg = AlgorithmIdentifierOwned {
            oid: oid("1.2.840.10045.4.3.3"),
            parameters: None,
        };
        verify_signature(&spki256, &alg, msg, sig.to_der().as_bytes()).unwrap();
        assert!(verify_signature(&spki256, &alg256, msg, sig.to_der().as_bytes()).is_err());
    }

    // RSA PKCS#1 v1.5 and PSS.
    let rsa_key = rsa::RsaPrivateKey::new(&mut OsRng, 2048).unwrap();
    let rsa_other = rsa::RsaPrivateKey::new(&mut OsRng, 2048).unwrap();
    let pkcs1 = RsaSigner::new(rsa_key.clone());
    let rsa_spki = spki_of(&rsa_key.to_public_key());
    assert_eq!(
        check_public_key(&rsa_spki).unwrap(),
        PublicKeyKind::Rsa {
            bits: 2048,
            pss_only: false
        }
    );
    let sig = pkcs1.sign(msg);
    let alg = pkcs1.signature_algorithm_identifier().unwrap();
    let sig_bytes = sig.to_vec();
    verify_signature(&rsa_spki, &alg, msg, &sig_bytes).unwrap();
    assert!(matches!(
        verify_signature(&rsa_spki, &alg, tampered, &sig_bytes),
        Err(VerifyError::BadSignature)
    ));
    assert!(matches!(
        verify_signature(&spki_of(&rsa_other.to_public_key()), &alg, msg, &sig_bytes),
        Err(VerifyError::BadSignature)
    ));

    for salt in [32usize, 20, 0] {
        let pss = PssSigner(rsa::pss::SigningKey::<Sha256>::new_with_salt_len(
            rsa_key.clone(),
            salt,
        ));
        let alg = pss.signature_algorithm_identifier().unwrap();
        assert_eq!(alg.oid, oid("1.2.840.113549.1.1.10"));
        let sig = pss.sign(msg).to_vec();
        verify_signature(&rsa_spki, &alg, msg, &sig).unwrap();
        assert!(matches!(
            verify_signature(&rsa_spki, &alg, tampered, &sig),
            Err(VerifyError::BadSignature)
        ));
        assert!(matches!(
            verify_signature(&spki_of(&rsa_other.to_public_key()), &alg, msg, &sig),
            Err(VerifyError::BadSignature)
        ));
    }
    // PSS without parameters means SHA-1 defaults: refused.
    let pss_no_params = AlgorithmIdentifierOwned {
        oid: oid("1.2.840.113549.1.1.10"),
        parameters: None,
    };
    assert!(matches!(
        verify_signature(&rsa_spki, &pss_no_params, msg, &sig_bytes),
        Err(VerifyError::InvalidAlgorithmParameters(_))
    ));

    // Algorithm / key mismatches and unknown algorithms.
    assert!(matches!(
        verify_signature(&rsa_spki, &alg256, msg, sig256.as_bytes()),
        Err(VerifyError::AlgorithmKeyMismatch { .. })
    ));
    assert!(matches!(
        verify_signature(&spki256, &alg, msg, &sig_bytes),
        Err(VerifyError::AlgorithmKeyMismatch { .. })
    ));
    let sha1_rsa = AlgorithmIdentifierOwned {
        oid: oid("1.2.840.113549.1.1.5"),
        parameters: Some(der::Any::encode_from(&der::asn1::Null).unwrap()),
    };
    assert!(matches!(
        verify_signature(&rsa_spki, &sha1_rsa, msg, &sig_bytes),
        Err(VerifyError::UnsupportedSignatureAlgorithm(_))
    ));
    let ed25519 = AlgorithmIdentifierOwned {
        oid: oid("1.3.101.112"),
        parameters: None,
    };
    assert!(matches!(
        verify_signature(&spki256, &ed25519, msg, sig256.as_bytes()),
        Err(VerifyError::UnsupportedSignatureAlgorithm(_))
    ));
    let ecdsa_with_null = AlgorithmIdentifierOwned {
        oid: alg256.oid,
        parameters: Some(der::Any::encode_from(&der::asn1::Null).unwrap()),
    };
    assert!(matches!(
        verify_signature(&spki256, &ecdsa_with_null, msg, sig256.as_bytes()),
        Err(VerifyError::InvalidAlgorithmParameters(_))
    ));

    // RSA below 2048 bits.
    let small = rsa::RsaPrivateKey::new(&mut OsRng, 1024).unwrap();
    let small_signer = RsaSigner::new(small.clone());
    let small_sig = small_signer.sign(msg).to_vec();
    let small_spki = spki_of(&small.to_public_key());
    assert!(matches!(
        verify_signature(&small_spki, &alg, msg, &small_sig),
        Err(VerifyError::RsaKeyTooSmall {
            bits: 1024,
            min: 2048
        })
    ));
    assert!(matches!(
        check_public_key(&small_spki),
        Err(VerifyError::RsaKeyTooSmall { .. })
    ));
    // ... and refused as a certificate subject key.
    let ca = P256Signer::random(&mut OsRng);
    let mut params = sample_issued_params(InfraProfile::RaOperator, &ca);
    params.subject_spki = small_spki;
    assert!(matches!(
        build_certificate::<_, P256Sig>(&params, &ca),
        Err(X509Error::SubjectKey(VerifyError::RsaKeyTooSmall { .. }))
    ));
    // ... and as a CSR key.
    let small_csr = build_csr::<_, rsa::pkcs1v15::Signature>(
        &parse_dn("C=FR, CN=small").unwrap(),
        &[],
        &small_signer,
    );
    assert!(small_csr.is_err(), "our own builder refuses weak keys too");

    // Unsupported curve (secp256k1).
    let mut k1 = spki256.clone();
    k1.algorithm.parameters = Some(der::Any::encode_from(&oid("1.3.132.0.10")).unwrap());
    assert!(matches!(
        check_public_key(&k1),
        Err(VerifyError::UnsupportedCurve(_))
    ));
}

// ---------------------------------------------------------------------------------------------
// The full hierarchy, checked by OpenSSL and pkilint
// ---------------------------------------------------------------------------------------------

struct Issued {
    name: &'static str,
    cert: Certificate,
}

struct Hierarchy {
    root: Certificate,
    personnes: Certificate,
    orgs_rsa: Certificate,
    leaves_personnes: Vec<Issued>,
    leaves_orgs: Vec<Issued>,
    revoked_ra: Certificate,
    retired: Certificate,
    arl: CertificateList,
    arl_scoped: CertificateList,
    crl_personnes: CertificateList,
    csrs: Vec<(&'static str, x509_cert::request::CertReq)>,
}

fn build_hierarchy() -> Hierarchy {
    let t0 = now() - Duration::minutes(5);

    // Root CA, P-384, valid past 2050 (GeneralizedTime notAfter).
    let root_key = P384Signer::random(&mut OsRng);
    let root = build_certificate::<_, P384Sig>(
        &InfraCertParams {
            profile: InfraProfile::Root,
            subject: parse_dn("C=FR, O=IGC Santé DEV, CN=IGC Santé Root CA DEV").unwrap(),
            subject_spki: spki_of(root_key.verifying_key()),
            issuer: None,
            not_before: t0,
            not_after: time::macros::datetime!(2051-06-30 12:00:00 UTC),
            serial: None,
            policy_oids: vec![],
            crl_url: None,
            ca_issuers_url: None,
            ocsp_url: None,
        },
        &root_key,
    )
    .unwrap();
    let root_issuer = IssuerInfo::from_certificate(&root).unwrap();

    let sub_params =
        |subject: &str, spki: SubjectPublicKeyInfoOwned, policy: &str| InfraCertParams {
            profile: InfraProfile::SubCa,
            subject: parse_dn(subject).unwrap(),
            subject_spki: spki,
            issuer: Some(root_issuer.clone()),
            not_before: t0,
            not_after: t0 + Duration::days(10 * 365),
            serial: None,
            policy_oids: vec![oid(policy)],
            crl_url: url("arl/root.crl"),
            ca_issuers_url: url("ca/root.crt"),
            ocsp_url: None,
        };

    // CA Personnes, P-256.
    let personnes_key = P256Signer::random(&mut OsRng);
    let personnes = build_certificate::<_, P384Sig>(
        &sub_params(
            "C=FR, O=IGC Santé DEV, OU=0002 187512751, CN=IGC Santé CA Personnes DEV",
            spki_of(personnes_key.verifying_key()),
            POLICY_PERSONNES,
        ),
        &root_key,
    )
    .unwrap();
    let personnes_issuer = IssuerInfo::from_certificate(&personnes).unwrap();

    // CA Organisations, RSA-2048 (signs with PKCS#1 v1.5 SHA-256, and PSS for one leaf).
    let orgs_rsa_key = rsa::RsaPrivateKey::new(&mut OsRng, 2048).unwrap();
    let orgs_signer = RsaSigner::new(orgs_rsa_key.clone());
    let orgs_rsa = build_certificate::<_, P384Sig>(
        &sub_params(
            "C=FR, O=IGC Santé DEV, CN=IGC Santé CA Organisations RSA DEV",
            spki_of(&orgs_rsa_key.to_public_key()),
            POLICY_ORGS,
        ),
        &root_key,
    )
    .unwrap();
    let orgs_issuer = IssuerInfo::from_certificate(&orgs_rsa).unwrap();

    let leaf = |profile: InfraProfile,
                subject: &str,
                spki: SubjectPublicKeyInfoOwned,
                issuer: &IssuerInfo,
                issuer_tag: &str,
                policy: &str,
                days: i64| {
        let (crl_url, ocsp_url) = match profile {
            InfraProfile::OcspSigner => (None, None),
            _ => (
                url(&format!("crl/{issuer_tag}.crl")),
                url(&format!("ocsp/{issuer_tag}")),
            ),
        };
        InfraCertParams {
            profile,
            subject: parse_dn(subject).unwrap(),
            subject_spki: spki,
            issuer: Some(issuer.clone()),
            not_before: t0,
            not_after: t0 + Duration::days(days),
            serial: None,
            policy_oids: vec![oid(policy)],
            crl_url,
            ca_issuers_url: url(&format!("ca/{issuer_tag}.crt")),
            ocsp_url,
        }
    };
    let p256_spki = || spki_of(P256Signer::random(&mut OsRng).verifying_key());

    let mut leaves_personnes = Vec::new();
    let mut leaves_orgs = Vec::new();

    leaves_personnes.push(Issued {
        name: "ocsp_personnes",
        cert: build_certificate::<_, P256Sig>(
            &leaf(
                InfraProfile::OcspSigner,
                "C=FR, O=IGC Santé DEV, CN=IGC Santé OCSP Personnes DEV",
                p256_spki(),
                &personnes_issuer,
                "personnes",
                POLICY_PERSONNES,
                30,
            ),
            &personnes_key,
        )
        .unwrap(),
    });
    let ra_params = leaf(
        InfraProfile::RaOperator,
        "C=FR, O=Ordre des médecins, OU=Conseil départemental de Paris, \
         title=Agent d'enregistrement, CN=RA-000123+SN=MARTIN+GN=Claire",
        p256_spki(),
        &personnes_issuer,
        "personnes",
        POLICY_PERSONNES,
        3 * 365,
    );
    leaves_personnes.push(Issued {
        name: "ra_operator",
        cert: build_certificate::<_, P256Sig>(&ra_params, &personnes_key).unwrap(),
    });
    let mut revoked_params = ra_params.clone();
    revoked_params.subject_spki = p256_spki();
    let revoked_ra = build_certificate::<_, P256Sig>(&revoked_params, &personnes_key).unwrap();

    leaves_orgs.push(Issued {
        name: "tsa_unit",
        cert: build_certificate::<_, rsa::pkcs1v15::Signature>(
            &leaf(
                InfraProfile::TsaUnit,
                "C=FR, O=IGC Santé DEV, OU=Horodatage, CN=IGC Santé TSA Unit 01 DEV",
                p256_spki(),
                &orgs_issuer,
                "orgs",
                POLICY_ORGS,
                6 * 365,
            ),
            &orgs_signer,
        )
        .unwrap(),
    });
    leaves_orgs.push(Issued {
        name: "tsa_unit_rsa_key",
        cert: build_certificate::<_, rsa::pkcs1v15::Signature>(
            &leaf(
                InfraProfile::TsaUnit,
                "C=FR, O=IGC Santé DEV, OU=Horodatage, CN=IGC Santé TSA Unit 02 DEV",
                spki_of(
                    &rsa::RsaPrivateKey::new(&mut OsRng, 2048)
                        .unwrap()
                        .to_public_key(),
                ),
                &orgs_issuer,
                "orgs",
                POLICY_ORGS,
                6 * 365,
            ),
            &orgs_signer,
        )
        .unwrap(),
    });
    leaves_orgs.push(Issued {
        name: "ocsp_orgs_pss",
        cert: build_certificate::<_, rsa::pss::Signature>(
            &leaf(
                InfraProfile::OcspSigner,
                "C=FR, O=IGC Santé DEV, CN=IGC Santé OCSP Organisations DEV",
                p256_spki(),
                &orgs_issuer,
                "orgs",
                POLICY_ORGS,
                30,
            ),
            &PssSigner(rsa::pss::SigningKey::<Sha256>::new(orgs_rsa_key.clone())),
        )
        .unwrap(),
    });

    // A retired sub-CA, revoked in the ARL.
    let retired = build_certificate::<_, P384Sig>(
        &sub_params(
            "C=FR, O=IGC Santé DEV, CN=IGC Santé CA Retraitée DEV",
            p256_spki(),
            POLICY_PERSONNES,
        ),
        &root_key,
    )
    .unwrap();

    // Root ARLs: one revoked sub-CA (cessationOfOperation) and one fictitious compromised one.
    // `arl_scoped` has an IDP (onlyContainsCACerts, the URL of the sub-CAs' CDP); `arl` has no
    // IDP, so it is also in scope for the root itself, which `openssl verify -crl_check_all`
    // checks too.
    let arl_params = |scoped: bool, crl_number| CrlParams {
        issuer: root_issuer.clone(),
        this_update: now(),
        next_update: now() + Duration::days(365),
        crl_number,
        revoked: vec![
            RevokedEntry {
                serial: retired.tbs_certificate.serial_number.clone(),
                revocation_date: now() - Duration::hours(1),
                reason: Some(CrlReason::CessationOfOperation),
            },
            RevokedEntry {
                serial: random_serial().unwrap(),
                revocation_date: now() - Duration::days(2),
                reason: Some(CrlReason::CaCompromise),
            },
        ],
        issuing_distribution_point: scoped.then(|| IssuingDistributionPointParams {
            url: format!("{BASE}/arl/root.crl"),
            only_contains_user_certs: false,
            only_contains_ca_certs: true,
        }),
    };
    let arl = build_crl::<_, P384Sig>(&arl_params(false, 3), &root_key).unwrap();
    let arl_scoped = build_crl::<_, P384Sig>(&arl_params(true, 4), &root_key).unwrap();

    // CA Personnes CRL (no IDP: a full CRL), revoking the second RA operator certificate.
    let crl_personnes = build_crl::<_, P256Sig>(
        &CrlParams {
            issuer: personnes_issuer.clone(),
            this_update: now(),
            next_update: now() + Duration::days(7),
            crl_number: 42,
            revoked: vec![
                RevokedEntry {
                    serial: revoked_ra.tbs_certificate.serial_number.clone(),
                    revocation_date: now() - Duration::minutes(1),
                    reason: Some(CrlReason::KeyCompromise),
                },
                RevokedEntry {
                    serial: random_serial().unwrap(),
                    revocation_date: now() - Duration::days(1),
                    reason: None,
                },
            ],
            issuing_distribution_point: None,
        },
        &personnes_key,
    )
    .unwrap();

    // CSRs: EC without extensions, RSA with a requested extension.
    let csr_key = P256Signer::random(&mut OsRng);
    let csr_ec = build_csr::<_, P256Sig>(
        &parse_dn("C=FR, O=Ordre des médecins, title=Médecin, CN=810001234567+SN=DUPONT+GN=Jean")
            .unwrap(),
        &[],
        &csr_key,
    )
    .unwrap();
    let rsa_csr_key = RsaSigner::new(rsa::RsaPrivateKey::new(&mut OsRng, 2048).unwrap());
    let ku = x509_cert::ext::Extension {
        extn_id: oid("2.5.29.15"),
        critical: true,
        extn_value: der::asn1::OctetString::new(
            x509_cert::ext::pkix::KeyUsage(x509_cert::ext::pkix::KeyUsages::NonRepudiation.into())
                .to_der()
                .unwrap(),
        )
        .unwrap(),
    };
    let csr_rsa = build_csr::<_, rsa::pkcs1v15::Signature>(
        &parse_dn(
            "C=FR, O=Ordre des pharmaciens, title=Pharmacien, CN=810009876543+SN=DURAND+GN=Marie",
        )
        .unwrap(),
        std::slice::from_ref(&ku),
        &rsa_csr_key,
    )
    .unwrap();
    let checked = parse_and_verify_csr(&csr_rsa.to_der().unwrap()).unwrap();
    assert_eq!(checked.requested_extensions, vec![ku]);

    Hierarchy {
        root,
        personnes,
        orgs_rsa,
        leaves_personnes,
        leaves_orgs,
        revoked_ra,
        retired,
        arl,
        arl_scoped,
        crl_personnes,
        csrs: vec![("csr_ec", csr_ec), ("csr_rsa", csr_rsa)],
    }
}

fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

struct Output {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn run(program: &str, args: &[&str]) -> Output {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (is it installed?): {e}"));
    Output {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn openssl_verify(ca: &Path, untrusted: Option<&Path>, extra: &[&str], cert: &Path) -> Output {
    let mut args = vec!["verify", "-x509_strict", "-CAfile", p(ca)];
    if let Some(u) = untrusted {
        args.extend(["-untrusted", p(u)]);
    }
    args.extend(extra);
    args.push(p(cert));
    run("openssl", &args)
}

fn assert_verify_ok(out: &Output, what: &str) {
    assert!(
        out.ok && out.stdout.contains(": OK"),
        "openssl verify {what} failed:\n{}\n{}",
        out.stdout,
        out.stderr
    );
}

/// One pkilint finding.
#[derive(Debug)]
struct Finding {
    file: String,
    severity: String,
    code: String,
    validator: String,
    node_path: String,
    message: Option<String>,
}

fn pkilint(program: &str, extra: &[&str], files: &[&Path]) -> Vec<Finding> {
    let mut args = vec!["lint"];
    args.extend(extra);
    args.extend(["-s", "ALL", "-f", "JSON"]);
    args.extend(files.iter().map(|f| p(f)));
    let file = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" -> ");
    let out = run(program, &args);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{program} output is not JSON ({e}):\n{}\n{}",
            out.stdout, out.stderr
        )
    });
    let results = json["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results array from {program}: {json}"));
    assert!(
        !results.is_empty(),
        "{program} reported no validation at all"
    );
    let mut findings = Vec::new();
    for result in results {
        for f in result["finding_descriptions"].as_array().unwrap() {
            findings.push(Finding {
                file: file.clone(),
                severity: f["severity"].as_str().unwrap().to_owned(),
                code: f["code"].as_str().unwrap().to_owned(),
                validator: result["validator"].as_str().unwrap_or("").to_owned(),
                node_path: result["node_path"].as_str().unwrap_or("").to_owned(),
                message: f["message"].as_str().map(str::to_owned),
            });
        }
    }
    findings
}

#[test]
fn full_hierarchy_checked_with_openssl_and_pkilint() {
    let h = build_hierarchy();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // Our own verifier first.
    verify_certificate_signed_by(&h.root, &h.root).unwrap();
    verify_certificate_signed_by(&h.personnes, &h.root).unwrap();
    verify_certificate_signed_by(&h.orgs_rsa, &h.root).unwrap();
    for l in &h.leaves_personnes {
        verify_certificate_signed_by(&l.cert, &h.personnes).unwrap();
        assert!(matches!(
            verify_certificate_signed_by(&l.cert, &h.orgs_rsa),
            Err(VerifyError::IssuerNameMismatch)
        ));
    }
    for l in &h.leaves_orgs {
        verify_certificate_signed_by(&l.cert, &h.orgs_rsa).unwrap();
    }
    verify_crl_signed_by(&h.arl, &h.root).unwrap();
    verify_crl_signed_by(&h.arl_scoped, &h.root).unwrap();
    verify_certificate_signed_by(&h.retired, &h.root).unwrap();
    verify_crl_signed_by(&h.crl_personnes, &h.personnes).unwrap();
    assert!(verify_crl_signed_by(&h.arl, &h.personnes).is_err());
    // A leaf is not a CA.
    assert!(matches!(
        verify_certificate_signed_by(&h.revoked_ra, &h.leaves_personnes[1].cert),
        Err(VerifyError::IssuerNameMismatch | VerifyError::IssuerNotCa)
    ));
    // Tampered certificate.
    let mut forged = h.leaves_personnes[1].cert.clone();
    forged.tbs_certificate.subject = parse_dn("C=FR, CN=Mallory").unwrap();
    assert!(matches!(
        verify_certificate_signed_by(&forged, &h.personnes),
        Err(VerifyError::BadSignature)
    ));
    // Right issuer name and key identifiers, wrong issuer key: the signature check fails.
    let mut other_root = h.root.clone();
    other_root.tbs_certificate.subject_public_key_info =
        h.personnes.tbs_certificate.subject_public_key_info.clone();
    assert!(verify_certificate_signed_by(&h.personnes, &other_root).is_err());

    // PEM files.
    let root_pem = write(d, "root.pem", &certificate_to_pem(&h.root).unwrap());
    let personnes_pem = write(
        d,
        "ca_personnes.pem",
        &certificate_to_pem(&h.personnes).unwrap(),
    );
    let orgs_pem = write(
        d,
        "ca_orgs_rsa.pem",
        &certificate_to_pem(&h.orgs_rsa).unwrap(),
    );
    let revoked_pem = write(
        d,
        "ra_revoked.pem",
        &certificate_to_pem(&h.revoked_ra).unwrap(),
    );
    let arl_pem = write(d, "root_arl.pem", &crl_to_pem(&h.arl).unwrap());
    let arl_scoped_pem = write(
        d,
        "root_arl_scoped.pem",
        &crl_to_pem(&h.arl_scoped).unwrap(),
    );
    let retired_pem = write(
        d,
        "ca_retired.pem",
        &certificate_to_pem(&h.retired).unwrap(),
    );
    let crl_pem = write(
        d,
        "personnes_crl.pem",
        &crl_to_pem(&h.crl_personnes).unwrap(),
    );
    // (name, certificate, issuer certificate)
    let mut certs: Vec<(String, PathBuf, PathBuf)> = vec![
        ("root".into(), root_pem.clone(), root_pem.clone()),
        (
            "ca_personnes".into(),
            personnes_pem.clone(),
            root_pem.clone(),
        ),
        ("ca_orgs_rsa".into(), orgs_pem.clone(), root_pem.clone()),
        ("ca_retired".into(), retired_pem.clone(), root_pem.clone()),
        (
            "ra_revoked".into(),
            revoked_pem.clone(),
            personnes_pem.clone(),
        ),
    ];

    // openssl verify: root, sub-CAs, leaves.
    assert_verify_ok(&openssl_verify(&root_pem, None, &[], &root_pem), "root");
    assert_verify_ok(
        &openssl_verify(&root_pem, None, &[], &personnes_pem),
        "CA Personnes",
    );
    assert_verify_ok(
        &openssl_verify(&root_pem, None, &[], &orgs_pem),
        "CA Organisations",
    );
    for (leaves, sub) in [
        (&h.leaves_personnes, &personnes_pem),
        (&h.leaves_orgs, &orgs_pem),
    ] {
        for l in leaves {
            let path = write(
                d,
                &format!("{}.pem", l.name),
                &certificate_to_pem(&l.cert).unwrap(),
            );
            assert_verify_ok(&openssl_verify(&root_pem, Some(sub), &[], &path), l.name);
            certs.push((l.name.to_owned(), path, sub.clone()));
        }
    }
    let ra_pem = d.join("ra_operator.pem");
    let tsa_pem = d.join("tsa_unit.pem");
    let ocsp_pem = d.join("ocsp_personnes.pem");
    assert_verify_ok(
        &openssl_verify(
            &root_pem,
            Some(&personnes_pem),
            &["-purpose", "sslclient"],
            &ra_pem,
        ),
        "RA operator as TLS client",
    );
    assert_verify_ok(
        &openssl_verify(
            &root_pem,
            Some(&orgs_pem),
            &["-purpose", "timestampsign"],
            &tsa_pem,
        ),
        "TSA unit for time stamping",
    );
    // The TSA unit must not pass as a TLS client (critical EKU, timeStamping only).
    let out = openssl_verify(
        &root_pem,
        Some(&orgs_pem),
        &["-purpose", "sslclient"],
        &tsa_pem,
    );
    assert!(!out.ok, "TSA unit accepted as TLS client:\n{}", out.stdout);

    // Revocation: CRL checks on the whole chain (ARL for the sub-CA, CA CRL for the leaf).
    let crl_args = [
        "-crl_check_all",
        "-CRLfile",
        p(&arl_pem),
        "-CRLfile",
        p(&crl_pem),
    ];
    assert_verify_ok(
        &openssl_verify(&root_pem, Some(&personnes_pem), &crl_args, &ra_pem),
        "RA operator with -crl_check_all",
    );
    let out = openssl_verify(&root_pem, Some(&personnes_pem), &crl_args, &revoked_pem);
    assert!(
        !out.ok && format!("{}{}", out.stdout, out.stderr).contains("certificate revoked"),
        "revoked RA operator certificate not reported revoked:\n{}\n{}",
        out.stdout,
        out.stderr
    );

    // The scoped ARL (IDP names the sub-CAs' CDP URL) with -crl_check on the sub-CAs: the
    // active one is fine, the retired one is revoked.
    let arl_args = ["-crl_check", "-CRLfile", p(&arl_scoped_pem)];
    assert_verify_ok(
        &openssl_verify(&root_pem, None, &arl_args, &personnes_pem),
        "CA Personnes against the scoped ARL",
    );
    let out = openssl_verify(&root_pem, None, &arl_args, &retired_pem);
    assert!(
        !out.ok && format!("{}{}", out.stdout, out.stderr).contains("certificate revoked"),
        "retired sub-CA not reported revoked by the ARL:\n{}\n{}",
        out.stdout,
        out.stderr
    );
    // The scoped ARL is out of scope for the root itself (a root has no CDP), which OpenSSL's
    // -crl_check_all checks too: documented on IssuingDistributionPointParams::url.
    let out = openssl_verify(
        &root_pem,
        Some(&personnes_pem),
        &[
            "-crl_check_all",
            "-CRLfile",
            p(&arl_scoped_pem),
            "-CRLfile",
            p(&crl_pem),
        ],
        &ra_pem,
    );
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(!out.ok && all.contains("different CRL scope"), "{all}");

    // openssl x509 -text: TSA EKU critical with Time Stamping only; OCSP signer extensions.
    let text = run("openssl", &["x509", "-noout", "-text", "-in", p(&tsa_pem)]);
    assert!(text.ok, "{}", text.stderr);
    let lines: Vec<&str> = text.stdout.lines().map(str::trim).collect();
    let eku = lines
        .iter()
        .position(|l| l.starts_with("X509v3 Extended Key Usage"))
        .expect("TSA has an EKU");
    assert_eq!(
        lines[eku], "X509v3 Extended Key Usage: critical",
        "{}",
        text.stdout
    );
    assert_eq!(lines[eku + 1], "Time Stamping", "{}", text.stdout);
    let ku = lines
        .iter()
        .position(|l| l.starts_with("X509v3 Key Usage"))
        .unwrap();
    assert_eq!(lines[ku], "X509v3 Key Usage: critical");
    assert_eq!(lines[ku + 1], "Digital Signature, Non Repudiation");
    assert!(!text.stdout.contains("Basic Constraints"));

    let text = run("openssl", &["x509", "-noout", "-text", "-in", p(&ocsp_pem)]);
    assert!(text.ok, "{}", text.stderr);
    let lines: Vec<&str> = text.stdout.lines().map(str::trim).collect();
    let eku = lines
        .iter()
        .position(|l| l.starts_with("X509v3 Extended Key Usage"))
        .unwrap();
    assert_eq!(lines[eku], "X509v3 Extended Key Usage:");
    assert_eq!(lines[eku + 1], "OCSP Signing");
    assert!(
        lines.iter().any(|l| l.starts_with("OCSP No Check")),
        "{}",
        text.stdout
    );
    assert!(!text.stdout.contains("CRL Distribution Points"));

    let text = run("openssl", &["x509", "-noout", "-text", "-in", p(&root_pem)]);
    let lines: Vec<&str> = text.stdout.lines().map(str::trim).collect();
    let bc = lines
        .iter()
        .position(|l| l.starts_with("X509v3 Basic Constraints"))
        .unwrap();
    assert_eq!(lines[bc], "X509v3 Basic Constraints: critical");
    assert_eq!(lines[bc + 1], "CA:TRUE, pathlen:1");
    assert!(lines
        .iter()
        .any(|l| l.starts_with("Not After : Jun 30 12:00:00 2051 GMT")));
    let text = run(
        "openssl",
        &["x509", "-noout", "-text", "-in", p(&personnes_pem)],
    );
    assert!(text.stdout.contains("CA:TRUE, pathlen:0"));
    assert!(text.stdout.contains(&format!("URI:{BASE}/arl/root.crl")));
    assert!(text
        .stdout
        .contains(&format!("CA Issuers - URI:{BASE}/ca/root.crt")));
    assert!(text.stdout.contains(&format!("Policy: {POLICY_PERSONNES}")));
    // Subject printed by OpenSSL in RFC 2253 form shows the multi-valued RDN.
    let subj = run(
        "openssl",
        &[
            "x509",
            "-noout",
            "-subject",
            "-nameopt",
            "RFC2253",
            "-in",
            p(&ra_pem),
        ],
    );
    assert!(subj.stdout.contains('+'), "{}", subj.stdout);

    // openssl crl -verify on the ARL and the CA Personnes CRL.
    for (crl, ca) in [
        (&arl_pem, &root_pem),
        (&arl_scoped_pem, &root_pem),
        (&crl_pem, &personnes_pem),
    ] {
        let out = run(
            "openssl",
            &["crl", "-noout", "-verify", "-in", p(crl), "-CAfile", p(ca)],
        );
        assert!(
            out.ok && format!("{}{}", out.stdout, out.stderr).contains("verify OK"),
            "openssl crl -verify {}: {}{}",
            p(crl),
            out.stdout,
            out.stderr
        );
    }
    let text = run(
        "openssl",
        &["crl", "-noout", "-text", "-in", p(&arl_scoped_pem)],
    );
    assert!(
        text.stdout.contains("Only CA Certificates"),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains("CA Compromise"), "{}", text.stdout);

    // openssl req -verify on the CSRs.
    for (name, csr) in &h.csrs {
        let path = write(d, &format!("{name}.pem"), &csr_to_pem(csr).unwrap());
        let out = run("openssl", &["req", "-noout", "-verify", "-in", p(&path)]);
        assert!(
            out.ok && format!("{}{}", out.stdout, out.stderr).contains("verify OK"),
            "openssl req -verify {name}: {}{}",
            out.stdout,
            out.stderr
        );
        // ... and our parser agrees.
        parse_and_verify_csr(std::fs::read(&path).unwrap().as_slice()).unwrap();
    }

    // A CSR made by OpenSSL itself parses and verifies too.
    let key = d.join("openssl_key.pem");
    let csr = d.join("openssl_csr.pem");
    let out = run(
        "openssl",
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-384",
            "-nodes",
            "-keyout",
            p(&key),
            "-out",
            p(&csr),
            "-subj",
            "/C=FR/O=Test/CN=openssl",
        ],
    );
    assert!(out.ok, "{}", out.stderr);
    let checked = parse_and_verify_csr(&std::fs::read(&csr).unwrap()).unwrap();
    assert_eq!(name_to_string(&checked.subject), "C=FR, O=Test, CN=openssl");

    // Canary for the pkilint output parser: a CA certificate without keyUsage must come out
    // as an ERROR finding (pkix.ca_certificate_no_ku_extension).
    let mut canary = h.root.clone();
    canary
        .tbs_certificate
        .extensions
        .as_mut()
        .unwrap()
        .retain(|e| e.extn_id != oid("2.5.29.15"));
    let canary_pem = write(d, "canary.pem", &certificate_to_pem(&canary).unwrap());
    let canary_findings = pkilint("lint_pkix_cert", &[], &[&canary_pem]);
    assert!(
        canary_findings
            .iter()
            .any(|f| f.severity == "ERROR" && f.code == "pkix.ca_certificate_no_ku_extension"),
        "the pkilint parser missed a known error: {canary_findings:#?}"
    );

    // pkilint: certificates and CRLs.
    let mut findings = Vec::new();
    for (_, path, _) in &certs {
        findings.extend(pkilint("lint_pkix_cert", &[], &[path]));
    }
    findings.extend(pkilint(
        "lint_crl",
        &["-t", "ARL", "-p", "PKIX"],
        &[&arl_pem],
    ));
    findings.extend(pkilint(
        "lint_crl",
        &["-t", "ARL", "-p", "PKIX"],
        &[&arl_scoped_pem],
    ));
    findings.extend(pkilint(
        "lint_crl",
        &["-t", "CRL", "-p", "PKIX"],
        &[&crl_pem],
    ));
    // Issuer/subject linkage (names, key identifiers, signature). pkilint 0.13's
    // SubjectSignatureVerificationValidator verifies RSASSA-PSS as PKCS#1 v1.5 (it does not
    // pass the PSS parameters to `verify_signature`), so the PSS-signed certificate would
    // always fail there; OpenSSL and our verifier check it above.
    for (name, path, issuer) in &certs {
        if name == "ocsp_orgs_pss" {
            continue;
        }
        findings.extend(pkilint(
            "lint_pkix_signer_signee_cert_chain",
            &[],
            &[issuer, path],
        ));
    }

    let mut errors = Vec::new();
    for f in &findings {
        match f.severity.as_str() {
            "FATAL" | "ERROR" => errors.push(f),
            "WARNING" | "NOTICE" => eprintln!(
                "pkilint {} {}: {} ({} @ {}){}",
                f.severity,
                f.file,
                f.code,
                f.validator,
                f.node_path,
                f.message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            ),
            _ => {}
        }
    }
    assert!(errors.is_empty(), "pkilint errors: {errors:#?}");
    eprintln!(
        "pkilint: {} findings in total over {} certificates (and their issuer links) and 3 CRLs, none ERROR/FATAL",
        findings.len(),
        certs.len()
    );

    // Keep the files for inspection when asked.
    if let Ok(keep) = std::env::var("X509_PROFILES_KEEP") {
        let keep = PathBuf::from(keep);
        std::fs::create_dir_all(&keep).unwrap();
        for entry in std::fs::read_dir(d).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), keep.join(entry.file_name())).unwrap();
        }
    }
}
