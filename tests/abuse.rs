//! The abuse harness of issue 20: `igc serve` under hostile traffic while legitimate traffic
//! is measured.
//!
//! Legitimate traffic, open loop (requests scheduled at a fixed rate, latency counted from the
//! scheduled time): OCSP GET (pre-signed answers for a real certificate), RFC 3161
//! time-stamps on the TSA's dedicated listener, one portal login (HTML form, a new browser
//! each time) and one issuance (API: a clerk files, an approver approves) per second. Phases:
//! baseline, then each attack followed by a recovery phase:
//! - slowloris: connections on each of the three listeners trickling headers, then bodies;
//! - clients posting a hostile CMS (thousands of CA certificates sharing CA Personnes's
//!   subject: path building tries each) to `POST /api/v1/verify` in a loop;
//! - login flood: random logins and passwords, HTML form and JSON API;
//! - OCSP flood: POST requests with fresh nonces and random serials.
//!
//! `make test` runs the bounded form (smaller rates and counts, ≤ 3 minutes): it prints the
//! table and asserts what is not timing. `make abuse` runs the full size of the issue
//! (`IGC_ABUSE=full`, release build): it prints the table and asserts the issue's floor
//! (every legitimate request succeeds, p99 ≤ 50 ms for OCSP and TSA and ≤ 1 s for login and
//! issuance, RSS bounded, answers within 2 s after each attack).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "abuse/attacks.rs"]
mod attacks;
mod common;
#[path = "abuse/http.rs"]
mod http;
#[path = "abuse/load.rs"]
mod load;
#[path = "abuse/setup.rs"]
mod setup;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use der::DecodePem as _;
use serde_json::Value;
use tokio::task::JoinSet;

use attacks::SlowStats;
use http::{Pool, Target};
use load::{open_loop, Recorder, Svc};

/// Whether the bounded form (`make test`) also asserts that every legitimate request succeeds
/// *under attack*, that the server's memory stays bounded and that it answers within 2 s after
/// each attack (latencies are printed, not asserted: the full form asserts them). True since
/// issue 20's hardening; set it to false only to measure code that is not hardened.
const STRICT_UNDER_ATTACK: bool = true;

/// Growth of the server's RSS over the baseline's maximum that still counts as bounded.
const RSS_GROWTH_LIMIT_KIB: u64 = 512 * 1024;

/// How soon the server must answer again after an attack.
const RECOVERY_LIMIT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
struct Size {
    full: bool,
    baseline: Duration,
    attack: Duration,
    recovery: Duration,
    ocsp_rate: f64,
    tsa_rate: f64,
    login_rate: f64,
    issue_rate: f64,
    slow_conns: usize,
    slow_tick: Duration,
    cms_clients: usize,
    cms_decoys: usize,
    login_flood: f64,
    ocsp_flood: f64,
}

impl Size {
    fn from_env() -> Size {
        match std::env::var("IGC_ABUSE").as_deref() {
            Ok("full") => Size {
                full: true,
                baseline: Duration::from_secs(20),
                attack: Duration::from_secs(30),
                recovery: Duration::from_secs(10),
                ocsp_rate: 500.0,
                tsa_rate: 200.0,
                login_rate: 1.0,
                issue_rate: 1.0,
                slow_conns: 2000,
                slow_tick: Duration::from_secs(2),
                cms_clients: 8,
                cms_decoys: 5000,
                login_flood: 500.0,
                ocsp_flood: 2000.0,
            },
            _ => Size {
                full: false,
                baseline: Duration::from_secs(5),
                attack: Duration::from_secs(10),
                recovery: Duration::from_secs(4),
                ocsp_rate: 100.0,
                tsa_rate: 50.0,
                login_rate: 1.0,
                issue_rate: 1.0,
                slow_conns: 300,
                slow_tick: Duration::from_secs(1),
                cms_clients: 2,
                cms_decoys: 1000,
                login_flood: 100.0,
                ocsp_flood: 300.0,
            },
        }
    }

    fn total(&self) -> Duration {
        self.baseline + (self.attack + self.recovery) * 4
    }
}

/// Raises this process's open-files soft limit to its hard limit (`igc serve`, started by
/// it, inherits it): thousands of slowloris connections per listener, on both ends.
fn raise_nofile(needed: u64) -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut l = getrlimit(Resource::Nofile);
    if l.current != l.maximum {
        l.current = l.maximum;
        // Refused only if the hard limit is "unlimited" for this resource: checked below.
        let _ = setrlimit(Resource::Nofile, l);
    }
    let now = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    assert!(
        now >= needed,
        "open files limit {now} < {needed} needed: raise it (`ulimit -n {needed}`)"
    );
    now
}

/// What the legitimate clients share.
struct Legit {
    main: Target,
    tsa: Target,
    portal: Target,
    ocsp_get: String,
    operators: Vec<setup::Operator>,
    clerk_token: String,
    approver_token: String,
    idnats: Vec<String>,
    csrs: Vec<String>,
    next_csr: AtomicU64,
}

/// A portal login as a browser does it, on a new TLS connection: the login page (pre-login
/// cookie and CSRF token), then the form with password and TOTP; success is the redirection
/// to `/`.
async fn portal_login(portal: Target, op: &setup::Operator) -> Result<(), String> {
    let pool = Pool::from_address(portal, 1, 2, op.address);
    let page = pool.get("/connexion", &[]).await?;
    if page.status != 200 {
        return Err(format!("login page: HTTP {}", page.status));
    }
    let cookie = page
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(ra_portal::PRELOGIN_COOKIE))
        .and_then(|c| c.split(';').next())
        .ok_or("login page: no pre-login cookie")?
        .to_owned();
    let html = String::from_utf8_lossy(&page.body);
    let i = html
        .find("name=\"csrf\" value=\"")
        .ok_or("login page: no CSRF token")?
        + 19;
    let csrf = html.get(i..i + 64).ok_or("login page: short CSRF token")?;
    let code = op.next_code().ok_or("no TOTP step left for the operator")?;
    let body = format!(
        "csrf={csrf}&login={}&password={}&totp={code}",
        op.login,
        common::browser::PASSWORD.replace(' ', "+")
    );
    let r = pool
        .post(
            "/connexion",
            "application/x-www-form-urlencoded",
            &[("cookie", &cookie)],
            body,
        )
        .await?;
    match (r.status, r.header("location")) {
        (303, Some("/")) => Ok(()),
        (s, l) => Err(format!("login: HTTP {s} → {l:?}")),
    }
}

/// Starts the legitimate traffic on `relying_parties` (a runtime of its own: a pharmacy does
/// not share a process with its attacker, and its latency must not include the attack tasks'
/// turn on the harness's threads); returns the tasks (they stop with `stop`).
fn start_legit(
    tasks: &mut JoinSet<()>,
    relying_parties: &tokio::runtime::Handle,
    rec: &Arc<Recorder>,
    size: &Size,
    legit: &Arc<Legit>,
    stop: &Arc<AtomicBool>,
) {
    let ocsp = Pool::new(legit.main.clone(), 64, 100);
    let l = legit.clone();
    tasks.spawn_on(
        open_loop(
            rec.clone(),
            Svc::Ocsp,
            size.ocsp_rate,
            Duration::from_secs(10),
            4096,
            stop.clone(),
            move |_| {
                let (pool, path) = (ocsp.clone(), l.ocsp_get.clone());
                async move {
                    let r = pool.get(&path, &[]).await?;
                    if r.status != 200 {
                        return Err(format!("HTTP {}", r.status));
                    }
                    setup::ocsp_good(&r.body)
                }
            },
        ),
        relying_parties,
    );
    let tsa = Pool::new(legit.tsa.clone(), 64, 100);
    tasks.spawn_on(
        open_loop(
            rec.clone(),
            Svc::Tsa,
            size.tsa_rate,
            Duration::from_secs(10),
            4096,
            stop.clone(),
            move |i| {
                let pool = tsa.clone();
                let req = setup::tsa_request(format!("feuille de soins {i}").as_bytes(), i);
                async move {
                    let r = pool
                        .post("/tsa", "application/timestamp-query", &[], req)
                        .await?;
                    if r.status != 200 {
                        return Err(format!("HTTP {}", r.status));
                    }
                    setup::tsa_granted(&r.body)
                }
            },
        ),
        relying_parties,
    );
    let l = legit.clone();
    tasks.spawn_on(
        open_loop(
            rec.clone(),
            Svc::Login,
            size.login_rate,
            Duration::from_secs(10),
            64,
            stop.clone(),
            move |i| {
                let l = l.clone();
                async move {
                    let op = &l.operators[i as usize % l.operators.len()];
                    portal_login(l.portal.clone(), op).await
                }
            },
        ),
        relying_parties,
    );
    let issuing = Pool::new(legit.portal.clone(), 8, u32::MAX);
    let l = legit.clone();
    tasks.spawn_on(
        open_loop(
            rec.clone(),
            Svc::Issuance,
            size.issue_rate,
            Duration::from_secs(10),
            64,
            stop.clone(),
            move |i| {
                let (l, pool) = (l.clone(), issuing.clone());
                async move {
                    let n = l.next_csr.fetch_add(1, Ordering::Relaxed) as usize;
                    let csr = l.csrs.get(n).ok_or("no CSR left")?;
                    let idnat = &l.idnats[i as usize % l.idnats.len()];
                    setup::issue(&pool, &l.clerk_token, &l.approver_token, idnat, csr)
                        .await
                        .map(|_| ())
                }
            },
        ),
        relying_parties,
    );
}

/// After an attack: how long until each listener answers a fresh client normally (probes
/// every 100 ms on new connections, for at most 10 s).
async fn recovery_probes(legit: Arc<Legit>) -> Vec<(&'static str, Option<Duration>)> {
    let stopped = Instant::now();
    let probe = |name: &'static str, target: Target, kind: u8| {
        let legit = legit.clone();
        async move {
            let end = stopped + Duration::from_secs(10);
            while Instant::now() < end {
                let pool = Pool::new(target.clone(), 1, 1);
                let left = end.saturating_duration_since(Instant::now());
                let fut = async {
                    match kind {
                        0 => {
                            let r = pool.get(&legit.ocsp_get, &[]).await?;
                            setup::ocsp_good(&r.body)
                        }
                        1 => {
                            let r = pool
                                .post(
                                    "/tsa",
                                    "application/timestamp-query",
                                    &[],
                                    setup::tsa_request(b"sonde", rand::random()),
                                )
                                .await?;
                            setup::tsa_granted(&r.body)
                        }
                        _ => match pool.get("/connexion", &[]).await?.status {
                            200 => Ok(()),
                            s => Err(format!("HTTP {s}")),
                        },
                    }
                };
                if let Ok(Ok(())) = tokio::time::timeout(left, fut).await {
                    return (name, Some(stopped.elapsed()));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            (name, None)
        }
    };
    let (a, b, c) = tokio::join!(
        probe("OCSP", legit.main.clone(), 0),
        probe("TSA", legit.tsa.clone(), 1),
        probe("portal", legit.portal.clone(), 2),
    );
    vec![a, b, c]
}

fn ms(d: Option<Duration>) -> String {
    d.map_or("–".to_owned(), |d| {
        format!("{:.1}", d.as_secs_f64() * 1000.0)
    })
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_default();
    let mem_kib: u64 = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let date = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    format!(
        "{cores} cores ({cpu}), {:.1} GiB RAM, {date}",
        mem_kib as f64 / 1024.0 / 1024.0
    )
}

/// The Markdown report: one row per phase and service, resources per phase, then the
/// attackers' view and the notes.
fn report(rec: &Recorder, size: &Size) -> String {
    let phases = rec.phases.lock().unwrap();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Machine: {}. Form: {} (build: {}). Server: `{}`, its open files limit {}.\n",
        machine(),
        if size.full { "full" } else { "bounded" },
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        setup::igc_bin().display(),
        nofile_of(rec.server_pid)
    );
    let _ = writeln!(
        out,
        "| phase | service | requests | errors | p50 ms | p99 ms | max ms |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|");
    for p in phases.iter() {
        for (svc, s) in p.stats.iter().filter(|(s, _)| s.legit()) {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} |",
                p.name,
                svc.name(),
                s.count(),
                s.error_count(),
                ms(s.pct(50.0)),
                ms(s.pct(99.0)),
                ms(s.pct(100.0))
            );
        }
    }
    let _ = writeln!(
        out,
        "\n| phase | wall s | server RSS start → max MiB | server threads max | server CPU s | harness CPU s |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
    for p in phases.iter() {
        let _ = writeln!(
            out,
            "| {} | {:.1} | {:.0} → {:.0} | {} | {:.1} | {:.1} |",
            p.name,
            p.res.wall_s,
            p.res.rss_start_kib as f64 / 1024.0,
            p.res.rss_max_kib as f64 / 1024.0,
            p.res.threads_max,
            p.res.server_cpu_s,
            p.res.harness_cpu_s
        );
    }
    let _ = writeln!(
        out,
        "\n| phase | attacker | sent | completed | 2xx | p50 ms | p99 ms | other outcomes |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---|");
    for p in phases.iter() {
        for (svc, s) in p.stats.iter().filter(|(s, _)| !s.legit()) {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                p.name,
                svc.name(),
                s.sent,
                s.count(),
                s.ok_us.len(),
                ms(s.pct(50.0)),
                ms(s.pct(99.0)),
                kinds(&s.errors)
            );
        }
    }
    let _ = writeln!(out);
    for p in phases.iter() {
        for (svc, s) in p.stats.iter().filter(|(s, _)| s.legit()) {
            if s.error_count() > 0 {
                let _ = writeln!(
                    out,
                    "- {} / {}: errors {}",
                    p.name,
                    svc.name(),
                    kinds(&s.errors)
                );
            }
            if !s.slow_by_second.is_empty() {
                let _ = writeln!(
                    out,
                    "- {} / {}: over {} ms, by second of the phase: {}",
                    p.name,
                    svc.name(),
                    svc.p99_ceiling().as_millis(),
                    s.slow_by_second
                        .iter()
                        .map(|(second, n)| format!("{second} s ×{n}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
        for n in &p.notes {
            let _ = writeln!(out, "- {}: {n}", p.name);
        }
    }
    out
}

/// The soft "Max open files" of a process (`/proc/<pid>/limits`).
fn nofile_of(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/limits"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

fn kinds(errors: &BTreeMap<String, u64>) -> String {
    errors
        .iter()
        .map(|(k, n)| format!("{k}: {n}"))
        .collect::<Vec<_>>()
        .join("; ")
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Attack {
    Slowloris,
    HostileCms,
    LoginFlood,
    OcspFlood,
}

impl Attack {
    fn name(self) -> &'static str {
        match self {
            Attack::Slowloris => "slowloris",
            Attack::HostileCms => "hostile CMS",
            Attack::LoginFlood => "login flood",
            Attack::OcspFlood => "OCSP flood",
        }
    }
}

#[test]
fn abuse_harness() {
    let size = Size::from_env();
    let t0 = Instant::now();
    let nofile = raise_nofile(size.slow_conns as u64 * 6 + 4096);
    eprintln!("abuse: {size:?}, open files limit {nofile}");

    // ----- setup -----
    let (pki, _sntp_a, _sntp_b) = setup::pki_with_clock();
    let mut serve = setup::Serve::start(pki.dir.path());
    let portal_url = format!("https://{}", serve.portal);
    assert!(
        common::wait_until(Duration::from_secs(30), || {
            common::http_get(&format!("http://{}/readyz", serve.main)).0 == 200
        }),
        "igc serve never ready:\n{}",
        std::fs::read_to_string(&serve.log).unwrap_or_default()
    );
    let tls = http::tls_config();
    let (main_t, tsa_t, portal_t) = (
        Target::Plain(serve.main),
        Target::Plain(serve.tsa),
        Target::Tls(serve.portal, tls),
    );
    // One login a second, each operator's TOTP step once: one operator per second of a step
    // (30 s), and some to spare.
    let login_ops = (size.login_rate * 30.0).ceil() as usize + 4;
    let mut specs = vec![
        ("abuse.clerk".to_owned(), "clerk"),
        ("abuse.approb".to_owned(), "approver"),
    ];
    specs.extend((0..login_ops).map(|i| (format!("abuse.op{i:02}"), "clerk")));
    let mut ops = setup::operators(&pki, &portal_url, &specs);
    let approver = ops.remove(1);
    let clerk = ops.remove(0);
    eprintln!(
        "abuse: {} operators enrolled after {:.0} s",
        specs.len(),
        t0.elapsed().as_secs_f64()
    );
    let csr_count = (size.issue_rate * size.total().as_secs_f64()).ceil() as usize + 10;
    let csrs = setup::csrs(&pki.path("csrs"), csr_count + 1);
    let personnes = Arc::new(setup::read_cert(&pki.pki("personnes.pem")));
    let cms_body = Arc::new(setup::hostile_cms(&personnes, size.cms_decoys));
    eprintln!(
        "abuse: {} CSRs and a hostile CMS of {} KiB after {:.0} s",
        csrs.len(),
        cms_body.len() / 1024,
        t0.elapsed().as_secs_f64()
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        // The machine has 2 cores; the harness must leave the server its share.
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let relying_parties = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("relying-party")
        .enable_all()
        .build()
        .unwrap();
    let server_pid = serve.child.id();
    let (rec, notes) = rt.block_on(async {
        let portal = Pool::new(portal_t.clone(), 4, u32::MAX);
        let clerk_token = setup::api_token(&portal, &clerk).await;
        let approver_token = setup::api_token(&portal, &approver).await;
        let idnats = setup::register_medecins(&portal, &clerk_token, 5).await;
        // A real certificate, for the legitimate OCSP requests (its status published by the
        // responder's poll).
        let issued: Value =
            setup::issue(&portal, &clerk_token, &approver_token, &idnats[0], &csrs[0])
                .await
                .unwrap();
        let cert = x509_cert::Certificate::from_pem(issued["pem"].as_str().unwrap()).unwrap();
        let serial = cert.tbs_certificate.serial_number.as_bytes().to_vec();
        let ocsp_get = setup::ocsp_get_path(&setup::ocsp_request(
            setup::cert_id(&personnes, &serial),
            None,
        ));
        let main_pool = Pool::new(main_t.clone(), 1, 100);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let r = main_pool.get(&ocsp_get, &[]).await.unwrap();
            match setup::ocsp_good(&r.body) {
                Ok(()) => break,
                Err(e) if Instant::now() > deadline => panic!("OCSP never good: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
        let legit = Arc::new(Legit {
            main: main_t.clone(),
            tsa: tsa_t.clone(),
            portal: portal_t.clone(),
            ocsp_get,
            operators: ops,
            clerk_token,
            approver_token,
            idnats,
            csrs: csrs[1..].to_vec(),
            next_csr: AtomicU64::new(0),
        });
        eprintln!(
            "abuse: setup done after {:.0} s; load for {:.0} s",
            t0.elapsed().as_secs_f64(),
            size.total().as_secs_f64()
        );

        // ----- load -----
        let rec = Recorder::new(server_pid);
        let stop_all = Arc::new(AtomicBool::new(false));
        rec.begin("baseline");
        let mut background = JoinSet::new();
        background.spawn(load::sample_memory(rec.clone(), stop_all.clone()));
        let mut legit_tasks = JoinSet::new();
        start_legit(
            &mut legit_tasks,
            relying_parties.handle(),
            &rec,
            &size,
            &legit,
            &stop_all,
        );
        tokio::time::sleep(size.baseline).await;

        let mut recoveries = Vec::new();
        for attack in [
            Attack::Slowloris,
            Attack::HostileCms,
            Attack::LoginFlood,
            Attack::OcspFlood,
        ] {
            rec.begin(attack.name());
            let stop = Arc::new(AtomicBool::new(false));
            let mut tasks = JoinSet::new();
            let mut slow = Vec::new();
            match attack {
                Attack::Slowloris => {
                    let headers_until = Instant::now() + size.attack / 2;
                    for (name, target, path, ct, ramp) in [
                        (
                            "main",
                            &main_t,
                            "/api/v1/verify",
                            "application/json",
                            1000.0,
                        ),
                        ("TSA", &tsa_t, "/tsa", "application/timestamp-query", 1000.0),
                        (
                            "portal",
                            &portal_t,
                            "/connexion",
                            "application/x-www-form-urlencoded",
                            500.0,
                        ),
                    ] {
                        let stats = Arc::new(SlowStats::default());
                        attacks::slowloris(
                            &mut tasks,
                            target.clone(),
                            path,
                            ct,
                            size.slow_conns,
                            ramp,
                            size.slow_tick,
                            headers_until,
                            stats.clone(),
                        );
                        slow.push((name, stats));
                    }
                }
                Attack::HostileCms => attacks::hostile_cms(
                    &mut tasks,
                    rec.clone(),
                    main_t.clone(),
                    cms_body.clone(),
                    size.cms_clients,
                ),
                Attack::LoginFlood => attacks::login_flood(
                    &mut tasks,
                    rec.clone(),
                    portal_t.clone(),
                    size.login_flood,
                    stop.clone(),
                ),
                Attack::OcspFlood => attacks::ocsp_flood(
                    &mut tasks,
                    rec.clone(),
                    main_t.clone(),
                    personnes.clone(),
                    size.ocsp_flood,
                    stop.clone(),
                ),
            }
            tokio::time::sleep(size.attack).await;
            // The attack stops at once: its connections are dropped, its requests abandoned.
            stop.store(true, Ordering::Relaxed);
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
            for (name, stats) in &slow {
                rec.note(format!(
                    "slowloris on the {name} listener: {}",
                    stats.summary()
                ));
            }
            rec.begin(&format!("after {}", attack.name()));
            let recovery_end = Instant::now() + size.recovery;
            let probes = relying_parties
                .spawn(recovery_probes(legit.clone()))
                .await
                .unwrap();
            rec.note(format!(
                "first normal answer after the attack stopped: {}",
                probes
                    .iter()
                    .map(|(n, d)| format!("{n} {} ms", ms(*d)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            recoveries.push((attack, probes));
            tokio::time::sleep_until(recovery_end.into()).await;
        }
        stop_all.store(true, Ordering::Relaxed);
        while let Some(r) = legit_tasks.join_next().await {
            r.unwrap();
        }
        rec.end();
        while background.join_next().await.is_some() {}
        (rec, recoveries)
    });
    let alive = serve.alive();
    let table = report(&rec, &size);
    println!(
        "\n## Abuse harness ({:.0} s)\n\n{table}",
        t0.elapsed().as_secs_f64()
    );

    // ----- verdicts -----
    assert!(
        alive,
        "igc serve died under the attacks:\n{}",
        std::fs::read_to_string(&serve.log).unwrap_or_default()
    );
    let phases = rec.phases.lock().unwrap();
    let baseline = &phases[0];
    for (svc, s) in baseline.stats.iter().filter(|(s, _)| s.legit()) {
        assert_eq!(
            s.error_count(),
            0,
            "baseline (no attack): {} failed: {}",
            svc.name(),
            kinds(&s.errors)
        );
    }
    let mut misses = Vec::new();
    let strict = size.full || STRICT_UNDER_ATTACK;
    for p in phases.iter().skip(1) {
        for (svc, s) in p.stats.iter().filter(|(s, _)| s.legit()) {
            if s.error_count() > 0 {
                misses.push(format!(
                    "{} / {}: {} errors ({})",
                    p.name,
                    svc.name(),
                    s.error_count(),
                    kinds(&s.errors)
                ));
            }
            if size.full && s.pct(99.0).is_some_and(|p99| p99 > svc.p99_ceiling()) {
                misses.push(format!(
                    "{} / {}: p99 {} ms > {} ms",
                    p.name,
                    svc.name(),
                    ms(s.pct(99.0)),
                    svc.p99_ceiling().as_millis()
                ));
            }
        }
    }
    // Memory: what each attack (and its recovery) adds to the RSS it started with; the
    // allocator keeps what an earlier attack took, which is not this attack's doing.
    for (i, p) in phases.iter().enumerate().skip(1) {
        let attack_start = &phases[i - (i + 1) % 2];
        let from = attack_start.res.rss_start_kib;
        if p.res.rss_max_kib > from + RSS_GROWTH_LIMIT_KIB {
            misses.push(format!(
                "{}: server RSS {} MiB, more than {} MiB over the {} MiB at the start of {}",
                p.name,
                p.res.rss_max_kib / 1024,
                RSS_GROWTH_LIMIT_KIB / 1024,
                from / 1024,
                attack_start.name
            ));
        }
    }
    for (attack, probes) in &notes {
        for (name, d) in probes {
            match d {
                Some(d) if *d <= RECOVERY_LIMIT => {}
                _ => misses.push(format!(
                    "after {}: {name} answered normally after {} ms (limit {} ms)",
                    attack.name(),
                    ms(*d),
                    RECOVERY_LIMIT.as_millis()
                )),
            }
        }
    }
    if !misses.is_empty() {
        println!("Issue 20's floor not met:\n- {}", misses.join("\n- "));
    }
    assert!(
        !strict || misses.is_empty(),
        "issue 20's floor not met ({} misses, listed above)",
        misses.len()
    );
}
