//! `/readyz` of `igc serve`, on the main listener and on the TSA's dedicated one, as a crowd
//! of callers (load balancers, or anyone on the network) hits it: the HSM probe signature is
//! made at most once a second, by one probe shared by every listener, and every concurrent
//! caller gets the result of that probe (issue 20, finding 4). Each answer says which probe
//! it reports (`hsm_checked_unix_ms`), so the number of probe signatures shows from outside.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use common::{configure_clock, http_get, wait_until, DevPki, Server, Sntp};

/// (HTTP status, JSON body) of a `/readyz`.
fn readyz(url: &str) -> (u16, serde_json::Value) {
    let (status, body, _) = http_get(url);
    (status, serde_json::from_slice(&body).unwrap())
}

#[test]
fn a_crowd_on_readyz_costs_one_probe_signature_a_second() {
    let pki = DevPki::new();
    let (a, b) = (Sntp::start(0), Sntp::start(0));
    configure_clock(&pki, &a, &b);
    let server = Server::start(pki.dir.path());
    let main = format!("{}/readyz", server.base);
    let tsa = server
        .tsa_listener
        .clone()
        .expect("igc serve announced no TSA listener")
        .replace("/tsa", "/readyz");
    assert!(
        wait_until(Duration::from_secs(20), || readyz(&main).0 == 200
            && readyz(&tsa).0 == 200),
        "igc serve never ready: {:?} {:?}",
        readyz(&main),
        readyz(&tsa)
    );

    // 16 callers, 25 calls each, half on each listener, all at once.
    const CALLERS: usize = 16;
    const CALLS: usize = 25;
    let started = Instant::now();
    let handles: Vec<_> = (0..CALLERS)
        .map(|i| {
            let url = if i % 2 == 0 {
                main.clone()
            } else {
                tsa.clone()
            };
            std::thread::spawn(move || {
                (0..CALLS)
                    .map(|_| (i % 2, readyz(&url)))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let answers: Vec<_> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let elapsed = started.elapsed().as_secs_f64();

    // Probe times seen, per listener.
    let mut probes: HashMap<usize, HashSet<u64>> = HashMap::new();
    for (listener, (status, body)) in &answers {
        assert_eq!(*status, 200, "{body}");
        assert_eq!(body["hsm"], "ok", "{body}");
        let at = body["hsm_checked_unix_ms"].as_u64().unwrap_or_else(|| {
            panic!(
                "/readyz does not say which HSM probe it reports: each call made its own \
                 signature ({body})"
            )
        });
        probes.entry(*listener).or_default().insert(at);
    }
    let all: HashSet<u64> = probes.values().flatten().copied().collect();
    // At most one probe a second, and one more for the window in progress at the start.
    let allowed = elapsed.ceil() as usize + 1;
    eprintln!(
        "{} /readyz calls in {elapsed:.2} s: {} probe signatures (allowed {allowed})",
        answers.len(),
        all.len()
    );
    assert!(
        all.len() <= allowed,
        "{} probe signatures for {} calls in {elapsed:.2} s",
        all.len(),
        answers.len()
    );
    // One probe for both listeners: once the last answer is a second old, the next caller
    // on either listener refreshes it for both.
    std::thread::sleep(Duration::from_millis(1100));
    let (_, m) = readyz(&main);
    let (_, t) = readyz(&tsa);
    assert_eq!(
        m["hsm_checked_unix_ms"], t["hsm_checked_unix_ms"],
        "the listeners probe separately: {m} {t}"
    );
}
