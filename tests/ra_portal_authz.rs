//! RA portal: handler tests through `tower::ServiceExt::oneshot` on a real store and a CA whose
//! key is in SoftHSM2. The authorization matrix walks EVERY route of `ra_portal::route_table()`
//! (the table the router is built from) × every role × own / other Order, and checks allow or
//! 403; then four eyes, CSRF, bad input that changes nothing, security headers and cookies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(unused_macros)]
#[path = "../ca/tests/issuance_common/mod.rs"]
mod issuance_common;
mod portal_common;
#[path = "../ca/tests/support/mod.rs"]
mod support;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use ca::domain::{Actor, IdNatPs, Order, ProfessionTable, Profile};
use ca::storage::{NewRequest, OperatorRole, RequestId, RequestSubject, Store};
use ca::workflow::Workflow;
use issuance_common::*;
use portal_common::*;
use ra_portal::{Permission, PortalConfig, PortalState, RouteMethod, Target};

async fn operator(
    app: &Router,
    store: &Store,
    login: &str,
    role: OperatorRole,
    order: Option<Order>,
) -> Session {
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
    first_login(app, store, login, &otp).await
}

struct Fixture {
    idnat: IdNatPs,
    request: RequestId,
    serial: String,
}

async fn fixture(env: &Env, n: u64, surname: &str, profession: &str) -> Fixture {
    let store = env.store();
    let idnat = idnat(n);
    register(store, &idnat, surname, "Test", profession, None).await;
    let csr = openssl_csr(env.files.path(), "ec:P-256");
    let cert = env
        .request_and_issue(
            &env.personnes,
            Profile::Auth,
            RequestSubject::Professional(idnat.clone()),
            &csr,
            &[],
            None,
        )
        .await
        .unwrap();
    let request = store
        .file_request(
            &NewRequest {
                profile: Profile::Sign,
                subject: RequestSubject::Professional(idnat.clone()),
                csr_der: csr_der(&openssl_csr(env.files.path(), "ec:P-256")),
            },
            &clerk("filer"),
        )
        .await
        .unwrap();
    Fixture {
        idnat,
        request,
        serial: cert.serial.to_string(),
    }
}

struct World {
    env: Env,
    app: Router,
}

async fn world() -> World {
    let env = Env::new(sqlite().await).await;
    let state = PortalState::new(
        Workflow::new(
            env.store().clone(),
            Arc::new(ProfessionTable::builtin().unwrap()),
            vec![env.personnes.clone(), env.orgs.clone()],
            env.publisher.clone(),
        ),
        PortalConfig::default(),
    );
    let app = ra_portal::router(state);
    World { env, app }
}

fn covers(role: OperatorRole, order: Option<Order>, fixture_authority: Option<Order>) -> bool {
    match role {
        OperatorRole::Clerk | OperatorRole::Approver => {
            order.is_some() && order == fixture_authority
        }
        OperatorRole::RegistrationOffice => fixture_authority.is_none(),
        _ => false,
    }
}

fn role_allows(role: OperatorRole, p: Permission) -> bool {
    use OperatorRole as R;
    use Permission as P;
    match p {
        P::Public | P::Authenticated | P::AnySession => true,
        P::Enrolment => false,
        P::ViewProfessionals | P::Register | P::FileRequest | P::ManageCertificates => {
            matches!(role, R::Clerk | R::Approver | R::RegistrationOffice)
        }
        P::Decide => matches!(role, R::Approver | R::RegistrationOffice),
        P::ReadJournal => role == R::Auditor,
        P::ManageOperators => role == R::Administrator,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_matrix_every_route_every_role() {
    let w = world().await;
    let store = w.env.store();
    let app = &w.app;
    // Fixtures: a médecin, a pharmacien, an audioprothésiste (no Order).
    let fixtures = [
        (
            fixture(&w.env, 1_000_000_001, "Medecin", "10").await,
            Some(Order::Medecins),
        ),
        (
            fixture(&w.env, 1_000_000_002, "Pharmacien", "21").await,
            Some(Order::Pharmaciens),
        ),
        (fixture(&w.env, 1_000_000_003, "Audio", "26").await, None),
    ];
    let roles: Vec<(&str, OperatorRole, Option<Order>)> = vec![
        ("clerk-med", OperatorRole::Clerk, Some(Order::Medecins)),
        (
            "approver-med",
            OperatorRole::Approver,
            Some(Order::Medecins),
        ),
        (
            "clerk-pharma",
            OperatorRole::Clerk,
            Some(Order::Pharmaciens),
        ),
        ("bureau", OperatorRole::RegistrationOffice, None),
        ("auditeur", OperatorRole::Auditor, None),
        ("admin", OperatorRole::Administrator, None),
    ];
    let mut sessions = Vec::new();
    for (login, role, order) in &roles {
        sessions.push(operator(app, store, login, *role, *order).await);
    }
    ra_portal::create_operator(
        store,
        "cible",
        "Cible",
        OperatorRole::Clerk,
        Some(Order::Medecins),
        "otp-cible-123456",
        &Actor::system("test").unwrap(),
    )
    .await
    .unwrap();
    let csr_pem = String::from_utf8(openssl_csr(w.env.files.path(), "ec:P-256")).unwrap();

    let table = ra_portal::route_table();
    assert!(table.len() >= 30, "route table: {}", table.len());
    let mut checked = 0;
    for spec in &table {
        // Logout is checked on its own below (it ends the session).
        if spec.path == "/deconnexion" || spec.path == "/api/v1/logout" {
            continue;
        }
        let targets: Vec<Option<usize>> = if spec.target == Target::None {
            vec![None]
        } else {
            vec![Some(0), Some(1), Some(2)]
        };
        for ((login, role, order), session) in roles.iter().zip(&sessions) {
            for t in &targets {
                let mut path = spec.path.to_owned();
                let mut fixture_authority = None;
                if let Some(i) = t {
                    let (f, a) = &fixtures[*i];
                    fixture_authority = *a;
                    path = path
                        .replace("{idnat}", &f.idnat.to_string())
                        .replace("{id}", &f.request.to_string())
                        .replace("{serial}", &f.serial)
                        .replace("{declaration}", "1");
                }
                path = path.replace("{login}", "cible");
                let role_ok = role_allows(*role, spec.permission);
                let scope_ok = t.is_none() || covers(*role, *order, fixture_authority);
                let expected = role_ok && scope_ok;
                let req = match spec.method {
                    RouteMethod::Get if spec.api => get_bearer(&path, &session.bearer),
                    RouteMethod::Post if spec.api => post_json(
                        &path,
                        Some(&session.bearer),
                        &serde_json::json!({
                            "profile": "conf",
                            "csr": csr_pem,
                            "reason": "keyCompromise",
                            "login": "x",
                            "password": "y",
                            "totp": "000000",
                        }),
                    ),
                    RouteMethod::Get => get(&path, Some(session)),
                    RouteMethod::Post
                        if path.ends_with("/demandes") || path.ends_with("/renouvellement") =>
                    {
                        post_multipart(
                            &path,
                            session,
                            &[
                                ("csrf", &session.csrf),
                                ("profile", "conf"),
                                ("csr_pem", &csr_pem),
                            ],
                        )
                    }
                    RouteMethod::Post => post_form(
                        &path,
                        Some(session),
                        &[
                            ("csrf", &session.csrf),
                            ("reason", "keyCompromise"),
                            ("q", "x"),
                        ],
                    ),
                };
                let r = send(app, req).await;
                let what = format!("{:?} {path} as {login}", spec.method);
                if spec.api {
                    assert_api_json(&r, &what);
                }
                match spec.permission {
                    // A holder's declaration of loss: public, and this body names no
                    // professional.
                    Permission::Public if spec.path == "/api/v1/loss-declarations" => {
                        assert_eq!(
                            r.status,
                            StatusCode::UNPROCESSABLE_ENTITY,
                            "{what}: {}",
                            r.body
                        );
                    }
                    // API logins with wrong credentials (or without a client certificate).
                    Permission::Public if spec.api && spec.method == RouteMethod::Post => {
                        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{what}: {}", r.body);
                    }
                    Permission::Public => {
                        if spec.method == RouteMethod::Post {
                            // No pre-login cookie: refused whoever calls.
                            assert_eq!(r.status, StatusCode::FORBIDDEN, "{what}");
                        } else {
                            assert_eq!(r.status, StatusCode::OK, "{what}");
                        }
                    }
                    Permission::Enrolment => {
                        assert_eq!(r.status, StatusCode::SEE_OTHER, "{what}");
                        assert_eq!(r.location, "/", "{what}");
                    }
                    // The administrator reset "cible" just before (routes in table order):
                    // confirming it too is the dual-control refusal, not the role's.
                    _ if expected && path.ends_with("/confirmation") => assert!(
                        r.status == StatusCode::FORBIDDEN && r.body.contains("double contrôle"),
                        "{what}: expected the dual-control refusal, got {} {}",
                        r.status,
                        r.body
                    ),
                    _ if expected => assert!(
                        r.status != StatusCode::FORBIDDEN
                            && r.status != StatusCode::UNAUTHORIZED
                            && !r.location.starts_with("/connexion")
                            && r.status.as_u16() < 500,
                        "{what}: expected allowed, got {} {}",
                        r.status,
                        r.body
                    ),
                    // The role may, but the object belongs to another Order: the answer
                    // of an unknown object, which tells nothing of what exists there.
                    _ if role_ok => assert_eq!(
                        r.status,
                        StatusCode::NOT_FOUND,
                        "{what}: expected 404, got {} {}",
                        r.status,
                        r.body
                    ),
                    _ => assert_eq!(
                        r.status,
                        StatusCode::FORBIDDEN,
                        "{what}: expected 403, got {} {}",
                        r.status,
                        r.body
                    ),
                }
                checked += 1;
            }
        }
        // Anonymous: every non-public route sends to the login page.
        if spec.permission != Permission::Public {
            let path = spec
                .path
                .replace("{idnat}", &fixtures[0].0.idnat.to_string())
                .replace("{id}", &fixtures[0].0.request.to_string())
                .replace("{serial}", &fixtures[0].0.serial)
                .replace("{declaration}", "1")
                .replace("{login}", "cible");
            if spec.api {
                // No token: 401 JSON; a session cookie is not a credential of the API.
                for s in [None, Some(&sessions[1])] {
                    let req = match spec.method {
                        RouteMethod::Get => get(&path, s),
                        RouteMethod::Post => post_form(&path, s, &[("csrf", "x")]),
                    };
                    let r = send(app, req).await;
                    let what = format!("anonymous {path} (cookie: {})", s.is_some());
                    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{what}");
                    assert_api_json(&r, &what);
                    assert!(r.body.contains("\"unauthenticated\""), "{what}");
                    assert!(r.headers.contains_key(header::WWW_AUTHENTICATE), "{what}");
                }
                continue;
            }
            let req = match spec.method {
                RouteMethod::Get => get(&path, None),
                RouteMethod::Post => post_form(&path, None, &[("csrf", "x")]),
            };
            let r = send(app, req).await;
            assert_eq!(r.status, StatusCode::SEE_OTHER, "anonymous {path}");
            assert_eq!(r.location, "/connexion", "anonymous {path}");
        }
    }
    eprintln!("authorization matrix: {checked} route × role × target checks");

    // Every POST refuses a missing or wrong CSRF token, even for a role that may use it.
    let admin = &sessions[5];
    let approver = &sessions[1];
    for spec in table
        .iter()
        .filter(|s| s.method == RouteMethod::Post && !s.api)
    {
        if spec.permission == Permission::Public || spec.permission == Permission::Enrolment {
            continue;
        }
        let s = if spec.permission == Permission::ManageOperators {
            admin
        } else {
            approver
        };
        let path = spec
            .path
            .replace("{idnat}", &fixtures[0].0.idnat.to_string())
            .replace("{id}", &fixtures[0].0.request.to_string())
            .replace("{serial}", &fixtures[0].0.serial)
            .replace("{login}", "cible");
        for token in [
            "",
            "0000000000000000000000000000000000000000000000000000000000000000",
        ] {
            let r = send(
                app,
                post_form(&path, Some(s), &[("csrf", token), ("reason", "x")]),
            )
            .await;
            assert_eq!(
                r.status,
                StatusCode::FORBIDDEN,
                "POST {path} with csrf {token:?}"
            );
        }
    }

    // API logout works for every role and ends the API session only.
    for (s, (login, ..)) in sessions.iter().zip(&roles) {
        let r = send(
            app,
            post_json("/api/v1/logout", Some(&s.bearer), &serde_json::json!({})),
        )
        .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "API logout {login}");
        let r = send(app, get_bearer("/api/v1/professionals?name=x", &s.bearer)).await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "after API logout {login}"
        );
        assert_api_json(&r, "after API logout");
    }
    // Unknown API paths answer JSON too.
    let r = send(app, get_bearer("/api/v1/nothing", &sessions[0].bearer)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_api_json(&r, "unknown API path");

    // Logout works for every role and ends the session.
    for (s, (login, ..)) in sessions.iter().zip(&roles) {
        let r = send(
            app,
            post_form("/deconnexion", Some(s), &[("csrf", &s.csrf)]),
        )
        .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "logout {login}");
        let r = send(app, get("/", Some(s))).await;
        assert_eq!(r.location, "/connexion", "after logout {login}");
    }
    let v = store.verify_audit_chain().await.unwrap();
    assert!(v.is_intact());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflows_four_eyes_and_bad_input() {
    let w = world().await;
    let store = w.env.store();
    let app = &w.app;
    let a = operator(
        app,
        store,
        "agent-a",
        OperatorRole::Approver,
        Some(Order::Medecins),
    )
    .await;
    let b = operator(
        app,
        store,
        "agent-b",
        OperatorRole::Approver,
        Some(Order::Medecins),
    )
    .await;
    let ph = operator(
        app,
        store,
        "agent-ph",
        OperatorRole::Clerk,
        Some(Order::Pharmaciens),
    )
    .await;

    // Security headers.
    let r = send(app, get("/connexion", None)).await;
    let csp = r.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(r.headers["x-frame-options"], "DENY");
    assert_eq!(r.headers["x-content-type-options"], "nosniff");
    assert!(r.headers.contains_key("strict-transport-security"));
    assert!(r.set_cookies[0].contains("HttpOnly") && r.set_cookies[0].contains("Secure"));

    // Bad input changes nothing: invalid RPPS (Luhn), profession of another Order.
    let before = snapshot(&w.env.db).await;
    let rpps = issuance_common::rpps(1_234_567_890);
    let mut bad = rpps.clone();
    let last = bad.pop().unwrap();
    bad.push(if last == '9' {
        '0'
    } else {
        char::from(last as u8 + 1)
    });
    let fields = |id: &str, profession: &str| {
        vec![
            ("csrf".to_owned(), a.csrf.clone()),
            ("idnat".into(), id.to_owned()),
            ("surname".into(), "Lefèvre".into()),
            ("given_names".into(), "Anne".into()),
            ("profession".into(), profession.to_owned()),
            ("document_type".into(), "cni".into()),
            ("document_number".into(), "X4RT12AB".into()),
            ("mode".into(), "face-to-face".into()),
        ]
    };
    let as_refs = |v: &Vec<(String, String)>| -> Vec<(String, String)> { v.clone() };
    let post_register = |s: &Session, v: Vec<(String, String)>| {
        let refs: Vec<(&str, &str)> = v.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        post_form("/professionnels", Some(s), &refs)
    };
    let r = send(app, post_register(&a, as_refs(&fields(&bad, "10")))).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("clé de contrôle"), "{}", r.body);
    let r = send(app, post_register(&a, as_refs(&fields(&rpps, "21")))).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.body.contains("ne relève pas de votre périmètre"),
        "{}",
        r.body
    );
    assert_eq!(
        snapshot(&w.env.db).await,
        before,
        "bad input wrote something"
    );

    // A médecin registered by A.
    let r = send(app, post_register(&a, as_refs(&fields(&rpps, "10")))).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let idnat = format!("8{rpps}");
    assert_eq!(r.location, format!("/professionnels/{idnat}"));
    let proofing = store
        .identity_proofings_of(&idnat.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(proofing[0].checked_by.as_str(), "agent-a");

    // The pharmaciens clerk neither finds nor opens the médecin.
    let r = send(app, get("/professionnels?q=Lefevre", Some(&ph))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(!r.body.contains(&idnat));
    let r = send(app, get(&format!("/professionnels/{idnat}"), Some(&ph))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = send(app, get("/professionnels?q=Lefevre", Some(&a))).await;
    assert!(r.body.contains(&idnat));

    // Malformed CSR: message next to the field, nothing filed.
    let before = snapshot(&w.env.db).await;
    let path = format!("/professionnels/{idnat}/demandes");
    let r = send(
        app,
        post_multipart(
            &path,
            &a,
            &[("csrf", &a.csrf), ("profile", "auth"), ("csr_pem", "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n")],
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.body.contains("erreur-csr") && r.body.contains("CSR"),
        "{}",
        r.body
    );
    assert!(store
        .requests_of(&idnat.parse().unwrap())
        .await
        .unwrap()
        .is_empty());
    assert_eq!(snapshot(&w.env.db).await, before);

    // A files; A cannot approve (four eyes); B approves and the CA issues.
    let csr = String::from_utf8(openssl_csr(w.env.files.path(), "ec:P-256")).unwrap();
    let r = send(
        app,
        post_multipart(
            &path,
            &a,
            &[("csrf", &a.csrf), ("profile", "auth"), ("csr_pem", &csr)],
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let req_path = r.location.clone();
    let r = send(
        app,
        post_form(
            &format!("{req_path}/approbation"),
            Some(&a),
            &[("csrf", &a.csrf)],
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("quatre yeux"), "{}", r.body);
    let r = send(
        app,
        post_form(
            &format!("{req_path}/approbation"),
            Some(&b),
            &[("csrf", &b.csrf)],
        ),
    )
    .await;
    // The issued certificate's page, with the revocation code shown once.
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("id=\"code-revocation\""), "{}", r.body);
    let link = "id=\"certificat-emis\" href=\"";
    let start = r.body.find(link).unwrap() + link.len();
    let end = start + r.body[start..].find('"').unwrap();
    let cert_path = r.body[start..end].to_owned();
    assert!(cert_path.starts_with("/certificats/"));
    let r = send(app, get(&format!("{cert_path}/pem"), Some(&a))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.starts_with("-----BEGIN CERTIFICATE-----"));
    let r = send(app, get(&format!("{cert_path}/der"), Some(&ph))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Suspend, reinstate, revoke; the audit trail records the auth method.
    for (action, fields) in [
        ("suspension", vec![]),
        ("reactivation", vec![]),
        ("revocation", vec![("reason", "keyCompromise")]),
    ] {
        let mut f = vec![("csrf", a.csrf.as_str())];
        f.extend(fields);
        let r = send(
            app,
            post_form(&format!("{cert_path}/{action}"), Some(&a), &f),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{action}: {}", r.body);
    }
    let r = send(
        app,
        get(&format!("/professionnels/{idnat}/journal"), Some(&b)),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    for action in [
        "professional.register",
        "request.file",
        "request.approve",
        "certificate.issue",
        "certificate.revoke",
    ] {
        assert!(r.body.contains(action), "journal lacks {action}");
    }
    assert!(r.body.contains("password+totp"));
    assert!(store.verify_audit_chain().await.unwrap().is_intact());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_throttling_and_first_administrators() {
    let w = world().await;
    let store = w.env.store();
    let app = &w.app;
    let validity = PortalConfig::default().one_time_password_validity();
    let ceremony = Actor::system("ceremony").unwrap();
    let pair = |a: &str, b: &str| vec![(a.to_owned(), a.to_owned()), (b.to_owned(), b.to_owned())];
    // One administrator alone is no dual control: refused, nothing created.
    let alone = vec![("seul".to_owned(), "Seul".to_owned())];
    assert!(
        ra_portal::create_first_administrators(store, &alone, validity, "c0", &ceremony)
            .await
            .is_err()
    );
    let first = ra_portal::create_first_administrators(
        store,
        &pair("admin", "admin.b"),
        validity,
        "c1",
        &ceremony,
    )
    .await
    .unwrap();
    assert_eq!(first[0].0, "admin");
    let otp = first[0].1.clone();
    // Once administrators exist, no ceremony makes more: they create and confirm them.
    assert!(ra_portal::create_first_administrators(
        store,
        &pair("admin2", "admin3"),
        validity,
        "c2",
        &ceremony
    )
    .await
    .is_err());
    assert_eq!(store.operator_count().await.unwrap(), 2);
    let pre = "q".repeat(64);
    let attempt = |password: &str| {
        Request::post("/connexion")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(
                header::COOKIE,
                format!("{}={pre}", ra_portal::PRELOGIN_COOKIE),
            )
            .body(Body::from(form_body(&[
                ("csrf", &pre),
                ("login", "admin"),
                ("password", password),
                ("totp", ""),
            ])))
            .unwrap()
    };
    for _ in 0..5 {
        let r = send(app, attempt("mauvais")).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(r.body.contains("incorrect"));
    }
    // Locked: even the right password is refused now, with the answer of a wrong password
    // (the journal keeps the reason).
    let r = send(app, attempt(&otp)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body.contains("incorrect"));
    assert!(!r.body.contains("verrouillé"));
    // Wrong pre-login token: 403.
    let req = Request::post("/connexion")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(
            header::COOKIE,
            format!("{}={pre}", ra_portal::PRELOGIN_COOKIE),
        )
        .body(Body::from(form_body(&[
            ("csrf", "autre"),
            ("login", "admin"),
            ("password", &otp),
        ])))
        .unwrap();
    assert_eq!(send(app, req).await.status, StatusCode::FORBIDDEN);
    let denied = store
        .audit_entries(0, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "auth.login" && e.outcome == ca::storage::Outcome::Denied)
        .count();
    assert_eq!(denied, 6);
}

/// Ceremonies run at once on one database (a mistake, or two instances of the same file):
/// one set of first administrators, never two.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_administrators_created_once() {
    let w = world().await;
    let store = w.env.store().clone();
    let starts: Vec<_> = (0..4)
        .map(|i| {
            let store = store.clone();
            let validity = PortalConfig::default().one_time_password_validity();
            let admins = vec![
                (format!("admin-{i}a"), "A".to_owned()),
                (format!("admin-{i}b"), "B".to_owned()),
            ];
            tokio::spawn(async move {
                let actor = Actor::system("ceremony").unwrap();
                ra_portal::create_first_administrators(&store, &admins, validity, "c", &actor).await
            })
        })
        .collect();
    let mut created = 0;
    for s in starts {
        if s.await.unwrap().is_ok() {
            created += 1;
        }
    }
    assert_eq!(created, 1);
    assert_eq!(store.operator_count().await.unwrap(), 2);
}

/// A body over the limit is refused before routing, with a clear French message (413),
/// on a public form as on a protected one, and nothing is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_are_refused_before_anything_runs() {
    let w = world().await;
    let store = w.env.store();
    let before = store.audit_entries(0, 1000).await.unwrap().len();
    let huge = "x".repeat(PortalConfig::default().max_body_bytes + 1);
    for path in ["/connexion", "/professionnels"] {
        let req = Request::post(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form_body(&[("csrf", "x"), ("login", &huge)])))
            .unwrap();
        let r = send(&w.app, req).await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{path}");
        assert!(r.body.contains("trop volumineux"), "{path}: {}", r.body);
    }
    assert_eq!(store.audit_entries(0, 1000).await.unwrap().len(), before);
    assert_eq!(store.operator_count().await.unwrap(), 0);
}
