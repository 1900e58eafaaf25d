//! Issue 19, finding 3: the CLI's four eyes are not self-declared. Every operator named on
//! `igc cert issue` authenticates (password + TOTP, here on file descriptors as a script
//! gives them) and must hold the role the action needs in the professional's Order. Each
//! attempt is made as an attacker would, with the real `igc` binary; each refused attempt
//! exits 1 with a clear message and writes nothing: no request, no certificate, no journal
//! entry — except the journaled refusal of a failed authentication (one `auth.login` denied
//! entry, as the portal writes), which is checked to be the only addition.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::PathBuf;
use std::process::Output;

use common::{
    assert_success, cli_operators, db_url, igc, igc_with_credentials, rpps, stderr, stdout, tool,
    CliOperator, DevPki,
};

/// Rows of the request and certificate tables, and the journal's head.
#[derive(Debug, PartialEq, Eq)]
struct Written {
    requests: i64,
    certificates: i64,
    journal_head: u64,
}

struct Scene {
    pki: DevPki,
    db: String,
    idnat: String,
    csr: PathBuf,
    clerk: CliOperator,
    approver: CliOperator,
    pharmacist_approver: CliOperator,
}

impl Scene {
    fn new() -> Scene {
        let pki = DevPki::new();
        let d = pki.dir.path();
        let rpps = rpps(1_000_777_001);
        let db = db_url(&pki);
        let mut ops = cli_operators(
            &pki,
            &[
                ("clerk-a", "clerk", Some("medecins")),
                ("approb-b", "approver", Some("medecins")),
                ("approb-pharma", "approver", Some("pharmaciens")),
            ],
        )
        .into_iter();
        let clerk = ops.next().unwrap();
        let out = igc_with_credentials(
            d,
            &[
                "professional",
                "add",
                "--rpps",
                &rpps,
                "--surname",
                "DURAND",
                "--given-name",
                "Paul",
                "--profession",
                "10",
                "--document-number",
                "X4RTBPFW4",
                "--actor",
                "clerk-a",
                "--actor-credentials-fd",
                "3",
            ],
            &[clerk.credentials()],
        );
        assert_success(&out, "professional add");
        let csr = d.join("auth.csr");
        let out = tool(
            "openssl",
            &[
                "req",
                "-new",
                "-nodes",
                "-subj",
                "/CN=ignored",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-keyout",
                d.join("auth.key").to_str().unwrap(),
                "-out",
                csr.to_str().unwrap(),
            ],
        );
        assert_success(&out, "openssl req");
        Scene {
            pki,
            db,
            idnat: format!("8{rpps}"),
            csr,
            clerk,
            approver: ops.next().unwrap(),
            pharmacist_approver: ops.next().unwrap(),
        }
    }

    fn written(&self) -> Written {
        common::with_db(&self.db, |pool| async move {
            let count = |table: &'static str| {
                let pool = pool.clone();
                async move {
                    sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!(
                        "SELECT COUNT(*) FROM {table}"
                    )))
                    .fetch_one(&pool)
                    .await
                    .unwrap()
                }
            };
            let head: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM audit_log")
                .fetch_one(&pool)
                .await
                .unwrap();
            Written {
                requests: count("certificate_requests").await,
                certificates: count("certificates").await,
                journal_head: u64::try_from(head).unwrap(),
            }
        })
    }

    /// Journal entries after `seq`: (actor, auth method, action, outcome, reason).
    fn journal_after(&self, seq: u64) -> Vec<(String, String, String, String, String)> {
        let db = self.db.clone();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let store = ca::storage::Store::connect(&db).await.unwrap();
            let entries = store.audit_entries(seq, 100).await.unwrap();
            store.close().await;
            entries
                .into_iter()
                .map(|e| {
                    (
                        e.actor,
                        e.auth_method,
                        e.action,
                        e.outcome.to_string(),
                        e.details["reason"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
    }

    fn issue_args<'a>(&'a self, actor: &'a str, approver: &'a str, out: &'a str) -> Vec<&'a str> {
        vec![
            "cert",
            "issue",
            "--idnat",
            &self.idnat,
            "--profile",
            "auth",
            "--csr",
            self.csr.to_str().unwrap(),
            "--out",
            out,
            "--actor",
            actor,
            "--approver",
            approver,
        ]
    }

    /// `igc cert issue` with both operators' credentials on descriptors 3 and 4.
    fn issue(&self, actor: &str, approver: &str, creds: [String; 2], out: &str) -> Output {
        let mut args = self.issue_args(actor, approver, out);
        args.extend([
            "--actor-credentials-fd",
            "3",
            "--approver-credentials-fd",
            "4",
            "--json",
        ]);
        igc_with_credentials(self.pki.dir.path(), &args, &creds)
    }

    fn assert_refused(&self, out: &Output, expect: &str, what: &str) {
        assert_eq!(
            out.status.code(),
            Some(1),
            "{what}: expected exit 1 (refused)\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            stderr(out)
        );
        assert!(
            stderr(out).contains(expect),
            "{what}: expected {expect:?} in: {}",
            stderr(out)
        );
        assert!(
            !self.pki.path("never.pem").exists(),
            "{what}: a certificate was written"
        );
    }
}

/// The attack of the finding: two invented names on the command line, nobody authenticated.
/// Before the fix this issued a certificate.
#[test]
fn invented_operators_issue_nothing() {
    let s = Scene::new();
    let before = s.written();
    let out = igc(
        s.pki.dir.path(),
        &s.issue_args("mallory", "mallory-bis", "never.pem"),
    );
    s.assert_refused(&out, "no terminal", "invented --actor/--approver");
    assert_eq!(s.written(), before, "invented names wrote something");
    // Even named after real operators, without their credentials nothing happens.
    let out = igc(
        s.pki.dir.path(),
        &s.issue_args("clerk-a", "approb-b", "never.pem"),
    );
    s.assert_refused(&out, "no terminal", "no terminal, no descriptor");
    assert_eq!(s.written(), before, "missing credentials wrote something");
}

#[test]
fn cli_issue_refusals_write_nothing() {
    let s = Scene::new();

    // 1. The approver's TOTP code is wrong: refused; the only write is the journaled
    //    authentication refusal (as the portal journals a refused login).
    let before = s.written();
    let out = s.issue(
        "clerk-a",
        "approb-b",
        [s.clerk.credentials(), s.approver.credentials_wrong_totp()],
        "never.pem",
    );
    s.assert_refused(
        &out,
        "authentication refused",
        "wrong TOTP for the approver",
    );
    let after = s.written();
    assert_eq!(
        (after.requests, after.certificates),
        (before.requests, before.certificates)
    );
    assert_eq!(
        s.journal_after(before.journal_head),
        vec![(
            "approb-b".to_owned(),
            "cli:password+totp".to_owned(),
            "auth.login".to_owned(),
            "denied".to_owned(),
            "bad-totp".to_owned()
        )],
        "a wrong TOTP code must add exactly one journaled authentication refusal"
    );

    // 2. The approver is the actor: refused before anything is read or written.
    let before = s.written();
    let out = s.issue(
        "approb-b",
        "approb-b",
        [
            s.approver.credentials_not_used(),
            s.approver.credentials_not_used(),
        ],
        "never.pem",
    );
    s.assert_refused(&out, "four eyes", "approver = actor");
    assert_eq!(s.written(), before, "approver = actor wrote something");

    // 3. The approver, authenticated, approves for another Order: refused, nothing written.
    let before = s.written();
    let out = s.issue(
        "clerk-a",
        "approb-pharma",
        [s.clerk.credentials(), s.pharmacist_approver.credentials()],
        "never.pem",
    );
    s.assert_refused(
        &out,
        "outside the operator's scope",
        "approver of another Order",
    );
    assert_eq!(
        s.written(),
        before,
        "an approver of another Order wrote something"
    );

    // 4. Neither a terminal nor a descriptor: refused, nothing written.
    let out = igc(
        s.pki.dir.path(),
        &s.issue_args("clerk-a", "approb-b", "never.pem"),
    );
    s.assert_refused(&out, "no terminal", "no terminal, no descriptor");
    assert_eq!(s.written(), before, "missing credentials wrote something");

    // 5. A clerk cannot approve, even when both authenticate.
    let out = s.issue(
        "approb-b",
        "clerk-a",
        [s.approver.credentials(), s.clerk.credentials()],
        "never.pem",
    );
    s.assert_refused(&out, "may not approve", "a clerk as approver");
    assert_eq!(s.written(), before, "a clerk as approver wrote something");

    // The right operators, authenticated: issued, each journaled under their login with
    // how they authenticated.
    let out = s.issue(
        "clerk-a",
        "approb-b",
        [s.clerk.credentials(), s.approver.credentials_ahead()],
        "issued.pem",
    );
    assert_success(&out, "cert issue by clerk-a and approb-b");
    let after = s.written();
    assert_eq!(
        (after.requests, after.certificates),
        (before.requests + 1, before.certificates + 1)
    );
    let journal = s.journal_after(before.journal_head);
    let who = |action: &str| {
        journal
            .iter()
            .find(|e| e.2 == action)
            .map(|e| (e.0.as_str(), e.1.as_str()))
    };
    assert_eq!(who("request.file"), Some(("clerk-a", "cli:password+totp")));
    assert_eq!(
        who("request.approve"),
        Some(("approb-b", "cli:password+totp"))
    );

    // The approver's code again: a replay, refused and journaled.
    let before = s.written();
    let out = s.issue(
        "clerk-a",
        "approb-b",
        [s.clerk.credentials(), s.approver.last_credentials()],
        "never.pem",
    );
    s.assert_refused(&out, "already been used", "replayed TOTP code");
    let after = s.written();
    assert_eq!(
        (after.requests, after.certificates),
        (before.requests, before.certificates)
    );
    let journal = s.journal_after(before.journal_head);
    assert_eq!(journal.len(), 1, "{journal:?}");
    assert_eq!(journal[0].4, "totp-replay");
}

/// The two-step flow: `igc cert request` by one authenticated operator, `igc cert approve` or
/// `reject` by another; the filer never decides their own request.
#[test]
fn cli_request_then_approve_or_reject() {
    let s = Scene::new();
    let d = s.pki.dir.path();
    let file = |who: &CliOperator| {
        let out = igc_with_credentials(
            d,
            &[
                "cert",
                "request",
                "--idnat",
                &s.idnat,
                "--profile",
                "auth",
                "--csr",
                s.csr.to_str().unwrap(),
                "--actor",
                &who.login,
                "--actor-credentials-fd",
                "3",
                "--json",
            ],
            &[who.credentials()],
        );
        assert_success(&out, "cert request");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["request"].as_i64().unwrap().to_string()
    };
    let decide = |who: &CliOperator, args: &[&str]| {
        let mut args = args.to_vec();
        args.extend(["--actor", &who.login, "--actor-credentials-fd", "3"]);
        igc_with_credentials(d, &args, &[who.credentials()])
    };

    // The approver files; approving their own request is refused (four eyes), nothing written.
    let own = file(&s.approver);
    let before = s.written();
    let out = decide(
        &s.approver,
        &["cert", "approve", "--request", &own, "--out", "never.pem"],
    );
    s.assert_refused(&out, "four eyes", "approving one's own request");
    assert_eq!(s.written(), before);

    // A clerk may not approve.
    let filed = file(&s.clerk);
    let before = s.written();
    let out = decide(
        &s.clerk,
        &["cert", "approve", "--request", &filed, "--out", "never.pem"],
    );
    s.assert_refused(&out, "may not approve", "a clerk approving");
    assert_eq!(s.written(), before);

    // An approver of another Order may neither approve nor reject.
    for args in [
        vec!["cert", "approve", "--request", &filed, "--out", "never.pem"],
        vec!["cert", "reject", "--request", &filed, "--reason", "no"],
    ] {
        let out = decide(&s.pharmacist_approver, &args);
        s.assert_refused(
            &out,
            "outside the operator's scope",
            "another Order deciding",
        );
        assert_eq!(s.written(), before);
    }

    // The approver of the Order approves the clerk's request; the clerk's is issued.
    let out = decide(
        &s.approver,
        &[
            "cert",
            "approve",
            "--request",
            &filed,
            "--out",
            "approved.pem",
        ],
    );
    assert_success(&out, "cert approve");
    assert!(s.pki.path("approved.pem").exists());

    // A clerk may not reject either.
    let out = decide(
        &s.clerk,
        &["cert", "reject", "--request", &own, "--reason", "doublon"],
    );
    s.assert_refused(&out, "may not approve or reject", "a clerk rejecting");

    // The approver withdraws their own request (a rejection needs no second operator).
    let out = decide(
        &s.approver,
        &["cert", "reject", "--request", &own, "--reason", "doublon"],
    );
    assert_success(&out, "cert reject");
    assert!(stdout(&out).contains("rejected"), "{}", stdout(&out));
}

/// Registering professionals and suspending, reinstating, revoking certificates: the operator
/// authenticates too, and acts only within their Order.
#[test]
fn cli_register_and_revoke_need_the_order() {
    let s = Scene::new();
    let d = s.pki.dir.path();
    let out = s.issue(
        "clerk-a",
        "approb-b",
        [s.clerk.credentials(), s.approver.credentials()],
        "issued.pem",
    );
    assert_success(&out, "cert issue");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let serial = report["serial"].as_str().unwrap().to_owned();
    let as_operator = |who: &CliOperator, args: &[&str]| {
        let mut args = args.to_vec();
        args.extend(["--actor", &who.login, "--actor-credentials-fd", "3"]);
        igc_with_credentials(d, &args, &[who.credentials()])
    };

    // Another Order's approver may not revoke a médecin's certificate.
    let before = s.written();
    let out = as_operator(
        &s.pharmacist_approver,
        &[
            "cert",
            "revoke",
            "--serial",
            &serial,
            "--reason",
            "keyCompromise",
        ],
    );
    s.assert_refused(
        &out,
        "outside the operator's scope",
        "revoke by another Order",
    );
    assert_eq!(s.written(), before);
    // Without credentials, nothing either.
    let out = igc(
        d,
        &["cert", "suspend", "--serial", &serial, "--actor", "clerk-a"],
    );
    s.assert_refused(&out, "no terminal", "suspend without credentials");
    assert_eq!(s.written(), before);
    // Nor may they register a médecin.
    let out = as_operator(
        &s.pharmacist_approver,
        &[
            "professional",
            "add",
            "--rpps",
            &rpps(1_000_777_002),
            "--surname",
            "MARTIN",
            "--given-name",
            "Anne",
            "--profession",
            "10",
            "--document-number",
            "X4RTBPFW5",
        ],
    );
    s.assert_refused(
        &out,
        "outside the operator's scope",
        "register by another Order",
    );
    assert_eq!(s.written(), before);

    // The médecins' clerk suspends and reinstates it, journaled under their login.
    for action in ["suspend", "reinstate"] {
        let out = as_operator(&s.clerk, &["cert", action, "--serial", &serial]);
        assert_success(&out, action);
    }
    let journal = s.journal_after(before.journal_head);
    assert!(
        journal
            .iter()
            .any(|e| e.0 == "clerk-a" && e.1 == "cli:password+totp"),
        "{journal:?}"
    );
}

/// A holder who calls their Order without the revocation code: `igc cert suspend-all` by the
/// Order's clerk suspends every certificate still good, as a loss declaration; another Order's
/// approver may not. `igc cert issue` gave the code once (and the journal never holds it).
#[test]
fn cli_suspend_all_for_a_lost_card() {
    let s = Scene::new();
    let d = s.pki.dir.path();
    let out = s.issue(
        "clerk-a",
        "approb-b",
        [s.clerk.credentials(), s.approver.credentials()],
        "issued.pem",
    );
    assert_success(&out, "cert issue");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let serial = report["serial"].as_str().unwrap().to_owned();
    let code = report["revocation_code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 19, "{report}");
    let suspend_all = |who: &CliOperator| {
        igc_with_credentials(
            d,
            &[
                "cert",
                "suspend-all",
                "--idnat",
                &s.idnat,
                "--json",
                "--actor",
                &who.login,
                "--actor-credentials-fd",
                "3",
            ],
            &[who.credentials()],
        )
    };
    let before = s.written();
    let out = suspend_all(&s.pharmacist_approver);
    s.assert_refused(
        &out,
        "outside the operator's scope",
        "suspend-all by another Order",
    );
    assert_eq!(s.written(), before);

    let out = suspend_all(&s.clerk);
    assert_success(&out, "cert suspend-all");
    let done: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(done["serials"], serde_json::json!([serial]), "{done}");
    assert!(done["declaration"].as_i64().is_some(), "{done}");
    let out = igc(d, &["cert", "show", "--serial", &serial, "--json"]);
    assert_success(&out, "cert show");
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["status"]["status"], "on-hold", "{shown}");
    let journal = s.journal_after(before.journal_head);
    assert!(journal.iter().any(|e| e.2 == "loss.declare"), "{journal:?}");
    assert!(
        !format!("{journal:?}").contains(&code),
        "the journal holds the revocation code"
    );
    // Nothing left to suspend: a declaration all the same, with no certificate.
    let out = suspend_all(&s.clerk);
    assert_success(&out, "cert suspend-all again");
    let again: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(again["serials"], serde_json::json!([]), "{again}");
    let out = igc(d, &["cert", "suspend-all", "--help"]);
    assert_success(&out, "suspend-all --help");
    assert!(stdout(&out).contains("Examples:"));
}

/// A disabled operator, an operator who never enrolled TOTP, and an account locked after
/// repeated failures are refused, as on the portal.
#[test]
fn cli_disabled_unenrolled_or_locked_operators_refused() {
    let s = Scene::new();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let admin = ca::domain::Actor::new("test-admin", "test").unwrap();
    rt.block_on(async {
        let store = ca::storage::Store::connect(&s.db).await.unwrap();
        // Created with a one-time password, never logged in: no TOTP enrolled.
        let hash = ca::credentials::hash_password(common::CLI_PASSWORD).unwrap();
        store
            .create_operator(
                &ca::storage::NewOperator {
                    login: "approb-new".parse().unwrap(),
                    display_name: "approb-new".into(),
                    role: ca::storage::OperatorRole::Approver,
                    order: Some(ca::domain::Order::Medecins),
                },
                &admin,
            )
            .await
            .unwrap();
        // Confirmed by a second administrator: usable, but never logged in.
        store
            .confirm_operator(
                "approb-new",
                &hash,
                time::OffsetDateTime::now_utc() + time::Duration::days(1),
                &ca::domain::Actor::new("test-admin-2", "test").unwrap(),
            )
            .await
            .unwrap();
        store
            .set_operator_status("approb-b", ca::storage::OperatorStatus::Disabled, &admin)
            .await
            .unwrap();
        store.close().await;
    });
    let before = s.written();
    let out = s.issue(
        "clerk-a",
        "approb-b",
        [s.clerk.credentials(), s.approver.credentials()],
        "never.pem",
    );
    s.assert_refused(&out, "authentication refused", "disabled approver");
    let out = s.issue(
        "clerk-a",
        "approb-new",
        [
            s.clerk.credentials(),
            format!("{}\n123456\n", common::CLI_PASSWORD),
        ],
        "never.pem",
    );
    s.assert_refused(&out, "has not enrolled TOTP", "approver without TOTP");
    let after = s.written();
    assert_eq!(
        (after.requests, after.certificates),
        (before.requests, before.certificates)
    );
    let reasons: Vec<String> = s
        .journal_after(before.journal_head)
        .into_iter()
        .map(|e| e.4)
        .collect();
    assert_eq!(reasons, ["disabled", "not-enrolled"]);

    // Wrong codes until the clerk's account locks; then even the right code is refused.
    let mut locked = false;
    for _ in 0..10 {
        let out = s.issue(
            "clerk-a",
            "approb-pharma",
            [
                s.clerk.credentials_wrong_totp(),
                s.pharmacist_approver.credentials_not_used(),
            ],
            "never.pem",
        );
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        if stderr(&out).contains("locked") {
            locked = true;
            break;
        }
    }
    assert!(locked, "the clerk's account never locked");
    let out = s.issue(
        "clerk-a",
        "approb-pharma",
        [
            s.clerk.credentials(),
            s.pharmacist_approver.credentials_not_used(),
        ],
        "never.pem",
    );
    s.assert_refused(&out, "locked", "locked clerk with the right code");
    let after = s.written();
    assert_eq!(
        (after.requests, after.certificates),
        (before.requests, before.certificates)
    );
}
