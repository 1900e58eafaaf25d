//! The TSA inside `igc serve`: RFC 3161 requests made by `openssl ts -query` answered at
//! `/tsa` and verified by `openssl ts -verify`; tokens recorded in the CA database; the
//! clock guard (two SNTP sources on loopback run by this test) drives `/readyz`, the
//! rejections (`timeNotAvailable`) and the metrics, and recovers by itself.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "../ca/tests/support/pg.rs"]
mod pg;

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use der::{Decode, Encode};
use tsa::asn1::{PkiStatus, TimeStampResp, TstInfo};
use tsa::FailureInfo;

use common::{
    assert_success, configure_clock, http_post, stderr, stdout, tool, wait_until, DevPki, Server,
    Sntp,
};

/// The development hierarchy with its TSA checking the clock against two SNTP responders on
/// loopback (in sync; the test may drift them), and `doc.txt` holding `doc`.
fn dev_pki_with_clock(doc: &str) -> (DevPki, Sntp, Sntp) {
    let pki = DevPki::new();
    let (a, b) = (Sntp::start(0), Sntp::start(0));
    configure_clock(&pki, &a, &b);
    std::fs::write(pki.dir.path().join("doc.txt"), doc).unwrap();
    (pki, a, b)
}

/// The tests of this file one at a time: the load of the crash test would otherwise starve
/// the clock guard's 200 ms SNTP exchanges in the others and make them refuse.
fn alone() -> std::sync::MutexGuard<'static, ()> {
    static ALONE: Mutex<()> = Mutex::new(());
    ALONE.lock().unwrap_or_else(|p| p.into_inner())
}

/// `igc serve` in `d`, once `/readyz` says ready (clock trusted, recorder healthy).
fn start_ready(d: &Path) -> Server {
    let server = Server::start(d);
    assert!(
        wait_until(Duration::from_secs(20), || ready(&server).0 == 200),
        "igc serve never ready: {}",
        ready(&server).1
    );
    server
}

fn ready(server: &Server) -> (u16, serde_json::Value) {
    let (status, body, _) = server.get("/readyz");
    (status, serde_json::from_slice(&body).unwrap())
}

fn query(dir: &Path, name: &str, args: &[&str]) -> Vec<u8> {
    let q = dir.join(format!("{name}.tsq"));
    let data = dir.join("doc.txt");
    let mut all = vec!["ts", "-query", "-data", data.to_str().unwrap()];
    all.extend(args);
    all.extend(["-out", q.to_str().unwrap()]);
    assert_success(&tool("openssl", &all), "openssl ts -query");
    std::fs::read(q).unwrap()
}

/// The root is trusted; CA Organisations and the TSA unit are untrusted intermediates (given
/// only when the token does not carry them).
fn untrusted_chain(pki: &DevPki) -> std::path::PathBuf {
    let untrusted = pki.dir.path().join("untrusted.pem");
    let mut text = std::fs::read_to_string(pki.pki("organisations.pem")).unwrap();
    text.push_str(&std::fs::read_to_string(pki.pki("tsa-unit-1.pem")).unwrap());
    std::fs::write(&untrusted, text).unwrap();
    untrusted
}

/// `openssl ts -verify` of a reply against `doc.txt`.
fn assert_verifies(pki: &DevPki, untrusted: &Path, reply_path: &Path, name: &str) {
    let d = pki.dir.path();
    let out = tool(
        "openssl",
        &[
            "ts",
            "-verify",
            "-data",
            d.join("doc.txt").to_str().unwrap(),
            "-in",
            reply_path.to_str().unwrap(),
            "-CAfile",
            pki.pki("root.pem").to_str().unwrap(),
            "-untrusted",
            untrusted.to_str().unwrap(),
        ],
    );
    assert!(
        stdout(&out).contains("Verification: OK"),
        "{name}: {}{}",
        stdout(&out),
        stderr(&out)
    );
}

/// The serials in the database's `timestamp_tokens`.
fn recorded_serials(db_url: &str) -> Vec<String> {
    common::with_db(db_url, |pool| async move {
        sqlx::query_scalar("SELECT serial FROM timestamp_tokens")
            .fetch_all(&pool)
            .await
            .unwrap()
    })
}

/// `openssl ts -reply -text` of a reply.
fn reply_text(reply_path: &Path) -> String {
    stdout(&tool(
        "openssl",
        &["ts", "-reply", "-in", reply_path.to_str().unwrap(), "-text"],
    ))
}

#[test]
fn tsa_in_serve_with_clock_guard() {
    let _alone = alone();
    let (pki, _a, b) = dev_pki_with_clock("Certificat médical de non contre-indication\n");
    let d = pki.dir.path();
    let server = start_ready(d);
    let untrusted = untrusted_chain(&pki);

    let mut issued = 0;
    for hash in ["-sha256", "-sha384", "-sha512"] {
        for (nonce, cert) in [(true, true), (false, false), (true, false)] {
            let name = format!("q{hash}{nonce}{cert}");
            let mut args = vec![hash];
            if !nonce {
                args.push("-no_nonce");
            }
            if cert {
                args.push("-cert");
            }
            let q = query(d, &name, &args);
            // Alternately through the main listener and the TSA's own.
            let (status, reply, ct) = http_post(
                &urls_of(&server)[issued % 2],
                "application/timestamp-query",
                &q,
            );
            assert_eq!((status, ct.as_str()), (200, "application/timestamp-reply"));
            let reply_path = d.join(format!("{name}.tsr"));
            std::fs::write(&reply_path, &reply).unwrap();
            assert_verifies(&pki, &untrusted, &reply_path, &name);
            let text = reply_text(&reply_path);
            assert!(text.contains("Status: Granted"), "{text}");
            assert!(text.contains("Policy OID: 1.3.6.1.5.5.7.13.8"), "{text}");
            assert!(
                text.contains("Accuracy: 0x01 seconds")
                    || text.contains("Accuracy: 1 seconds")
                    || text.contains("Accuracy: 0x01"),
                "{text}"
            );
            assert_eq!(text.contains("Nonce: unspecified"), !nonce, "{text}");
            assert!(text.contains("TSA: DirName:"), "{text}");
            issued += 1;
        }
    }

    // Every token is recorded in the database (flushed within a second).
    let db = format!("sqlite://{}?mode=ro", pki.path("var/igc.sqlite").display());
    let count = || recorded_serials(&db).len();
    assert!(
        wait_until(Duration::from_secs(5), || count() == issued),
        "recorded {} of {issued}",
        count()
    );

    // The metrics expose the clock guard.
    let (status, body, _) = server.get("/metrics");
    assert_eq!(status, 200);
    let metrics = String::from_utf8_lossy(&body);
    assert!(metrics.contains("tsa_clock_trusted 1"), "{metrics}");
    assert!(metrics.contains("tsa_clock_offset_seconds"), "{metrics}");
    // Request durations as a histogram with buckets (summable across instances), not the
    // exporter's default per-instance summary.
    assert!(
        metrics.contains("tsa_request_duration_seconds_bucket{le=\"0.001\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!("tsa_request_duration_seconds_count {issued}\n")),
        "{metrics}"
    );

    // One source drifts 5 s (accuracy 1 s): not ready, and requests are refused.
    b.set_offset_ms(5_000);
    assert!(
        wait_until(Duration::from_secs(20), || ready(&server).0 == 503),
        "still ready with a drifted source"
    );
    let (_, v) = ready(&server);
    assert_eq!(v["tsa"]["clock"]["trusted"], false, "{v}");
    let listener_ready = || common::http_get(&listener_readyz(&server)).0;
    assert_eq!(listener_ready(), 503);
    let q = query(d, "refused", &["-sha256"]);
    for url in urls_of(&server) {
        let (status, reply, _) = http_post(&url, "application/timestamp-query", &q);
        assert_eq!(
            status, 200,
            "{url}: a rejection is an RFC 3161 reply, not an HTTP error"
        );
        let path = d.join("refused.tsr");
        std::fs::write(&path, reply).unwrap();
        let text = stdout(&tool(
            "openssl",
            &["ts", "-reply", "-in", path.to_str().unwrap(), "-text"],
        ));
        assert!(text.contains("Status: Rejected"), "{url}: {text}");
        assert!(
            text.contains("Failure info: the TSA's time source is not available"),
            "{url}: {text}"
        );
    }
    let (_, body, _) = server.get("/metrics");
    assert!(String::from_utf8_lossy(&body).contains("tsa_clock_trusted 0"));

    // Back in sync: ready again and tokens again, without a restart.
    b.set_offset_ms(0);
    assert!(
        wait_until(Duration::from_secs(20), || ready(&server).0 == 200),
        "did not recover: {}",
        ready(&server).1
    );
    assert_eq!(listener_ready(), 200);
    let q = query(d, "again", &["-sha256"]);
    for url in urls_of(&server) {
        let (_, reply, _) = http_post(&url, "application/timestamp-query", &q);
        let path = d.join("again.tsr");
        std::fs::write(&path, reply).unwrap();
        let text = stdout(&tool(
            "openssl",
            &["ts", "-reply", "-in", path.to_str().unwrap(), "-text"],
        ));
        assert!(text.contains("Status: Granted"), "{url}: {text}");
    }
}

/// The TSA in `igc serve` on PostgreSQL (the database of multi-instance deployments): tokens
/// verify, and each one is recorded under its serial in the shared database.
#[test]
fn tsa_in_serve_records_tokens_on_postgres() {
    let _alone = alone();
    let Some(cluster) = pg::PgCluster::start().unwrap() else {
        return; // IGC_SKIP_PG=1
    };
    let url = cluster.create_database("tsa").unwrap();
    let (pki, _a, _b) = dev_pki_with_clock("Ordonnance sécurisée\n");
    common::use_database(&pki, &url);
    let d = pki.dir.path();
    let server = start_ready(d);
    let untrusted = untrusted_chain(&pki);
    // Serials as OpenSSL prints them ("Serial number: 0x…"), normalised to lower-case hex
    // without leading zeros, like the database's.
    let normalise = |hex: &str| hex.trim_start_matches('0').to_ascii_lowercase();
    let mut serials = Vec::new();
    for i in 0..12 {
        let name = format!("pg{i}");
        let q = query(d, &name, &["-sha256", "-cert"]);
        let (status, reply, _) =
            http_post(&urls_of(&server)[i % 2], "application/timestamp-query", &q);
        assert_eq!(status, 200);
        let reply_path = d.join(format!("{name}.tsr"));
        std::fs::write(&reply_path, &reply).unwrap();
        assert_verifies(&pki, &untrusted, &reply_path, &name);
        let text = reply_text(&reply_path);
        let serial = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("Serial number: 0x"))
            .unwrap_or_else(|| panic!("no serial in {text}"));
        serials.push(normalise(serial));
    }
    serials.sort();
    serials.dedup();
    assert_eq!(serials.len(), 12, "serials repeat");

    let recorded = || {
        let mut rows: Vec<String> = recorded_serials(&url)
            .iter()
            .map(|s| normalise(s))
            .collect();
        rows.sort();
        rows
    };
    assert!(
        wait_until(Duration::from_secs(5), || recorded() == serials),
        "recorded {:?}, issued {serials:?}",
        recorded()
    );
}

/// One POST over a new connection; `None` when the server is gone (connection refused or
/// reset, nothing or half an answer read): the load of the crash test does not panic then.
fn try_post(url: &str, content_type: &str, body: &[u8]) -> Option<Vec<u8>> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_at(rest.find('/')?);
    let mut s = std::net::TcpStream::connect(host).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .ok()?;
    s.write_all(body).ok()?;
    let mut buf = vec![];
    s.read_to_end(&mut buf).ok()?;
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..split]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))?
        .trim()
        .parse()
        .ok()?;
    let body = &buf[split + 4..];
    (head.starts_with("http/1.1 200") && body.len() == length).then(|| body.to_vec())
}

/// The serial of a granted reply (lower-case hex without leading zeros, as recorded), or
/// the failure of a rejection.
fn reply_outcome(reply: &[u8]) -> Result<String, Option<FailureInfo>> {
    let resp = TimeStampResp::from_der(reply).unwrap();
    if resp.status.status != PkiStatus::Granted {
        return Err(resp.status.fail_info.and_then(|f| f.single()));
    }
    let token = resp.time_stamp_token.unwrap();
    let sd = cms::signed_data::SignedData::from_der(&token.content.to_der().unwrap()).unwrap();
    let tst = TstInfo::from_der(sd.encap_content_info.econtent.unwrap().value()).unwrap();
    Ok(hex::encode(tst.serial_number.as_bytes())
        .trim_start_matches('0')
        .to_owned())
}

/// `igc serve` killed (SIGKILL) while four clients time-stamp as fast as it answers: every
/// token delivered more than `max_lag_ms` (1 s by default) before the kill is in
/// the database — the bound `tsa::recorder` documents for what a crash can lose — and, started
/// again on the same database, the TSA issues and records tokens whose serials repeat none of
/// the recorded ones.
#[test]
fn tsa_in_serve_killed_under_load_loses_at_most_the_last_second() {
    let _alone = alone();
    let (pki, _a, _b) = dev_pki_with_clock("Ordonnance de sortie\n");
    let d = pki.dir.path();
    let server = start_ready(d);
    let q = Arc::new(query(d, "load", &["-sha256", "-cert"]));
    // Two clients through the main listener, two through the TSA's own.
    let urls = urls_of(&server);
    let stop = Arc::new(AtomicBool::new(false));
    // Granted serials with the moment they arrived; the moments of systemFailure refusals
    // (the TSA refuses so once its recorder lags more than max_lag).
    let granted = Arc::new(Mutex::new(Vec::<(String, Instant)>::new()));
    let failing_closed = Arc::new(Mutex::new(Vec::<Instant>::new()));
    let clients: Vec<_> = (0..4)
        .map(|i| {
            let (q, url, stop) = (q.clone(), urls[i % 2].clone(), stop.clone());
            let (granted, failing_closed) = (granted.clone(), failing_closed.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Some(reply) = try_post(&url, "application/timestamp-query", &q) else {
                        break; // the server is gone
                    };
                    let at = Instant::now();
                    match reply_outcome(&reply) {
                        Ok(serial) => granted.lock().unwrap().push((serial, at)),
                        Err(Some(FailureInfo::SystemFailure)) => {
                            failing_closed.lock().unwrap().push(at)
                        }
                        // Other refusals (the clock guard's) do not excuse a missing record.
                        Err(_) => {}
                    }
                }
            })
        })
        .collect();
    let db = format!("sqlite://{}?mode=ro", pki.path("var/igc.sqlite").display());
    let recorded_now = || -> HashSet<String> {
        recorded_serials(&db)
            .iter()
            .map(|s| s.trim_start_matches('0').to_ascii_lowercase())
            .collect()
    };
    // max_lag (1 s by default) counts from the moment a token is queued for recording, just
    // before its reply leaves: 0.3 s of slack for the replies' travel seen from the clients.
    let bound = Duration::from_millis(1000 + 300);
    // Tokens delivered more than `bound` before `at_check` and not in `recorded`, unless the
    // TSA was failing closed within `bound` of their delivery (then its recorder had stopped
    // keeping up, and the documented loss runs from that moment); and how many such tokens
    // were found recorded.
    let check = |at_check: Instant, recorded: &HashSet<String>| {
        let refusals = failing_closed.lock().unwrap().clone();
        let mut held = 0;
        let mut missing = Vec::new();
        for (serial, at) in granted.lock().unwrap().iter() {
            if at_check.saturating_duration_since(*at) <= bound {
                continue;
            }
            if recorded.contains(serial) {
                held += 1;
            } else if !refusals.iter().any(|r| *r <= *at + bound) {
                missing.push(format!("{serial} ({:?} before)", at_check - *at));
            }
        }
        (held, missing)
    };
    let load_start = Instant::now();
    let mut checks = 0;
    while load_start.elapsed() < Duration::from_millis(3000) {
        std::thread::sleep(Duration::from_millis(150));
        let at_check = Instant::now();
        let (_, missing) = check(at_check, &recorded_now());
        assert!(missing.is_empty(), "delivered, not recorded: {missing:?}");
        checks += 1;
    }
    let killed_at = Instant::now();
    drop(server); // SIGKILL
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let recorded = recorded_now();
    let (held, missing) = check(killed_at, &recorded);
    assert!(missing.is_empty(), "lost by the crash: {missing:?}");
    assert!(
        held >= 100,
        "only {held} tokens old enough to be held to the bound"
    );
    let granted = granted.lock().unwrap().clone();
    let lost = granted
        .iter()
        .filter(|(s, _)| !recorded.contains(s))
        .count();
    println!(
        "{} tokens delivered, {held} held to the bound at the kill, {lost} lost by the crash (all within it), {} systemFailure refusals; {checks} checks under load",
        granted.len(),
        failing_closed.lock().unwrap().len()
    );

    // Started again on the same database: new tokens whose serials repeat none delivered
    // before (recorded or lost), recorded in turn.
    let server = start_ready(d);
    let before: HashSet<&String> = granted.iter().map(|(s, _)| s).chain(&recorded).collect();
    let mut fresh = Vec::new();
    for i in 0..6 {
        let reply = try_post(&urls_of(&server)[i % 2], "application/timestamp-query", &q).unwrap();
        let serial = reply_outcome(&reply).expect("granted after the restart");
        assert!(!before.contains(&serial), "serial {serial} issued twice");
        fresh.push(serial);
    }
    assert!(
        wait_until(Duration::from_secs(5), || {
            let now = recorded_now();
            fresh.iter().all(|s| now.contains(s))
        }),
        "tokens issued after the restart are not recorded"
    );
}

/// `/tsa` on the main listener and on the TSA's dedicated listener.
fn urls_of(server: &Server) -> [String; 2] {
    let listener = server
        .tsa_listener
        .clone()
        .expect("igc serve announced no TSA listener");
    [format!("{}/tsa", server.base), listener]
}

/// `/readyz` of the TSA's dedicated listener.
fn listener_readyz(server: &Server) -> String {
    urls_of(server)[1].replace("/tsa", "/readyz")
}

/// `igc serve` stopped by SIGTERM while four clients time-stamp through both listeners: it
/// exits cleanly within the shutdown grace, and every token a client received — including
/// those answered while the listeners drained — is in the database.
#[test]
fn tsa_in_serve_stopped_by_sigterm_records_every_token() {
    let _alone = alone();
    let (pki, _a, _b) = dev_pki_with_clock("Ordonnance de renouvellement\n");
    let d = pki.dir.path();
    let mut server = start_ready(d);
    let q = Arc::new(query(d, "term", &["-sha256", "-cert"]));
    let urls = urls_of(&server);
    let granted = Arc::new(Mutex::new(Vec::<String>::new()));
    let clients: Vec<_> = (0..4)
        .map(|i| {
            let (q, url, granted) = (q.clone(), urls[i % 2].clone(), granted.clone());
            std::thread::spawn(move || {
                // Until the server stops answering (bounded: it is stopped below).
                let until = Instant::now() + Duration::from_secs(60);
                while Instant::now() < until {
                    let Some(reply) = try_post(&url, "application/timestamp-query", &q) else {
                        break;
                    };
                    if let Ok(serial) = reply_outcome(&reply) {
                        granted.lock().unwrap().push(serial);
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    let term = std::process::Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let stopped_at = Instant::now();
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            stopped_at.elapsed() < Duration::from_secs(30),
            "igc serve still running 30 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "igc serve exited with {status}");
    for c in clients {
        c.join().unwrap();
    }
    let granted = granted.lock().unwrap().clone();
    assert!(
        granted.len() >= 100,
        "only {} tokens under load",
        granted.len()
    );
    let db = format!("sqlite://{}?mode=ro", pki.path("var/igc.sqlite").display());
    let recorded: HashSet<String> = recorded_serials(&db)
        .iter()
        .map(|s| s.trim_start_matches('0').to_ascii_lowercase())
        .collect();
    let missing: Vec<&String> = granted.iter().filter(|s| !recorded.contains(*s)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} delivered tokens not recorded after a clean stop: {missing:?}",
        missing.len(),
        granted.len()
    );
    println!(
        "{} tokens delivered, all recorded; stopped {:?} after SIGTERM",
        granted.len(),
        stopped_at.elapsed()
    );
}
