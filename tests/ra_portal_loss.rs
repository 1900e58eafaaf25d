//! Lost or stolen cards (issue 25), through the portal's HTTP interface (`oneshot` on the
//! router; a real store and a CA whose key is in SoftHSM2): the revocation code given once at
//! issuance, the holder's declaration on the public page and through the API, the clerks'
//! queue and decision, and what an attacker guessing codes meets — a lock after ten wrong
//! codes in a row, nothing suspended, every attempt journaled, the code never.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(unused_macros)]
#[path = "../ca/tests/issuance_common/mod.rs"]
mod issuance_common;
mod portal_common;
#[path = "../ca/tests/support/mod.rs"]
mod support;

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use ca::domain::{Actor, IdNatPs, Order, ProfessionTable, RevocationReason, Serial};
use ca::status::{SinkFuture, SinkReport, StatusChange, StatusSink, StatusSinks};
use ca::storage::{CertificateStatus, OperatorRole, Outcome, Store};
use ca::workflow::Workflow;
use issuance_common::*;
use portal_common::*;
use ra_portal::{PortalConfig, PortalState};
use serde_json::{json, Value};

/// Records the serials whose status changed, as OCSP hears of them.
#[derive(Debug)]
struct Recorder(Arc<Mutex<Vec<String>>>);

impl StatusSink for Recorder {
    fn status_changed<'a>(&'a self, change: &'a StatusChange) -> SinkFuture<'a> {
        self.0
            .lock()
            .unwrap()
            .extend(change.serials.iter().map(ToString::to_string));
        Box::pin(std::future::ready(SinkReport::default()))
    }
}

struct World {
    env: Env,
    app: Router,
    notified: Arc<Mutex<Vec<String>>>,
}

async fn world(config: PortalConfig) -> World {
    let env = Env::new(sqlite().await).await;
    let notified: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = StatusSinks::new(vec![
        env.publisher.clone(),
        Arc::new(Recorder(notified.clone())),
    ]);
    let state = PortalState::new(
        Workflow::new(
            env.store().clone(),
            Arc::new(ProfessionTable::builtin().unwrap()),
            vec![env.personnes.clone(), env.orgs.clone()],
            Arc::new(sink),
        ),
        config,
    );
    let app = ra_portal::router(state);
    World { env, app, notified }
}

async fn operator(w: &World, login: &str, role: OperatorRole, order: Option<Order>) -> Session {
    let otp = format!("otp-{login}-123456");
    ra_portal::create_operator(
        w.env.store(),
        login,
        login,
        role,
        order,
        &otp,
        &Actor::system("test").unwrap(),
    )
    .await
    .unwrap();
    first_login(&w.app, w.env.store(), login, &otp).await
}

fn json_of(r: &Resp) -> Value {
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.body))
}

/// Files a request as `clerk` and approves it as `approver` through the API: the certificate
/// and the revocation code the API gives once.
async fn issue(
    w: &World,
    idnat: &IdNatPs,
    profile: &str,
    clerk: &Session,
    approver: &Session,
) -> (Serial, String) {
    let csr = String::from_utf8(openssl_csr(w.env.files.path(), "ec:P-256")).unwrap();
    let r = send(
        &w.app,
        post_json(
            &format!("/api/v1/professionals/{idnat}/requests"),
            Some(&clerk.bearer),
            &json!({ "profile": profile, "csr": csr }),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = json_of(&r)["id"].as_i64().unwrap();
    let r = send(
        &w.app,
        post_json(
            &format!("/api/v1/requests/{id}/approve"),
            Some(&approver.bearer),
            &json!({}),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let v = json_of(&r);
    let code = v["revocation_code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 19, "{code}");
    (v["serial"].as_str().unwrap().parse().unwrap(), code)
}

fn declare(idnat: &str, code: &str) -> Request<Body> {
    post_json(
        "/api/v1/loss-declarations",
        None,
        &json!({ "idnat": idnat, "code": code }),
    )
}

async fn status(store: &Store, serial: &Serial) -> CertificateStatus {
    store.certificate_status(serial).await.unwrap().unwrap()
}

/// The journal's loss declarations for `idnat`: (outcome, why).
async fn declaration_entries(store: &Store, idnat: &IdNatPs) -> Vec<(Outcome, String)> {
    store
        .audit_entries(0, 100_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "loss.declare" && e.object == format!("professional:{idnat}"))
        .map(|e| {
            (
                e.outcome,
                e.details["why"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Whether the journal or the database holds `code` in clear anywhere.
async fn code_stored_in_clear(store: &Store, code: &str) -> bool {
    let journal = store.audit_entries(0, 100_000).await.unwrap();
    let bare = code.replace('-', "");
    journal.iter().any(|e| {
        let text = e.details.to_string();
        text.contains(code) || text.contains(&bare)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holder_suspends_with_the_code_of_issuance_and_the_order_decides() {
    let w = world(PortalConfig::default()).await;
    let store = w.env.store();
    let clerk = operator(&w, "agent-med", OperatorRole::Clerk, Some(Order::Medecins)).await;
    let approver = operator(
        &w,
        "approb-med",
        OperatorRole::Approver,
        Some(Order::Medecins),
    )
    .await;
    let other = operator(
        &w,
        "agent-pharma",
        OperatorRole::Clerk,
        Some(Order::Pharmaciens),
    )
    .await;
    let idnat = idnat(1_000_000_101);
    register(store, &idnat, "Perte", "Jeanne", "10", None).await;
    let (auth, code) = issue(&w, &idnat, "auth", &clerk, &approver).await;
    let (sign, _) = issue(&w, &idnat, "sign", &clerk, &approver).await;
    assert!(!code_stored_in_clear(store, &code).await);

    // The approval page of the portal shows the code of a new certificate, once.
    let csr = String::from_utf8(openssl_csr(w.env.files.path(), "ec:P-256")).unwrap();
    let r = send(
        &w.app,
        post_json(
            &format!("/api/v1/professionals/{idnat}/requests"),
            Some(&clerk.bearer),
            &json!({ "profile": "conf", "csr": csr }),
        ),
    )
    .await;
    let request = json_of(&r)["id"].as_i64().unwrap();
    let r = send(
        &w.app,
        post_form(
            &format!("/demandes/{request}/approbation"),
            Some(&approver),
            &[("csrf", &approver.csrf)],
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let i = r.body.find("id=\"code-revocation\">").unwrap() + 21;
    let shown = &r.body[i..i + 19];
    assert!(ra_portal_code(shown), "{shown}");
    assert!(r.body.contains("ne sera plus jamais affiché"));
    let conf: Serial = {
        let i = r
            .body
            .find("id=\"certificat-emis\" href=\"/certificats/")
            .unwrap()
            + 40;
        let end = r.body[i..].find('"').unwrap();
        r.body[i..i + end].parse().unwrap()
    };
    let r = send(
        &w.app,
        get(&format!("/certificats/{conf}"), Some(&approver)),
    )
    .await;
    assert!(
        !r.body.contains(shown),
        "the certificate's page shows the code again"
    );

    // The holder, through an Order's software: the code as typed (lower case, spaces).
    w.notified.lock().unwrap().clear();
    let typed = code.to_lowercase().replace('-', " ");
    let r = send(&w.app, declare(&idnat.to_string(), &typed)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let d = json_of(&r);
    let id = d["id"].as_i64().unwrap();
    let mut expected = vec![auth.to_string(), sign.to_string(), conf.to_string()];
    expected.sort();
    assert_eq!(d["certificates"], json!(expected));
    assert_eq!(d["status"], "open");
    assert_eq!(d["channel"], "holder-api");
    for s in [&auth, &sign, &conf] {
        assert!(matches!(
            status(store, s).await,
            CertificateStatus::OnHold { .. }
        ));
    }
    // OCSP heard of each suspension at once.
    let mut heard = w.notified.lock().unwrap().clone();
    heard.sort();
    assert_eq!(heard, expected);
    assert!(!code_stored_in_clear(store, &code).await);

    // Another Order's clerk sees nothing of it.
    let r = send(
        &w.app,
        get_bearer("/api/v1/loss-declarations", &other.bearer),
    )
    .await;
    assert_eq!(json_of(&r)["declarations"], json!([]));
    let path = format!("/api/v1/professionals/{idnat}/loss-declarations/{id}");
    let r = send(&w.app, get_bearer(&path, &other.bearer)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = send(
        &w.app,
        post_json(&format!("{path}/revoke"), Some(&other.bearer), &json!({})),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = send(&w.app, get("/pertes", Some(&other))).await;
    assert!(
        r.body.contains("Aucune déclaration en attente"),
        "{}",
        r.body
    );

    // The Order's clerk: the queue, the declaration, the decision (the box must be ticked).
    let r = send(
        &w.app,
        get_bearer("/api/v1/loss-declarations", &clerk.bearer),
    )
    .await;
    assert_eq!(json_of(&r)["declarations"][0]["id"], json!(id));
    let r = send(&w.app, get("/pertes", Some(&clerk))).await;
    assert!(
        r.body
            .contains(&format!("/professionnels/{idnat}/pertes/{id}")),
        "{}",
        r.body
    );
    let page = format!("/professionnels/{idnat}/pertes/{id}");
    let r = send(&w.app, get(&page, Some(&clerk))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("confirmer-revocation"));
    let r = send(
        &w.app,
        post_form(
            &format!("{page}/revocation"),
            Some(&clerk),
            &[("csrf", &clerk.csrf)],
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(matches!(
        status(store, &auth).await,
        CertificateStatus::OnHold { .. }
    ));
    let r = send(
        &w.app,
        post_form(
            &format!("{page}/revocation"),
            Some(&clerk),
            &[("csrf", &clerk.csrf), ("confirm", "oui")],
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("3 certificat(s) révoqué(s)"), "{}", r.body);
    for s in [&auth, &sign, &conf] {
        assert!(matches!(
            status(store, s).await,
            CertificateStatus::Revoked {
                reason: RevocationReason::KeyCompromise,
                ..
            }
        ));
    }
    // Decided once.
    let r = send(
        &w.app,
        post_json(
            &format!("{path}/reinstate"),
            Some(&clerk.bearer),
            &json!({}),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    // Revoked certificates' codes suspend nothing any more.
    let r = send(&w.app, declare(&idnat.to_string(), &code)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);

    // An operator suspends for a holder who calls without the code; then lifts it.
    let (again, _) = issue(&w, &idnat, "auth", &clerk, &approver).await;
    let r = send(
        &w.app,
        post_json(
            &format!("/api/v1/professionals/{idnat}/suspend-all"),
            Some(&other.bearer),
            &json!({}),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let r = send(
        &w.app,
        post_form(
            &format!("/professionnels/{idnat}/suspension"),
            Some(&clerk),
            &[("csrf", &clerk.csrf)],
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(matches!(
        status(store, &again).await,
        CertificateStatus::OnHold { .. }
    ));
    let page = r.location.clone();
    let r = send(&w.app, get(&page, Some(&clerk))).await;
    assert!(r.body.contains("un agent de l&#39;Ordre"), "{}", r.body);
    let r = send(
        &w.app,
        post_form(
            &format!("{page}/reactivation"),
            Some(&clerk),
            &[("csrf", &clerk.csrf)],
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(status(store, &again).await, CertificateStatus::Good);
}

/// Whether `s` looks like a revocation code (four groups of four symbols).
fn ra_portal_code(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 4
        && groups.iter().all(|g| {
            g.len() == 4
                && g.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_wrong_codes_lock_the_declaration_and_suspend_nothing() {
    // The per-professional attempt rate out of the way: the lock is what is tested here.
    let w = world(PortalConfig {
        login_attempts_per_login_per_minute: 100,
        ..PortalConfig::default()
    })
    .await;
    let store = w.env.store();
    let clerk = operator(&w, "agent-med", OperatorRole::Clerk, Some(Order::Medecins)).await;
    let approver = operator(
        &w,
        "approb-med",
        OperatorRole::Approver,
        Some(Order::Medecins),
    )
    .await;
    let idnat = idnat(1_000_000_202);
    register(store, &idnat, "Vole", "Paul", "10", None).await;
    let (serial, code) = issue(&w, &idnat, "auth", &clerk, &approver).await;

    for attempt in 1..=10 {
        let wrong = ca::credentials::RevocationCode::generate();
        let r = send(&w.app, declare(&idnat.to_string(), wrong.reveal())).await;
        assert_api_json(&r, "wrong code");
        let v = json_of(&r);
        if attempt < 10 {
            assert_eq!(
                r.status,
                StatusCode::FORBIDDEN,
                "attempt {attempt}: {}",
                r.body
            );
            assert_eq!(v["error"], "revocation_code_refused");
        } else {
            assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
            assert_eq!(v["error"], "declarations_locked");
            assert!(v["message"].as_str().unwrap().contains("bloquée"), "{v}");
        }
        assert_eq!(status(store, &serial).await, CertificateStatus::Good);
    }
    // Locked: even the right code suspends nothing now.
    let r = send(&w.app, declare(&idnat.to_string(), &code)).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert_eq!(json_of(&r)["error"], "declarations_locked");
    assert_eq!(status(store, &serial).await, CertificateStatus::Good);
    // The public page says so too, in a sentence.
    let r = send(&w.app, get("/perte-ou-vol", None)).await;
    let pre = cookie_value(&r.set_cookies, ra_portal::PRELOGIN_COOKIE);
    let r = send(&w.app, public_post(&pre, &idnat.to_string(), &code)).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert!(r.body.contains("Appelez votre Ordre"), "{}", r.body);
    assert!(!r.body.contains(&code), "the code is shown back");
    assert_eq!(status(store, &serial).await, CertificateStatus::Good);
    // Each attempt journaled: ten wrong codes, then the refusals while locked.
    let entries = declaration_entries(store, &idnat).await;
    assert_eq!(entries.len(), 12, "{entries:?}");
    assert!(entries.iter().all(|(o, _)| *o == Outcome::Denied));
    assert_eq!(
        entries
            .iter()
            .filter(|(_, why)| why == "wrong-code")
            .count(),
        10
    );
    assert_eq!(entries.iter().filter(|(_, why)| why == "locked").count(), 2);
    assert!(!code_stored_in_clear(store, &code).await);
}

fn cookie_value(set_cookies: &[String], name: &str) -> String {
    let c = set_cookies
        .iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .unwrap();
    c[name.len() + 1..c.find(';').unwrap()].to_owned()
}

fn public_post(pre: &str, idnat: &str, code: &str) -> Request<Body> {
    Request::post("/perte-ou-vol")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(
            header::COOKIE,
            format!("{}={pre}", ra_portal::PRELOGIN_COOKIE),
        )
        .body(Body::from(form_body(&[
            ("csrf", pre),
            ("idnat", idnat),
            ("code", code),
        ])))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_page_refuses_garbage_forgeries_and_floods() {
    let w = world(PortalConfig::default()).await;
    let store = w.env.store();
    let clerk = operator(&w, "agent-med", OperatorRole::Clerk, Some(Order::Medecins)).await;
    let approver = operator(
        &w,
        "approb-med",
        OperatorRole::Approver,
        Some(Order::Medecins),
    )
    .await;
    let idnat = idnat(1_000_000_303);
    register(store, &idnat, "Carte", "Lea", "10", None).await;
    let (serial, code) = issue(&w, &idnat, "auth", &clerk, &approver).await;

    // Without the pre-login cookie (a form posted from another site): refused.
    let r = send(
        &w.app,
        post_form(
            "/perte-ou-vol",
            None,
            &[
                ("csrf", "x"),
                ("idnat", &idnat.to_string()),
                ("code", &code),
            ],
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(status(store, &serial).await, CertificateStatus::Good);

    let r = send(&w.app, get("/perte-ou-vol", None)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("<label for=\"code\">"));
    let pre = cookie_value(&r.set_cookies, ra_portal::PRELOGIN_COOKIE);
    // An identifier that is none: the field's error, the value kept.
    let r = send(&w.app, public_post(&pre, "12345<b>", &code)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.body.contains("aria-invalid=\"true\""), "{}", r.body);
    assert!(
        r.body.contains("value=\"12345&#60;b&#62;\"")
            || r.body.contains("value=\"12345&lt;b&gt;\""),
        "{}",
        r.body
    );
    // Garbage codes: refused like a wrong code, nothing suspended.
    for garbage in ["", "é", &"A".repeat(5000), "0000-0000-0000-0000"] {
        let r = send(&w.app, public_post(&pre, &idnat.to_string(), garbage)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{garbage:?}: {}", r.body);
        assert!(
            r.body.contains("Code de révocation incorrect"),
            "{}",
            r.body
        );
    }
    assert_eq!(status(store, &serial).await, CertificateStatus::Good);
    // The API: unreadable bodies.
    let r = send(
        &w.app,
        Request::post("/api/v1/loss-declarations")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{not json"))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let r = send(&w.app, declare("pas un identifiant", &code)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(json_of(&r)["fields"]["idnat"].is_string());

    // A professional unknown here: the same answer as a wrong code; then the per-professional
    // rate (the login's: 10 a minute) refuses before any check.
    let unknown = issuance_common::idnat(1_000_000_404).to_string();
    let mut statuses = Vec::new();
    for _ in 0..11 {
        let r = send(&w.app, declare(&unknown, &code)).await;
        statuses.push(r.status.as_u16());
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(json_of(&r)["error"], "too_many_attempts");
            assert!(r.headers.contains_key(header::RETRY_AFTER));
        }
    }
    assert_eq!(&statuses[..10], &[403; 10], "{statuses:?}");
    assert_eq!(statuses[10], 429, "{statuses:?}");
    // The right code on the public page: suspended at once.
    let r = send(&w.app, public_post(&pre, &idnat.to_string(), &code)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("declaration-enregistree"), "{}", r.body);
    assert!(matches!(
        status(store, &serial).await,
        CertificateStatus::OnHold { .. }
    ));
}
