//! Issue 19, finding 4 — TOTP secrets at rest, seen as an attacker who got a database dump:
//! operators enrol through the portal of a real `igc serve`, then `sqlite3 … .dump` or
//! `pg_dump` is searched for every secret in every usual encoding (base32 as shown at
//! enrolment, raw bytes, hex, base64). A secret left in clear by an older version is sealed
//! when `igc serve` starts again, and still opens the operator's next login.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "../ca/tests/support/pg.rs"]
mod pg;

use base64::Engine as _;
use common::browser::{totp_code, Browser, PASSWORD};
use common::{DevPki, PortalServer};

fn encodings(secret: &str) -> Vec<(&'static str, Vec<u8>)> {
    let raw = ra_portal::base32_decode(secret).expect("base32 secret");
    let b64 = base64::engine::general_purpose::STANDARD;
    let b64_nopad = base64::engine::general_purpose::STANDARD_NO_PAD;
    let b64_url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let hex_lower: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    vec![
        ("base32", secret.as_bytes().to_vec()),
        ("base32 lower case", secret.to_lowercase().into_bytes()),
        ("raw bytes", raw.clone()),
        ("hex", hex_lower.clone().into_bytes()),
        ("HEX", hex_lower.to_uppercase().into_bytes()),
        ("base64", b64.encode(&raw).into_bytes()),
        ("base64 unpadded", b64_nopad.encode(&raw).into_bytes()),
        ("base64url", b64_url.encode(&raw).into_bytes()),
        (
            "base64 of the base32",
            b64_nopad.encode(secret).into_bytes(),
        ),
    ]
}

/// The encodings of each secret found in `dump`, as "login: encoding".
fn leaks(dump: &[u8], secrets: &[(String, String)]) -> Vec<String> {
    let mut found = vec![];
    for (login, secret) in secrets {
        for (name, needle) in encodings(secret) {
            if dump.windows(needle.len()).any(|w| w == needle.as_slice()) {
                found.push(format!("{login}: {name}"));
            }
        }
    }
    found
}

/// Enrols an administrator and two clerks on a fresh `igc serve`; returns (login, secret).
fn enrol_operators(pki: &DevPki) -> Vec<(String, String)> {
    let srv = PortalServer::start(pki.dir.path());
    let dir = pki.path("sealed");
    let admin = Browser::new(&dir, "admin", &srv.portal);
    let admin_b = Browser::new(&dir, "admin-b", &srv.portal);
    let mut secrets = vec![
        (
            "admin".to_owned(),
            admin.enrol("admin", &pki.first_login("admin")),
        ),
        (
            "admin.b".to_owned(),
            admin_b.enrol("admin.b", &pki.first_login("admin.b")),
        ),
    ];
    for (login, order) in [("agent.med", "medecins"), ("agent.ph", "pharmaciens")] {
        admin.create_operator(login, "clerk", order);
        let otp = admin_b.confirm_operator(login);
        let b = Browser::new(&dir, login, &srv.portal);
        secrets.push((login.to_owned(), b.enrol(login, &otp)));
    }
    secrets
}

/// Puts `secret` back in clear in `login`'s row, as a version before sealing left it.
fn write_clear_secret(db_url: &str, login: &str, secret: &str) {
    common::with_db(db_url, |pool| async move {
        let n = sqlx::query("UPDATE ra_operators SET totp_secret = $1 WHERE login = $2")
            .bind(secret)
            .bind(login)
            .execute(&pool)
            .await
            .unwrap()
            .rows_affected();
        assert_eq!(n, 1);
    });
}

/// After a restart, `login` still logs in with the secret it enrolled (a step ahead: the
/// enrolment used the current one).
fn logs_in_again(pki: &DevPki, login: &str, secret: &str) {
    let srv = PortalServer::start(pki.dir.path());
    let b = Browser::new(&pki.path("again"), login, &srv.portal);
    let r = b.login(login, PASSWORD, &totp_code(secret, 1));
    assert_eq!(
        (r.status, r.location.as_str()),
        (303, "/"),
        "{login} after the restart: {}",
        r.body
    );
}

fn scenario(pki: &DevPki, db_url: &str, dump: &dyn Fn() -> Vec<u8>) {
    let secrets = enrol_operators(pki);
    let dumped = dump();
    assert!(
        dumped.windows(12).any(|w| w == b"ra_operators"),
        "the dump holds no ra_operators table"
    );
    let found = leaks(&dumped, &secrets);
    assert!(
        found.is_empty(),
        "the database dump holds TOTP secrets: {found:?}"
    );
    // Not vacuous: every enrolled operator's secret is there, sealed.
    let sealed = dumped.windows(10).filter(|w| w == b"sealed:v1:").count();
    assert!(
        sealed >= secrets.len(),
        "{sealed} sealed values in the dump"
    );

    // A row written in clear before the upgrade is sealed at the next start.
    let (login, secret) = &secrets[1];
    write_clear_secret(db_url, login, secret);
    assert!(!leaks(&dump(), &secrets).is_empty(), "clear secret written");
    logs_in_again(pki, login, secret);
    let found = leaks(&dump(), &secrets);
    assert!(
        found.is_empty(),
        "after the start-up migration, the dump holds TOTP secrets: {found:?}"
    );
}

#[test]
fn sqlite_dump_holds_no_totp_secret() {
    let pki = DevPki::new();
    let db = pki.path("var/igc.sqlite");
    let url = format!("sqlite://{}?mode=rwc", db.display());
    let dump = || {
        let out = common::tool("sqlite3", &[db.to_str().unwrap(), ".dump"]);
        common::assert_success(&out, "sqlite3 .dump");
        out.stdout
    };
    scenario(&pki, &url, &dump);
}

#[test]
fn postgres_dump_holds_no_totp_secret() {
    let Some(cluster) = pg::PgCluster::start().unwrap() else {
        return; // IGC_SKIP_PG=1
    };
    let url = cluster.create_database("sealed").unwrap();
    // The ceremony creates the first administrators in the database, so it is set first.
    let pki = DevPki::with_config(|c| {
        c.replace(
            "url = \"sqlite://igc.sqlite?mode=rwc\"",
            &format!("url = \"{url}\""),
        )
    });
    let dump = || {
        let out = common::tool("pg_dump", &["--dbname", &url]);
        common::assert_success(&out, "pg_dump");
        out.stdout
    };
    scenario(&pki, &url, &dump);
}

/// Without its sealing key in the token, `igc serve` stops at start and says which key is
/// missing, rather than serving with TOTP secrets it could not seal.
#[test]
fn serve_refuses_to_start_without_the_sealing_key() {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    let pki = DevPki::new();
    let config = pki.path("var/igc.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let changed = text.replace(
        "totp_seal_key_label = \"ra-totp-seal\"",
        "totp_seal_key_label = \"ra-totp-absent\"",
    );
    assert_ne!(changed, text, "the dev configuration names the sealing key");
    std::fs::write(&config, changed).unwrap();
    let mut child = Command::new(common::IGC)
        .current_dir(pki.dir.path())
        .args([
            "serve",
            "--config",
            "var/igc.toml",
            "--listen",
            "127.0.0.1:0",
            "--portal-listen",
            "127.0.0.1:0",
            "--tsa-listen",
            "127.0.0.1:0",
        ])
        .env("SOFTHSM2_CONF", pki.softhsm_conf())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let end = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("igc serve kept running without its TOTP sealing key");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!status.success(), "{err}");
    assert!(
        err.contains("TOTP sealing key \"ra-totp-absent\""),
        "the refusal names the key: {err}"
    );
}
