//! `POST /api/v1/verify` and `POST /api/v1/verify/certificate` over HTTP: JSON reports with
//! `indication` / `sub_indication`, and clear 4xx JSON errors for garbage.
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
use issuance_common::{ca_actor, sqlite, Env};
use serde_json::{json, Value};
use validation_support::*;

async fn post_json(c: &common::Client, url: &str, body: Value) -> (u16, Value) {
    let r = request(
        c,
        "POST",
        url,
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_endpoints_report_in_json_and_refuse_garbage_with_4xx() {
    let env = Env::new(sqlite().await).await;
    let validator = Arc::new(store_validator(&env));
    let (base, _server) = serve(validation::http::router(validator)).await;
    let verify = format!("{base}/api/v1/verify");
    let verify_cert = format!("{base}/api/v1/verify/certificate");
    let c = client();

    let dr = openssl_holder(&env, "10", Profile::Sign).await;
    let sig = openssl_sign(env.files.path(), &dr, PRESCRIPTION, true);
    let (status, v) = post_json(
        &c,
        &verify,
        json!({"signature": B64.encode(&sig), "content": B64.encode(PRESCRIPTION), "document_type": "prescription"}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["indication"], "TOTAL_PASSED", "{v:#}");
    assert!(v["sub_indication"].is_null());
    assert_eq!(v["signer"]["profession"], "Médecin");
    assert_eq!(v["signer"]["idnat"], dr.idnat.to_string());
    assert!(v["checks"].as_array().unwrap().len() >= 8);
    assert!(v["summary"].as_str().unwrap().contains("TOTAL_PASSED"));

    // Altered content, over HTTP.
    let (status, v) = post_json(
        &c,
        &verify,
        json!({"signature": B64.encode(&sig), "content": B64.encode(b"other"), "document_type": "prescription"}),
    )
    .await;
    assert_eq!(
        (
            status,
            v["indication"].as_str(),
            v["sub_indication"].as_str()
        ),
        (200, Some("TOTAL_FAILED"), Some("HASH_FAILURE"))
    );

    // Validation time in the past, before the certificate existed.
    let (status, v) = post_json(
        &c,
        &verify,
        json!({"signature": B64.encode(&sig), "content": B64.encode(PRESCRIPTION), "document_type": "prescription", "validation_time": "2001-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(
        (status, v["sub_indication"].as_str()),
        (200, Some("NOT_YET_VALID")),
        "{v:#}"
    );

    // Garbage: each a 4xx with a JSON error, never a 5xx.
    let cases: Vec<(Option<&str>, Vec<u8>, u16)> = vec![
        (Some("application/json"), b"{not json".to_vec(), 400),
        (Some("application/json"), b"[]".to_vec(), 400),
        (
            Some("application/json"),
            json!({"signature": "***"}).to_string().into_bytes(),
            400,
        ),
        (
            Some("application/json"),
            json!({"signature": ""}).to_string().into_bytes(),
            400,
        ),
        (
            Some("application/json"),
            json!({"signature": B64.encode(&sig), "document_type": "poem"})
                .to_string()
                .into_bytes(),
            400,
        ),
        (
            Some("application/json"),
            json!({"signature": B64.encode(&sig), "validation_time": "yesterday"})
                .to_string()
                .into_bytes(),
            400,
        ),
        (
            Some("application/json"),
            json!({"signature": B64.encode(&sig), "surprise": 1})
                .to_string()
                .into_bytes(),
            400,
        ),
        (
            Some("application/json"),
            json!({"signature": B64.encode(b"\x30\x03\x02\x01\x01")})
                .to_string()
                .into_bytes(),
            422,
        ),
        (
            Some("application/json"),
            json!({"signature": B64.encode([0xffu8; 300])})
                .to_string()
                .into_bytes(),
            422,
        ),
        (
            Some("text/plain"),
            json!({"signature": B64.encode(&sig)})
                .to_string()
                .into_bytes(),
            415,
        ),
        (None, sig.clone(), 415),
    ];
    for (ct, body, want) in cases {
        let r = request(&c, "POST", &verify, ct, body.clone()).await;
        assert_eq!(
            r.status,
            want,
            "{:?} {}",
            ct,
            String::from_utf8_lossy(&body)
        );
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert!(v["error"].is_string(), "{v}");
    }
    assert_eq!(oversized_status(&base).await, 413);
    let r = request(&c, "GET", &verify, None, vec![]).await;
    assert_eq!(r.status, 405);

    // Certificates: PEM or base64 DER; good, then revoked.
    let (status, v) = post_json(&c, &verify_cert, json!({"certificate": dr.cert.pem()})).await;
    assert_eq!(
        (status, v["indication"].as_str()),
        (200, Some("TOTAL_PASSED")),
        "{v:#}"
    );
    assert_eq!(v["holder"]["profession_code"], "10");
    assert_eq!(v["chain"].as_array().unwrap().len(), 3);
    let before = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    env.revocations
        .revoke(
            &dr.cert.serial,
            RevocationReason::KeyCompromise,
            &ca_actor(),
        )
        .await
        .unwrap();
    let (status, v) = post_json(
        &c,
        &verify_cert,
        json!({"certificate": B64.encode(&dr.cert.der)}),
    )
    .await;
    assert_eq!(
        (
            status,
            v["indication"].as_str(),
            v["sub_indication"].as_str()
        ),
        (200, Some("TOTAL_FAILED"), Some("REVOKED")),
        "{v:#}"
    );
    assert_eq!(v["revocation"]["reason"], "keyCompromise");
    // …but it was good just before.
    let (_, v) = post_json(
        &c,
        &verify_cert,
        json!({"certificate": B64.encode(&dr.cert.der), "validation_time": before}),
    )
    .await;
    assert_eq!(v["indication"], "TOTAL_PASSED", "{v:#}");
    let (status, v) = post_json(
        &c,
        &verify_cert,
        json!({"certificate": B64.encode(b"nope")}),
    )
    .await;
    assert_eq!(status, 422, "{v}");
    let (status, _) = post_json(
        &c,
        &verify_cert,
        json!({"certificate": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}),
    )
    .await;
    assert_eq!(status, 422);
}

/// Announces a 17 MiB body and sends only its start: the server must refuse on
/// Content-Length alone (a full upload races with the server closing the connection).
async fn oversized_status(base: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/v1/verify HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        17 * 1024 * 1024
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&[b' '; 4096]).await.unwrap();
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), s.read(&mut buf))
        .await
        .expect("no answer to an oversized request")
        .unwrap();
    let line = String::from_utf8_lossy(&buf[..n]).into_owned();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}
