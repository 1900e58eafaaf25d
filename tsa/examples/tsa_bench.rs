//! `make bench` (TSA part): in one run, for EC P-256 and RSA-2048 TSA keys
//! in SoftHSM,
//!
//! 1. the raw signing rate of the TSA key through the HSM signer, 2 threads
//!    (2 sessions);
//! 2. tokens/s and latency percentiles of `POST /tsa` at saturation, driven
//!    by `wrk` (one fixed `openssl ts -query -sha256 -cert` request, keep-alive),
//!    with the TSA as `igc serve` runs it: every token recorded in the CA
//!    store (SQLite, the default database, in WAL mode on the local disk);
//!    through the TSA's dedicated listener (`tsa.listen`, `tsa::listener`)
//!    and through the main listener (axum, signing lanes), in turn;
//! 3. `openssl ts -reply` per token (a process per token, software key of the
//!    same type: OpenSSL cannot use the SoftHSM key without an engine).
//!
//! The raw and the HTTP measures alternate over several rounds, and the
//! TSA/raw ratio is the median of the ratios of adjacent rounds, so that a
//! machine shared with other work biases both sides alike. The CPU time per
//! signature (raw) and per token (TSA process + wrk) is measured too: their
//! ratio is what the throughput ratio would be on an otherwise idle machine
//! where both saturate the two cores.
//!
//! Prints a markdown table. Targets: TSA ≥ 60 % of the raw HSM rate, p99 ≤ 10 ms.
//!
//! Usage: cargo run --release -p tsa --example tsa_bench [-- SECONDS [CONNECTIONS|default [ec,rsa]]]
//! (defaults: 5 s per measure, 64 connections for EC and 8 for RSA — the
//! counts that saturate the two cores, see `bench` —, both keys;
//! `TSA_BENCH_SIGNERS` sets `max_concurrent_signatures`, by default chosen
//! by the key: 4 for EC, 3 for RSA; `TSA_BENCH_THREADS` the threads of the
//! dedicated listener, by default one per core; `TSA_BENCH_VIA`
//! `listener` or `main` measures one listener only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use hsm_config::{HsmSigner, KeySpec};

struct Row {
    key: &'static str,
    /// Which listener served `/tsa`.
    via: &'static str,
    conns: usize,
    raw: f64,
    tokens: f64,
    ratio: f64,
    p50_ms: f64,
    p99_ms: f64,
    cpu_raw_us: f64,
    cpu_tsa_us: f64,
    cpu_wrk_us: f64,
    utilisation: f64,
    /// Signing lanes of the TSA (`max_concurrent_signatures`) or threads
    /// of the dedicated listener.
    lanes: String,
    openssl_ms: f64,
}

/// CPU time (user + system) of this process so far, in seconds.
fn process_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields of the line, in clock ticks (100 per second).
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}

/// (signatures per second, signatures) with `threads` threads for `secs`.
fn raw_rate(signer: &HsmSigner, threads: usize, secs: f64) -> (f64, u64) {
    // About the size of the signed attributes of a token.
    let msg = [0x31u8; 220];
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            let (stop, count, signer) = (stop.clone(), count.clone(), signer.clone());
            // Named so that a profile of the benchmark can tell the raw
            // rounds from the TSA's threads.
            let thread = std::thread::Builder::new().name("raw-signer".into());
            thread
                .spawn_scoped(s, move || {
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        signer.sign(&msg).unwrap();
                        n += 1;
                    }
                    count.fetch_add(n, Ordering::Relaxed);
                })
                .unwrap();
        }
        std::thread::sleep(Duration::from_secs_f64(secs));
        stop.store(true, Ordering::Relaxed);
    });
    let n = count.load(Ordering::Relaxed);
    (n as f64 / start.elapsed().as_secs_f64(), n)
}

const ROUNDS: usize = 5;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

const LUA: &str = r#"
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/timestamp-query"
local f = assert(io.open(os.getenv("TSA_QUERY"), "rb"))
wrk.body = f:read("*a")
f:close()
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %.1f %.1f %.1f\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), latency.mean))
  io.write(string.format("ERRORS %d %d %d %d %d\n", summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.status, summary.errors.timeout))
end
"#;

/// One round: raw signing, then HTTP.
struct Round {
    raw: f64,
    sigs: u64,
    /// CPU seconds of the raw signing.
    cpu_raw: f64,
    wrk: WrkResult,
    issued: u64,
    /// CPU seconds of the TSA process during the HTTP run.
    cpu_tsa: f64,
}

struct WrkResult {
    requests: u64,
    secs: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
    /// CPU seconds used by wrk.
    cpu: f64,
}

fn wrk(
    url: &str,
    script: &std::path::Path,
    query: &std::path::Path,
    conns: usize,
    secs: u64,
) -> WrkResult {
    // Through bash, whose `times` reports the CPU time of its children.
    let out = Command::new("bash")
        .args([
            "-c",
            "wrk \"$@\" && times",
            "wrk",
            "-t1",
            &format!("-c{conns}"),
            &format!("-d{secs}s"),
            "--latency",
            "-s",
            script.to_str().unwrap(),
            url,
        ])
        .env("TSA_QUERY", query)
        .output()
        .unwrap_or_else(|e| panic!("cannot run bash: {e}"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "wrk failed (apt-get install wrk; make bench installs it): {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let field = |prefix: &str| -> Vec<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in wrk output:\n{text}"))
            .split_whitespace()
            .map(|v| v.parse().unwrap())
            .collect()
    };
    let r = field("RESULT ");
    let e = field("ERRORS ");
    // Last line of `times`: children's user and system time, "1m2.345s 0m0.123s".
    let secs_of = |t: &str| -> f64 {
        let (m, s) = t.trim_end_matches('s').split_once('m').unwrap();
        m.parse::<f64>().unwrap() * 60.0 + s.parse::<f64>().unwrap()
    };
    let children = text.lines().last().unwrap();
    let cpu: f64 = children.split_whitespace().map(secs_of).sum();
    WrkResult {
        requests: r[0] as u64,
        secs: r[1] / 1e6,
        p50_ms: r[2] / 1000.0,
        p99_ms: r[3] / 1000.0,
        errors: e.iter().sum::<f64>() as u64,
        cpu,
    }
}

/// `openssl ts -reply` for `runs` tokens, one process each; ms per token.
fn openssl_reply(dir: &std::path::Path, query: &std::path::Path, key: KeySpec, runs: usize) -> f64 {
    let keyfile = dir.join("ossl.key");
    let cert = dir.join("ossl.pem");
    let cnf = dir.join("tsa.cnf");
    let genkey: Vec<&str> = match key {
        KeySpec::Rsa2048 => vec![
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ],
        _ => vec![
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ],
    };
    let run = |args: &[&str]| {
        let out = Command::new("openssl").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let mut a = genkey.clone();
    a.extend(["-out", keyfile.to_str().unwrap()]);
    run(&a);
    run(&[
        "req",
        "-new",
        "-x509",
        "-key",
        keyfile.to_str().unwrap(),
        "-subj",
        "/C=FR/O=Bench/CN=OpenSSL TSA",
        "-days",
        "2",
        "-addext",
        "extendedKeyUsage=critical,timeStamping",
        "-out",
        cert.to_str().unwrap(),
    ]);
    std::fs::write(
        &cnf,
        format!(
            "[ tsa ]\ndefault_tsa = t\n[ t ]\nserial = {}\nsigner_cert = {}\nsigner_key = {}\nsigner_digest = sha256\n\
             default_policy = {POLICY}\ndigests = sha256, sha384, sha512\naccuracy = secs:0, millisecs:500\n\
             ess_cert_id_alg = sha256\nclock_precision_digits = 3\ntsa_name = yes\n",
            dir.join("serial").display(),
            cert.display(),
            keyfile.display()
        ),
    )
    .unwrap();
    std::fs::write(dir.join("serial"), "01\n").unwrap();
    let reply = dir.join("ossl.tsr");
    let args = [
        "ts",
        "-reply",
        "-config",
        cnf.to_str().unwrap(),
        "-queryfile",
        query.to_str().unwrap(),
        "-out",
        reply.to_str().unwrap(),
    ];
    run(&args);
    let start = Instant::now();
    for _ in 0..runs {
        run(&args);
    }
    start.elapsed().as_secs_f64() * 1000.0 / runs as f64
}

async fn bench(key: KeySpec, label: &'static str, secs: u64, conns: Option<usize>) -> Vec<Row> {
    let pki = Pki::new(label, key);
    // The TSA as `igc serve` runs it: tokens recorded in the CA store
    // (SQLite, the default database).
    let db = format!("sqlite://{}?mode=rwc", pki.path("ca.db").display());
    let store = ca::storage::Store::connect(&db).await.unwrap();
    let run = start_tsa_with(&pki, 60, tsa::StoreRecorder::new(store.clone()), |c| {
        c.accuracy_ms = 500;
        if let Some(n) = std::env::var("TSA_BENCH_SIGNERS")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            c.max_concurrent_signatures = Some(n);
        }
        if let Some(n) = std::env::var("TSA_BENCH_THREADS")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            c.listen = Some("127.0.0.1:0".parse().unwrap());
            c.listen_threads = Some(n);
        }
    })
    .await;

    let query = pki.path("query.tsq");
    let data = pki.path("data.txt");
    std::fs::write(&data, "benchmark document\n").unwrap();
    let out = Command::new("openssl")
        .args([
            "ts",
            "-query",
            "-data",
            data.to_str().unwrap(),
            "-sha256",
            "-cert",
            "-out",
            query.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    // The query is granted before anything is measured.
    let c = client();
    let reply = post_query(&c, &run.url, std::fs::read(&query).unwrap()).await;
    tst_info(&reply);

    let script = pki.path("post.lua");
    std::fs::write(&script, LUA).unwrap();
    let signer = pki.tsa_signer.clone();
    let (tsa, q) = (run.tsa.clone(), query.clone());
    // The ways in, each measured in every round: the TSA's dedicated
    // listener (threads that sign their own requests) and the main one
    // (axum on the shared runtime, signing lanes).
    let via = std::env::var("TSA_BENCH_VIA").unwrap_or_else(|_| "both".into());
    let mut ways: Vec<(&'static str, String)> = Vec::new();
    if via != "main" {
        ways.push(("dedicated listener", run.listener_url.clone()));
    }
    if via != "listener" {
        ways.push(("main listener", run.url.clone()));
    }
    let threads = run.listener.threads();
    // Saturation: enough requests in flight to keep both cores busy, not
    // more (more only queue longer). An RSA signature costs about ten
    // times an EC one, so fewer connections saturate: measured sweep in
    // docs/BENCHMARKS.md (EC: 8 leaves 9 % of the cores idle, 64 ≥ 95 %
    // busy; RSA: 8 ≥ 94 % busy, 16 adds 6 % tokens/s and doubles p99).
    let conns = conns.unwrap_or(match key {
        KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => 8,
        _ => 64,
    });
    let measured_ways = ways.clone();
    let rounds = tokio::task::spawn_blocking(move || {
        raw_rate(&signer, 2, 1.0);
        for (_, url) in &measured_ways {
            wrk(url, &script, &q, 8, 2);
        }
        let mut rounds: Vec<Vec<Round>> = measured_ways.iter().map(|_| Vec::new()).collect();
        for _ in 0..ROUNDS {
            for (way, (_, url)) in measured_ways.iter().enumerate() {
                let c0 = process_cpu();
                let (raw, sigs) = raw_rate(&signer, 2, secs as f64);
                let cpu_raw = process_cpu() - c0;
                let s0 = tsa.status();
                let c0 = process_cpu();
                let r = wrk(url, &script, &q, conns, secs);
                let cpu_tsa = process_cpu() - c0;
                let s1 = tsa.status();
                let (issued, rejected) = (
                    s1.tokens_issued - s0.tokens_issued,
                    s1.requests_rejected - s0.requests_rejected,
                );
                // wrk sees HTTP 200 for rejections too: check with the TSA
                // that every measured request got a token.
                assert_eq!(
                    rejected, 0,
                    "{rejected} requests were rejected during the run"
                );
                assert!(
                    issued >= r.requests,
                    "{issued} tokens for {} requests",
                    r.requests
                );
                assert_eq!(r.errors, 0, "wrk errors");
                rounds[way].push(Round {
                    raw,
                    sigs,
                    cpu_raw,
                    wrk: r,
                    issued,
                    cpu_tsa,
                });
            }
        }
        rounds
    })
    .await
    .unwrap();
    let (dir, q3) = (pki.dir.path().to_owned(), query.clone());
    let openssl_ms = tokio::task::spawn_blocking(move || openssl_reply(&dir, &q3, key, 50))
        .await
        .unwrap();
    let st = run.tsa.status();
    assert!(
        st.ready,
        "TSA not ready after the run: {:?}",
        st.clock.reasons
    );
    // Every token granted is in the database once the queue is flushed
    // (a few more too: those signed for requests wrk abandoned at the end
    // of a run are recorded but not granted).
    run.tsa
        .log()
        .shutdown(Duration::from_secs(30))
        .await
        .unwrap();
    let recorded = store.timestamp_token_count().await.unwrap();
    assert!(
        recorded >= st.tokens_issued,
        "{} tokens granted, {recorded} recorded",
        st.tokens_issued
    );
    assert_eq!(st.recorder.failures, 0, "recorder failures");
    let tokens = |r: &WrkResult| r.requests as f64 / r.secs;
    ways.iter()
        .zip(rounds)
        .map(|((via, _), rounds)| {
            let med = |f: &dyn Fn(&Round) -> f64| median(rounds.iter().map(f).collect());
            Row {
                key: match key {
                    KeySpec::Rsa2048 => "RSA-2048",
                    _ => "EC P-256",
                },
                via,
                conns,
                raw: med(&|r| r.raw),
                tokens: med(&|r| tokens(&r.wrk)),
                ratio: med(&|r| tokens(&r.wrk) / r.raw),
                p50_ms: med(&|r| r.wrk.p50_ms),
                p99_ms: med(&|r| r.wrk.p99_ms),
                cpu_raw_us: med(&|r| r.cpu_raw * 1e6 / r.sigs as f64),
                cpu_tsa_us: med(&|r| r.cpu_tsa * 1e6 / r.issued as f64),
                cpu_wrk_us: med(&|r| r.wrk.cpu * 1e6 / r.wrk.requests as f64),
                utilisation: med(&|r| (r.cpu_tsa + r.wrk.cpu) / (2.0 * r.wrk.secs)),
                openssl_ms,
                lanes: if *via == "dedicated listener" {
                    format!("{threads} threads")
                } else {
                    format!("{} signing lanes", st.signing_lanes)
                },
            }
        })
        .collect()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let secs: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(5);
    let conns: Option<usize> = args.next().and_then(|s| s.parse().ok());
    let keys = args.next().unwrap_or_else(|| "ec,rsa".into());
    let workers = std::env::var("TSA_BENCH_WORKERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    // Metrics recorded as `igc serve` records them (Prometheus exporter,
    // request durations in buckets, upkeep every 5 s).
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Full(tsa::REQUEST_DURATION_METRIC.to_owned()),
            tsa::REQUEST_DURATION_BUCKETS,
        )
        .unwrap()
        .install_recorder()
        .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap();
    let upkeep = metrics.clone();
    let rows = rt.block_on(async {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                upkeep.run_upkeep();
            }
        });
        let mut rows = Vec::new();
        if keys.contains("ec") {
            rows.extend(bench(KeySpec::EcP256, "bench-ec", secs, conns).await);
        }
        if keys.contains("rsa") {
            rows.extend(bench(KeySpec::Rsa2048, "bench-rsa", secs, conns).await);
        }
        rows
    });
    // The hot path's metrics were recorded, not lost to an early handle.
    let text = metrics.render();
    assert!(
        text.contains("tsa_requests_total{outcome=\"granted\",failure=\"none\"}"),
        "no granted requests in the metrics:\n{text}"
    );
    println!();
    println!(
        "TSA benchmark: {ROUNDS} alternating rounds of {secs} s (raw HSM signing, then wrk -t1 on POST /tsa at the connections given below, for each listener), medians; 2 cores shared by wrk and the TSA"
    );
    println!();
    println!("| key | `/tsa` served by | raw HSM signatures/s (2 sessions) | connections | TSA tokens/s over HTTP | TSA / raw | p50 | p99 | CPU per signature (raw) | CPU per token (TSA + wrk) | CPU-based TSA / raw | `openssl ts -reply` per token |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {:.0} | {} | {:.0} | {:.1} % | {:.2} ms | {:.2} ms | {:.0} µs | {:.0} + {:.0} µs | {:.0} % | {:.1} ms ({:.0} tokens/s) |",
            r.key,
            r.via,
            r.raw,
            r.conns,
            r.tokens,
            100.0 * r.ratio,
            r.p50_ms,
            r.p99_ms,
            r.cpu_raw_us,
            r.cpu_tsa_us,
            r.cpu_wrk_us,
            100.0 * r.cpu_raw_us / (r.cpu_tsa_us + r.cpu_wrk_us),
            r.openssl_ms,
            1000.0 / r.openssl_ms
        );
    }
    println!();
    for r in &rows {
        println!(
            "{}, {} (c={}, {}): TSA / raw {:.1} % (target ≥ 60 %: {}), p99 {:.2} ms (target ≤ 10 ms: {}); CPU used during the HTTP runs: {:.0} % of 2 cores",
            r.key,
            r.via,
            r.conns,
            r.lanes,
            100.0 * r.ratio,
            if r.ratio >= 0.6 { "met" } else { "NOT met" },
            r.p99_ms,
            if r.p99_ms <= 10.0 { "met" } else { "NOT met" },
            100.0 * r.utilisation,
        );
    }
}
