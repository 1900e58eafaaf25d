//! The audit journal through the operator CLI, on SQLite and PostgreSQL:
//! every registration is journaled, and altering one stored row makes
//! `igc audit verify` fail and name that entry.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "../ca/tests/support/pg.rs"]
mod pg;

use common::{assert_success, cli_operators, igc, igc_with_credentials, rpps, stderr, DevPki};

fn journal_entries(d: &std::path::Path) -> u64 {
    let out = igc(d, &["audit", "verify", "--json"]);
    assert_success(&out, "audit verify");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["intact"], true);
    v["entries_checked"].as_u64().unwrap()
}

fn scenario(pki: &DevPki, db_url: &str) {
    let d = pki.dir.path();
    // The registering clerk, an RA operator who authenticates (journaled: creation, enrolment).
    let clerk = cli_operators(db_url, &[("clerk-medecins", "clerk", Some("medecins"))])
        .pop()
        .unwrap();
    let before = journal_entries(d);
    for (i, name) in ["MARTIN", "BERNARD", "PETIT"].iter().enumerate() {
        let out = igc_with_credentials(
            d,
            &[
                "professional",
                "add",
                "--rpps",
                &rpps(1_000_000_100 + i as u64),
                "--surname",
                name,
                "--given-name",
                "Claire",
                "--profession",
                "10",
                "--document-number",
                "AB12345",
                "--actor",
                "clerk-medecins",
                "--actor-credentials-fd",
                "3",
            ],
            &[clerk.credentials()],
        );
        assert_success(&out, "professional add");
    }
    // Bad input writes nothing: a wrong check digit, an unknown profession.
    let mut bad = rpps(1_000_000_200);
    let last = bad.pop().unwrap().to_digit(10).unwrap();
    bad.push(char::from_digit((last + 1) % 10, 10).unwrap());
    for args in [
        vec!["--rpps", bad.as_str(), "--profession", "10"],
        vec!["--rpps", "10000002009", "--profession", "10"],
        vec!["--rpps", &rpps(1_000_000_300)[..], "--profession", "99"],
    ] {
        let mut all = vec![
            "professional",
            "add",
            "--surname",
            "X",
            "--given-name",
            "Y",
            "--document-number",
            "Z1",
            "--actor",
            "clerk-medecins",
            "--actor-credentials-fd",
            "3",
        ];
        all.extend(args);
        // Refused before the clerk authenticates: the code is not used.
        let out = igc_with_credentials(d, &all, &[clerk.credentials_not_used()]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    }
    assert_eq!(journal_entries(d), before + 3);

    // Tamper with entry 2 directly in the database.
    common::with_db(db_url, |pool| async move {
        let n = sqlx::query("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2")
            .execute(&pool)
            .await
            .unwrap()
            .rows_affected();
        assert_eq!(n, 1);
    });
    let out = igc(d, &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("broken at entry #2"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn sqlite_journal_detects_tampering() {
    let pki = DevPki::new();
    let url = format!("sqlite://{}?mode=rwc", pki.path("var/igc.sqlite").display());
    scenario(&pki, &url);
}

#[test]
fn postgres_journal_detects_tampering() {
    let Some(cluster) = pg::PgCluster::start().unwrap() else {
        return; // IGC_SKIP_PG=1
    };
    let url = cluster.create_database("audit").unwrap();
    let pki = DevPki::new();
    common::use_database(&pki, &url);
    scenario(&pki, &url);
}
