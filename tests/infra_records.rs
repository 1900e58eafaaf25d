//! Infrastructure certificates (OCSP responders, TSA unit) signed by a CA key in a key
//! ceremony are known to their CA, as a relying party sees it: `openssl ocsp` asked of the
//! running `igc serve` answers `good` for them, a hierarchy whose database lacks them is
//! back-filled when `igc serve` starts, and once revoked they are listed in their CA's CRL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    assert_success, cli_operators, db_url, igc_with_credentials, stderr, stdout, tool, with_db,
    DevPki, Server, IGC,
};
use der::{DecodePem, Encode};
use x509_cert::Certificate;

/// (certificate file, its issuing CA's certificate file) of the development hierarchy's
/// infrastructure certificates signed in ceremonies by an online CA key.
const INFRA: [(&str, &str); 3] = [
    ("tsa-unit-1.pem", "organisations.pem"),
    ("ocsp-organisations.pem", "organisations.pem"),
    ("ocsp-personnes.pem", "personnes.pem"),
];

fn serial_of(pki: &DevPki, file: &str) -> String {
    let c = Certificate::from_pem(std::fs::read(pki.pki(file)).unwrap()).unwrap();
    ca::domain::Serial::from_be_bytes(c.tbs_certificate.serial_number.as_bytes())
        .unwrap()
        .to_string()
}

fn der_of(pki: &DevPki, file: &str) -> Vec<u8> {
    Certificate::from_pem(std::fs::read(pki.pki(file)).unwrap())
        .unwrap()
        .to_der()
        .unwrap()
}

/// The root and the sub-CA in one file, for `openssl ocsp -CAfile`.
fn chain_file(pki: &DevPki, ca: &str) -> PathBuf {
    let path = pki.path(&format!("chain-{ca}"));
    let mut pem = std::fs::read(pki.pki("root.pem")).unwrap();
    pem.extend(std::fs::read(pki.pki(ca)).unwrap());
    std::fs::write(&path, pem).unwrap();
    path
}

/// What the running responder says of `file`, as `openssl ocsp` reports it: the status word
/// (`good`, `revoked`, `unknown`) and the whole output. The response's signature is verified
/// by OpenSSL against the root.
fn ocsp_status(pki: &DevPki, server: &Server, file: &str, issuer: &str) -> (String, String) {
    let cert = pki.pki(file);
    let out = tool(
        "openssl",
        &[
            "ocsp",
            "-issuer",
            pki.pki(issuer).to_str().unwrap(),
            "-cert",
            cert.to_str().unwrap(),
            "-url",
            &format!("{}/ocsp", server.base),
            "-CAfile",
            chain_file(pki, issuer).to_str().unwrap(),
            "-resp_text",
        ],
    );
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(text.contains("Response verify OK"), "openssl ocsp:\n{text}");
    let prefix = format!("{}: ", cert.display());
    let status = text
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no status line for {file}:\n{text}"))
        .trim()
        .to_owned();
    (status, text)
}

/// Rows of the `certificates` table for `serial`: (issuer, profile, status, DER).
fn record_of(pki: &DevPki, serial: &str) -> Option<(String, String, String, Vec<u8>)> {
    use base64::Engine as _;
    let serial = serial.to_owned();
    with_db(&db_url(pki), |pool| async move {
        let row: Option<(String, String, String, String)> = sqlx::query_as(
            "SELECT issuer, profile, status, der FROM certificates WHERE serial = $1",
        )
        .bind(serial)
        .fetch_optional(&pool)
        .await
        .unwrap();
        row.map(|(i, p, s, d)| {
            (
                i,
                p,
                s,
                base64::engine::general_purpose::STANDARD.decode(d).unwrap(),
            )
        })
    })
}

/// Journal actions about certificate `serial`, in order.
fn journal_of(pki: &DevPki, serial: &str) -> Vec<String> {
    let object = format!("certificate:{serial}");
    with_db(&db_url(pki), |pool| async move {
        sqlx::query_scalar("SELECT action FROM audit_log WHERE object = $1 ORDER BY seq")
            .bind(object)
            .fetch_all(&pool)
            .await
            .unwrap()
    })
}

/// Removes the records of the infrastructure certificates, as in a hierarchy made before
/// ceremonies recorded them.
fn forget_infrastructure(pki: &DevPki) {
    for (file, _) in INFRA {
        let serial = serial_of(pki, file);
        with_db(&db_url(pki), |pool| async move {
            sqlx::query("DELETE FROM certificates WHERE serial = $1")
                .bind(serial)
                .execute(&pool)
                .await
                .unwrap();
        });
        assert!(record_of(pki, &serial_of(pki, file)).is_none());
    }
}

#[test]
fn ocsp_answers_good_for_the_tsa_unit_and_the_ocsp_responders() {
    let pki = DevPki::new();
    let server = Server::start(pki.dir.path());
    for (file, issuer) in INFRA {
        let (status, text) = ocsp_status(&pki, &server, file, issuer);
        assert_eq!(status, "good", "{file}:\n{text}");
    }
}

#[test]
fn ceremonies_record_what_the_ca_keys_sign() {
    // `igc dev-setup` ran the ceremonies; nothing has served yet.
    let pki = DevPki::new();
    for (file, issuer) in INFRA {
        let serial = serial_of(&pki, file);
        let Some((ca, profile, status, der)) = record_of(&pki, &serial) else {
            panic!("{file} ({serial}) is not recorded after its ceremony");
        };
        let expected_ca = if issuer == "organisations.pem" {
            "IGC Santé DEV CA Organisations"
        } else {
            "IGC Santé DEV CA Personnes"
        };
        assert_eq!(ca, expected_ca, "{file}");
        let expected_profile = if file.starts_with("tsa") {
            "tsa-unit"
        } else {
            "ocsp-signer"
        };
        assert_eq!(profile, expected_profile, "{file}");
        assert_eq!(status, "good");
        assert_eq!(der, der_of(&pki, file), "{file}: recorded DER differs");
        assert_eq!(
            journal_of(&pki, &serial),
            vec!["certificate.issue"],
            "{file}"
        );
    }
}

#[test]
fn serve_backfills_unrecorded_infrastructure_and_a_revoked_one_is_listed() {
    let pki = DevPki::new();
    forget_infrastructure(&pki);
    let tsa_serial = serial_of(&pki, "tsa-unit-1.pem");
    {
        let server = Server::start(pki.dir.path());
        for (file, issuer) in INFRA {
            let (status, text) = ocsp_status(&pki, &server, file, issuer);
            assert_eq!(status, "good", "{file} after back-fill:\n{text}");
        }
    }
    for (file, _) in INFRA {
        let serial = serial_of(&pki, file);
        let (_, _, _, der) = record_of(&pki, &serial).expect("back-filled");
        assert_eq!(der, der_of(&pki, file));
    }
    // A second start finds them recorded: nothing is back-filled twice.
    drop(Server::start(pki.dir.path()));
    assert_eq!(
        journal_of(&pki, &tsa_serial),
        vec!["certificate.issue", "certificate.backfill"],
        "the ceremony's entry, then one back-fill"
    );

    // The registration office revokes the TSA unit as any certificate the CA issued.
    let ops = cli_operators(&pki, &[("bureau-infra", "registration-office", None)]);
    let out = igc_with_credentials(
        pki.dir.path(),
        &[
            "cert",
            "revoke",
            "--serial",
            &tsa_serial,
            "--reason",
            "keyCompromise",
            "--actor",
            "bureau-infra",
            "--actor-credentials-fd",
            "3",
        ],
        &[ops[0].credentials()],
    );
    assert_success(&out, "igc cert revoke of the TSA unit");

    let server = Server::start(pki.dir.path());
    let (status, text) = ocsp_status(&pki, &server, "tsa-unit-1.pem", "organisations.pem");
    assert!(status.starts_with("revoked"), "{text}");
    assert!(text.contains("keyCompromise"), "{text}");
    let (code, crl, _) = server.get("/crl/organisations.crl");
    assert_eq!(code, 200);
    let crl_path = pki.path("organisations.crl");
    std::fs::write(&crl_path, crl).unwrap();
    let out = tool(
        "openssl",
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            crl_path.to_str().unwrap(),
            "-noout",
            "-text",
        ],
    );
    let text = stdout(&out).to_ascii_lowercase();
    assert!(
        text.contains(&format!("serial number: {tsa_serial}")),
        "the CA's CRL does not list the TSA unit {tsa_serial}:\n{text}"
    );
    // OpenSSL refuses the TSA unit's chain against that CRL.
    let out = tool(
        "openssl",
        &[
            "verify",
            "-crl_check",
            "-CAfile",
            chain_file(&pki, "organisations.pem").to_str().unwrap(),
            "-CRLfile",
            crl_path.to_str().unwrap(),
            pki.pki("tsa-unit-1.pem").to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    assert!(
        format!("{}{}", stdout(&out), stderr(&out)).contains("certificate revoked"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
}

#[test]
fn journaling_a_transcript_records_the_certificates_it_lists() {
    let pki = DevPki::new();
    forget_infrastructure(&pki);
    // `igc dev-setup` again reuses every ceremony and journals its transcript; the
    // certificates the transcripts list are recorded on the way, as `igc ceremony journal`
    // does for a ceremony held before ceremonies recorded what they sign.
    let out = common::igc(
        pki.dir.path(),
        &[
            "dev-setup",
            "--ceremonies",
            common::dev_ceremonies().to_str().unwrap(),
        ],
    );
    assert_success(&out, "second dev-setup");
    for (file, _) in INFRA {
        let serial = serial_of(&pki, file);
        let (_, _, status, der) = record_of(&pki, &serial).unwrap_or_else(|| {
            panic!("{file} not recorded from its transcript:\n{}", stderr(&out))
        });
        assert_eq!((status.as_str(), der), ("good", der_of(&pki, file)));
        assert_eq!(
            journal_of(&pki, &serial),
            vec!["certificate.issue", "certificate.backfill"],
            "{file}"
        );
    }
    // Once more: nothing new.
    assert_success(
        &common::igc(
            pki.dir.path(),
            &["ceremony", "journal", "var/ceremonies/08-cert-tsa.json"],
        ),
        "igc ceremony journal",
    );
    assert_eq!(
        journal_of(&pki, &serial_of(&pki, "tsa-unit-1.pem")).len(),
        2,
        "recorded once"
    );
}

/// `igc serve` in `cwd` on free ports: its exit status and stderr if it stops within 60 s,
/// `None` (and it is killed) if it keeps serving.
fn serve_exit(cwd: &Path) -> Option<(bool, String)> {
    let mut child = Command::new(IGC)
        .current_dir(cwd)
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
        .env("SOFTHSM2_CONF", cwd.join("var/hsm/softhsm2.conf"))
        .env_remove("IGC_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let end = Instant::now() + Duration::from_secs(60);
    while Instant::now() < end {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            return Some((status.success(), stderr(&out)));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

#[test]
fn serve_refuses_a_serial_recorded_with_another_certificate() {
    use base64::Engine as _;
    let pki = DevPki::new();
    let serial = serial_of(&pki, "tsa-unit-1.pem");
    // The TSA unit's serial recorded with other bytes (the OCSP responder's certificate).
    let other =
        base64::engine::general_purpose::STANDARD.encode(der_of(&pki, "ocsp-organisations.pem"));
    let s = serial.clone();
    with_db(&db_url(&pki), |pool| async move {
        let done = sqlx::query("UPDATE certificates SET der = $1 WHERE serial = $2")
            .bind(other)
            .bind(s)
            .execute(&pool)
            .await
            .unwrap();
        assert_eq!(
            done.rows_affected(),
            1,
            "the TSA unit is recorded at its ceremony"
        );
    });
    let Some((ok, err)) = serve_exit(pki.dir.path()) else {
        panic!("igc serve started although serial {serial} is recorded with another certificate");
    };
    assert!(!ok);
    assert!(
        err.contains(&serial) && err.contains("another certificate"),
        "{err}"
    );
}
