//! RA portal JSON API (`/api/v1`, OpenAPI at `/api/docs`): through `tower::ServiceExt::oneshot`
//! on a real store and a CA whose key is in SoftHSM2. The OpenAPI document and the route table
//! describe the same API; the Order scope, four eyes and input checks of the HTML pages hold;
//! a full flow register → request → approve by another → suspend → reinstate → revoke, with
//! OCSP told of each change.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(unused_macros)]
#[path = "../ca/tests/issuance_common/mod.rs"]
mod issuance_common;
#[path = "../ca/tests/support/mod.rs"]
mod support;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use base64::Engine as _;
use ca::domain::{Actor, Order, ProfessionTable};
use ca::status::{SinkFuture, SinkReport, StatusChange, StatusSink, StatusSinks};
use ca::storage::{OperatorRole, Store};
use ca::workflow::Workflow;
use issuance_common::*;
use ra_portal::{Permission, PortalConfig, PortalState, RouteMethod};
use serde_json::{json, Value};
use tower::ServiceExt as _;

struct Resp {
    status: StatusCode,
    location: String,
    set_cookies: Vec<String>,
    content_type: String,
    body: String,
}

impl Resp {
    fn json(&self) -> Value {
        assert!(
            self.content_type.starts_with("application/json"),
            "not JSON ({}): {}",
            self.content_type,
            self.body
        );
        serde_json::from_str(&self.body).unwrap()
    }

    /// An error answer: its machine code (and it has a French message).
    fn error(&self) -> String {
        let v = self.json();
        assert!(
            v["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{}",
            self.body
        );
        v["error"].as_str().unwrap().to_owned()
    }
}

async fn send(app: &Router, req: Request<Body>) -> Resp {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let h = |k: header::HeaderName| {
        headers
            .get(k)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let location = h(header::LOCATION);
    let content_type = h(header::CONTENT_TYPE);
    let set_cookies = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let body = axum::body::to_bytes(res.into_body(), 4 << 20)
        .await
        .unwrap();
    Resp {
        status,
        location,
        set_cookies,
        content_type,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn form(path: &str, cookie: Option<&str>, fields: &[(&str, &str)]) -> Request<Body> {
    let body = fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&");
    let mut b =
        Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(c) = cookie {
        b = b.header(header::COOKIE, c);
    }
    b.body(Body::from(body)).unwrap()
}

fn api_get(path: &str, token: &str) -> Request<Body> {
    Request::get(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

fn api_post(path: &str, token: Option<&str>, body: &Value) -> Request<Body> {
    let mut b = Request::post(path).header(header::CONTENT_TYPE, "application/json");
    if let Some(t) = token {
        b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    b.body(Body::from(body.to_string())).unwrap()
}

const NEW_PASSWORD: &str = "un mot de passe assez long";

fn totp(store_secret: &str, offset: i64) -> String {
    let secret = ra_portal::base32_decode(store_secret).unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    ra_portal::totp_code(&secret, ra_portal::current_step(now) + offset)
}

async fn create(store: &Store, login: &str, role: OperatorRole, order: Option<Order>) -> String {
    let otp = format!("otp-{login}-123456");
    ra_portal::create_operator(
        store,
        login,
        login,
        role,
        order,
        &otp,
        &Actor::system("test").unwrap(),
    )
    .await
    .unwrap();
    otp
}

/// An operator enrolled through the web portal (first login: one-time password, TOTP), then
/// logged in to the API with password + TOTP; returns the bearer token.
async fn api_operator(
    app: &Router,
    store: &Store,
    login: &str,
    role: OperatorRole,
    order: Option<Order>,
) -> String {
    let otp = create(store, login, role, order).await;
    let pre = "p".repeat(64);
    let r = send(
        app,
        form(
            "/connexion",
            Some(&format!("{}={pre}", ra_portal::PRELOGIN_COOKIE)),
            &[
                ("csrf", &pre),
                ("login", login),
                ("password", &otp),
                ("totp", ""),
            ],
        ),
    )
    .await;
    assert_eq!(r.location, "/enrolement", "{}", r.body);
    let cookie = r
        .set_cookies
        .iter()
        .find(|c| c.starts_with(ra_portal::SESSION_COOKIE))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let page = send(
        app,
        Request::get("/enrolement")
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let i = page.body.find("name=\"csrf\" value=\"").unwrap() + 19;
    let csrf = page.body[i..i + 64].to_owned();
    let secret = store
        .operator_credentials(login)
        .await
        .unwrap()
        .unwrap()
        .totp_secret
        .unwrap();
    let r = send(
        app,
        form(
            "/enrolement",
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("password", NEW_PASSWORD),
                ("confirmation", NEW_PASSWORD),
                ("totp", &totp(&secret, 0)),
            ],
        ),
    )
    .await;
    assert_eq!(r.location, "/", "enrolment {login}: {}", r.body);
    // The enrolment used this step's code: the API login uses the next one (skew window).
    let r = send(
        app,
        api_post(
            "/api/v1/sessions",
            None,
            &json!({ "login": login, "password": NEW_PASSWORD, "totp": totp(&secret, 1) }),
        ),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "API login {login}: {}",
        r.body
    );
    let v = r.json();
    assert_eq!(v["token_type"], "Bearer");
    assert!(v["expires_at"].as_str().unwrap().ends_with('Z'));
    v["token"].as_str().unwrap().to_owned()
}

#[test]
fn openapi_document_matches_the_route_table() {
    let doc: Value = serde_json::from_str(ra_portal::openapi_document()).unwrap();
    assert_eq!(doc["openapi"], "3.0.3");
    let table = ra_portal::route_table();
    let routes: BTreeSet<(String, String)> = table
        .iter()
        .filter(|s| s.path.starts_with("/api/v1"))
        .map(|s| {
            assert!(s.api, "{} is under /api but not an API route", s.path);
            let m = match s.method {
                RouteMethod::Get => "get",
                RouteMethod::Post => "post",
            };
            (m.to_owned(), s.path.to_owned())
        })
        .collect();
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            documented.insert((method.clone(), path.clone()));
            assert!(op["responses"].is_object(), "{method} {path}: responses");
            // Public operations say so; the others require the bearer token.
            let routed_method = match method.as_str() {
                "get" => RouteMethod::Get,
                _ => RouteMethod::Post,
            };
            let spec = table
                .iter()
                .find(|s| s.path == path && s.method == routed_method)
                .unwrap_or_else(|| panic!("{method} {path} documented but not routed"));
            let security = op["security"].as_array().unwrap();
            assert_eq!(
                security.is_empty(),
                spec.permission == Permission::Public,
                "{method} {path}: security"
            );
            // Path parameters are declared.
            for name in ["idnat", "id", "serial", "declaration"] {
                if path.contains(&format!("{{{name}}}")) {
                    assert!(
                        op["parameters"]
                            .as_array()
                            .is_some_and(|ps| ps.iter().any(|p| p["name"] == name)),
                        "{method} {path}: parameter {name}"
                    );
                }
            }
        }
    }
    assert_eq!(
        routes, documented,
        "the OpenAPI document and the route table differ"
    );
    assert!(table
        .iter()
        .any(|s| s.path == "/api/docs" && s.permission == Permission::Public && s.api));
    // Every API route of the table is an /api route and vice versa.
    for s in &table {
        assert_eq!(s.api, s.path.starts_with("/api/"), "{}", s.path);
    }
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_scope_four_eyes_bad_input_and_full_flow() {
    let env = Env::new(sqlite().await).await;
    // The status sink: the CRL publisher, and a recorder in place of OCSP.
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
        PortalConfig::default(),
    );
    let app = &ra_portal::router(state);
    let store = env.store();

    // The OpenAPI document is public JSON.
    let r = send(app, Request::get("/api/docs").body(Body::empty()).unwrap()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["openapi"], "3.0.3");

    let a = api_operator(
        app,
        store,
        "agent-a",
        OperatorRole::Approver,
        Some(Order::Medecins),
    )
    .await;
    let b = api_operator(
        app,
        store,
        "agent-b",
        OperatorRole::Approver,
        Some(Order::Medecins),
    )
    .await;
    let ph = api_operator(
        app,
        store,
        "agent-ph",
        OperatorRole::Clerk,
        Some(Order::Pharmaciens),
    )
    .await;

    // Login refusals: JSON, journaled like the HTML login; not-yet-enrolled operators get no
    // API session.
    let otp = create(store, "novice", OperatorRole::Clerk, Some(Order::Medecins)).await;
    let r = send(
        app,
        api_post(
            "/api/v1/sessions",
            None,
            &json!({ "login": "novice", "password": otp, "totp": "" }),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(r.error(), "enrolment_required");
    let r = send(
        app,
        api_post(
            "/api/v1/sessions",
            None,
            &json!({ "login": "agent-a", "password": "mauvais", "totp": "123456" }),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.error(), "invalid_credentials");
    let denied: Vec<String> = store
        .audit_entries(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "auth.login" && e.outcome == ca::storage::Outcome::Denied)
        .map(|e| e.details.to_string())
        .collect();
    assert!(
        denied.iter().any(|d| d.contains("not-enrolled")),
        "{denied:?}"
    );
    assert!(
        denied.iter().any(|d| d.contains("bad-password")),
        "{denied:?}"
    );
    let r = send(
        app,
        Request::post("/api/v1/sessions")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from("login=agent-a&password=x&totp=1"))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(r.error(), "unsupported_media_type");
    // Wrong method, body over the limit: JSON too.
    let r = send(
        app,
        Request::get("/api/v1/sessions")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.error(), "method_not_allowed");
    let huge = json!({ "login": "x".repeat(PortalConfig::default().max_body_bytes + 1) });
    let r = send(app, api_post("/api/v1/sessions", None, &huge)).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.error(), "unreadable_body");
    // No client certificate on this connection.
    let r = send(
        app,
        api_post("/api/v1/sessions/certificate", None, &json!({})),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.error(), "certificate_refused");

    // Bad input: 422 with a message per field, nothing written.
    let rpps = issuance_common::rpps(1_234_567_890);
    let mut bad = rpps.clone();
    let last = bad.pop().unwrap();
    bad.push(if last == '9' {
        '0'
    } else {
        char::from(last as u8 + 1)
    });
    let registration = |id: &str, profession: &str| {
        json!({
            "idnat": id,
            "surname": "Lefèvre",
            "given_names": "Anne",
            "profession": profession,
            "document_type": "cni",
            "document_number": "X4RT12AB",
            "mode": "face-to-face",
        })
    };
    let before = snapshot(&env.db).await;
    let r = send(
        app,
        api_post("/api/v1/professionals", Some(&a), &registration(&bad, "10")),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.error(), "validation");
    assert!(
        r.json()["fields"]["idnat"]
            .as_str()
            .unwrap()
            .contains("clé de contrôle"),
        "{}",
        r.body
    );
    let r = send(
        app,
        api_post(
            "/api/v1/professionals",
            Some(&a),
            &registration(&rpps, "21"),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.json()["fields"]["profession"]
        .as_str()
        .unwrap()
        .contains("ne relève pas de votre périmètre"));
    let r = send(
        app,
        api_post("/api/v1/professionals", Some(&a), &json!({ "idnat": 5 })),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error(), "invalid_json");
    let r = send(app, api_get("/api/v1/professionals?idnat=123", &a)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.json()["fields"]["idnat"].is_string());
    assert_eq!(snapshot(&env.db).await, before, "bad input wrote something");

    // A médecin registered by A, with identity proofing by A.
    let r = send(
        app,
        api_post(
            "/api/v1/professionals",
            Some(&a),
            &registration(&rpps, "10"),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let idnat = format!("8{rpps}");
    assert_eq!(r.json()["idnat"], idnat.as_str());
    assert_eq!(r.json()["order"], "medecins");
    let r = send(
        app,
        api_post(
            "/api/v1/professionals",
            Some(&b),
            &registration(&rpps, "10"),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.error(), "already_registered");

    // The pharmaciens clerk neither finds, nor opens, nor acts on the médecin.
    let r = send(app, api_get("/api/v1/professionals?name=Lefevre", &ph)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["professionals"], json!([]));
    let r = send(
        app,
        api_get(&format!("/api/v1/professionals?idnat={rpps}"), &ph),
    )
    .await;
    assert_eq!(r.json()["professionals"], json!([]));
    let r = send(app, api_get(&format!("/api/v1/professionals/{idnat}"), &ph)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error(), "not_found");
    let csr_pem = String::from_utf8(openssl_csr(env.files.path(), "ec:P-256")).unwrap();
    let requests_path = format!("/api/v1/professionals/{idnat}/requests");
    let r = send(
        app,
        api_post(
            &requests_path,
            Some(&ph),
            &json!({ "profile": "auth", "csr": csr_pem }),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = send(app, api_get("/api/v1/professionals?name=Lefevre", &a)).await;
    assert_eq!(r.json()["professionals"][0]["idnat"], idnat.as_str());
    let r = send(
        app,
        api_get(&format!("/api/v1/professionals?idnat={rpps}"), &b),
    )
    .await;
    assert_eq!(r.json()["professionals"][0]["idnat"], idnat.as_str());

    // Malformed CSR, base64 garbage, a profile outside AUTH/SIGN/CONF: 422, nothing filed.
    let before = snapshot(&env.db).await;
    for (body, field) in [
        (
            json!({ "profile": "auth", "csr": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n" }),
            "csr",
        ),
        (
            json!({ "profile": "auth", "csr": "!!pas du base64!!" }),
            "csr",
        ),
        (json!({ "profile": "auth", "csr": "AAAA" }), "csr"),
        (json!({ "profile": "auth" }), "csr"),
        (json!({ "profile": "server", "csr": csr_pem }), "profile"),
    ] {
        let r = send(app, api_post(&requests_path, Some(&a), &body)).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            r.body
        );
        assert_eq!(r.error(), "validation");
        assert!(r.json()["fields"][field].is_string(), "{body}: {}", r.body);
    }
    assert_eq!(snapshot(&env.db).await, before, "bad CSR wrote something");

    // A files (CSR as base64 DER); A cannot approve it (four eyes); B approves: issued.
    let der_b64 = base64::engine::general_purpose::STANDARD.encode(csr_der(csr_pem.as_bytes()));
    let r = send(
        app,
        api_post(
            &requests_path,
            Some(&a),
            &json!({ "profile": "AUTH", "csr": der_b64 }),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let request = r.json();
    assert_eq!(request["status"], "filed");
    assert_eq!(request["filed_by"], "agent-a");
    let id = request["id"].as_i64().unwrap();
    let r = send(
        app,
        api_post(
            &format!("/api/v1/requests/{id}/approve"),
            Some(&a),
            &json!({}),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(r.error(), "four_eyes");
    let r = send(app, api_get(&format!("/api/v1/requests/{id}"), &b)).await;
    assert_eq!(r.json()["status"], "filed");
    // What the approver approves: what the CA would sign, and the identity proofing.
    let v = r.json();
    assert_eq!(v["issuance"]["profile"], "auth", "{v}");
    assert_eq!(v["issuance"]["key"], "EC P-256", "{v}");
    assert_eq!(
        v["issuance"]["spki_sha256"].as_str().map(str::len),
        Some(64),
        "{v}"
    );
    assert!(
        v["issuance"]["subject"].as_str().unwrap().contains(&idnat),
        "{v}"
    );
    assert!(
        v["identity_proofings"][0]["document_number"].is_string(),
        "{v}"
    );
    assert!(v["identity_proofings"][0]["checked_by"].is_string(), "{v}");
    let r = send(
        app,
        api_post(
            &format!("/api/v1/requests/{id}/approve"),
            Some(&ph),
            &json!({}),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = send(
        app,
        api_post(
            &format!("/api/v1/requests/{id}/approve"),
            Some(&b),
            &json!({}),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let cert = r.json();
    let serial = cert["serial"].as_str().unwrap().to_owned();
    assert!(cert["pem"]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN CERTIFICATE-----"));
    assert_eq!(cert["status"]["status"], "good");
    assert_eq!(cert["professional"], idnat.as_str());
    assert_eq!(cert["request"], id);
    assert!(
        notified.lock().unwrap().contains(&serial),
        "OCSP told of the issuance"
    );
    let r = send(
        app,
        api_post(
            &format!("/api/v1/requests/{id}/approve"),
            Some(&b),
            &json!({}),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);

    // The certificate: seen by the Order, not by the pharmaciens clerk.
    let cert_path = format!("/api/v1/certificates/{serial}");
    let r = send(app, api_get(&cert_path, &a)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["pem"], cert["pem"]);
    let r = send(app, api_get(&cert_path, &ph)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = send(
        app,
        api_post(
            &format!("{cert_path}/revoke"),
            Some(&ph),
            &json!({ "reason": "keyCompromise" }),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = send(app, api_get("/api/v1/certificates/00", &a)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error(), "not_found");

    // Suspend, reinstate, revoke (bad reason first); OCSP told each time.
    notified.lock().unwrap().clear();
    let r = send(
        app,
        api_post(&format!("{cert_path}/suspend"), Some(&a), &json!({})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["status"]["status"], "on-hold");
    let r = send(
        app,
        api_post(&format!("{cert_path}/reinstate"), Some(&a), &json!({})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["status"]["status"], "good");
    let before = snapshot(&env.db).await;
    let r = send(
        app,
        api_post(
            &format!("{cert_path}/revoke"),
            Some(&a),
            &json!({ "reason": "parce que" }),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.json()["fields"]["reason"].is_string());
    assert_eq!(snapshot(&env.db).await, before);
    let r = send(
        app,
        api_post(
            &format!("{cert_path}/revoke"),
            Some(&a),
            &json!({ "reason": "keyCompromise" }),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let v = r.json();
    assert_eq!(v["status"]["status"], "revoked");
    assert_eq!(v["status"]["reason"], "keyCompromise");
    assert_eq!(v["crls_republished"], true);
    assert_eq!(
        notified.lock().unwrap().len(),
        3,
        "suspend, reinstate, revoke"
    );
    let r = send(
        app,
        api_post(
            &format!("{cert_path}/revoke"),
            Some(&b),
            &json!({ "reason": "keyCompromise" }),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT);

    // Reject: a reason is required.
    let r = send(
        app,
        api_post(
            &requests_path,
            Some(&b),
            &json!({ "profile": "sign", "csr": String::from_utf8(openssl_csr(env.files.path(), "ec:P-256")).unwrap() }),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id2 = r.json()["id"].as_i64().unwrap();
    let r = send(
        app,
        api_post(
            &format!("/api/v1/requests/{id2}/reject"),
            Some(&a),
            &json!({}),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = send(
        app,
        api_post(
            &format!("/api/v1/requests/{id2}/reject"),
            Some(&a),
            &json!({ "reason": "CSR d'un autre appareil" }),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["status"], "rejected");
    assert_eq!(r.json()["decided_by"], "agent-a");

    // The professional as the API shows it, and the journal with the auth method.
    let r = send(app, api_get(&format!("/api/v1/professionals/{idnat}"), &b)).await;
    assert_eq!(r.status, StatusCode::OK);
    let p = r.json();
    assert_eq!(p["identity_proofings"][0]["checked_by"], "agent-a");
    assert_eq!(p["requests"].as_array().unwrap().len(), 2);
    assert_eq!(p["certificates"][0]["serial"], serial.as_str());
    assert!(p["certificates"][0].get("pem").is_none());
    let journal = store.audit_entries(0, 10_000).await.unwrap();
    for (action, actor) in [
        ("professional.register", "agent-a"),
        ("request.file", "agent-a"),
        ("request.approve", "agent-b"),
        ("certificate.revoke", "agent-a"),
    ] {
        assert!(
            journal.iter().any(|e| e.action == action
                && e.actor == actor
                && e.auth_method == "password+totp"),
            "journal lacks {action} by {actor}"
        );
    }
    assert!(journal
        .iter()
        .any(|e| e.action == "access.denied" && e.actor == "agent-ph"));
    assert!(store.verify_audit_chain().await.unwrap().is_intact());
}
