//! RA portal, daily work (issue 25): home pages by role with the counts in the menu, the
//! search page by page within the operator's Order, the expiring certificates and their CSV
//! export, the confirmation page before a revocation. Handler tests through
//! `tower::ServiceExt::oneshot` on a real store and a CA whose key is in SoftHSM2.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(unused_macros)]
#[path = "../ca/tests/issuance_common/mod.rs"]
mod issuance_common;
mod portal_common;
#[path = "../ca/tests/support/mod.rs"]
mod support;

use std::sync::Arc;

use axum::http::{header, StatusCode};
use axum::Router;
use ca::domain::{Actor, IdNatPs, Order, ProfessionTable, Profile, RevocationReason, Serial};
use ca::storage::{CertificateStatus, NewRequest, OperatorRole, RequestId, RequestSubject, Store};
use ca::workflow::{Workflow, PAGE_SIZE};
use issuance_common::*;
use portal_common::*;
use ra_portal::{PortalConfig, PortalState};
use time::OffsetDateTime;

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

/// Files a request about `idnat` as `login` (a stand-in CSR: nothing here issues it).
async fn file(w: &World, idnat: &IdNatPs, login: &str) -> RequestId {
    w.env
        .store()
        .file_request(
            &NewRequest {
                profile: Profile::Sign,
                subject: RequestSubject::Professional(idnat.clone()),
                csr_der: csr_der(&openssl_csr(w.env.files.path(), "ec:P-256")),
            },
            &clerk(login),
        )
        .await
        .unwrap()
}

/// Issues an AUTH certificate to `idnat` (filed, approved, signed by the HSM CA).
async fn issue(w: &World, idnat: &IdNatPs) -> Serial {
    let csr = openssl_csr(w.env.files.path(), "ec:P-256");
    w.env
        .request_and_issue(
            &w.env.personnes,
            Profile::Auth,
            RequestSubject::Professional(idnat.clone()),
            &csr,
            &[],
            None,
        )
        .await
        .unwrap()
        .serial
}

async fn page(w: &World, path: &str, s: &Session) -> Resp {
    let r = send(&w.app, get(path, Some(s))).await;
    assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_is_scoped_partial_and_paged() {
    let w = world().await;
    let store = w.env.store();
    let clerk_med = operator(
        &w.app,
        store,
        "clerk-med",
        OperatorRole::Clerk,
        Some(Order::Medecins),
    )
    .await;
    // A pharmacien named like the médecins, registered first (lower IdNat).
    let pharmacien = idnat(1_000_000_001);
    register(store, &pharmacien, "Lefèvre", "Paul", "21", None).await;
    let extra = 2;
    let mut medecins = Vec::new();
    for n in 0..u64::from(PAGE_SIZE) + extra {
        let id = idnat(1_000_000_100 + n);
        register(store, &id, &format!("Lefèvre-{n:02}"), "Anne", "10", None).await;
        medecins.push(id);
    }

    let first = page(&w, "/professionnels?q=LEFEV", &clerk_med).await;
    assert_eq!(
        first
            .body
            .matches("<tr><td><a href=\"/professionnels/")
            .count(),
        25
    );
    assert!(!first.body.contains(&pharmacien.to_string()));
    assert!(
        first.body.contains("id=\"page-suivante\""),
        "{}",
        first.body
    );
    assert!(!first.body.contains("id=\"page-precedente\""));
    let next = first.body.split("rel=\"next\" href=\"").nth(1).unwrap();
    assert!(
        next.starts_with("/professionnels?q=LEFEV&#38;page=2\""),
        "{next}"
    );
    let second = page(&w, "/professionnels?q=LEFEV&page=2", &clerk_med).await;
    assert_eq!(
        second
            .body
            .matches("<tr><td><a href=\"/professionnels/")
            .count(),
        2
    );
    assert!(second.body.contains("id=\"page-precedente\""));
    assert!(!second.body.contains("id=\"page-suivante\""));
    // An unreadable page number is page 1.
    let again = page(&w, "/professionnels?q=lefev&page=x", &clerk_med).await;
    assert!(again.body.contains(&medecins[0].to_string()));

    // Accents and case ignored, given names matched too.
    let by_given = page(&w, "/professionnels?q=anne", &clerk_med).await;
    assert!(by_given.body.contains(&medecins[0].to_string()));
    // By RPPS / IdNat: in scope only.
    let other = page(&w, &format!("/professionnels?q={pharmacien}"), &clerk_med).await;
    assert!(
        other.body.contains("id=\"aucun-resultat\""),
        "{}",
        other.body
    );
    // By certificate serial (hex, either case).
    let serial = issue(&w, &medecins[3]).await;
    let by_serial = page(
        &w,
        &format!("/professionnels?q={}", serial.as_str().to_uppercase()),
        &clerk_med,
    )
    .await;
    assert!(by_serial.body.contains(&medecins[3].to_string()));
    assert_eq!(
        by_serial
            .body
            .matches("<tr><td><a href=\"/professionnels/")
            .count(),
        1
    );
    // Neither a name nor an identifier: the error next to the field, the text kept.
    let bad = page(&w, "/professionnels?q=12%20rue", &clerk_med).await;
    assert!(bad.body.contains("id=\"erreur-q\""), "{}", bad.body);
    assert!(bad.body.contains("aria-invalid=\"true\""));
    assert!(bad.body.contains("aria-describedby=\"aide-q erreur-q\""));
    assert!(bad.body.contains("value=\"12 rue\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn home_pages_by_role_with_counts() {
    let w = world().await;
    let store = w.env.store();
    let app = &w.app;
    let clerk_med = operator(
        app,
        store,
        "clerk-med",
        OperatorRole::Clerk,
        Some(Order::Medecins),
    )
    .await;
    let approver = operator(
        app,
        store,
        "approver-med",
        OperatorRole::Approver,
        Some(Order::Medecins),
    )
    .await;
    let bureau = operator(app, store, "bureau", OperatorRole::RegistrationOffice, None).await;
    let auditor = operator(app, store, "auditeur", OperatorRole::Auditor, None).await;
    let admin = operator(app, store, "admin", OperatorRole::Administrator, None).await;

    let medecin = idnat(1_000_000_001);
    register(store, &medecin, "Martin", "Jeanne", "10", None).await;
    let pharmacien = idnat(1_000_000_002);
    register(store, &pharmacien, "Durand", "Luc", "21", None).await;
    for _ in 0..3 {
        file(&w, &pharmacien, "clerk-pharma").await;
    }
    let waiting = file(&w, &medecin, "clerk-med").await;
    let rejected = file(&w, &medecin, "clerk-med").await;
    store
        .reject_request(rejected, "CSR illisible", &clerk("approver-med"))
        .await
        .unwrap();

    // The approver: the Order's requests waiting, with their age; the count in the menu.
    let home = page(&w, "/", &approver).await;
    assert!(home.body.contains("Demandes (1)"), "{}", home.body);
    assert!(home.body.contains("Demandes en attente de décision (1)"));
    assert!(home.body.contains(&format!("href=\"/demandes/{waiting}\"")));
    assert!(home.body.contains("Martin Jeanne"));
    assert!(home.body.contains("à l&#39;instant") || home.body.contains("il y a"));
    assert!(!home.body.contains(&pharmacien.to_string()));
    let list = page(&w, "/demandes", &approver).await;
    assert!(
        list.body.contains("1 demande(s) de votre périmètre"),
        "{}",
        list.body
    );

    // The clerk: their requests and their state, the rejected one with its reason.
    let home = page(&w, "/", &clerk_med).await;
    assert!(home.body.contains("id=\"mes-demandes\""), "{}", home.body);
    assert!(home.body.contains("CSR illisible"));
    assert!(
        home.body.contains("rejet") || home.body.contains("Rejet"),
        "{}",
        home.body
    );
    assert!(!home.body.contains("id=\"a-decider\""));
    assert!(home.body.contains("Demandes (1)"));

    // The registration office: nothing of the Orders.
    let home = page(&w, "/", &bureau).await;
    assert!(home.body.contains("Demandes (0)"), "{}", home.body);
    assert!(home.body.contains("Aucune demande n'attend de décision."));

    // The auditor: the latest journal entries and the anchoring.
    let home = page(&w, "/", &auditor).await;
    assert!(home.body.contains("id=\"journal-recent\""), "{}", home.body);
    assert!(home.body.contains("request.reject"), "{}", home.body);
    assert!(home.body.contains("n'a jamais été ancré"), "{}", home.body);
    assert!(!home.body.contains("Demandes ("));

    // The administrator: the account created above awaits a second administrator.
    ra_portal::create_operator(
        store,
        "nouveau",
        "Nouveau",
        OperatorRole::Clerk,
        Some(Order::Medecins),
        "otp-nouveau-123456",
        &Actor::system("test").unwrap(),
    )
    .await
    .unwrap();
    store
        .reset_operator("nouveau", &clerk("admin-2"))
        .await
        .unwrap();
    let home = page(&w, "/", &admin).await;
    assert!(home.body.contains("id=\"a-confirmer\""), "{}", home.body);
    assert!(home.body.contains("nouveau"));
    assert!(home.body.contains("Aucun compte n'est verrouillé."));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiring_certificates_and_csv_export() {
    let w = world().await;
    let store = w.env.store();
    let app = &w.app;
    let clerk_med = operator(
        app,
        store,
        "clerk-med",
        OperatorRole::Clerk,
        Some(Order::Medecins),
    )
    .await;
    let clerk_ph = operator(
        app,
        store,
        "clerk-pharma",
        OperatorRole::Clerk,
        Some(Order::Pharmaciens),
    )
    .await;
    let medecin = idnat(1_000_000_001);
    register(store, &medecin, "Martin", "Jeanne", "10", None).await;
    let good = issue(&w, &medecin).await;
    let held = issue(&w, &medecin).await;
    let revoked = issue(&w, &medecin).await;
    let now = OffsetDateTime::now_utc();
    let ca = Actor::system("test").unwrap();
    store
        .revoke(&held, RevocationReason::CertificateHold, now, &ca)
        .await
        .unwrap();
    store
        .revoke(&revoked, RevocationReason::KeyCompromise, now, &ca)
        .await
        .unwrap();
    let not_after = store.certificate(&good).await.unwrap().unwrap().not_after;
    let days = (not_after - now).whole_days() + 1;
    assert!(days <= 3650, "{days}");

    // The default horizon (60 days) holds none of them; the certificates' horizon does.
    let none = page(&w, "/echeances", &clerk_med).await;
    assert!(
        none.body.contains("id=\"aucun-certificat\""),
        "{}",
        none.body
    );
    assert!(none.body.contains("value=\"60\""));
    let path = format!("/echeances?jours={days}");
    let list = page(&w, &path, &clerk_med).await;
    assert!(list.body.contains(good.as_str()), "{}", list.body);
    assert!(list.body.contains(held.as_str()));
    assert!(!list.body.contains(revoked.as_str()));
    assert!(list.body.contains("<strong>Suspendu</strong>"));
    assert!(list
        .body
        .contains(&format!("href=\"/certificats/{good}/renouvellement\"")));
    assert!(list.body.contains("<th scope=\"col\">Fin de validité</th>"));
    // Another Order's clerk sees none of them.
    let other = page(&w, &path, &clerk_ph).await;
    assert!(!other.body.contains(good.as_str()));
    // A horizon out of bounds: the error next to the field, the value kept.
    let bad = send(app, get("/echeances?jours=0", Some(&clerk_med))).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("id=\"erreur-jours\""), "{}", bad.body);
    assert!(bad.body.contains("aria-invalid=\"true\""));
    assert!(bad.body.contains("value=\"0\""));

    // The CSV export: UTF-8 with a BOM, a header line, quoted cells, the same certificates.
    let csv = send(
        app,
        get(
            &format!("/echeances/export.csv?jours={days}"),
            Some(&clerk_med),
        ),
    )
    .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert_eq!(csv.headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    assert!(csv.headers[header::CONTENT_DISPOSITION]
        .to_str()
        .unwrap()
        .starts_with("attachment; filename=\"certificats-echeance-"));
    assert!(csv
        .body
        .starts_with("\u{feff}\"Numéro de série\";\"IdNat_PS\";"));
    let lines: Vec<&str> = csv.body.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 3, "{}", csv.body);
    assert!(csv
        .body
        .contains(&format!("\"{good}\";\"{medecin}\";\"Martin\";\"Jeanne\"")));
    assert!(csv.body.contains("\"suspendu\""));
    assert!(!csv.body.contains(revoked.as_str()));
    let other = send(
        app,
        get(
            &format!("/echeances/export.csv?jours={days}"),
            Some(&clerk_ph),
        ),
    )
    .await;
    assert_eq!(
        other.body.split("\r\n").filter(|l| !l.is_empty()).count(),
        1
    );
    // A horizon out of bounds: refused, no file.
    let bad = send(
        app,
        get("/echeances/export.csv?jours=4000", Some(&clerk_med)),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_goes_through_a_confirmation_page() {
    let w = world().await;
    let store = w.env.store();
    let clerk_med = operator(
        &w.app,
        store,
        "clerk-med",
        OperatorRole::Clerk,
        Some(Order::Medecins),
    )
    .await;
    let medecin = idnat(1_000_000_001);
    register(store, &medecin, "Martin", "Jeanne", "10", None).await;
    let serial = issue(&w, &medecin).await;

    // The certificate's page sends the chosen reason to the confirmation page (GET).
    let cert = page(&w, &format!("/certificats/{serial}"), &clerk_med).await;
    assert!(cert.body.contains(&format!(
        "<form method=\"get\" action=\"/certificats/{serial}/revocation\">"
    )));
    // The confirmation page shows the certificate and the reason, and revokes nothing.
    let confirm = page(
        &w,
        &format!("/certificats/{serial}/revocation?reason=keyCompromise"),
        &clerk_med,
    )
    .await;
    assert!(confirm.body.contains(serial.as_str()));
    assert!(confirm.body.contains("Compromission de la clé"));
    assert!(confirm.body.contains("id=\"confirmer-revocation\""));
    assert!(confirm
        .body
        .contains("<option value=\"keyCompromise\" selected>"));
    assert_eq!(
        store.certificate_status(&serial).await.unwrap(),
        Some(CertificateStatus::Good)
    );
    // An unknown reason: said next to the choice, nothing chosen.
    let unknown = page(
        &w,
        &format!("/certificats/{serial}/revocation?reason=whatever"),
        &clerk_med,
    )
    .await;
    assert!(
        unknown.body.contains("id=\"erreur-reason\""),
        "{}",
        unknown.body
    );
    // Its button posts the revocation.
    let csrf = csrf_of(&confirm.body);
    let done = send(
        &w.app,
        post_form(
            &format!("/certificats/{serial}/revocation"),
            Some(&clerk_med),
            &[("csrf", &csrf), ("reason", "keyCompromise")],
        ),
    )
    .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(matches!(
        store.certificate_status(&serial).await.unwrap(),
        Some(CertificateStatus::Revoked { .. })
    ));
    let after = page(&w, &format!("/certificats/{serial}/revocation"), &clerk_med).await;
    assert!(after.body.contains("id=\"deja-revoque\""));
    assert!(!after.body.contains("id=\"confirmer-revocation\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_keep_values_and_describe_errors() {
    let w = world().await;
    let store = w.env.store();
    let clerk_med = operator(
        &w.app,
        store,
        "clerk-med",
        OperatorRole::Clerk,
        Some(Order::Medecins),
    )
    .await;
    let medecin = idnat(1_000_000_001);
    register(store, &medecin, "Martin", "Jeanne", "10", None).await;

    // A request whose CSR is unreadable: the profile and the text kept, the error described.
    let r = send(
        &w.app,
        post_multipart(
            &format!("/professionnels/{medecin}/demandes"),
            &clerk_med,
            &[
                ("csrf", &clerk_med.csrf),
                ("profile", "sign"),
                ("csr_pem", "pas une CSR"),
            ],
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(
        r.body.contains("<option value=\"sign\" selected>"),
        "{}",
        r.body
    );
    assert!(r.body.contains(">pas une CSR</textarea>"));
    assert!(r
        .body
        .contains("aria-invalid=\"true\" aria-describedby=\"erreur-csr\""));
    assert!(!r.body.contains("aria-describedby=\"erreur-profile\""));

    // A registration with a bad RPPS: the values kept, the field marked.
    let r = send(
        &w.app,
        post_form(
            "/professionnels",
            Some(&clerk_med),
            &[
                ("csrf", &clerk_med.csrf),
                ("idnat", "123"),
                ("surname", "Lefèvre"),
                ("given_names", "Hugo"),
                ("profession", "10"),
                ("document_type", "cni"),
                ("document_number", "X4RT12AB"),
                ("mode", "face-to-face"),
            ],
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.body.contains("value=\"Lefèvre\""));
    assert!(r.body.contains(
        "value=\"123\" required aria-invalid=\"true\" aria-describedby=\"erreur-idnat\""
    ));
    assert!(!r.body.contains("aria-describedby=\"erreur-surname\""));

    // Dates in French, Paris time.
    let p = page(&w, &format!("/professionnels/{medecin}"), &clerk_med).await;
    assert!(!p.body.contains(" UTC<"), "{}", p.body);
    let months = [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ];
    assert!(months.iter().any(|m| p.body.contains(&format!(" {m} 20"))));
}
