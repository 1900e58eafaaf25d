//! Issue 20, finding 1, as an attacker sees it: `POST /api/v1/verify` with a signature whose
//! certificate set holds thousands of look-alikes of CA Personnes (some large, in reverse DER
//! order). The service must refuse it quickly, and keep answering a legitimate verification
//! while such requests are in flight. Only the HTTP API and the default validator are used,
//! so that the test runs against the code before the fix as well.
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

#[path = "validation_hostile/mod.rs"]
mod validation_hostile;

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ca::domain::Profile;
use common::serve;
use issuance_common::{pki, sqlite, Env};
use serde_json::json;
use validation_hostile::*;
use validation_support::*;

/// Look-alikes in the hostile signature: about 2 MiB of certificates, under the body limit.
const HOSTILE_CERTIFICATES: usize = 1500;

/// A legitimate signature of a médecin, and the same stuffed with look-alikes of its issuer.
async fn signatures(env: &Env) -> (Vec<u8>, Vec<u8>) {
    let dr = openssl_holder(env, "10", Profile::Sign).await;
    let sig = openssl_sign(env.files.path(), &dr, PRESCRIPTION, false);
    let p = pki();
    // Another CA's key: it does not verify what CA Personnes signed.
    let key = &p.orgs.tbs_certificate.subject_public_key_info;
    let extra = look_alikes(&p.personnes, key, HOSTILE_CERTIFICATES, 300, 12_000, 150);
    let hostile = with_certificates(&sig, &extra);
    (sig, hostile)
}

fn body(sig: &[u8]) -> Vec<u8> {
    json!({"signature": B64.encode(sig), "document_type": "prescription"})
        .to_string()
        .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signature_stuffed_with_look_alike_issuers_is_refused_at_once() {
    let env = Env::new(sqlite().await).await;
    let (_, hostile) = signatures(&env).await;
    let (base, _server) = serve(validation::http::router(Arc::new(store_validator(&env)))).await;
    let hostile_body = body(&hostile);
    eprintln!(
        "hostile signature: {} octets, {} look-alike certificates; request body {} octets",
        hostile.len(),
        HOSTILE_CERTIFICATES,
        hostile_body.len()
    );
    let (reply, took) = timed_post(
        &base,
        "/api/v1/verify",
        hostile_body,
        Duration::from_secs(120),
    )
    .await;
    let reply = reply.unwrap_or_else(|| panic!("no answer within {took:?}"));
    let v = reply.json();
    assert!(
        reply.status == 422 && took < Duration::from_secs(3),
        "hostile signature answered {} after {took:?} (expected a 422 refusal within 3 s): {}",
        reply.status,
        String::from_utf8_lossy(&reply.body)
            .chars()
            .take(400)
            .collect::<String>()
    );
    assert_eq!(v["error"], "validation limit exceeded", "{v}");
    assert_eq!(v["limit"], "max_certificates", "{v}");
    assert!(
        v["detail"].as_str().unwrap().contains("certificates"),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legitimate_verification_is_answered_while_hostile_ones_are_in_flight() {
    let env = Env::new(sqlite().await).await;
    let (sig, hostile) = signatures(&env).await;
    let (base, _server) = serve(validation::http::router(Arc::new(store_validator(&env)))).await;
    // Warm up: the legitimate request alone.
    let (reply, alone) =
        timed_post(&base, "/api/v1/verify", body(&sig), Duration::from_secs(30)).await;
    assert_eq!(
        reply.expect("no answer").json()["indication"],
        "TOTAL_PASSED"
    );
    // Four attackers, each sending hostile signatures one after the other.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut attackers = Vec::new();
    for _ in 0..4 {
        let (base, hostile, stop) = (base.clone(), hostile.clone(), stop.clone());
        attackers.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (reply, took) = timed_post(
                    &base,
                    "/api/v1/verify",
                    body(&hostile),
                    Duration::from_secs(120),
                )
                .await;
                answers.push((reply.map(|r| r.status), took));
            }
            answers
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (reply, took) = timed_post(
        &base,
        "/api/v1/verify",
        body(&sig),
        Duration::from_secs(120),
    )
    .await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut hostile_answers = Vec::new();
    for a in attackers {
        hostile_answers.extend(a.await.unwrap());
    }
    eprintln!("legitimate request alone: {alone:?}; under attack: {took:?}");
    eprintln!("hostile answers (status, time): {hostile_answers:?}");
    let reply = reply.unwrap_or_else(|| panic!("legitimate request: no answer within {took:?}"));
    assert_eq!(reply.json()["indication"], "TOTAL_PASSED");
    assert!(
        took < Duration::from_secs(3),
        "the legitimate verification took {took:?} while hostile ones were in flight (alone: {alone:?})"
    );
    for (status, took) in hostile_answers {
        assert!(
            matches!(status, Some(422 | 503)) && took < Duration::from_secs(6),
            "a hostile request was answered {status:?} after {took:?}"
        );
    }
}
