//! The audit journal through the operator CLI, on SQLite and PostgreSQL:
//! every registration is journaled, and altering one stored row makes
//! `igc audit verify` fail and name that entry. The journal head is anchored by the TSA
//! of `igc serve` (at shutdown here); the anchor is checked by `igc audit verify` and, once
//! exported, by `openssl ts -verify` as an independent verifier.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "../ca/tests/support/pg.rs"]
mod pg;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{
    assert_success, cli_operators, configure_clock, igc, igc_with_credentials, rpps, stderr,
    stdout, tool, wait_until, CliOperator, DevPki, Server, Sntp,
};

/// Entries in the journal (checked intact).
fn journal_entries(d: &Path) -> u64 {
    let out = igc(d, &["audit", "verify", "--json"]);
    assert_success(&out, "audit verify");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["intact"], true, "{v}");
    v["entries_checked"].as_u64().unwrap()
}

fn scenario(pki: &DevPki, db_url: &str) {
    let d = pki.dir.path();
    // The registering clerk, an RA operator who authenticates (journaled: creation, enrolment).
    let clerk = cli_operators(pki, &[("clerk-medecins", "clerk", Some("medecins"))])
        .pop()
        .unwrap();
    // What the journal holds already (the dev ceremonies' transcripts, the clerk's account).
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

    // Tamper with the second registration directly in the database.
    let second = before + 2;
    common::with_db(db_url, |pool| async move {
        let n = sqlx::query("UPDATE audit_log SET actor = 'mallory' WHERE seq = $1")
            .bind(second as i64)
            .execute(&pool)
            .await
            .unwrap()
            .rows_affected();
        assert_eq!(n, 1);
    });
    let out = igc(d, &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!("broken at entry #{second}")),
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
    let pki = DevPki::with_database(&url);
    scenario(&pki, &url);
}

/// The pharmaciens' clerk of the anchor tests, an RA operator who authenticates on the CLI.
fn pharmacy_clerk(pki: &DevPki) -> CliOperator {
    cli_operators(pki, &[("clerk-pharmaciens", "clerk", Some("pharmaciens"))])
        .pop()
        .unwrap()
}

fn add_professional(d: &Path, clerk: &CliOperator, n: u64, surname: &str) {
    let out = igc_with_credentials(
        d,
        &[
            "professional",
            "add",
            "--rpps",
            &rpps(1_000_000_500 + n),
            "--surname",
            surname,
            "--given-name",
            "Louise",
            "--profession",
            "21",
            "--document-number",
            "CD67890",
            "--actor",
            "clerk-pharmaciens",
            "--actor-credentials-fd",
            "3",
        ],
        &[clerk.credentials()],
    );
    assert_success(&out, "professional add");
}

/// `igc serve` until `/readyz` says ready (TSA clock confirmed), then stopped by SIGTERM:
/// the shutdown anchors the journal head.
fn serve_then_stop(d: &Path) {
    let server = Server::start(d);
    assert!(
        wait_until(Duration::from_secs(30), || server.get("/readyz").0 == 200),
        "igc serve never ready: {}",
        String::from_utf8_lossy(&server.get("/readyz").1)
    );
    stop(server);
}

/// Stops `igc serve` by SIGTERM; it must exit cleanly within 30 s.
fn stop(mut server: Server) {
    let term = std::process::Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let stopped_at = Instant::now();
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            stopped_at.elapsed() < Duration::from_secs(30),
            "igc serve still running 30 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "igc serve exited with {status}");
}

fn verify_json(d: &Path) -> (Option<i32>, serde_json::Value, String) {
    let out = igc(d, &["audit", "verify", "--json"]);
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "audit verify --json printed no JSON ({e}): {}\n{}",
            stdout(&out),
            stderr(&out)
        )
    });
    (out.status.code(), v, stderr(&out))
}

fn anchor_scenario(pki: &DevPki, db_url: &str) {
    let d = pki.dir.path();
    let clerk = pharmacy_clerk(pki);
    for (i, name) in ["LEROY", "MOREAU"].iter().enumerate() {
        add_professional(d, &clerk, i as u64, name);
    }
    serve_then_stop(d);

    // The head at shutdown is anchored: the whole journal is in an anchored range.
    let (code, v, err) = verify_json(d);
    assert_eq!(code, Some(0), "{v}\n{err}");
    let head = v["head_seq"].as_u64().unwrap();
    assert!(head >= 2, "{v}");
    let anchors = v["anchors"]
        .as_array()
        .unwrap_or_else(|| panic!("no anchors reported: {v}"));
    assert_eq!(anchors.len(), 1, "{v}");
    assert_eq!(anchors[0]["seq"], head, "{v}");
    assert_eq!(anchors[0]["valid"], true, "{v}");
    assert_eq!(v["anchored"], serde_json::json!([[1, head]]), "{v}");
    assert_eq!(v["unanchored"], serde_json::Value::Null, "{v}");
    let head_hash = v["head_hash"].as_str().unwrap().to_owned();
    assert_eq!(anchors[0]["head_hash"], head_hash.as_str());

    // A new entry after the anchor: intact, with an unanchored tail.
    add_professional(d, &clerk, 7, "GIRARD");
    let (code, v, err) = verify_json(d);
    assert_eq!(code, Some(0), "{v}\n{err}");
    assert_eq!(v["anchored"], serde_json::json!([[1, head]]), "{v}");
    assert_eq!(
        v["unanchored"],
        serde_json::json!([head + 1, head + 1]),
        "{v}"
    );
    let out = igc(d, &["audit", "verify"]);
    assert_success(&out, "audit verify");
    let text = stdout(&out);
    println!("{text}");
    assert!(text.contains(&format!("anchored: #1..#{head}")), "{text}");
    assert!(
        text.contains(&format!("unanchored: #{}..#{}", head + 1, head + 1)),
        "{text}"
    );

    // The exported anchor passes `openssl ts -verify`, with the data and with the digest.
    let export = d.join("export");
    let n = head.to_string();
    let out = igc(
        d,
        &[
            "audit",
            "export-anchor",
            &n,
            "--out-dir",
            export.to_str().unwrap(),
        ],
    );
    assert_success(&out, "audit export-anchor");
    let tst = export.join(format!("anchor-{head}.tst"));
    let data = export.join(format!("anchor-{head}.dat"));
    let root = pki.pki("root.pem");
    let untrusted = pki.pki("organisations.pem");
    let openssl_verify = |extra: &[&str]| {
        let mut args = vec![
            "ts",
            "-verify",
            "-in",
            tst.to_str().unwrap(),
            "-token_in",
            "-CAfile",
            root.to_str().unwrap(),
            "-untrusted",
            untrusted.to_str().unwrap(),
        ];
        args.extend(extra);
        tool("openssl", &args)
    };
    let out = openssl_verify(&["-data", data.to_str().unwrap()]);
    assert_success(&out, "openssl ts -verify -data");
    assert!(
        stdout(&out).contains("Verification: OK"),
        "{}",
        stdout(&out)
    );
    let out = openssl_verify(&["-digest", &head_hash]);
    assert_success(&out, "openssl ts -verify -digest");
    // The data is what was time-stamped: one altered byte and OpenSSL refuses.
    let mut altered = std::fs::read(&data).unwrap();
    *altered.last_mut().unwrap() ^= 1;
    let altered_path = export.join("altered.dat");
    std::fs::write(&altered_path, altered).unwrap();
    let out = openssl_verify(&["-data", altered_path.to_str().unwrap()]);
    assert!(!out.status.success(), "openssl accepted altered data");

    // No anchor at that sequence number: a clear error, exit 1.
    let out = igc(
        d,
        &[
            "audit",
            "export-anchor",
            "999999",
            "--out-dir",
            export.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no anchor at entry #999999"),
        "{}",
        stderr(&out)
    );

    // Tamper with entry 2, inside the anchored range: exit 1, the row and the anchor named.
    let original: String = common::with_db(db_url, |pool| async move {
        let original = sqlx::query_scalar("SELECT actor FROM audit_log WHERE seq = 2")
            .fetch_one(&pool)
            .await
            .unwrap();
        sqlx::query("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2")
            .execute(&pool)
            .await
            .unwrap();
        original
    });
    let out = igc(d, &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    println!("{err}");
    assert!(err.contains("broken at entry #2"), "{err}");
    assert!(err.contains(&format!("anchor #{head}")), "{err}");
    let (code, v, _) = verify_json(d);
    assert_eq!(code, Some(1));
    assert_eq!(v["first_broken_seq"], 2, "{v}");
    assert_eq!(v["broken_anchor_seq"], head, "{v}");

    // Put it back, then replace the stored token with garbage: a clear error, no panic.
    common::with_db(db_url, |pool| async move {
        sqlx::query("UPDATE audit_log SET actor = $1 WHERE seq = 2")
            .bind(original)
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query("UPDATE audit_anchors SET token = 'bm90IGEgdG9rZW4='")
            .execute(&pool)
            .await
            .unwrap();
    });
    let out = igc(d, &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    println!("{err}");
    assert!(err.contains(&format!("anchor #{head}")), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn sqlite_journal_anchors_verified_and_exported() {
    let pki = DevPki::new();
    let (a, b) = (Sntp::start(0), Sntp::start(0));
    configure_clock(&pki, &a, &b);
    let url = format!("sqlite://{}?mode=rwc", pki.path("var/igc.sqlite").display());
    anchor_scenario(&pki, &url);
}

#[test]
fn postgres_journal_anchors_verified_and_exported() {
    let Some(cluster) = pg::PgCluster::start().unwrap() else {
        return; // IGC_SKIP_PG=1
    };
    let url = cluster.create_database("anchors").unwrap();
    let pki = DevPki::with_database(&url);
    let (a, b) = (Sntp::start(0), Sntp::start(0));
    configure_clock(&pki, &a, &b);
    anchor_scenario(&pki, &url);
}

fn sha256_hex(path: &Path) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

/// Journal entries `ceremony.transcript`: (object, details).
fn transcript_entries(db_url: &str) -> Vec<(String, serde_json::Value)> {
    common::with_db(db_url, |pool| async move {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT object, details FROM audit_log WHERE action = 'ceremony.transcript' ORDER BY seq",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        rows.into_iter()
            .map(|(o, d)| (o, serde_json::from_str(&d).unwrap()))
            .collect()
    })
}

/// Every ceremony's transcript is journaled with its SHA-256: those of `igc dev-setup`, one
/// run later with `igc ceremony run`, once each however often `igc ceremony journal` is asked.
#[test]
fn ceremony_transcripts_are_journaled() {
    let pki = DevPki::new();
    let d = pki.dir.path();
    let url = format!("sqlite://{}?mode=rwc", pki.path("var/igc.sqlite").display());
    let ceremonies = std::fs::read_dir(common::dev_ceremonies())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "yaml")
        })
        .count();
    let entries = transcript_entries(&url);
    assert_eq!(entries.len(), ceremonies, "{entries:?}");
    let root = pki.path("var/ceremonies/03-root.json");
    let root_sha = sha256_hex(&root);
    let (object, details) = entries
        .iter()
        .find(|(_, det)| det["transcript"] == "03-root.json")
        .unwrap();
    assert_eq!(object, &format!("ceremony-transcript:{root_sha}"));
    assert_eq!(details["transcript_sha256"], root_sha.as_str());
    assert_eq!(details["ceremony"], "root");
    assert_eq!(
        details["operators"],
        serde_json::json!(["dev-admin", "alice", "bob"])
    );

    // Journaling it again (as after an offline ceremony) finds the entry.
    let out = igc(
        d,
        &["ceremony", "journal", root.to_str().unwrap(), "--json"],
    );
    assert_success(&out, "ceremony journal");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["already_journaled"], true, "{v}");
    assert_eq!(v["sha256"], root_sha.as_str());
    assert_eq!(transcript_entries(&url).len(), ceremonies);

    // A ceremony run now is journaled at once.
    let file = d.join("spare-key.yaml");
    std::fs::write(
        &file,
        "ceremony: key\ndescription: spare key\noperators: [alice, bob]\n\
         transcript: var/ceremonies/spare-key.json\n\
         token:\n  label: igc-online\n  pin:\n    file: var/hsm/online.pin\n\
         key:\n  label: spare\n  spec: ec-p256\npublic_key: var/pki/spare.pub.pem\n",
    )
    .unwrap();
    let out = igc(d, &["ceremony", "run", file.to_str().unwrap()]);
    assert_success(&out, "key ceremony");
    let spare_sha = sha256_hex(&pki.path("var/ceremonies/spare-key.json"));
    assert!(stderr(&out).contains(&spare_sha), "{}", stderr(&out));
    let entries = transcript_entries(&url);
    assert_eq!(entries.len(), ceremonies + 1);
    assert_eq!(
        entries.last().unwrap().0,
        format!("ceremony-transcript:{spare_sha}")
    );

    // Not a transcript: a clear error, nothing journaled.
    let out = igc(d, &["ceremony", "journal", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a JSON transcript"),
        "{}",
        stderr(&out)
    );
    assert_eq!(transcript_entries(&url).len(), ceremonies + 1);
    assert_success(&igc(d, &["audit", "verify"]), "audit verify");
}

/// The TSA's clock is not confirmed (both time sources 5 s off): the anchor at shutdown is
/// refused, which neither blocks nor fails the stop; the journal is reported unanchored.
#[test]
fn anchoring_without_a_confirmed_clock_fails_cleanly() {
    let pki = DevPki::new();
    let (a, b) = (Sntp::start(5_000), Sntp::start(5_000));
    configure_clock(&pki, &a, &b);
    let d = pki.dir.path();
    let clerk = pharmacy_clerk(&pki);
    add_professional(d, &clerk, 20, "FOURNIER");
    let server = Server::start(d);
    // Not ready: the TSA refuses while its clock is not confirmed.
    assert!(
        wait_until(Duration::from_secs(10), || {
            let (status, body, _) = server.get("/readyz");
            status == 503 && String::from_utf8_lossy(&body).contains("\"trusted\":false")
        }),
        "{}",
        String::from_utf8_lossy(&server.get("/readyz").1)
    );
    let stopping = Instant::now();
    stop(server);
    assert!(stopping.elapsed() < Duration::from_secs(20));
    let (code, v, err) = verify_json(d);
    assert_eq!(code, Some(0), "{v}\n{err}");
    let head = v["head_seq"].as_u64().unwrap();
    assert_eq!(v["anchors"], serde_json::json!([]), "{v}");
    assert_eq!(v["anchored"], serde_json::json!([]), "{v}");
    assert_eq!(v["unanchored"], serde_json::json!([1, head]), "{v}");
}

/// The encoding of an entry as documented in `ca::storage::audit` (written here again from
/// the documentation, as a forger would).
fn forged_hash(seq: i64, fields: [&str; 8]) -> String {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    h.update(b"igc-audit-v1\0");
    h.update((seq as u64).to_be_bytes());
    for f in fields {
        h.update((f.len() as u64).to_be_bytes());
        h.update(f.as_bytes());
    }
    hex::encode(h.finalize())
}

/// What the chain alone cannot see, the anchor does: a journal rewritten from entry 2 on with
/// every hash recomputed, and a journal whose last entries were removed with the head moved
/// back. Both pass the chain walk; `igc audit verify` fails on the anchor.
#[test]
fn anchors_catch_a_rewritten_or_truncated_journal() {
    let pki = DevPki::new();
    let (a, b) = (Sntp::start(0), Sntp::start(0));
    configure_clock(&pki, &a, &b);
    let d = pki.dir.path();
    let url = format!("sqlite://{}?mode=rwc", pki.path("var/igc.sqlite").display());
    let clerk = pharmacy_clerk(&pki);
    add_professional(d, &clerk, 30, "ROUSSEAU");
    serve_then_stop(d);
    let (code, v, err) = verify_json(d);
    assert_eq!(code, Some(0), "{v}\n{err}");
    let head = v["head_seq"].as_u64().unwrap() as i64;
    assert_eq!(v["anchors"][0]["seq"], head, "{v}");
    let db = pki.path("var/igc.sqlite");
    let backup = d.join("backup.sqlite");
    std::fs::copy(&db, &backup).unwrap();

    // Rewrite entry 2 and every hash after it, up to the head.
    common::with_db(&url, |pool| async move {
        type Row = (i64, String, String, String, String, String, String, String);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT seq, time, actor, auth_method, action, object, outcome, details \
             FROM audit_log ORDER BY seq",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        let mut prev = "0".repeat(64);
        for (seq, time, actor, auth, action, object, outcome, details) in rows {
            let actor = if seq == 2 {
                "mallory".to_owned()
            } else {
                actor
            };
            let hash = forged_hash(
                seq,
                [
                    &time, &actor, &auth, &action, &object, &outcome, &details, &prev,
                ],
            );
            sqlx::query(
                "UPDATE audit_log SET actor = $1, prev_hash = $2, hash = $3 WHERE seq = $4",
            )
            .bind(&actor)
            .bind(&prev)
            .bind(&hash)
            .bind(seq)
            .execute(&pool)
            .await
            .unwrap();
            prev = hash;
        }
        sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
            .bind(&prev)
            .execute(&pool)
            .await
            .unwrap();
    });
    let (code, v, err) = verify_json(d);
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(v["intact"], true, "the chain walk alone sees nothing: {v}");
    assert_eq!(v["anchors"][0]["valid"], false, "{v}");
    assert!(
        err.contains(&format!("anchor #{head} is not valid")),
        "{err}"
    );
    assert!(err.contains("imprint"), "{err}");

    // Back to the original, then remove the last entry and move the head back.
    std::fs::copy(&backup, &db).unwrap();
    let _ = std::fs::remove_file(pki.path("var/igc.sqlite-wal"));
    let _ = std::fs::remove_file(pki.path("var/igc.sqlite-shm"));
    assert_eq!(verify_json(d).0, Some(0));
    common::with_db(&url, |pool| async move {
        let prev: (String,) = sqlx::query_as("SELECT prev_hash FROM audit_log WHERE seq = $1")
            .bind(head)
            .fetch_one(&pool)
            .await
            .unwrap();
        sqlx::query("DELETE FROM audit_log WHERE seq = $1")
            .bind(head)
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
            .bind(head - 1)
            .bind(prev.0)
            .execute(&pool)
            .await
            .unwrap();
    });
    let (code, v, err) = verify_json(d);
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(v["intact"], true, "{v}");
    assert!(err.contains("entries were removed"), "{err}");
}
