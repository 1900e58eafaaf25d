//! Sub-CA certificates signed by the offline root are known to the CA database like every
//! certificate a CA key signs, as a relying party sees it: the `intermediate` ceremonies
//! record them, `igc serve` back-fills them, `igc cert revoke` revokes one, and the root's
//! next ARL, made in a `crl` ceremony, lists it, so that `openssl verify -crl_check_all`
//! refuses a certificate under it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::Output;

use common::{
    assert_success, cli_operators, db_url, igc, igc_with_credentials, stderr, stdout, tool,
    with_db, DevPki, Server,
};
use der::{DecodePem, Encode};
use x509_cert::Certificate;

/// The development root's name in the CA database (its CN).
const ROOT: &str = "IGC Santé DEV Root CA";
/// The sub-CAs of the development hierarchy.
const SUB_CAS: [&str; 2] = ["personnes.pem", "organisations.pem"];

fn certificate(pki: &DevPki, file: &str) -> Certificate {
    Certificate::from_pem(std::fs::read(pki.pki(file)).unwrap()).unwrap()
}

fn serial_of(pki: &DevPki, file: &str) -> String {
    let c = certificate(pki, file);
    ca::domain::Serial::from_be_bytes(c.tbs_certificate.serial_number.as_bytes())
        .unwrap()
        .to_string()
}

/// (issuer, profile, status, DER) of the `certificates` row of `serial`.
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

fn forget(pki: &DevPki, serial: &str) {
    let serial = serial.to_owned();
    with_db(&db_url(pki), |pool| async move {
        sqlx::query("DELETE FROM certificates WHERE serial = $1")
            .bind(serial)
            .execute(&pool)
            .await
            .unwrap();
    });
}

/// Writes a `crl` ceremony of the development root into `var/` and returns its path.
/// `revoked` is the YAML of its `revoked:` list (empty: none).
fn root_crl_ceremony(pki: &DevPki, name: &str, number: u32, revoked: &str) -> String {
    let file = format!("var/{name}.yaml");
    let revoked = if revoked.is_empty() {
        String::new()
    } else {
        format!("revoked:\n{revoked}")
    };
    std::fs::write(
        pki.path(&file),
        format!(
            "ceremony: crl\n\
             description: ARL number {number} of the development root\n\
             operators: [dev-admin, alice, bob]\n\
             transcript: var/ceremonies/{name}.json\n\
             issuer:\n  token:\n    label: igc-root\n    pin:\n      shares: \
             [var/shares/igc-root-alice.share.json, var/shares/igc-root-bob.share.json]\n  \
             key_label: root-ca\n  certificate: var/pki/root.pem\n\
             crl_number: {number}\n\
             previous_crl: var/pki/root-arl-1.pem\n\
             next_update_days: 30\n\
             {revoked}\
             crl: var/pki/{name}.pem\n"
        ),
    )
    .unwrap();
    file
}

/// `openssl verify -crl_check_all` of `leaf` up to the root, the sub-CA untrusted, with the
/// root's ARL and the sub-CA's CRL.
fn verify(pki: &DevPki, arl: &str, sub_crl: &Path, sub: &str, leaf: &str) -> Output {
    tool(
        "openssl",
        &[
            "verify",
            "-crl_check_all",
            "-CAfile",
            pki.pki("root.pem").to_str().unwrap(),
            "-untrusted",
            pki.pki(sub).to_str().unwrap(),
            "-CRLfile",
            pki.pki(arl).to_str().unwrap(),
            "-CRLfile",
            sub_crl.to_str().unwrap(),
            pki.pki(leaf).to_str().unwrap(),
        ],
    )
}

fn text(out: &Output) -> String {
    format!("{}{}", stdout(out), stderr(out))
}

/// The serials a CRL lists, lower-case hex, as `openssl crl -text` prints them.
fn crl_serials(crl: &Path) -> String {
    let out = tool(
        "openssl",
        &["crl", "-in", crl.to_str().unwrap(), "-noout", "-text"],
    );
    let der = tool(
        "openssl",
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            crl.to_str().unwrap(),
            "-noout",
            "-text",
        ],
    );
    let out = if out.status.success() { out } else { der };
    assert!(out.status.success(), "openssl crl: {}", text(&out));
    stdout(&out).to_ascii_lowercase()
}

#[test]
fn intermediate_ceremonies_record_the_sub_cas() {
    // `igc dev-setup` ran the ceremonies with the configuration present; nothing has served.
    let pki = DevPki::new();
    for file in SUB_CAS {
        let serial = serial_of(&pki, file);
        let Some((issuer, profile, status, der)) = record_of(&pki, &serial) else {
            panic!("{file} ({serial}) is not recorded after its ceremony");
        };
        assert_eq!(
            (issuer.as_str(), profile.as_str(), status.as_str()),
            (ROOT, "sub-ca", "good"),
            "{file}"
        );
        assert_eq!(der, certificate(&pki, file).to_der().unwrap(), "{file}");
        assert_eq!(journal_of(&pki, &serial), ["certificate.issue"], "{file}");
    }
    // `igc cert show` finds it as any certificate.
    let serial = serial_of(&pki, "personnes.pem");
    let out = igc(
        pki.dir.path(),
        &["cert", "show", "--serial", &serial, "--json"],
    );
    assert_success(&out, "igc cert show of a sub-CA");
    let shown: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(shown["profile"], "sub-ca");
    assert_eq!(shown["issuer"], ROOT);
}

#[test]
fn serve_backfills_the_configured_sub_cas_and_a_ceremony_without_configuration_says_so() {
    let pki = DevPki::new();
    for file in SUB_CAS {
        forget(&pki, &serial_of(&pki, file));
    }
    drop(Server::start(pki.dir.path()));
    for file in SUB_CAS {
        let serial = serial_of(&pki, file);
        let (issuer, profile, _, der) =
            record_of(&pki, &serial).unwrap_or_else(|| panic!("{file} not back-filled"));
        assert_eq!((issuer.as_str(), profile.as_str()), (ROOT, "sub-ca"));
        assert_eq!(der, certificate(&pki, file).to_der().unwrap());
        assert_eq!(
            journal_of(&pki, &serial),
            ["certificate.issue", "certificate.backfill"],
            "{file}: the ceremony's entry, then the back-fill"
        );
    }

    // A sub-CA made where there is no configuration (an offline ceremony) is signed and
    // written; the ceremony says it is not recorded yet and how it will be.
    let ceremony = pki.path("var/extra-sub-ca.yaml");
    std::fs::write(
        &ceremony,
        "ceremony: intermediate\n\
         description: A sub-CA made offline\n\
         operators: [dev-admin, alice, bob]\n\
         transcript: var/ceremonies/extra-sub-ca.json\n\
         issuer:\n  token:\n    label: igc-root\n    pin:\n      shares: \
         [var/shares/igc-root-alice.share.json, var/shares/igc-root-bob.share.json]\n  \
         key_label: root-ca\n  certificate: var/pki/root.pem\n\
         token:\n  label: igc-online\n  pin:\n    file: var/hsm/online.pin\n\
         key:\n  label: ca-extra\n  spec: ec-p256\n\
         subject: \"C=FR, O=IGC Santé DEV, OU=0002 000000000, CN=IGC Santé DEV CA Extra\"\n\
         validity_days: 365\n\
         policy_oids: [\"1.3.6.1.5.5.7.13.1\"]\n\
         crl_url: http://127.0.0.1:8080/crl/root.crl\n\
         ca_issuers_url: http://127.0.0.1:8080/ca/root.crt\n\
         certificate: var/pki/extra.pem\n",
    )
    .unwrap();
    let out = igc(
        pki.dir.path(),
        &[
            "--config",
            "var/no-such-igc.toml",
            "ceremony",
            "run",
            "var/extra-sub-ca.yaml",
        ],
    );
    assert_success(&out, "intermediate ceremony without a configuration");
    let said = stderr(&out);
    assert!(
        said.contains("not recorded") && said.contains("igc ceremony journal"),
        "{said}"
    );
    let serial = serial_of(&pki, "extra.pem");
    assert!(record_of(&pki, &serial).is_none());
    // Journaled on the online system: recorded on the way.
    assert_success(
        &igc(
            pki.dir.path(),
            &["ceremony", "journal", "var/ceremonies/extra-sub-ca.json"],
        ),
        "igc ceremony journal",
    );
    let (issuer, profile, status, _) = record_of(&pki, &serial).expect("recorded by the journal");
    assert_eq!(
        (issuer.as_str(), profile.as_str(), status.as_str()),
        (ROOT, "sub-ca", "good")
    );
    assert_eq!(journal_of(&pki, &serial), ["certificate.backfill"]);
}

#[test]
fn a_sub_ca_revoked_in_the_database_is_listed_by_the_roots_next_arl() {
    let pki = DevPki::new();
    let sub_serial = serial_of(&pki, "organisations.pem");
    // The TSA unit, issued by the CA Organisations, stands for any certificate under it.
    let crl_path = pki.path("organisations.crl");
    let server = Server::start(pki.dir.path());
    let (code, crl, _) = server.get("/crl/organisations.crl");
    assert_eq!(code, 200);
    std::fs::write(&crl_path, crl).unwrap();
    let before = verify(
        &pki,
        "root-arl-1.pem",
        &crl_path,
        "organisations.pem",
        "tsa-unit-1.pem",
    );
    assert!(before.status.success(), "{}", text(&before));
    drop(server);

    // The registration office revokes the sub-CA, as any certificate.
    let ops = cli_operators(&pki, &[("bureau-infra", "registration-office", None)]);
    let out = igc_with_credentials(
        pki.dir.path(),
        &[
            "cert",
            "revoke",
            "--serial",
            &sub_serial,
            "--reason",
            "cACompromise",
            "--actor",
            "bureau-infra",
            "--actor-credentials-fd",
            "3",
        ],
        &[ops[0].credentials()],
    );
    assert_success(&out, "igc cert revoke of a sub-CA");
    assert!(
        stdout(&out).contains(&format!("revoked {sub_serial}")),
        "{}",
        text(&out)
    );
    assert!(
        stderr(&out).contains("crl ceremony") && !stderr(&out).contains("warning"),
        "the revocation says where it is published, and nothing failed:\n{}",
        text(&out)
    );
    let (_, _, status, _) = record_of(&pki, &sub_serial).unwrap();
    assert_eq!(status, "revoked");

    // The online CA's CRL is not where a sub-CA is listed.
    let server = Server::start(pki.dir.path());
    let (code, crl, _) = server.get("/crl/organisations.crl");
    assert_eq!(code, 200);
    std::fs::write(&crl_path, crl).unwrap();
    drop(server);
    assert!(
        !crl_serials(&crl_path).contains(&sub_serial),
        "the CA Organisations' CRL lists its own certificate"
    );

    // Listed in the ceremony file too, with another reason: refused, nothing written.
    let conflicting = root_crl_ceremony(
        &pki,
        "root-arl-conflict",
        2,
        "  - certificate: var/pki/organisations.pem\n    reason: keyCompromise\n    \
         revoked_at: \"2026-01-01T00:00:00Z\"\n",
    );
    let out = igc(pki.dir.path(), &["ceremony", "run", &conflicting]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        stderr(&out).contains(&sub_serial) && stderr(&out).contains("cACompromise"),
        "the refusal names the certificate and both revocations:\n{}",
        text(&out)
    );
    assert!(!pki.pki("root-arl-conflict.pem").exists());
    assert!(!pki.path("var/ceremonies/root-arl-conflict.json").exists());

    // The root's next ARL, from a ceremony file that lists nothing.
    let ceremony = root_crl_ceremony(&pki, "root-arl-2", 2, "");
    let out = igc(pki.dir.path(), &["ceremony", "run", &ceremony]);
    assert_success(&out, "root crl ceremony");
    let arl = crl_serials(&pki.pki("root-arl-2.pem"));
    assert!(
        arl.contains(&format!("serial number: {sub_serial}")),
        "{arl}"
    );
    assert!(arl.contains("ca compromise"), "{arl}");
    assert!(
        !arl.contains(&serial_of(&pki, "personnes.pem")),
        "only the revoked sub-CA is listed:\n{arl}"
    );

    let after = verify(
        &pki,
        "root-arl-2.pem",
        &crl_path,
        "organisations.pem",
        "tsa-unit-1.pem",
    );
    assert!(!after.status.success(), "{}", text(&after));
    assert!(
        text(&after).contains("certificate revoked"),
        "{}",
        text(&after)
    );
    // The other branch of the hierarchy is untouched.
    let server = Server::start(pki.dir.path());
    let (code, crl, _) = server.get("/crl/personnes.crl");
    assert_eq!(code, 200);
    let personnes_crl = pki.path("personnes.crl");
    std::fs::write(&personnes_crl, crl).unwrap();
    drop(server);
    let other = verify(
        &pki,
        "root-arl-2.pem",
        &personnes_crl,
        "personnes.pem",
        "ocsp-personnes.pem",
    );
    assert!(other.status.success(), "{}", text(&other));
}

#[test]
fn serve_records_a_revocation_the_served_arl_holds_and_the_database_lacks() {
    // A revocation written in the ceremony file only (as before the database was asked):
    // once that ARL is the one served, `igc serve` records it, so that the store, which the
    // CA's own validation asks first, never calls good what the ARL calls revoked.
    let pki = DevPki::new();
    let serial = serial_of(&pki, "personnes.pem");
    let ceremony = root_crl_ceremony(
        &pki,
        "root-arl-file-only",
        2,
        "  - certificate: var/pki/personnes.pem\n    reason: keyCompromise\n    \
         revoked_at: \"2026-06-01T12:00:00Z\"\n",
    );
    assert_success(
        &igc(pki.dir.path(), &["ceremony", "run", &ceremony]),
        "root crl ceremony",
    );
    assert!(crl_serials(&pki.pki("root-arl-file-only.pem")).contains(&serial));
    assert_eq!(record_of(&pki, &serial).unwrap().2, "good");
    let config = pki.path("var/igc.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let served = "root_crl = \"pki/root-arl-1.pem\"";
    assert!(text.contains(served));
    std::fs::write(
        &config,
        text.replace(served, "root_crl = \"pki/root-arl-file-only.pem\""),
    )
    .unwrap();

    drop(Server::start(pki.dir.path()));
    let out = igc(
        pki.dir.path(),
        &["cert", "show", "--serial", &serial, "--json"],
    );
    assert_success(&out, "igc cert show");
    let shown: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(shown["status"]["status"], "revoked", "{shown}");
    assert_eq!(shown["status"]["reason"], "keyCompromise", "{shown}");
    assert_eq!(shown["status"]["at"], "2026-06-01T12:00:00Z", "{shown}");
    // Once: a second start finds it revoked.
    drop(Server::start(pki.dir.path()));
    assert_eq!(
        journal_of(&pki, &serial),
        ["certificate.issue", "certificate.revoke"]
    );
    // The other sub-CA, which the ARL does not list, is untouched.
    assert_eq!(
        record_of(&pki, &serial_of(&pki, "organisations.pem"))
            .unwrap()
            .2,
        "good"
    );
}
