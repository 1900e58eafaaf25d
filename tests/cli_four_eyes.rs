//! Issue 19, finding 3: the CLI's four eyes are not self-declared. Every operator named on
//! `igc cert issue` must authenticate; the attack is made as an attacker would, with the real
//! `igc` binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{assert_success, igc, rpps, stderr, tool, DevPki};

/// Rows of the request and certificate tables, and the journal's head.
fn written(pki: &DevPki) -> (i64, i64, i64) {
    let url = format!("sqlite://{}", pki.path("var/igc.sqlite").display());
    common::with_db(&url, |pool| async move {
        let q = |sql: &'static str| {
            let pool = pool.clone();
            async move {
                sqlx::query_scalar::<_, i64>(sql)
                    .fetch_one(&pool)
                    .await
                    .unwrap()
            }
        };
        (
            q("SELECT COUNT(*) FROM certificate_requests").await,
            q("SELECT COUNT(*) FROM certificates").await,
            q("SELECT COALESCE(MAX(seq), 0) FROM audit_log").await,
        )
    })
}

/// The attack of the finding: two invented names on the command line, nobody authenticated.
#[test]
fn invented_operators_issue_nothing() {
    let pki = DevPki::new();
    let d = pki.dir.path();
    let rpps = rpps(1_000_777_001);
    let out = igc(
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
        ],
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
    let before = written(&pki);
    let idnat = format!("8{rpps}");
    let out = igc(
        d,
        &[
            "cert",
            "issue",
            "--idnat",
            &idnat,
            "--profile",
            "auth",
            "--csr",
            csr.to_str().unwrap(),
            "--out",
            "never.pem",
            "--actor",
            "mallory",
            "--approver",
            "mallory-bis",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "invented --actor/--approver: expected exit 1 (refused)\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
    assert!(stderr(&out).contains("no terminal"), "{}", stderr(&out));
    assert!(!pki.path("never.pem").exists(), "a certificate was written");
    assert_eq!(written(&pki), before, "invented names wrote something");
}
