//! CAdES-BASELINE-LT and -LTA validated from their own evidence (issue 22): a médecin's
//! prescription signed by the card (SoftHSM), time-stamped by the real TSA, extended with the
//! CA's CRLs and an archive time-stamp; then the signer is revoked and the signature is judged
//! by a validator that knows only the root and has no revocation source at all. Each covered
//! part altered in turn fails it.
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

use ca::domain::{Profile, RevocationReason};
use der::{Decode, Encode};
use issuance_common::{ca_actor, orgs_name, personnes_name, pki, sqlite, Env};
use sha2::Digest;
use validation::{ltv, CrlRevocationSource, DocumentKind, SignatureReport, Validator};
use validation_support::*;

async fn env() -> Env {
    Env::new(sqlite().await).await
}

/// A validator that knows the root and nothing else: no CA certificate, no CRL, no store.
fn root_only() -> Validator {
    Validator::new(
        vec![pki().root.clone()],
        Vec::new(),
        Arc::new(CrlRevocationSource::new(Vec::new())),
        ca::domain::SigningRules::builtin().unwrap(),
        ca::domain::ProfessionTable::builtin().unwrap(),
    )
    .unwrap()
}

/// B → T → LT (chain and CRLs in certificate-values / revocation-values) → LTA (an archive
/// time-stamp, then the TSA's CRL inside that token).
async fn lta(env: &Env, tsa: &Tsa, holder: &Holder) -> Vec<u8> {
    let p = pki();
    let t = tsa.stamp(&hsm_sign(holder, PRESCRIPTION, false)).await;
    let crls = [
        current_crl(env, &personnes_name()),
        current_crl(env, &orgs_name()),
    ];
    let lt = ltv::add_validation_values(
        &t,
        &[p.personnes.clone(), p.orgs.clone(), tsa_unit().cert.clone()],
        &crls,
        &[],
    )
    .unwrap();
    let (req, nonce, index) =
        ltv::archive_timestamp_request(&lt, None, const_oid::db::rfc5912::ID_SHA_256).unwrap();
    let reply = tsa.tsa.respond(&req).await;
    let archived = ltv::attach_archive_timestamp(&lt, None, &reply.der, &nonce, &index).unwrap();
    ltv::add_token_validation_values(
        &archived,
        std::slice::from_ref(&p.orgs),
        &[current_crl(env, &orgs_name())],
        &[],
    )
    .unwrap()
}

fn level(r: &SignatureReport) -> &str {
    &r.signature_format
}

/// Replaces the value of the unsigned attribute `oid` of the signature by `edit(value)`.
fn edit_unsigned(
    cms: &[u8],
    oid: der::oid::ObjectIdentifier,
    edit: impl Fn(&mut Vec<u8>),
) -> Vec<u8> {
    let ci = cms::content_info::ContentInfo::from_der(cms).unwrap();
    let mut sd: cms::signed_data::SignedData = ci.content.decode_as().unwrap();
    let mut infos = sd.signer_infos.0.into_vec();
    let attrs: Vec<x509_cert::attr::Attribute> = infos[0]
        .unsigned_attrs
        .take()
        .unwrap()
        .into_vec()
        .into_iter()
        .map(|mut a| {
            if a.oid == oid {
                let mut v = a.values.get(0).unwrap().to_der().unwrap();
                edit(&mut v);
                a.values =
                    der::asn1::SetOfVec::try_from(vec![der::asn1::Any::from_der(&v).unwrap()])
                        .unwrap();
            }
            a
        })
        .collect();
    infos[0].unsigned_attrs = Some(der::asn1::SetOfVec::try_from(attrs).unwrap());
    sd.signer_infos = cms::signed_data::SignerInfos(der::asn1::SetOfVec::try_from(infos).unwrap());
    cms::content_info::ContentInfo {
        content_type: ci.content_type,
        content: der::asn1::Any::encode_from(&sd).unwrap(),
    }
    .to_der()
    .unwrap()
}

/// Flips the last octet of a DER value (the last signature octet of a list of certificates
/// or CRLs, of a time-stamp token): the encoding stays valid, the contents change.
fn flip_last(v: &mut [u8]) {
    let n = v.len();
    v[n - 1] ^= 0x01;
}

fn flip_at(cms: &[u8], needle: &[u8]) -> Vec<u8> {
    let pos = cms
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("needle in the DER");
    let mut out = cms.to_vec();
    out[pos + needle.len() - 1] ^= 0x01;
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lta_survives_revocation_from_its_own_evidence_and_any_alteration_fails() {
    let env = env().await;
    let tsa = start_tsa().await;
    let dr = hsm_holder(&env, "10", Profile::Sign).await;
    let signed = lta(&env, &tsa, &dr).await;

    // The signer is revoked; the CA's CRLs move on.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    env.revocations
        .revoke(
            &dr.cert.serial,
            RevocationReason::KeyCompromise,
            &ca_actor(),
        )
        .await
        .unwrap();
    let v = root_only();
    let r = validate(&v, &signed, None, DocumentKind::Prescription, None).await;
    expect(&r, "TOTAL_PASSED", None);
    assert_eq!(level(&r), "CAdES-BASELINE-LTA");
    assert!(
        r.revocation
            .as_ref()
            .unwrap()
            .source
            .starts_with("embedded"),
        "{:?}",
        r.revocation
    );
    assert_eq!(r.timestamps.len(), 2, "{:#?}", r.timestamps);
    assert!(r.timestamps.iter().all(|t| t.valid), "{:#?}", r.timestamps);
    assert_eq!(r.timestamps[1].kind, "archive");
    let data = r.validation_data.as_ref().unwrap();
    assert!(data.crls >= 2, "{data:?}");

    // Years later, the signer's certificate expired: the archive time-stamp still proves it.
    let later = dr.cert.not_after + time::Duration::days(1);
    let r = validate(&v, &signed, None, DocumentKind::Prescription, Some(later)).await;
    expect(&r, "TOTAL_PASSED", None);
    // After the TSA certificate expired, without a renewed archive time-stamp: undecided.
    let tsa_end = time::OffsetDateTime::from(
        tsa_unit()
            .cert
            .tbs_certificate
            .validity
            .not_after
            .to_system_time(),
    );
    let r = validate(
        &v,
        &signed,
        None,
        DocumentKind::Prescription,
        Some(tsa_end + time::Duration::days(1)),
    )
    .await;
    expect(&r, "INDETERMINATE", Some("OUT_OF_BOUNDS_NO_POE"));

    // Each covered part altered in turn.
    let content = flip_at(&signed, PRESCRIPTION);
    let r = validate(&v, &content, None, DocumentKind::Prescription, None).await;
    expect(&r, "TOTAL_FAILED", Some("HASH_FAILURE"));

    let ess_hash = sha2::Sha256::digest(dr.certificate.to_der().unwrap());
    let attrs = flip_at(&signed, &ess_hash);
    let r = validate(&v, &attrs, None, DocumentKind::Prescription, None).await;
    expect(&r, "TOTAL_FAILED", Some("SIG_CRYPTO_FAILURE"));

    for (what, oid) in [
        ("certificate-values", pkix::oid::ID_AA_ETS_CERT_VALUES),
        ("revocation-values", pkix::oid::ID_AA_ETS_REVOCATION_VALUES),
        (
            "the signature time-stamp",
            pkix::oid::ID_AA_SIGNATURE_TIME_STAMP_TOKEN,
        ),
    ] {
        let altered = edit_unsigned(&signed, oid, |v| flip_last(v));
        let r = validate(&v, &altered, None, DocumentKind::Prescription, None).await;
        assert_eq!(
            (r.indication.as_str(), r.sub_indication.map(|s| s.as_str())),
            ("TOTAL_FAILED", Some("HASH_FAILURE")),
            "{what} altered: {}",
            serde_json::to_string_pretty(&r).unwrap()
        );
        assert!(
            failed_detail(&r, "archive-timestamp").contains("ats-hash-index-v3"),
            "{what}"
        );
    }
    // The archive time-stamp's own signature altered: it proves nothing.
    let altered = edit_unsigned(&signed, pkix::oid::ID_AA_ETS_ARCHIVE_TIMESTAMP_V3, |v| {
        // The token's last octets are its SignerInfo's unsigned attributes (the index and the
        // TSA's evidence): flip an octet of its signature value instead.
        let token = cms::content_info::ContentInfo::from_der(v).unwrap();
        let sd: cms::signed_data::SignedData = token.content.decode_as().unwrap();
        let sig = sd
            .signer_infos
            .0
            .get(0)
            .unwrap()
            .signature
            .as_bytes()
            .to_vec();
        let pos = v
            .windows(sig.len())
            .position(|w| w == sig.as_slice())
            .unwrap();
        v[pos + sig.len() - 1] ^= 0x01;
    });
    let r = validate(&v, &altered, None, DocumentKind::Prescription, None).await;
    assert_ne!(r.indication.as_str(), "TOTAL_PASSED", "{}", r.summary);
    assert!(failed_detail(&r, "archive-timestamp").contains("not valid"));
}

/// Garbage in the long-term attributes: a clear report, never a panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbled_long_term_attributes_give_a_report() {
    let env = env().await;
    let tsa = start_tsa().await;
    let dr = hsm_holder(&env, "10", Profile::Sign).await;
    let signed = lta(&env, &tsa, &dr).await;
    let v = root_only();
    // revocation-values holding a certificate list instead: ignored, named.
    let not_revocation = edit_unsigned(&signed, pkix::oid::ID_AA_ETS_REVOCATION_VALUES, |v| {
        *v = ltv::CertificateValues(vec![pki().root.clone()])
            .to_der()
            .unwrap();
    });
    let r = validate(&v, &not_revocation, None, DocumentKind::Prescription, None).await;
    assert_ne!(r.indication.as_str(), "TOTAL_PASSED", "{}", r.summary);
    assert!(
        r.checks.0.iter().any(|c| c.check == "validation-data"
            && c.detail.contains("neither OCSP responses nor CRLs")),
        "{:#?}",
        r.checks
    );
    // An archive time-stamp attribute that is not a time-stamp token.
    let not_token = edit_unsigned(&signed, pkix::oid::ID_AA_ETS_ARCHIVE_TIMESTAMP_V3, |v| {
        *v = der::asn1::OctetString::new(vec![1, 2, 3])
            .unwrap()
            .to_der()
            .unwrap();
    });
    let r = validate(&v, &not_token, None, DocumentKind::Prescription, None).await;
    expect(&r, "TOTAL_FAILED", Some("FORMAT_FAILURE"));
    // Truncations anywhere in the long-term part: a report every time.
    let start = signed.len() - 600;
    for cut in (start..signed.len()).step_by(37) {
        let r = validate(&v, &signed[..cut], None, DocumentKind::Prescription, None).await;
        assert_ne!(r.indication.as_str(), "TOTAL_PASSED");
    }
}

/// `POST /api/v1/verify` of a service that knows only the root: the LTA validates from its own
/// evidence and the report says the level, every time-stamp and the evidence counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_endpoint_reports_the_level_and_the_evidence() {
    use base64::Engine;
    let env = env().await;
    let tsa = start_tsa().await;
    let dr = hsm_holder(&env, "10", Profile::Sign).await;
    let signed = lta(&env, &tsa, &dr).await;
    let (base, _server) = common::serve(validation::http::router(Arc::new(root_only()))).await;
    let body = serde_json::json!({
        "signature": base64::engine::general_purpose::STANDARD.encode(&signed),
        "document_type": "prescription",
    });
    let r = common::request(
        &common::client(),
        "POST",
        &format!("{base}/api/v1/verify"),
        Some("application/json"),
        body.to_string().into_bytes(),
    )
    .await;
    assert_eq!(r.status, 200);
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["indication"], "TOTAL_PASSED", "{v:#}");
    assert_eq!(v["signature_format"], "CAdES-BASELINE-LTA", "{v:#}");
    let kinds: Vec<&str> = v["timestamps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["signature", "archive"], "{v:#}");
    assert!(v["timestamps"][1]["detail"]
        .as_str()
        .unwrap()
        .contains("imprint"));
    assert!(v["validation_data"]["crls"].as_u64().unwrap() >= 2, "{v:#}");
    assert_eq!(v["revocation"]["source"], "embedded-crl", "{v:#}");
}
