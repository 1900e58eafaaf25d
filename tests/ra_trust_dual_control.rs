//! Issue 19, finding 2 — an administrator alone cannot get a certificate issued, run as that
//! administrator would try against `igc serve` (curl over HTTPS), on SQLite and PostgreSQL.
//!
//! The first administrators come from the `ra-administrators` key ceremony of `igc dev-setup`
//! (custodians' shares, transcript journaled), each with a one-time password. Administrator
//! A creates a clerk and an approver of the Ordre des médecins and is shown no password;
//! A cannot confirm them, and they cannot log in; administrator B confirms each and alone sees
//! their one-time passwords; both enrol; the clerk registers a médecin and files a request,
//! the approver approves; the journal names the four people. The last two administrators
//! cannot be disabled, and a reset needs the second administrator too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "../ca/tests/support/pg.rs"]
mod pg;

use common::browser::{one_time_password_of, openssl_csr, Browser};
use common::{rpps, DevPki, PortalServer};

const SQLITE_URL: &str = "url = \"sqlite://igc.sqlite?mode=rwc\"";

#[test]
fn sqlite_one_administrator_alone_cannot_issue() {
    one_administrator_alone_cannot_issue(None);
}

#[test]
fn postgres_one_administrator_alone_cannot_issue() {
    let Some(cluster) = pg::PgCluster::start().unwrap() else {
        return; // IGC_SKIP_PG=1
    };
    let url = cluster.create_database("dualcontrol").unwrap();
    one_administrator_alone_cannot_issue(Some(&url));
}

/// (actor, action, object) of every journal entry.
fn journal(db_url: &str) -> Vec<(String, String, String)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = ca::storage::Store::connect(db_url).await.unwrap();
        let entries = store.audit_entries(0, 10_000).await.unwrap();
        store.close().await;
        entries
            .into_iter()
            .map(|e| (e.actor, e.action, e.object))
            .collect()
    })
}

fn one_administrator_alone_cannot_issue(pg_url: Option<&str>) {
    let pki = DevPki::with_config(|c| match pg_url {
        Some(url) => {
            assert!(c.contains(SQLITE_URL));
            c.replace(SQLITE_URL, &format!("url = \"{url}\""))
        }
        None => c,
    });
    let db_url = pg_url
        .map(str::to_owned)
        .unwrap_or_else(|| format!("sqlite://{}", pki.path("var/igc.sqlite").display()));
    // The ceremony made two administrators, and journaled itself.
    let entries = journal(&db_url);
    assert!(
        entries
            .iter()
            .any(|(_, action, _)| action == "ceremony.ra-administrators"),
        "{entries:?}"
    );
    let srv = PortalServer::start(pki.dir.path());
    let dir = pki.path("dual");
    let a = Browser::new(&dir, "admin-a", &srv.portal);
    let b = Browser::new(&dir, "admin-b", &srv.portal);
    a.enrol("admin", &pki.first_login("admin"));
    b.enrol("admin.b", &pki.first_login("admin.b"));

    // Administrator A, alone, creates a clerk and an approver: no password is shown to A.
    for (login, role) in [("agent.a", "clerk"), ("approb.b", "approver")] {
        let r = a.create_operator(login, role, "medecins");
        assert_eq!(
            one_time_password_of(&r.body),
            None,
            "the creator of {login} was shown its one-time password"
        );
    }
    // A cannot confirm them; they cannot log in, with anything A could know.
    for login in ["agent.a", "approb.b"] {
        let r = a.submit_from(
            "/operateurs",
            &format!("/operateurs/{login}/confirmation"),
            &[],
        );
        assert_eq!(r.status, 403, "A confirms {login}: {}", r.body);
        assert!(r.body.contains("double contrôle"), "{}", r.body);
        assert_eq!(one_time_password_of(&r.body), None);
        let intruder = Browser::new(&dir, &format!("intrus-{login}"), &srv.portal);
        for password in ["", "!awaiting-confirmation", "un mot de passe assez long"] {
            let r = intruder.login(login, password, "");
            assert_eq!(r.status, 401, "{login} with {password:?}: {}", r.body);
        }
    }

    // Administrator B confirms each, and is the one shown the passwords.
    let otp_clerk = b.confirm_operator("agent.a");
    let otp_approver = b.confirm_operator("approb.b");
    let clerk = Browser::new(&dir, "clerk", &srv.portal);
    let approver = Browser::new(&dir, "approver", &srv.portal);
    clerk.enrol("agent.a", &otp_clerk);
    approver.enrol("approb.b", &otp_approver);

    // The clerk registers a médecin and files a request; the approver approves: issued.
    let idnat = format!("8{}", rpps(1_700_456));
    clerk.register_medecin(&idnat, "DOUBLE", "Contrôle");
    let (_key, csr_pem) = openssl_csr(&dir, "sign");
    let request = clerk.file_request(&idnat, "sign", &csr_pem);
    let approved = approver.submit_from(&request, &format!("{request}/approbation"), &[]);
    // The issued certificate, and its revocation code shown this once.
    assert_eq!(approved.status, 200, "approval: {}", approved.body);
    assert!(
        approved
            .body
            .contains("id=\"certificat-emis\" href=\"/certificats/")
            && approved.body.contains("id=\"code-revocation\""),
        "{}",
        approved.body
    );

    // The last two active administrators stay: neither disables the other.
    for (by, target) in [(&a, "admin.b"), (&b, "admin")] {
        let r = by.submit_from(
            "/operateurs",
            &format!("/operateurs/{target}/desactivation"),
            &[],
        );
        assert_eq!(r.status, 409, "disable {target}: {}", r.body);
    }

    // A reset by A ends the clerk's session and awaits B as well.
    let r = a.submit_from("/operateurs", "/operateurs/agent.a/reinitialisation", &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(one_time_password_of(&r.body), None);
    let r = clerk.get("/");
    assert_eq!((r.status, r.location.as_str()), (303, "/connexion"));
    let r = a.submit_from("/operateurs", "/operateurs/agent.a/confirmation", &[]);
    assert_eq!(r.status, 403, "{}", r.body);
    let otp_again = b.confirm_operator("agent.a");
    assert_ne!(otp_again, otp_clerk);

    // The journal names the four people, each for their own act.
    let entries = journal(&db_url);
    let did = |actor: &str, action: &str, object: &str| {
        entries
            .iter()
            .any(|(a, act, o)| a == actor && act == action && o.contains(object))
    };
    for (actor, action, object) in [
        ("admin", "operator.create", "agent.a"),
        ("admin", "operator.create", "approb.b"),
        ("admin.b", "operator.confirm", "agent.a"),
        ("admin.b", "operator.confirm", "approb.b"),
        ("agent.a", "request.file", ""),
        ("approb.b", "request.approve", ""),
    ] {
        assert!(
            did(actor, action, object),
            "no {action} of {object} by {actor} in the journal"
        );
    }
}
