//! Issue 19, finding 5 — what the RA tells those who should not know, run as an outsider or
//! a clerk of another Order would, against `igc serve` (curl over HTTPS, plain HTTP for the
//! public directory): an object of another Order answers like an unknown one; the public
//! directory lists only professionals who hold a valid certificate; a refused login reads the
//! same for an unknown login, a wrong password and a locked account.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::browser::{totp_code, Browser, Page, PASSWORD};
use common::{rpps, DevPki, PortalServer};

fn refusal(r: &Page) -> (u16, bool) {
    (
        r.status,
        r.body
            .contains("Identifiant, mot de passe ou code TOTP incorrect."),
    )
}

#[test]
fn nothing_leaks_to_other_orders_the_public_or_login_guessers() {
    let pki = DevPki::new();
    let srv = PortalServer::start(pki.dir.path());
    let dir = pki.path("leaks");
    let admin = Browser::new(&dir, "admin", &srv.portal);
    let admin_b = Browser::new(&dir, "admin-b", &srv.portal);
    admin.enrol("admin", &pki.first_login("admin"));
    admin_b.enrol("admin.b", &pki.first_login("admin.b"));
    admin.create_operator("agent.med", "clerk", "medecins");
    admin.create_operator("agent.ph", "clerk", "pharmaciens");
    let otp_med = admin_b.confirm_operator("agent.med");
    let otp_ph = admin_b.confirm_operator("agent.ph");
    let med = Browser::new(&dir, "med", &srv.portal);
    let ph = Browser::new(&dir, "ph", &srv.portal);
    med.enrol("agent.med", &otp_med);
    let ph_secret = ph.enrol("agent.ph", &otp_ph);

    // A médecin registered by the Ordre des médecins; no certificate yet.
    let idnat = format!("8{}", rpps(1_900_456));
    let r = med.submit(
        "/professionnels",
        &[
            ("idnat", &idnat),
            ("surname", "DISCRET"),
            ("given_names", "Jeanne"),
            ("profession", "10"),
            ("document_type", "cni"),
            ("document_number", "AB1234567"),
            ("mode", "face-to-face"),
        ],
    );
    assert_eq!(r.status, 303, "registration: {}", r.body);
    assert_eq!(med.get(&format!("/professionnels/{idnat}")).status, 200);

    // The pharmaciens' clerk asks for it, and for an IdNat nobody registered: one answer.
    let unknown = format!("8{}", rpps(1_900_999));
    let theirs = ph.get(&format!("/professionnels/{idnat}"));
    let nobody = ph.get(&format!("/professionnels/{unknown}"));
    assert_eq!(
        theirs.status, 404,
        "another Order's professional: {}",
        theirs.body
    );
    assert_eq!(nobody.status, 404);
    assert!(
        theirs.body.contains("Objet introuvable."),
        "{}",
        theirs.body
    );
    assert!(
        nobody.body.contains("Objet introuvable."),
        "{}",
        nobody.body
    );

    // The public directory: a registered professional without a certificate is not listed,
    // by IdNat or by name (only certificates are published, never the registry).
    let (status, body, _) = srv.server.get(&format!("/directory?idnat={idnat}"));
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        v["professionals"],
        serde_json::json!([]),
        "directory by IdNat: {v}"
    );
    let (status, body, _) = srv.server.get("/directory?name=discret");
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["professionals"], serde_json::json!([]), "by name: {v}");

    // Login guessing: an unknown login, a wrong password, and a locked account (even with the
    // right password and code) read the same.
    let guesser = Browser::new(&dir, "guesser", &srv.portal);
    let unknown_login = guesser.login("personne", PASSWORD, "123456");
    let wrong_password = guesser.login("agent.ph", "pas le bon mot de passe", "123456");
    assert_eq!(
        refusal(&unknown_login),
        (401, true),
        "{}",
        unknown_login.body
    );
    assert_eq!(
        refusal(&wrong_password),
        (401, true),
        "{}",
        wrong_password.body
    );
    for _ in 0..5 {
        guesser.login("agent.ph", "pas le bon mot de passe", "123456");
    }
    let locked = guesser.login("agent.ph", PASSWORD, &totp_code(&ph_secret, 1));
    assert_eq!(
        refusal(&locked),
        (401, true),
        "locked: {} {}",
        locked.status,
        locked.body
    );
    assert!(!locked.body.contains("verrouill"), "{}", locked.body);
}
