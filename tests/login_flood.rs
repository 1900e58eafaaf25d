//! Issue 20, finding 3 — a flood of bogus logins against the RA portal of a real `igc serve`,
//! sent as an attacker would: one client (curl, many requests in parallel over its
//! connections), random logins and passwords, through the HTML form and the JSON API.
//!
//! What must hold while it lasts: the service's async workers stay responsive (`/healthz` on
//! the main listener answers at once; an operator logging in from another address gets in),
//! and the unknown logins do not write one journal entry each (they are counted in aggregated
//! entries, written by a background flush and at shutdown).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::browser::{csrf_of, totp_code, Browser, PASSWORD};
use common::{db_url, find_tool, http_get, with_db, DevPki, PortalServer};
use rand::Rng as _;

/// Requests of one curl run of the burst, and how many curl keeps in flight at once.
const BATCH: usize = 200;
const PARALLEL: usize = 64;
/// How long the burst lasts (it is sent again and again until then).
const FLOOD_FOR: Duration = Duration::from_secs(6);
/// A liveness probe slower than this means the async workers were stalled.
const HEALTHZ_LIMIT: Duration = Duration::from_millis(750);
/// A legitimate login (GET the form, POST it) slower than this was stuck behind the flood.
const LEGIT_LOGIN_LIMIT: Duration = Duration::from_secs(3);
/// Prefix of every bogus login, to find their journal entries.
const BOGUS: &str = "inconnu-";

fn random_hex(n: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..n)
        .map(|_| format!("{:x}", rng.gen_range(0..16u8)))
        .collect()
}

/// A curl configuration file of `n` bogus logins, alternately the HTML form (with a
/// prelogin cookie and CSRF field of the attacker's own choosing, which is all the form asks)
/// and the JSON API.
fn burst_file(dir: &Path, portal: &str, n: usize) -> PathBuf {
    let mut text = String::new();
    for i in 0..n {
        if i > 0 {
            // `next` separates transfers; one after the last would be a transfer without URL.
            text.push_str("next\n");
        }
        let login = format!("{BOGUS}{}", random_hex(10));
        let password = random_hex(16);
        text.push_str("insecure\nsilent\nshow-error\noutput = \"/dev/null\"\nwrite-out = \"%{http_code}\\n\"\n");
        text.push_str("interface = \"127.0.0.1\"\n");
        if i % 2 == 0 {
            let token = random_hex(64);
            text.push_str(&format!(
                "url = \"{portal}/connexion\"\nheader = \"Cookie: {}={token}\"\n\
                 data = \"csrf={token}&login={login}&password={password}&totp=123456\"\n",
                ra_portal::PRELOGIN_COOKIE
            ));
        } else {
            text.push_str(&format!(
                "url = \"{portal}/api/v1/sessions\"\nheader = \"Content-Type: application/json\"\n\
                 data = \"{{\\\"login\\\":\\\"{login}\\\",\\\"password\\\":\\\"{password}\\\",\\\"totp\\\":\\\"123456\\\"}}\"\n"
            ));
        }
    }
    let path = dir.join(format!("burst-{}.curl", random_hex(8)));
    std::fs::write(&path, text).unwrap();
    path
}

/// Sends the burst again and again until `stop`; returns the status of every answer.
fn flood(dir: PathBuf, portal: String, stop: Arc<AtomicBool>) -> Vec<u16> {
    let mut statuses = vec![];
    while !stop.load(Ordering::SeqCst) {
        let file = burst_file(&dir, &portal, BATCH);
        let out = Command::new(find_tool("curl"))
            .args([
                "-s",
                "--parallel",
                "--parallel-max",
                &PARALLEL.to_string(),
                "-K",
            ])
            .arg(&file)
            .output()
            .unwrap();
        statuses.extend(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|l| l.trim().parse::<u16>().ok()),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("curl: (")).collect();
        if !errors.is_empty() {
            eprintln!(
                "curl: {} failed transfers, first: {}",
                errors.len(),
                errors[0]
            );
        }
        let _ = std::fs::remove_file(file);
    }
    statuses
}

/// A password + TOTP login through the form, sent from the local address `from` (another
/// address than the attacker's): (status, Location, how long GET + POST took).
fn login_from(
    dir: &Path,
    portal: &str,
    from: &str,
    login: &str,
    totp: &str,
) -> (u16, String, Duration) {
    let jar = dir.join(format!("legit-{}.jar", random_hex(6)));
    let curl = |extra: &[&str], path: &str| {
        let out = Command::new(find_tool("curl"))
            .args(["-sS", "-k", "--max-time", "30", "--interface", from, "-c"])
            .arg(&jar)
            .arg("-b")
            .arg(&jar)
            .args(["-D", "-"])
            .args(extra)
            .arg(format!("{portal}{path}"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let started = Instant::now();
    let page = curl(&[], "/connexion");
    let csrf = csrf_of(&page);
    let body = format!(
        "csrf={csrf}&login={login}&password={}&totp={totp}",
        PASSWORD.replace(' ', "+")
    );
    let answer = curl(&["--data", &body], "/connexion");
    let took = started.elapsed();
    let status = answer
        .lines()
        .find(|l| l.starts_with("HTTP/"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let location = answer
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .starts_with("location:")
                .then(|| l[9..].trim().to_owned())
        })
        .unwrap_or_default();
    (status, location, took)
}

/// (action, outcome, object, details) of every journal entry after `after`.
fn journal_after(url: &str, after: i64) -> Vec<(String, String, String, String)> {
    with_db(url, |pool| async move {
        sqlx::query_as::<_, (String, String, String, String)>(
            "SELECT action, outcome, object, details FROM audit_log WHERE seq > $1 ORDER BY seq",
        )
        .bind(after)
        .fetch_all(&pool)
        .await
        .unwrap()
    })
}

fn journal_head(url: &str) -> i64 {
    with_db(url, |pool| async move {
        sqlx::query_scalar::<_, i64>("SELECT seq FROM audit_head WHERE id = 1")
            .fetch_one(&pool)
            .await
            .unwrap()
    })
}

#[test]
fn a_flood_of_bogus_logins_stalls_nothing_and_is_journaled_in_aggregate() {
    let pki = DevPki::new();
    let mut srv = PortalServer::start(pki.dir.path());
    let dir = pki.path("flood");
    std::fs::create_dir_all(&dir).unwrap();
    let admin = Browser::new(&dir, "admin", &srv.portal);
    let secret = admin.enrol("admin", &pki.first_login("admin"));
    let url = db_url(&pki);
    let before = journal_head(&url);

    // The flood, from 127.0.0.1.
    let stop = Arc::new(AtomicBool::new(false));
    let flooder = {
        let (dir, portal, stop) = (dir.clone(), srv.portal.clone(), stop.clone());
        std::thread::spawn(move || flood(dir, portal, stop))
    };
    // Meanwhile: liveness probes on the main listener, and the operator's own login from
    // another address once the flood is under way.
    let started = Instant::now();
    let mut probes = vec![];
    let mut legit = None;
    while started.elapsed() < FLOOD_FOR {
        let t = Instant::now();
        let (status, _, _) = http_get(&format!("{}/healthz", srv.server.base));
        probes.push((status, t.elapsed()));
        if legit.is_none() && started.elapsed() > Duration::from_secs(2) {
            legit = Some(login_from(
                &dir,
                &srv.portal,
                "127.0.0.2",
                "admin",
                &totp_code(&secret, 1),
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::SeqCst);
    let statuses = flooder.join().unwrap();
    let during_flood = journal_after(&url, before);

    // A graceful stop (SIGTERM): what the flush had not written yet is written now.
    let pid = srv.server.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let stopped = Instant::now();
    while srv.server.child.try_wait().unwrap().is_none() {
        assert!(
            stopped.elapsed() < Duration::from_secs(30),
            "igc serve did not stop"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let after_stop = journal_after(&url, before);

    let slowest = probes.iter().map(|(_, d)| *d).max().unwrap();
    let failed_probes = probes.iter().filter(|(s, _)| *s != 200).count();
    let mut by_status = std::collections::BTreeMap::<u16, usize>::new();
    for s in &statuses {
        *by_status.entry(*s).or_default() += 1;
    }
    let per_attempt_rows = during_flood
        .iter()
        .filter(|(action, _, object, _)| {
            action == "auth.login" && object.starts_with(&format!("operator:{BOGUS}"))
        })
        .count();
    let (legit_status, legit_location, legit_took) = legit.clone().unwrap();
    eprintln!(
        "flood: {} bogus logins answered {by_status:?}; {} /healthz probes, slowest {slowest:?}, \
         {failed_probes} failed; legitimate login from 127.0.0.2: {legit_status} {legit_location:?} \
         in {legit_took:?}; {} journal entries written during the flood, {per_attempt_rows} of \
         them one per bogus login",
        statuses.len(),
        probes.len(),
        during_flood.len(),
    );

    // (a) The async workers stayed responsive.
    assert!(
        slowest < HEALTHZ_LIMIT && failed_probes == 0,
        "/healthz stalled during the flood: slowest probe {slowest:?}, {failed_probes} failed"
    );
    assert_eq!(
        (legit_status, legit_location.as_str()),
        (303, "/"),
        "the operator's login during the flood"
    );
    assert!(
        legit_took < LEGIT_LOGIN_LIMIT,
        "the operator's login took {legit_took:?} during the flood"
    );
    // No attempt got in, and none crashed the handler.
    assert!(statuses.len() >= BATCH, "{by_status:?}");
    assert!(
        statuses.iter().all(|s| [401, 429, 503].contains(s)),
        "{by_status:?}"
    );

    // (b) Not one journal entry per bogus login: a few aggregated entries, which account for
    // every attempt once the server has stopped.
    assert!(
        during_flood.len() < 20,
        "{} journal entries during a flood of {} bogus logins ({per_attempt_rows} one per login)",
        during_flood.len(),
        statuses.len()
    );
    let aggregated: Vec<serde_json::Value> = after_stop
        .iter()
        .filter(|(action, outcome, _, _)| {
            (action == "auth.login-refused-unknown" || action == "auth.login-throttled")
                && outcome == "denied"
        })
        .map(|(_, _, _, details)| serde_json::from_str(details).unwrap())
        .collect();
    let counted: u64 = aggregated
        .iter()
        .map(|d| d["count"].as_u64().unwrap())
        .sum();
    assert_eq!(
        counted,
        statuses.len() as u64,
        "aggregated entries {aggregated:?} for {by_status:?}"
    );
    for d in &aggregated {
        let sample = d["sample"].as_array().unwrap();
        assert!(!sample.is_empty() && sample.len() <= 20, "{d}");
        assert!(
            sample
                .iter()
                .all(|s| s["login"].as_str().unwrap().starts_with(BOGUS)),
            "{d}"
        );
    }
    let _ = &mut srv;
}
