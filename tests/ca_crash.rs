//! Crash consistency of issuance, on SQLite and PostgreSQL: bursts of concurrent
//! `igc cert issue` processes, some killed with SIGKILL at arbitrary moments. Afterwards
//! every certificate an operator received is recorded with the same DER, every recorded
//! certificate has its request marked issued and exactly one audit entry, serials are
//! unique, no output file is half-written, and `igc audit verify` passes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "../ca/tests/support/pg.rs"]
mod pg;

use std::collections::{HashMap, HashSet};
use std::process::Stdio;
use std::time::Duration;

use common::{
    assert_success, cli_operators, igc, igc_command_with_credentials, igc_with_credentials, rpps,
    tool, DevPki,
};
use der::{Decode, Encode};

const ROUNDS: usize = 5;
const PER_ROUND: usize = 8;
/// Pairs of operators (clerk, approver) who authenticate with password + TOTP: each one's
/// codes are accepted once (two usable per 30 s here), so the issuances are spread
/// over several.
const PAIRS: usize = ROUNDS * PER_ROUND / 2 + 1;

fn scenario(pki: &DevPki, db_url: &str) {
    let d = pki.dir.path();
    let idnat = format!("8{}", rpps(1_000_777_001));
    let logins: Vec<(String, String)> = (0..PAIRS)
        .map(|k| (format!("clerk-{k}"), format!("approb-{k}")))
        .collect();
    let specs: Vec<(&str, &str, Option<&str>)> = logins
        .iter()
        .flat_map(|(c, a)| {
            [
                (c.as_str(), "clerk", Some("medecins")),
                (a.as_str(), "approver", Some("medecins")),
            ]
        })
        .collect();
    let operators = cli_operators(pki, &specs);
    let pair = |i: usize| (&operators[2 * (i % PAIRS)], &operators[2 * (i % PAIRS) + 1]);
    let (clerk, _) = pair(0);
    let out = igc_with_credentials(
        d,
        &[
            "professional",
            "add",
            "--rpps",
            &idnat[1..],
            "--surname",
            "Crash",
            "--given-name",
            "Test",
            "--profession",
            "10",
            "--document-number",
            "X1",
            "--actor",
            &clerk.login,
            "--actor-credentials-fd",
            "3",
        ],
        &[clerk.credentials()],
    );
    assert_success(&out, "professional add");
    // Keys and CSRs made beforehand, outside our process.
    let n = ROUNDS * PER_ROUND;
    for i in 0..n {
        let out = tool(
            "openssl",
            &[
                "req",
                "-new",
                "-nodes",
                "-subj",
                "/CN=x",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-keyout",
                d.join(format!("{i}.key")).to_str().unwrap(),
                "-out",
                d.join(format!("{i}.csr")).to_str().unwrap(),
            ],
        );
        assert_success(&out, "openssl req");
    }
    let mut killed = 0;
    for round in 0..ROUNDS {
        let mut children = Vec::new();
        for j in 0..PER_ROUND {
            let i = round * PER_ROUND + j;
            let (clerk, approver) = pair(i);
            let (profile, csr, pem) = (
                ["auth", "sign", "conf"][i % 3],
                format!("{i}.csr"),
                format!("{i}.pem"),
            );
            let (mut cmd, credential_files) = igc_command_with_credentials(
                d,
                &[
                    "cert",
                    "issue",
                    "--idnat",
                    &idnat,
                    "--profile",
                    profile,
                    "--csr",
                    &csr,
                    "--out",
                    &pem,
                    "--actor",
                    &clerk.login,
                    "--actor-credentials-fd",
                    "3",
                    "--approver",
                    &approver.login,
                    "--approver-credentials-fd",
                    "4",
                ],
                &[clerk.credentials(), approver.credentials()],
            );
            let mut child = cmd
                .env("RUST_LOG", "warn,hsm_config=debug")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            // Reports when the process has logged in to the token: SoftHSM2 rewrites its
            // token file in place at that moment, so a SIGKILL then would destroy the
            // development token itself (a SoftHSM file-backend property, not ours). Kills
            // land after it: during CA setup, database work, signing, commit or output.
            let (tx, rx) = std::sync::mpsc::channel();
            let stderr = child.stderr.take().unwrap();
            let log = std::thread::spawn(move || {
                use std::io::BufRead;
                let mut lines = Vec::new();
                for line in std::io::BufReader::new(stderr)
                    .lines()
                    .map_while(Result::ok)
                {
                    if line.contains("token opened and logged in") {
                        let _ = tx.send(());
                    }
                    lines.push(line);
                }
                lines.join("\n")
            });
            let victim = j % 2 == 1;
            let delay = Duration::from_millis([0, 10, 25, 50][(j / 2) % 4] + 5 * round as u64);
            children.push(std::thread::spawn(move || {
                let mut was_killed = false;
                if victim && rx.recv_timeout(Duration::from_secs(30)).is_ok() {
                    std::thread::sleep(delay);
                    if child.try_wait().unwrap().is_none() {
                        child.kill().unwrap(); // SIGKILL
                        was_killed = true;
                    }
                }
                let status = child.wait().unwrap();
                drop(credential_files);
                let log = log.join().unwrap();
                // Concurrent processes sharing the token and the database all succeed.
                assert!(
                    was_killed || status.success(),
                    "igc cert issue #{i} failed: {status}\n{log}"
                );
                was_killed
            }));
        }
        for handle in children {
            if handle.join().unwrap() {
                killed += 1;
            }
        }
        // After each crash round: the state is consistent before anything else runs.
        check(d, db_url, (round + 1) * PER_ROUND);
    }
    assert!(killed > 0, "no process was killed mid-flight");
    println!("{killed} processes killed after login over {ROUNDS} rounds");

    check(d, db_url, n);
    // The CA still works after the crashes.
    let out = tool(
        "openssl",
        &[
            "req",
            "-new",
            "-nodes",
            "-subj",
            "/CN=x",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-keyout",
            d.join("after.key").to_str().unwrap(),
            "-out",
            d.join("after.csr").to_str().unwrap(),
        ],
    );
    assert_success(&out, "openssl req");
    let (clerk, approver) = pair(0);
    let out = igc_with_credentials(
        d,
        &[
            "cert",
            "issue",
            "--idnat",
            &idnat,
            "--profile",
            "auth",
            "--csr",
            "after.csr",
            "--out",
            "after.pem",
            "--actor",
            &clerk.login,
            "--actor-credentials-fd",
            "3",
            "--approver",
            &approver.login,
            "--approver-credentials-fd",
            "4",
        ],
        &[clerk.credentials(), approver.credentials()],
    );
    assert_success(&out, "issue after crashes");
    let cert = x509_cert::Certificate::from_der(
        &pem::parse(std::fs::read(d.join("after.pem")).unwrap())
            .unwrap()
            .into_contents(),
    )
    .unwrap();
    assert!(cert.to_der().is_ok());
}

/// The invariants after a crash: whole output files only, each one recorded with the same
/// DER, every record with its issued request and one audit entry, an intact journal.
fn check(d: &std::path::Path, db_url: &str, n: usize) {
    // What the operators received: whole PEM files only.
    let mut received: HashMap<String, Vec<u8>> = HashMap::new();
    for i in 0..n {
        let path = d.join(format!("{i}.pem"));
        if let Ok(text) = std::fs::read(&path) {
            let der = pem::parse(&text)
                .unwrap_or_else(|e| panic!("{i}.pem is half-written: {e}"))
                .into_contents();
            let cert = x509_cert::Certificate::from_der(&der).unwrap();
            let serial = hex::encode(cert.tbs_certificate.serial_number.as_bytes())
                .trim_start_matches("00")
                .to_owned();
            assert!(received.insert(serial, der).is_none(), "duplicate serial");
        }
    }
    // A process killed while writing leaves at most a hidden `.N.pem.PID.tmp` beside,
    // never a partial `N.pem` (checked above: every N.pem parses).
    assert!(!received.is_empty(), "no issuance completed");
    println!("{} of {n} certificates received", received.len());

    common::with_db(db_url, |pool| async move {
        use sqlx::Row as _;
        let rows = sqlx::query("SELECT serial, der, request_id FROM certificates")
            .fetch_all(&pool)
            .await
            .unwrap();
        let mut recorded = HashSet::new();
        let mut for_requests = 0usize;
        for row in &rows {
            let serial: String = row.get("serial");
            let der_b64: String = row.get("der");
            let der = base64_decode(&der_b64);
            assert!(recorded.insert(serial.clone()), "serial {serial} twice");
            if let Some(got) = received.get(&serial) {
                assert_eq!(got, &der, "received DER differs from the record");
            }
            // Infrastructure certificates (OCSP responders, TSA unit) are recorded by their
            // ceremony, without a request.
            let request: Option<i64> = row.get("request_id");
            if let Some(request) = request {
                let status: String =
                    sqlx::query_scalar("SELECT status FROM certificate_requests WHERE id = $1")
                        .bind(request)
                        .fetch_one(&pool)
                        .await
                        .unwrap();
                assert_eq!(status, "issued", "request {request} of {serial}");
                for_requests += 1;
            }
            let audits: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM audit_log WHERE action = 'certificate.issue' AND object = $1",
            )
            .bind(format!("certificate:{serial}"))
            .fetch_one(&pool)
            .await
            .unwrap();
            assert_eq!(audits, 1, "audit entries for {serial}");
        }
        for serial in received.keys() {
            assert!(recorded.contains(serial), "received {serial} has no record");
        }
        // No request is marked issued without its certificate.
        let issued: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM certificate_requests WHERE status = 'issued'")
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(issued as usize, for_requests);
        let issue_entries: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'certificate.issue'")
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(issue_entries as usize, rows.len());
    });
    let out = igc(d, &["audit", "verify", "--json"]);
    assert_success(&out, "audit verify after crashes");
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

#[test]
fn sqlite_issuance_survives_sigkill() {
    let pki = DevPki::new();
    let url = format!("sqlite://{}?mode=rwc", pki.path("var/igc.sqlite").display());
    scenario(&pki, &url);
}

#[test]
fn postgres_issuance_survives_sigkill() {
    let Some(cluster) = pg::PgCluster::start().unwrap() else {
        return; // IGC_SKIP_PG=1
    };
    let url = cluster.create_database("crash").unwrap();
    let pki = DevPki::with_database(&url);
    scenario(&pki, &url);
}
