//! A time-stamp chain loop (issue 22, bad input): a TSA whose certificate is issued by
//! "Boucle A", itself issued by "Boucle B", itself issued by "Boucle A" — every link a real
//! signature by the named issuer's key (software P-256 keys), the loop's certificates carried
//! in the tokens and in certificate-values. A médecin's prescription signed by the card
//! (SoftHSM) is time-stamped, then archive-time-stamped, by the real `tsa` authority using that
//! certificate. Validation must give a report promptly (the path builder must not follow the
//! loop), never hang or panic, and never accept the looping time-stamps.
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
use std::time::Duration;

use ca::domain::Profile;
use common::{fast_clock, SntpServer};
use issuance_common::{orgs_name, personnes_name, pki, sqlite, Env};
use p256::ecdsa::{DerSignature, SigningKey};
use pkix::{
    build_certificate, certificate_to_pem, parse_dn, subject_key_identifier, InfraCertParams,
    InfraProfile, IssuerInfo,
};
use tsa::{MemoryRecorder, TimeStampAuthority, TsaConfig};
use validation::{ltv, sign, CrlRevocationSource, DocumentKind, SignatureReport, Validator};
use validation_support::*;
use x509_cert::Certificate;

/// Well above what a loop-free validation takes; a validator following the loop never ends.
const PROMPT: Duration = Duration::from_secs(30);

struct LoopTsa {
    tsa: TimeStampAuthority,
    _sntp: Vec<SntpServer>,
    _dir: tempfile::TempDir,
    a: Certificate,
    b: Certificate,
}

fn spki(k: &SigningKey) -> spki::SubjectPublicKeyInfoOwned {
    spki::SubjectPublicKeyInfoOwned::from_key(*k.verifying_key()).unwrap()
}

fn issuer(name: &str, k: &SigningKey) -> IssuerInfo {
    IssuerInfo {
        name: parse_dn(name).unwrap(),
        ski: subject_key_identifier(&spki(k)),
    }
}

fn params(
    profile: InfraProfile,
    subject: &str,
    key: &SigningKey,
    by: IssuerInfo,
) -> InfraCertParams {
    let now = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    InfraCertParams {
        profile,
        subject: parse_dn(subject).unwrap(),
        subject_spki: spki(key),
        issuer: Some(by),
        not_before: now,
        not_after: now + time::Duration::days(365),
        serial: None,
        policy_oids: vec![TSA_POLICY.parse().unwrap()],
        crl_url: Some("http://127.0.0.1:9/boucle.crl".into()),
        ca_issuers_url: Some("http://127.0.0.1:9/boucle.crt".into()),
        // Only the TSA unit profile carries an OCSP address.
        ocsp_url: matches!(profile, InfraProfile::TsaUnit)
            .then(|| "http://127.0.0.1:9/ocsp".into()),
    }
}

const A: &str = "C=FR, O=Boucle (test), CN=Boucle A";
const B: &str = "C=FR, O=Boucle (test), CN=Boucle B";

/// The real TSA with a software key and the certificate "TSA en boucle" ← A ← B ← A ….
async fn loop_tsa() -> LoopTsa {
    // Fixed software keys: only the shape of the chain matters here.
    let ka = SigningKey::from_slice(&[0x41; 32]).unwrap();
    let kb = SigningKey::from_slice(&[0x42; 32]).unwrap();
    let kt = SigningKey::from_slice(&[0x54; 32]).unwrap();
    let a = build_certificate::<_, DerSignature>(
        &params(InfraProfile::SubCa, A, &ka, issuer(B, &kb)),
        &kb,
    )
    .unwrap();
    let b = build_certificate::<_, DerSignature>(
        &params(InfraProfile::SubCa, B, &kb, issuer(A, &ka)),
        &ka,
    )
    .unwrap();
    let t = build_certificate::<_, DerSignature>(
        &params(
            InfraProfile::TsaUnit,
            "C=FR, O=Boucle (test), CN=TSA en boucle",
            &kt,
            issuer(A, &ka),
        ),
        &ka,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("tsa.pem");
    std::fs::write(&pem, certificate_to_pem(&t).unwrap()).unwrap();
    let chain = dir.path().join("chain.pem");
    std::fs::write(
        &chain,
        format!(
            "{}{}",
            certificate_to_pem(&a).unwrap(),
            certificate_to_pem(&b).unwrap()
        ),
    )
    .unwrap();
    let sntp = vec![SntpServer::start(0).await, SntpServer::start(0).await];
    let mut cfg = TsaConfig::new(
        TSA_POLICY.parse().unwrap(),
        1,
        "tsa-en-boucle",
        &pem,
        fast_clock(&[&sntp[0], &sntp[1]]),
    );
    cfg.chain = vec![chain];
    cfg.accuracy_ms = 500;
    let tsa = tsa::start::<_, DerSignature, _>(&cfg, kt, MemoryRecorder::new()).unwrap();
    assert!(
        tsa.clock().wait_until(true, Duration::from_secs(10)).await,
        "TSA clock never trusted: {:?}",
        tsa.clock().status()
    );
    LoopTsa {
        tsa,
        _sntp: sntp,
        _dir: dir,
        a,
        b,
    }
}

/// A validator that knows the root and nothing else; one with the CAs' CRLs; one that also
/// lists the loop's certificates among its known CAs.
fn validators(env: &Env, looped: &LoopTsa) -> Vec<(&'static str, Validator)> {
    let with_cas = |cas: Vec<Certificate>| {
        Validator::new(
            vec![pki().root.clone()],
            cas,
            Arc::new(CrlRevocationSource::new(Vec::new())),
            ca::domain::SigningRules::builtin().unwrap(),
            ca::domain::ProfessionTable::builtin().unwrap(),
        )
        .unwrap()
    };
    vec![
        ("root only", with_cas(Vec::new())),
        ("CRLs", crl_validator(env)),
        (
            "loop as known CAs",
            with_cas(vec![looped.a.clone(), looped.b.clone()]),
        ),
    ]
}

async fn validate_promptly(v: &Validator, sig: &[u8]) -> SignatureReport {
    let started = std::time::Instant::now();
    let r = tokio::time::timeout(
        PROMPT,
        validate(v, sig, None, DocumentKind::Prescription, None),
    )
    .await
    .expect("validation of a looping TSA chain did not finish: it follows the loop");
    eprintln!("validated in {:?}", started.elapsed());
    r
}

fn json(r: &SignatureReport) -> serde_json::Value {
    serde_json::to_value(r).unwrap()
}

/// Every time-stamp of the report fails on the TSA's certificate path.
fn timestamps_refused(r: &SignatureReport, count: usize) {
    let j = serde_json::to_string_pretty(&json(r)).unwrap();
    assert_eq!(r.timestamps.len(), count, "{j}");
    for t in &r.timestamps {
        assert!(
            !t.valid,
            "a time-stamp from the looping TSA was accepted:\n{j}"
        );
        let tsa = t.tsa.as_ref().expect("the TSA certificate is named");
        assert!(format!("{tsa:?}").contains("TSA en boucle"), "{tsa:?}\n{j}");
        // The builder went up T → A → B and stopped where B's issuer is A again.
        assert!(
            t.detail.contains("TSA certificate: no chain from")
                && t.detail.contains("CN=TSA en boucle")
                && t.detail.contains("loop"),
            "the time-stamp does not fail on the TSA's path: {}\n{j}",
            t.detail
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tsa_chain_loop_gives_a_prompt_report() {
    let env = Env::new(sqlite().await).await;
    let looped = loop_tsa().await;
    let dr = hsm_holder(&env, "10", Profile::Sign).await;
    let b_level = hsm_sign(&dr, PRESCRIPTION, false);

    // CAdES-T: the token carries T, A and B.
    let (req, nonce) = sign::timestamp_request(&b_level).unwrap();
    let reply = looped.tsa.respond(&req).await;
    let t_level = sign::attach_timestamp(&b_level, &reply.der, &nonce).unwrap();

    // LT then LTA: the loop also in certificate-values, the archive time-stamp by the same TSA,
    // and the loop once more inside the archive token.
    let p = pki();
    let lt = ltv::add_validation_values(
        &t_level,
        &[
            p.personnes.clone(),
            p.orgs.clone(),
            looped.a.clone(),
            looped.b.clone(),
        ],
        &[
            current_crl(&env, &personnes_name()),
            current_crl(&env, &orgs_name()),
        ],
        &[],
    )
    .unwrap();
    let (req, nonce, index) =
        ltv::archive_timestamp_request(&lt, None, const_oid::db::rfc5912::ID_SHA_256).unwrap();
    let reply = looped.tsa.respond(&req).await;
    let lta = ltv::attach_archive_timestamp(&lt, None, &reply.der, &nonce, &index).unwrap();
    let lta =
        ltv::add_token_validation_values(&lta, &[looped.b.clone(), looped.a.clone()], &[], &[])
            .unwrap();

    for (name, v) in validators(&env, &looped) {
        for (level, sig, tokens) in [("T", &t_level, 1), ("LT", &lt, 1), ("LTA", &lta, 2)] {
            eprintln!("== {name}, {level}");
            let r = validate_promptly(&v, sig).await;
            timestamps_refused(&r, tokens);
            // A time-stamp that is not valid raises nothing: the level met is B at most.
            assert!(
                !r.signature_format.contains("-T") && !r.signature_format.contains("-LT"),
                "{name} {level}: level {} claimed on a refused time-stamp",
                r.signature_format
            );
            let j = json(&r);
            eprintln!(
                "{name} {level}: {} {} {}",
                j["indication"], j["sub_indication"], r.signature_format
            );
            for t in &r.timestamps {
                eprintln!("  {} {}: {}", t.kind, t.valid, t.detail);
            }
        }
    }
}
