//! The HSM goes away under a running TSA: every request gets an RFC 3161
//! `systemFailure` (HTTP 200, never a 5xx), and tokens come back by
//! themselves when the token returns. Its own test binary: it breaks the
//! process-wide PKCS#11 module.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use hsm_config::KeySpec;
use tsa::asn1::PkiStatus;
use tsa::FailureInfo;

const SHA256: &str = "2.16.840.1.101.3.4.2.1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hsm_unavailable_is_system_failure_then_recovers() {
    let hsm = softhsm();
    let pki = Pki::new("outage", KeySpec::EcP256);
    let run = start_tsa(&pki, 51, |_| {}).await;
    let c = client();
    let q = make_query(SHA256, false, &[5u8; 32], None, Some(&[7]), true, false);
    tst_info(&post_query(&c, &run.url, q.clone()).await);

    // The token directory disappears.
    let dirs: Vec<_> = std::fs::read_dir(&hsm.token_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let away = hsm.dir.join("away");
    std::fs::create_dir_all(&away).unwrap();
    for d in &dirs {
        std::fs::rename(d, away.join(d.file_name().unwrap())).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut failures = 0;
    while failures < 3 {
        assert!(
            Instant::now() < deadline,
            "signing kept working without the token"
        );
        // post_query asserts HTTP 200 and the reply content type. Both
        // ways in: the shared lanes and the listener that signs inline.
        let reply = post_query(&c, &run.urls[failures % 2], q.clone()).await;
        if parse_reply(&reply).status.status == PkiStatus::Rejection {
            let (_, f, text) = rejection(&reply);
            assert_eq!(f, FailureInfo::SystemFailure, "{text}");
            failures += 1;
        } else {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let st = run.tsa.status();
    let err = st
        .last_signing_error
        .expect("signing error reported in the status");
    assert!(err.contains("unavailable"), "{err}");
    // The clock is fine: the status's readiness is about time and
    // recording; the HSM state is the binary's own readiness probe, and the
    // dedicated listener's `/readyz` probes it too.
    assert!(st.clock.trusted);
    let readyz = run.listener_url.replace("/tsa", "/readyz");
    let listener_ready = || async {
        let r = request(&c, "GET", &readyz, None, vec![]).await;
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        (r.status, v)
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, v) = listener_ready().await;
        if status == 503 {
            let hsm = v["hsm"].as_str().unwrap();
            assert!(hsm.contains("unavailable"), "{v}");
            assert_eq!(v["clock_trusted"], true, "{v}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "listener ready without the token: {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    for d in &dirs {
        std::fs::rename(away.join(d.file_name().unwrap()), d).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let reply = post_query(&c, &run.url, q.clone()).await;
        if parse_reply(&reply).status.status == PkiStatus::Granted {
            tst_info(&post_query(&c, &run.listener_url, q.clone()).await);
            break;
        }
        assert_eq!(rejection(&reply).1, FailureInfo::SystemFailure);
        assert!(Instant::now() < deadline, "tokens did not come back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(run.tsa.status().last_signing_error.is_none());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, v) = listener_ready().await;
        if status == 200 {
            assert_eq!(v["hsm"], "ok", "{v}");
            break;
        }
        assert!(Instant::now() < deadline, "listener not ready again: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
