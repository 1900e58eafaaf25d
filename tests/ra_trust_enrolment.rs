//! Issue 19, finding 1 — enrolment takeover, run as the attacker would against `igc serve`
//! (curl over HTTPS): whoever learns an operator's one-time password cannot keep a session
//! that outlives the real operator's enrolment, read the second factor the operator enrolled,
//! or set the password after it; a one-time password works once and expires.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::browser::{totp_code, totp_secret_of, Browser};
use common::{DevPki, PortalServer};

const LOGIN_REFUSED: &str = "Identifiant, mot de passe ou code TOTP incorrect.";
const ATTACKER_PASSWORD: &str = "le mot de passe de l'attaquant";
const OPERATOR_PASSWORD: &str = "le mot de passe de l'administrateur";

/// The attacker logs in with the one-time password first and keeps the enrolment session
/// open; the administrator then logs in with the same one-time password and enrols. The
/// second login must be refused like any wrong password (a one-time password works once), and
/// the attacker's session must never show or replace what the administrator enrolled.
#[test]
fn one_time_password_works_once_and_enrolment_cannot_be_taken_over() {
    let pki = DevPki::new();
    let srv = PortalServer::start(pki.dir.path());
    let otp = pki.first_login("admin");
    let dir = pki.path("attack");
    let attacker = Browser::new(&dir, "attacker", &srv.portal);
    let admin = Browser::new(&dir, "admin", &srv.portal);

    let r = attacker.login("admin", &otp, "");
    assert_eq!(
        (r.status, r.location.as_str()),
        (303, "/enrolement"),
        "{}",
        r.body
    );
    let attacker_page = attacker.get("/enrolement");
    assert_eq!(attacker_page.status, 200);
    let attacker_secret = totp_secret_of(&attacker_page.body).expect("secret shown");

    // The real administrator, a minute later, with the same one-time password.
    let r = admin.login("admin", &otp, "");
    if r.status == 303 {
        // The flaw: both hold an enrolment session. Show what the attacker gets out of it.
        let page = admin.get("/enrolement");
        let secret = totp_secret_of(&page.body).expect("secret shown");
        let r = admin.submit(
            "/enrolement",
            &[
                ("password", OPERATOR_PASSWORD),
                ("confirmation", OPERATOR_PASSWORD),
                ("totp", &totp_code(&secret, 0)),
            ],
        );
        assert_eq!(r.status, 303, "the administrator enrols: {}", r.body);
        let seen = attacker.get("/enrolement");
        let leaked = totp_secret_of(&seen.body).is_some_and(|s| s == secret);
        let taken = attacker.submit(
            "/enrolement",
            &[
                ("password", ATTACKER_PASSWORD),
                ("confirmation", ATTACKER_PASSWORD),
                ("totp", &totp_code(&secret, 1)),
            ],
        );
        panic!(
            "a one-time password opened a second enrolment session; after the real \
             enrolment the attacker's session read the enrolled secret: {leaked}, and set a \
             new password: {} (status {})",
            taken.status == 303,
            taken.status
        );
    }
    assert_eq!(
        r.status, 401,
        "second use of the one-time password: {}",
        r.body
    );
    assert!(r.body.contains(LOGIN_REFUSED), "{}", r.body);

    // The attacker's session is the only one; the one-time password is spent for good: not
    // even the attacker can open a second session with it.
    let again = Browser::new(&dir, "again", &srv.portal);
    let r = again.login("admin", &otp, "");
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(
        totp_secret_of(&attacker.get("/enrolement").body).as_deref(),
        Some(attacker_secret.as_str())
    );
}

/// The administrator enrols first; an attacker who learns the one-time password afterwards
/// gets nothing with it, and the administrator's enrolled session reaches no enrolment page.
#[test]
fn spent_one_time_password_opens_nothing() {
    let pki = DevPki::new();
    let srv = PortalServer::start(pki.dir.path());
    let otp = pki.first_login("admin");
    let dir = pki.path("late");
    let admin = Browser::new(&dir, "admin", &srv.portal);
    let attacker = Browser::new(&dir, "attacker", &srv.portal);

    let r = admin.login("admin", &otp, "");
    assert_eq!(
        (r.status, r.location.as_str()),
        (303, "/enrolement"),
        "{}",
        r.body
    );
    let secret = totp_secret_of(&admin.get("/enrolement").body).expect("secret shown");
    let r = admin.submit(
        "/enrolement",
        &[
            ("password", OPERATOR_PASSWORD),
            ("confirmation", OPERATOR_PASSWORD),
            ("totp", &totp_code(&secret, 0)),
        ],
    );
    assert_eq!((r.status, r.location.as_str()), (303, "/"), "{}", r.body);

    let r = attacker.login("admin", &otp, "");
    assert_eq!(r.status, 401, "the spent one-time password: {}", r.body);
    assert!(r.body.contains(LOGIN_REFUSED), "{}", r.body);
    let r = attacker.get("/enrolement");
    assert_eq!((r.status, r.location.as_str()), (303, "/connexion"));

    // Enrolled: the enrolment page sends the administrator home, never shows the secret.
    let r = admin.get("/enrolement");
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(totp_secret_of(&r.body).is_none());
    // The administrator logs in normally with the new password and the second factor.
    let fresh = Browser::new(&dir, "fresh", &srv.portal);
    let r = fresh.login("admin", OPERATOR_PASSWORD, &totp_code(&secret, 1));
    assert_eq!((r.status, r.location.as_str()), (303, "/"), "{}", r.body);
}

/// A one-time password expires (`[portal] one_time_password_validity_secs`), the first
/// administrators' printed by the ceremony as much as any other: an old one is refused like a
/// wrong password.
#[test]
fn one_time_password_expires() {
    let pki = DevPki::with_config(|c| {
        assert!(c.contains("\n[portal]\n"));
        c.replace(
            "\n[portal]\n",
            "\n[portal]\none_time_password_validity_secs = 2\n",
        )
    });
    let srv = PortalServer::start(pki.dir.path());
    let otp = pki.first_login("admin");
    std::thread::sleep(std::time::Duration::from_secs(3));
    let attacker = Browser::new(&pki.path("expired"), "attacker", &srv.portal);
    let r = attacker.login("admin", &otp, "");
    assert_eq!(r.status, 401, "an expired one-time password: {}", r.body);
    assert!(r.body.contains(LOGIN_REFUSED), "{}", r.body);
}
