//! ETSI EN 319 102-1 / EN 319 122-1 correctness of the validation reports (issue 22's defects
//! found by independent review): a time-stamp proves existence only when its own validation
//! passed, the level reported is the level met, and every SignerInfo of a SignedData is
//! validated. Signatures made by OpenSSL and by a card in SoftHSM; reports read over real HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../../ca/tests/support/mod.rs"]
mod support;

#[path = "../../../ca/tests/issuance_common/mod.rs"]
#[allow(unused_macros)]
mod issuance_common;

#[path = "../../tests/common/mod.rs"]
mod common;

#[path = "validation_support/mod.rs"]
mod validation_support;

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ca::domain::{Profile, RevocationReason};
use common::{client, request, serve};
use der::Encode;
use issuance_common::{ca_actor, orgs_name, personnes_name, pki, run, s, sqlite, Env};
use serde_json::{json, Value};
use validation::{CrlRevocationSource, DocumentKind};
use validation_support::*;

async fn env() -> Env {
    Env::new(sqlite().await).await
}

/// Defect 2: the TSA certificate's status is unknown (only CA Personnes' CRL is given), so the
/// time-stamp proves nothing and a signer revoked after it cannot pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timestamp_whose_tsa_status_is_unknown_is_no_proof_of_existence() {
    let env = env().await;
    let tsa = start_tsa().await;
    let dr = hsm_holder(&env, "10", Profile::Sign).await;
    let signed = tsa.stamp(&hsm_sign(&dr, PRESCRIPTION, false)).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    env.revocations
        .revoke(
            &dr.cert.serial,
            RevocationReason::KeyCompromise,
            &ca_actor(),
        )
        .await
        .unwrap();

    let only_personnes = validator_with(Arc::new(CrlRevocationSource::new(vec![current_crl(
        &env,
        &personnes_name(),
    )])));
    let r = validate(
        &only_personnes,
        &signed,
        None,
        DocumentKind::Prescription,
        None,
    )
    .await;
    expect(&r, "INDETERMINATE", Some("REVOKED_NO_POE"));
    let ts = failed_detail(&r, "signature-timestamp");
    assert!(ts.contains("TSA"), "{ts}");
    assert!(!r.timestamp.as_ref().unwrap().valid);
    assert_eq!(r.timestamp_time, None, "no proof of existence");

    // With the status of the TSA certificate known (CA Organisations' CRL), the time-stamp
    // is valid and the revocation after it does not matter.
    let both = validator_with(Arc::new(CrlRevocationSource::new(vec![
        current_crl(&env, &personnes_name()),
        current_crl(&env, &orgs_name()),
    ])));
    let r = validate(&both, &signed, None, DocumentKind::Prescription, None).await;
    expect(&r, "TOTAL_PASSED", None);
    assert!(r.timestamp.as_ref().unwrap().valid);
}

/// A CAdES signature by the card whose signed attributes lack signing-time (content-type,
/// message-digest and signing-certificate-v2 only).
fn sign_without_signing_time(holder: &Holder, content: &[u8]) -> Vec<u8> {
    use cms::builder::{SignedDataBuilder, SignerInfoBuilder};
    use const_oid::db::{rfc5911, rfc5912};
    use sha2::Digest;
    let cert = &holder.certificate;
    let tbs = &cert.tbs_certificate;
    let ess = tsa::asn1::SigningCertificateV2 {
        certs: vec![tsa::asn1::EssCertIdV2 {
            hash_algorithm: None,
            cert_hash: der::asn1::OctetString::new(
                sha2::Sha256::digest(cert.to_der().unwrap()).to_vec(),
            )
            .unwrap(),
            issuer_serial: None,
        }],
        policies: None,
    };
    let encap = cms::signed_data::EncapsulatedContentInfo {
        econtent_type: rfc5911::ID_DATA,
        econtent: Some(der::asn1::Any::new(der::Tag::OctetString, content.to_vec()).unwrap()),
    };
    let sha256 = spki::AlgorithmIdentifierOwned {
        oid: rfc5912::ID_SHA_256,
        parameters: None,
    };
    let signer = holder.hsm_signer();
    let mut si = SignerInfoBuilder::new(
        &signer,
        cms::signed_data::SignerIdentifier::IssuerAndSerialNumber(
            cms::cert::IssuerAndSerialNumber {
                issuer: tbs.issuer.clone(),
                serial_number: tbs.serial_number.clone(),
            },
        ),
        sha256.clone(),
        &encap,
        None,
    )
    .unwrap();
    si.add_signed_attribute(x509_cert::attr::Attribute {
        oid: rfc5911::ID_AA_SIGNING_CERTIFICATE_V_2,
        values: der::asn1::SetOfVec::try_from(vec![der::asn1::Any::encode_from(&ess).unwrap()])
            .unwrap(),
    })
    .unwrap();
    let mut sd = SignedDataBuilder::new(&encap);
    sd.add_digest_algorithm(sha256)
        .unwrap()
        .add_certificate(cms::cert::CertificateChoices::Certificate(cert.clone()))
        .unwrap()
        .add_certificate(cms::cert::CertificateChoices::Certificate(
            pki().personnes.clone(),
        ))
        .unwrap()
        .add_signer_info::<_, hsm_config::HsmSignature>(si)
        .unwrap();
    sd.build().unwrap().to_der().unwrap()
}

/// Defect 3: EN 319 122-1 requires signing-time at B-B; a signature without it is reported at
/// the level it meets (CAdES-E-BES, CAdES-E-T with a time-stamp), never as a baseline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signature_without_signing_time_is_not_baseline_b() {
    let env = env().await;
    let tsa = start_tsa().await;
    let dr = hsm_holder(&env, "10", Profile::Sign).await;
    let v = store_validator(&env);
    let sig = sign_without_signing_time(&dr, PRESCRIPTION);
    // Our own signer does put signing-time: the fixture really lacks it.
    let parsed = validation::cades::parse_cms(&sig).unwrap();
    assert_eq!(
        validation::cades::signing_time(&parsed.signer).unwrap(),
        None
    );

    let r = validate(&v, &sig, None, DocumentKind::Prescription, None).await;
    assert_eq!(r.signature_format, "CAdES-E-BES", "{}", r.summary);
    assert!(
        r.checks
            .0
            .iter()
            .any(|c| c.check == "signature-level" && c.detail.contains("signing-time")),
        "{:#?}",
        r.checks
    );
    let t = tsa.stamp(&sig).await;
    let r = validate(&v, &t, None, DocumentKind::Prescription, None).await;
    assert_eq!(r.signature_format, "CAdES-E-T", "{}", r.summary);
    // With signing-time, the same signer reaches the baselines.
    let b = hsm_sign(&dr, PRESCRIPTION, false);
    let r = validate(&v, &b, None, DocumentKind::Prescription, None).await;
    assert_eq!(r.signature_format, "CAdES-BASELINE-B");
}

async fn post_verify(base: &str, sig: &[u8], doc: &str) -> (u16, Value) {
    let body = json!({"signature": B64.encode(sig), "document_type": doc});
    let r = request(
        &client(),
        "POST",
        &format!("{base}/api/v1/verify"),
        Some("application/json"),
        body.to_string().into_bytes(),
    )
    .await;
    let v: Value = serde_json::from_slice(&r.body).unwrap_or_else(|e| {
        panic!(
            "{} body is not JSON ({e}): {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        )
    });
    (r.status, v)
}

/// Defect 4: a SignedData with two SignerInfos (`openssl cms -sign` with two signers) is
/// validated signer by signer, the document-type rule applied to each, with an overall
/// indication.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_signer_infos_are_each_validated_and_reported() {
    let env = env().await;
    let v = Arc::new(store_validator(&env));
    let (base, _server) = serve(validation::http::router(v)).await;
    let dr = openssl_holder(&env, "10", Profile::Sign).await;
    let mk = openssl_holder(&env, "70", Profile::Sign).await;
    let doc = env.path("deces.txt");
    std::fs::write(&doc, b"CERTIFICAT DE DECES\n").unwrap();
    let out_path = env.path("two.p7s");
    let p = pki();
    let out = run(
        "openssl",
        &[
            "cms",
            "-sign",
            "-cades",
            "-binary",
            "-nodetach",
            "-md",
            "sha256",
            "-in",
            s(&doc),
            "-signer",
            s(&dr.cert_pem),
            "-inkey",
            s(dr.key_pem.as_ref().unwrap()),
            "-signer",
            s(&mk.cert_pem),
            "-inkey",
            s(mk.key_pem.as_ref().unwrap()),
            "-certfile",
            s(&p.personnes_pem),
            "-outform",
            "DER",
            "-out",
            s(&out_path),
        ],
    );
    assert!(out.ok, "openssl cms -sign: {}", out.stderr);
    let sig = std::fs::read(&out_path).unwrap();

    // Both may sign a generic document: every signature passes.
    let (status, r) = post_verify(&base, &sig, "generic").await;
    assert_eq!(status, 200, "{r:#}");
    assert_eq!(r["indication"], "TOTAL_PASSED", "{r:#}");
    let sigs = r["signatures"].as_array().expect("signatures");
    assert_eq!(sigs.len(), 2, "{r:#}");
    let names: Vec<&str> = sigs
        .iter()
        .map(|s| s["signer"]["profession_code"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"10") && names.contains(&"70"), "{names:?}");
    for s in sigs {
        assert_eq!(s["indication"], "TOTAL_PASSED", "{s:#}");
        assert_eq!(s["signature_format"], "CAdES-BASELINE-B", "{s:#}");
    }

    // A death certificate: the médecin may sign it, the masseur-kinésithérapeute may not.
    let (status, r) = post_verify(&base, &sig, "death-certificate").await;
    assert_eq!(status, 200, "{r:#}");
    assert_eq!(r["indication"], "TOTAL_FAILED", "{r:#}");
    assert_eq!(r["sub_indication"], "SIG_CONSTRAINTS_FAILURE", "{r:#}");
    let sigs = r["signatures"].as_array().expect("signatures");
    let by_code = |code: &str| {
        sigs.iter()
            .find(|s| s["signer"]["profession_code"] == code)
            .unwrap()
    };
    assert_eq!(by_code("10")["indication"], "TOTAL_PASSED", "{r:#}");
    assert_eq!(by_code("70")["indication"], "TOTAL_FAILED", "{r:#}");
    assert!(
        r["summary"].as_str().unwrap().contains("2 signatures"),
        "{}",
        r["summary"]
    );
}
