//! The clock guard against real SNTP servers on loopback run by the test:
//! in sync → tokens; a source drifted beyond the accuracy, sources that
//! disagree, a lost quorum, a local clock jump → timeNotAvailable and
//! /readyz not ready; back in sync → tokens again, by itself.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use common::*;
use hsm_config::{HsmSignature, KeySpec};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tsa::asn1::PkiStatus;
use tsa::{
    ClockGuard, FailureInfo, MemoryRecorder, TimeSource, TimeStampAuthority, TokenLog,
    TsaCertificates, UntrustedReason,
};

/// The metrics recorder is process-wide, and so are the gauges: one test
/// at a time in this binary.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn metrics() -> &'static PrometheusHandle {
    static H: OnceLock<PrometheusHandle> = OnceLock::new();
    H.get_or_init(|| PrometheusBuilder::new().install_recorder().unwrap())
}

const SHA256: &str = "2.16.840.1.101.3.4.2.1";

fn query() -> Vec<u8> {
    make_query(SHA256, false, &[1u8; 32], None, Some(&[42]), false, false)
}

/// POSTs a query; returns Ok(()) for a token, Err(failInfo) otherwise.
async fn attempt(c: &Client, url: &str) -> Result<(), FailureInfo> {
    let reply = post_query(c, url, query()).await;
    let r = parse_reply(&reply);
    match r.status.status {
        PkiStatus::Granted => Ok(()),
        _ => Err(rejection(&reply).1),
    }
}

/// Polls until `want` holds for the outcome of a request, at most 10 s.
async fn until(c: &Client, url: &str, want: impl Fn(&Result<(), FailureInfo>) -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = attempt(c, url).await;
        if want(&got) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: still {got:?} after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn readyz(c: &Client, base: &str) -> (u16, serde_json::Value) {
    let r = request(c, "GET", &format!("{base}/readyz"), None, vec![]).await;
    (r.status, serde_json::from_slice(&r.body).unwrap())
}

fn gauge(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drifted_source_refuses_then_recovers() {
    let _one = SERIAL.lock().await;
    let metrics = metrics();
    let pki = Pki::new("clock-drift", KeySpec::EcP256);
    let run = start_tsa(&pki, 31, |c| c.accuracy_ms = 500).await;
    let c = client();

    // In sync: tokens, ready, metrics say trusted with small offsets.
    attempt(&c, &run.url).await.unwrap();
    let (code, body) = readyz(&c, &run.base).await;
    assert_eq!(code, 200, "{body}");
    let text = metrics.render();
    assert_eq!(gauge(&text, "tsa_clock_trusted"), Some(1.0), "{text}");
    let label = format!(
        "tsa_clock_offset_seconds{{source=\"{}\"}}",
        run.sntp[1].addr
    );
    let offset = gauge(&text, &label).unwrap_or_else(|| panic!("{label} missing:\n{text}"));
    assert!(offset.abs() < 0.05, "{offset}");

    // One source 800 ms ahead (accuracy 500 ms): refusals, not ready.
    run.sntp[1].set_offset_ms(800);
    until(
        &c,
        &run.url,
        |r| *r == Err(FailureInfo::TimeNotAvailable),
        "drifted source",
    )
    .await;
    let (code, body) = readyz(&c, &run.base).await;
    assert_eq!(code, 503, "{body}");
    assert_eq!(body["clock_trusted"], false);
    let st = run.tsa.status();
    assert!(!st.ready);
    let src = run.sntp[1].addr.to_string();
    assert!(
        st.clock.reasons.iter().any(|r| matches!(
            r,
            UntrustedReason::OffsetBeyondAccuracy { source, offset_seconds, .. }
                if *source == src && (offset_seconds - 0.8).abs() < 0.05
        )),
        "{:?}",
        st.clock.reasons
    );
    // The reply says why.
    let reply = post_query(&c, &run.url, query()).await;
    let (_, f, text) = rejection(&reply);
    assert_eq!(f, FailureInfo::TimeNotAvailable);
    assert!(text.contains("off"), "{text}");
    let m = metrics.render();
    assert_eq!(gauge(&m, "tsa_clock_trusted"), Some(0.0), "{m}");
    let label = format!("tsa_clock_offset_seconds{{source=\"{src}\"}}");
    assert!((gauge(&m, &label).unwrap() - 0.8).abs() < 0.05, "{m}");
    assert!(
        m.contains("tsa_clock_untrusted_total{reason=\"offset_beyond_accuracy\"}"),
        "{m}"
    );
    assert!(
        m.contains("tsa_requests_total{outcome=\"rejected\",failure=\"timeNotAvailable\"}"),
        "{m}"
    );

    // Back in sync: tokens again, by itself.
    run.sntp[1].set_offset_ms(0);
    until(&c, &run.url, |r| r.is_ok(), "back in sync").await;
    let (code, _) = readyz(&c, &run.base).await;
    assert_eq!(code, 200);
    assert_eq!(gauge(&metrics.render(), "tsa_clock_trusted"), Some(1.0));

    // Each source within the accuracy but 600 ms apart: they disagree.
    run.sntp[0].set_offset_ms(300);
    run.sntp[1].set_offset_ms(-300);
    until(
        &c,
        &run.url,
        |r| *r == Err(FailureInfo::TimeNotAvailable),
        "disagreeing sources",
    )
    .await;
    assert!(run
        .tsa
        .status()
        .clock
        .reasons
        .iter()
        .any(|r| matches!(r, UntrustedReason::SourcesDisagree { spread_seconds } if (spread_seconds - 0.6).abs() < 0.05)));
    run.sntp[0].set_offset_ms(0);
    run.sntp[1].set_offset_ms(0);
    until(&c, &run.url, |r| r.is_ok(), "agreeing again").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quorum_lost_refuses_then_recovers() {
    let _one = SERIAL.lock().await;
    let pki = Pki::new("clock-quorum", KeySpec::EcP256);
    // Three sources, quorum two.
    let third = SntpServer::start(0).await;
    let run = start_tsa(&pki, 32, |c| c.clock.servers.push(third.addr.to_string())).await;
    let c = client();
    attempt(&c, &run.url).await.unwrap();

    // One of three silent: still two answers, still tokens.
    third.set_silent(true);
    let deadline = Instant::now() + Duration::from_secs(10);
    while run.tsa.status().clock.sources[2].answered {
        assert!(Instant::now() < deadline, "the silent source still answers");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    attempt(&c, &run.url).await.unwrap();
    let st = run.tsa.status();
    assert!(st.ready);
    assert_eq!(st.clock.sources.iter().filter(|s| s.answered).count(), 2);
    assert!(st
        .clock
        .sources
        .iter()
        .any(|s| !s.answered && s.error.is_some()));

    // Two of three silent: quorum lost.
    run.sntp[0].set_silent(true);
    until(
        &c,
        &run.url,
        |r| *r == Err(FailureInfo::TimeNotAvailable),
        "quorum lost",
    )
    .await;
    let (code, _) = readyz(&c, &run.base).await;
    assert_eq!(code, 503);
    assert!(run
        .tsa
        .status()
        .clock
        .reasons
        .contains(&UntrustedReason::QuorumNotReached {
            answered: 1,
            quorum: 2
        }));

    run.sntp[0].set_silent(false);
    until(&c, &run.url, |r| r.is_ok(), "quorum back").await;
    let (code, _) = readyz(&c, &run.base).await;
    assert_eq!(code, 200);
}

/// The system clock with a settable step, to simulate a jump of the wall
/// clock (the monotonic clock does not move).
#[derive(Debug, Default)]
struct JumpingClock {
    step_ms: AtomicI64,
}

impl TimeSource for JumpingClock {
    fn now(&self) -> (SystemTime, Instant) {
        let step = self.step_ms.load(Ordering::Relaxed);
        let wall = if step >= 0 {
            SystemTime::now() + Duration::from_millis(step as u64)
        } else {
            SystemTime::now() - Duration::from_millis(step.unsigned_abs())
        };
        (wall, Instant::now())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_clock_jump_is_caught_at_once() {
    let _one = SERIAL.lock().await;
    let pki = Pki::new("clock-jump", KeySpec::EcP256);
    let sntp = [SntpServer::start(0).await, SntpServer::start(0).await];
    let mut clock_cfg = fast_clock(&[&sntp[0], &sntp[1]]);
    // Slow polling: the jump must be caught by the per-request check, not
    // by the next round.
    clock_cfg.poll_interval_ms = 60_000;
    clock_cfg.retry_interval_ms = 100;
    let cfg = config(&pki, 33, clock_cfg.clone());
    let time = Arc::new(JumpingClock::default());
    let clock = ClockGuard::start_with(clock_cfg, cfg.accuracy(), time.clone()).unwrap();
    assert!(clock.wait_until(true, Duration::from_secs(10)).await);
    let certs = TsaCertificates::from_pem_files(&pki.tsa_pem, &cfg.chain).unwrap();
    let log = TokenLog::start(MemoryRecorder::new(), &cfg.recorder).unwrap();
    let tsa = TimeStampAuthority::new::<_, HsmSignature>(
        &cfg,
        pki.tsa_signer.clone(),
        certs,
        clock.clone(),
        log,
    )
    .unwrap();
    let (base, _server) = serve(tsa::http::standalone_router(tsa.clone())).await;
    let url = format!("{base}/tsa");
    let c = client();
    attempt(&c, &url).await.unwrap();

    // The wall clock jumps 2 s ahead: the very next request is refused.
    time.step_ms.store(2000, Ordering::Relaxed);
    assert_eq!(attempt(&c, &url).await, Err(FailureInfo::TimeNotAvailable));
    let st = tsa.status();
    assert!(!st.ready);
    // The jump was seen first; the immediate re-check then measures the
    // clock 2 s off against both sources.
    let reasons = st.clock.reasons;
    assert!(
        reasons.iter().any(|r| matches!(r, UntrustedReason::ClockJump { step_seconds } if (step_seconds - 2.0).abs() < 0.05))
            || reasons.iter().any(|r| matches!(r, UntrustedReason::OffsetBeyondAccuracy { offset_seconds, .. } if (offset_seconds + 2.0).abs() < 0.05)),
        "{reasons:?}"
    );
    // The next round (at once, not after the 60 s poll interval) measures
    // the clock 2 s off against the sources.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !tsa
        .status()
        .clock
        .reasons
        .iter()
        .any(|r| matches!(r, UntrustedReason::OffsetBeyondAccuracy { .. }))
    {
        assert!(Instant::now() < deadline, "{:?}", tsa.status().clock);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(attempt(&c, &url).await, Err(FailureInfo::TimeNotAvailable));

    // Set right again: trusted after the next round, by itself.
    time.step_ms.store(0, Ordering::Relaxed);
    until(&c, &url, |r| r.is_ok(), "after the jump was undone").await;
    assert!(tsa.is_ready());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_from_the_start_until_first_round() {
    let _one = SERIAL.lock().await;
    let pki = Pki::new("clock-start", KeySpec::EcP256);
    // Both sources silent from the start: never trusted, every request
    // refused, and the reason is that no source answered.
    let sntp = [SntpServer::start(0).await, SntpServer::start(0).await];
    sntp[0].set_silent(true);
    sntp[1].set_silent(true);
    let cfg = config(&pki, 34, fast_clock(&[&sntp[0], &sntp[1]]));
    let tsa = tsa::start::<_, HsmSignature, _>(&cfg, pki.tsa_signer.clone(), MemoryRecorder::new())
        .unwrap();
    let (base, _server) = serve(tsa::http::standalone_router(tsa.clone())).await;
    let c = client();
    let url = format!("{base}/tsa");
    assert_eq!(attempt(&c, &url).await, Err(FailureInfo::TimeNotAvailable));
    let deadline = Instant::now() + Duration::from_secs(10);
    while tsa.status().clock.rounds < 2 {
        assert!(Instant::now() < deadline, "no rounds");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(attempt(&c, &url).await, Err(FailureInfo::TimeNotAvailable));
    let st = tsa.status();
    assert_eq!(
        st.clock.reasons,
        vec![UntrustedReason::QuorumNotReached {
            answered: 0,
            quorum: 2
        }]
    );
    assert_eq!(st.tokens_issued, 0);
    sntp[0].set_silent(false);
    sntp[1].set_silent(false);
    until(&c, &url, |r| r.is_ok(), "first sources answer").await;
}
