//! RA portal, issue 20 finding 3: the limits of password logins, through
//! `tower::ServiceExt::oneshot` on a real store whose TOTP sealing key is in SoftHSM2.
//!
//! Attempts at the per-login and per-address limits pass, one over gets 429 with
//! `Retry-After` and the documented body (HTML form and JSON API), the same for a login that
//! exists and one that does not; saturated hashing answers 503 at once; refused unknown logins
//! are journaled in aggregate, refusals of existing accounts one by one with their lockout;
//! the TOTP secret is opened by the HSM only after the password is right.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(unused_macros)]
#[path = "../ca/tests/issuance_common/mod.rs"]
mod issuance_common;
mod portal_common;
#[path = "../ca/tests/support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use ca::domain::{Actor, Order, ProfessionTable};
use ca::storage::{OperatorRole, Store};
use ca::workflow::Workflow;
use issuance_common::*;
use pkix::sealing::{SealError, SecretSealer};
use portal_common::*;
use ra_portal::{PortalConfig, PortalState};
use serde_json::{json, Value};

/// Counts what the HSM is asked to open.
struct CountingSealer {
    inner: Arc<dyn SecretSealer>,
    opens: Arc<AtomicUsize>,
}

impl SecretSealer for CountingSealer {
    fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, SealError> {
        self.inner.seal(plaintext, aad)
    }
    fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, SealError> {
        self.opens.fetch_add(1, Ordering::SeqCst);
        self.inner.open(sealed, aad)
    }
}

struct World {
    env: Env,
    store: Store,
    state: PortalState,
    app: Router,
    opens: Arc<AtomicUsize>,
}

async fn world(config: PortalConfig) -> World {
    let env = Env::new(sqlite().await).await;
    let opens = Arc::new(AtomicUsize::new(0));
    let store = env.store().clone().with_sealer(Arc::new(CountingSealer {
        inner: Arc::new(pki().sealer.clone()),
        opens: opens.clone(),
    }));
    let state = PortalState::new(
        Workflow::new(
            store.clone(),
            Arc::new(ProfessionTable::builtin().unwrap()),
            vec![env.personnes.clone(), env.orgs.clone()],
            env.publisher.clone(),
        ),
        config,
    );
    let app = ra_portal::router(state.clone());
    World {
        env,
        store,
        state,
        app,
        opens,
    }
}

/// The login form as a browser (or an attacker) posts it, from `from` when given.
fn form_login(login: &str, password: &str, totp: &str, from: Option<&str>) -> Request<Body> {
    let pre = "p".repeat(64);
    let mut req = Request::post("/connexion")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(
            header::COOKIE,
            format!("{}={pre}", ra_portal::PRELOGIN_COOKIE),
        )
        .body(Body::from(form_body(&[
            ("csrf", &pre),
            ("login", login),
            ("password", password),
            ("totp", totp),
        ])))
        .unwrap();
    if let Some(a) = from {
        let a: SocketAddr = a.parse().unwrap();
        req.extensions_mut().insert(ConnectInfo(a));
    }
    req
}

fn api_login(login: &str, password: &str, from: Option<&str>) -> Request<Body> {
    let mut req = post_json(
        "/api/v1/sessions",
        None,
        &json!({ "login": login, "password": password, "totp": "123456" }),
    );
    if let Some(a) = from {
        let a: SocketAddr = a.parse().unwrap();
        req.extensions_mut().insert(ConnectInfo(a));
    }
    req
}

const REFUSED: &str = "Identifiant, mot de passe ou code TOTP incorrect.";
const THROTTLED: &str = "Trop de tentatives de connexion. Réessayez dans";
const BUSY: &str = "Service de connexion momentanément saturé. Réessayez dans";

fn retry_after(r: &Resp) -> u64 {
    r.headers
        .get(header::RETRY_AFTER)
        .unwrap_or_else(|| panic!("no Retry-After on {}: {}", r.status, r.body))
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

async fn enrolled(w: &World, login: &str) -> Session {
    let otp = format!("otp-{login}-123456");
    ra_portal::create_operator(
        &w.store,
        login,
        login,
        OperatorRole::Clerk,
        Some(Order::Medecins),
        &otp,
        &Actor::system("test").unwrap(),
    )
    .await
    .unwrap();
    first_login(&w.app, &w.store, login, &otp).await
}

/// (action, object, details) of the journal entries after `after`.
async fn journal(store: &Store, after: u64) -> Vec<(String, String, Value)> {
    store
        .audit_entries(after, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.action, e.object, e.details))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_login_limit_passes_its_burst_then_429_alike_for_known_and_unknown_logins() {
    let w = world(PortalConfig {
        login_attempts_per_login_per_minute: 3,
        ..PortalConfig::default()
    })
    .await;
    enrolled(&w, "agent.connu").await;
    // "agent.connu" has spent 1 of its 3 attempts on its first login; the API login of the
    // enrolment a second.
    for login in ["agent.inconnu", "agent.connu"] {
        let spent = if login == "agent.connu" { 2 } else { 0 };
        for _ in spent..3 {
            let r = send(&w.app, form_login(login, "mauvais mot de passe", "", None)).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{login}: {}", r.body);
            assert!(r.body.contains(REFUSED), "{}", r.body);
        }
    }
    let mut answers = vec![];
    for login in ["agent.inconnu", "agent.connu"] {
        let r = send(&w.app, form_login(login, "mauvais mot de passe", "", None)).await;
        assert_eq!(
            r.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{login}: {}",
            r.body
        );
        let secs = retry_after(&r);
        assert!((1..=20).contains(&secs), "{secs}");
        assert!(r.body.contains(THROTTLED), "{}", r.body);
        assert!(!r.body.contains(REFUSED), "{}", r.body);
        assert!(r.body.contains("<form"), "the login form again: {}", r.body);
        answers.push(r.body.replace(&format!("dans {secs} s"), "dans N s"));
        let r = send(&w.app, api_login(login, "mauvais mot de passe", None)).await;
        assert_eq!(
            r.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{login}: {}",
            r.body
        );
        assert!(retry_after(&r) >= 1);
        let v: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v["error"], "too_many_attempts", "{v}");
        assert!(v["message"].as_str().unwrap().starts_with(THROTTLED), "{v}");
    }
    // Nothing in the answer tells which login exists: the same message, the same page.
    let message = |page: &str| {
        let i = page.find("id=\"erreur\">").unwrap() + 12;
        let end = page[i..].find("</p>").unwrap();
        page[i..i + end].to_owned()
    };
    assert_eq!(message(&answers[0]), message(&answers[1]));
    assert_eq!(
        answers[0].len(),
        answers[1].len() + "agent.inconnu".len() - "agent.connu".len()
    );
    // Another login is not limited by these.
    let r = send(&w.app, form_login("agent.autre", "x", "", None)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let _ = &w.env;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_address_limit_passes_its_burst_then_429_and_other_addresses_pass() {
    let w = world(PortalConfig {
        login_attempts_per_address_per_minute: 4,
        ..PortalConfig::default()
    })
    .await;
    for i in 0..4 {
        let r = if i % 2 == 0 {
            send(
                &w.app,
                form_login(&format!("x{i}"), "y", "", Some("192.0.2.1:5000")),
            )
            .await
        } else {
            send(
                &w.app,
                api_login(&format!("x{i}"), "y", Some("192.0.2.1:5001")),
            )
            .await
        };
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "attempt {i}: {}",
            r.body
        );
    }
    let r = send(&w.app, form_login("x9", "y", "", Some("192.0.2.1:5002"))).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    // 4 per minute: the next attempt in 15 s at most.
    assert!((1..=15).contains(&retry_after(&r)));
    assert!(r.body.contains(THROTTLED));
    let r = send(&w.app, api_login("x10", "y", Some("192.0.2.1:5003"))).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert!(retry_after(&r) >= 1);
    // IPv6: the whole /64 is one client.
    for i in 0..4 {
        let r = send(
            &w.app,
            api_login(&format!("v{i}"), "y", Some(&format!("[2001:db8::{i}]:1"))),
        )
        .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = send(&w.app, api_login("v9", "y", Some("[2001:db8::ffff]:1"))).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    // Another address, and the requests without one (no TLS connection), still pass.
    let r = send(&w.app, form_login("x11", "y", "", Some("192.0.2.2:5000"))).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = send(&w.app, form_login("x12", "y", "", None)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saturated_hashing_answers_503_at_once() {
    let w = world(PortalConfig {
        login_max_concurrent_hashes: 1,
        login_max_waiting_hashes: 0,
        login_attempts_per_login_per_minute: 100,
        max_failed_logins: 1000,
        ..PortalConfig::default()
    })
    .await;
    // Wrong passwords of a real account: each is a real argon2 check.
    enrolled(&w, "agent.occupe").await;
    let attempts = (0..12).map(|i| {
        let app = w.app.clone();
        async move {
            if i % 2 == 0 {
                send(&app, form_login("agent.occupe", "y", "", None)).await
            } else {
                send(&app, api_login("agent.occupe", "y", None)).await
            }
        }
    });
    let answers = futures_join_all(attempts).await;
    let busy: Vec<&Resp> = answers
        .iter()
        .filter(|r| r.status == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert!(
        answers.iter().all(
            |r| [StatusCode::UNAUTHORIZED, StatusCode::SERVICE_UNAVAILABLE].contains(&r.status)
        ),
        "{:?}",
        answers.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert!(
        answers.iter().any(|r| r.status == StatusCode::UNAUTHORIZED),
        "one was checked"
    );
    assert!(!busy.is_empty(), "none refused as busy");
    for r in busy {
        assert!(retry_after(r) >= 1);
        if r.body.starts_with('{') {
            let v: Value = serde_json::from_str(&r.body).unwrap();
            assert_eq!(v["error"], "login_busy", "{v}");
            assert!(v["message"].as_str().unwrap().starts_with(BUSY), "{v}");
        } else {
            assert!(r.body.contains(BUSY), "{}", r.body);
        }
    }
}

/// Made-up logins have no password to check: they wait as long as a check instead of making
/// one, so that a crowd of them does not take the slots an operator's login needs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crowd_of_unknown_logins_leaves_the_hashing_slots_to_operators() {
    let w = world(PortalConfig {
        login_max_concurrent_hashes: 1,
        login_max_waiting_hashes: 0,
        ..PortalConfig::default()
    })
    .await;
    enrolled(&w, "agent.reel").await;
    // The first refusal also measures how long a check takes here.
    let first = send(&w.app, form_login("inconnu.0", "y", "", None)).await;
    assert_eq!(first.status, StatusCode::UNAUTHORIZED, "{}", first.body);
    let crowd = (1..=12).map(|i| {
        let app = w.app.clone();
        async move {
            if i % 2 == 0 {
                send(&app, form_login(&format!("inconnu.{i}"), "y", "", None)).await
            } else {
                send(&app, api_login(&format!("inconnu.{i}"), "y", None)).await
            }
        }
    });
    let operator = {
        let app = w.app.clone();
        tokio::spawn(async move {
            send(&app, form_login("agent.reel", "pas le bon", "123456", None)).await
        })
    };
    let answers = futures_join_all(crowd).await;
    let operator = operator.await.unwrap();
    assert!(
        answers.iter().all(|r| r.status == StatusCode::UNAUTHORIZED),
        "made-up logins were not all refused as wrong: {:?}",
        answers.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(
        operator.status,
        StatusCode::UNAUTHORIZED,
        "the operator's password was not checked while made-up logins ran: {}",
        operator.body
    );
}

/// `futures::future::join_all` without the dependency: every attempt at once, each on its
/// own task.
async fn futures_join_all<F>(futures: impl Iterator<Item = F>) -> Vec<Resp>
where
    F: std::future::Future<Output = Resp> + Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = vec![];
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_logins_are_journaled_in_aggregate_existing_ones_one_by_one_with_lockout() {
    let w = world(PortalConfig {
        login_attempts_per_login_per_minute: 20,
        ..PortalConfig::default()
    })
    .await;
    enrolled(&w, "agent.connu").await;
    let (before, _) = w.store.audit_head().await.unwrap();

    for i in 0..7 {
        let r = send(
            &w.app,
            form_login(&format!("fantome-{i}"), "y", "", Some("192.0.2.9:1")),
        )
        .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = send(&w.app, api_login("fantome-0", "y", None)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // An existing account: each refusal journaled, and locked after max_failed_logins (5).
    for _ in 0..5 {
        let r = send(&w.app, form_login("agent.connu", "mauvais", "", None)).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let locked = w
        .store
        .operator_credentials("agent.connu")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(locked.failed_logins, 5);
    assert!(locked.locked_until.is_some());
    let r = send(
        &w.app,
        form_login("agent.connu", NEW_PASSWORD, "000000", None),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body.contains(REFUSED));

    let entries = journal(&w.store, before).await;
    assert!(
        !entries
            .iter()
            .any(|(_, object, _)| object.starts_with("operator:fantome")),
        "one entry per unknown login: {entries:?}"
    );
    let known: Vec<&str> = entries
        .iter()
        .filter(|(a, o, _)| a == "auth.login" && o == "operator:agent.connu")
        .map(|(_, _, d)| d["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        known,
        ["bad-password"; 5]
            .iter()
            .copied()
            .chain(["locked"])
            .collect::<Vec<_>>()
    );

    // The flush (every login_refusals_journal_secs, and at shutdown) writes one entry.
    w.state.flush_login_refusals().await;
    let entries = journal(&w.store, before).await;
    let aggregated: Vec<&Value> = entries
        .iter()
        .filter(|(a, _, _)| a == ra_portal::ACTION_REFUSED_UNKNOWN)
        .map(|(_, _, d)| d)
        .collect();
    assert_eq!(aggregated.len(), 1, "{entries:?}");
    let d = aggregated[0];
    assert_eq!(d["count"], 8, "{d}");
    let sample: Vec<&str> = d["sample"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["login"].as_str().unwrap())
        .collect();
    assert_eq!(sample.len(), 7, "distinct logins: {d}");
    assert!(sample.contains(&"fantome-6"));
    assert_eq!(d["addresses"]["192.0.2.9"], 7, "{d}");
    assert_eq!(d["addresses"]["?"], 1, "{d}");
    assert!(d["from"].is_string() && d["until"].is_string());
    // Nothing more to write: no empty entry.
    let (head, _) = w.store.audit_head().await.unwrap();
    w.state.flush_login_refusals().await;
    assert_eq!(w.store.audit_head().await.unwrap().0, head);
    // And the journal stays a chain.
    assert!(w.store.verify_audit_chain().await.unwrap().is_intact());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_totp_secret_is_opened_only_after_the_right_password() {
    let w = world(PortalConfig::default()).await;
    enrolled(&w, "agent.hsm").await;
    let opens = w.opens.load(Ordering::SeqCst);
    // Fewer than max_failed_logins (5): the account must not lock before the last attempt.
    for _ in 0..2 {
        let r = send(&w.app, form_login("agent.hsm", "mauvais", "123456", None)).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        let r = send(&w.app, api_login("agent.hsm", "mauvais", None)).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        w.opens.load(Ordering::SeqCst),
        opens,
        "a wrong password made the HSM open the TOTP secret"
    );
    // The right password with a wrong code: opened once, to check the code.
    let r = send(
        &w.app,
        form_login("agent.hsm", NEW_PASSWORD, "000000", None),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(w.opens.load(Ordering::SeqCst), opens + 1);
}
