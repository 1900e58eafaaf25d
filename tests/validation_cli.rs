//! `igc sign` with a key in a SoftHSM token (the professional's card), checked by
//! `openssl cms -verify`, and `igc verify` offline from files (anchor, CA, CRL).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../ca/tests/support/mod.rs"]
mod support;

#[path = "../ca/tests/issuance_common/mod.rs"]
#[allow(unused_macros)]
mod issuance_common;

use std::path::Path;
use std::process::{Command, Output};

use ca::domain::Profile;
use ca::storage::RequestSubject;
use der::Encode;
use hsm_config::keys::generate_key;
use hsm_config::{HsmSignature, HsmSigner, KeySpec};
use issuance_common::{ca_actor, idnat, personnes_name, pki, register, s, sqlite, Env};

const IGC: &str = env!("CARGO_BIN_EXE_igc");

fn igc(args: &[&str]) -> Output {
    // SOFTHSM2_CONF (set by the fixture for this process) is inherited.
    Command::new(IGC)
        .args(args)
        .env("IGC_CONFIG", "/nonexistent/igc.toml")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn write_pin(path: &Path) {
    std::fs::write(path, "issuance-test-pin\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn igc_sign_output_verifies_with_openssl_and_igc_verify() {
    let env = Env::new(sqlite().await).await;
    let p = pki();
    // A médecin whose SIGN key lives in the token.
    let id = idnat(4242);
    register(env.store(), &id, "Martin", "Claire", "10", None).await;
    generate_key(&p.token, KeySpec::EcP256, "card-cli").unwrap();
    let card = HsmSigner::new(&p.token, "card-cli").unwrap();
    let csr =
        ca::x509::build_csr::<_, HsmSignature>(&ca::x509::parse_dn("CN=x").unwrap(), &[], &card)
            .unwrap();
    let cert = env
        .request_and_issue(
            &env.personnes,
            Profile::Sign,
            RequestSubject::Professional(id.clone()),
            &csr.to_der().unwrap(),
            &[],
            None,
        )
        .await
        .unwrap();
    let cert_pem = env.path("sign.pem");
    std::fs::write(
        &cert_pem,
        format!(
            "{}{}",
            cert.pem(),
            std::fs::read_to_string(&p.personnes_pem).unwrap()
        ),
    )
    .unwrap();
    let pin = env.path("card.pin");
    write_pin(&pin);
    let doc = env.path("ordonnance.txt");
    std::fs::write(
        &doc,
        "ORDONNANCE\nParacétamol 1 g, 3 fois par jour, 5 jours.\n",
    )
    .unwrap();

    let sig = env.path("ordonnance.p7s");
    let o = igc(&[
        "sign",
        "--key-label",
        "card-cli",
        "--pin-file",
        s(&pin),
        "--token",
        "issuance",
        "--cert",
        s(&cert_pem),
        "--in",
        s(&doc),
        "--out",
        s(&sig),
    ]);
    assert!(o.status.success(), "igc sign: {}", text(&o));
    // Never overwrites.
    let again = igc(&[
        "sign",
        "--key-label",
        "card-cli",
        "--pin-file",
        s(&pin),
        "--token",
        "issuance",
        "--cert",
        s(&cert_pem),
        "--in",
        s(&doc),
        "--out",
        s(&sig),
    ]);
    assert!(!again.status.success());

    // OpenSSL, the independent verifier.
    let chain = env.path("chain.pem");
    std::fs::write(
        &chain,
        format!(
            "{}{}",
            std::fs::read_to_string(&p.root_pem).unwrap(),
            std::fs::read_to_string(&p.personnes_pem).unwrap()
        ),
    )
    .unwrap();
    let out = issuance_common::run(
        "openssl",
        &[
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            s(&sig),
            "-CAfile",
            s(&chain),
            "-out",
            s(&env.path("out.txt")),
        ],
    );
    assert!(out.ok, "openssl cms -verify: {}", out.stderr);
    assert_eq!(
        std::fs::read(env.path("out.txt")).unwrap(),
        std::fs::read(&doc).unwrap()
    );

    // igc verify, offline: anchor, CA, CRL.
    let crl = env.write_crl(&personnes_name(), None, "personnes.crl");
    let verify = |sig: &Path, content: Option<&Path>, doc_type: &str, crl: &Path| {
        let mut args = vec![
            "verify",
            "--in",
            s(sig),
            "--document-type",
            doc_type,
            "--anchor",
            s(&p.root_pem),
            "--ca",
            s(&p.personnes_pem),
            "--crl",
            s(crl),
            "--json",
        ];
        if let Some(c) = content {
            args.extend(["--content", s(c)]);
        }
        let o = igc(&args);
        let json: serde_json::Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("igc verify --json: {e}\n{}", text(&o)));
        (o, json)
    };
    let (o, json) = verify(&sig, None, "prescription", &crl);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(json["indication"], "TOTAL_PASSED");
    assert_eq!(json["signer"]["idnat"], id.to_string());
    assert_eq!(json["revocation"]["source"], "crl-files");

    // Detached, then the document altered: exit 1, HASH_FAILURE.
    let det = env.path("detached.p7s");
    let o = igc(&[
        "sign",
        "--key-label",
        "card-cli",
        "--pin-file",
        s(&pin),
        "--token",
        "issuance",
        "--cert",
        s(&cert_pem),
        "--in",
        s(&doc),
        "--out",
        s(&det),
        "--detached",
    ]);
    assert!(o.status.success(), "igc sign --detached: {}", text(&o));
    let (o, json) = verify(&det, Some(&doc), "medical-certificate", &crl);
    assert!(o.status.success(), "{}", text(&o));
    let altered = env.path("altered.txt");
    std::fs::write(
        &altered,
        "ORDONNANCE\nParacétamol 1 g, 6 fois par jour, 5 jours.\n",
    )
    .unwrap();
    let (o, json2) = verify(&det, Some(&altered), "medical-certificate", &crl);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(json2["sub_indication"], "HASH_FAILURE");
    let _ = json;

    // Revoked (no time-stamp): INDETERMINATE / REVOKED_NO_POE with the new CRL.
    env.revocations
        .revoke(
            &cert.serial,
            ca::domain::RevocationReason::KeyCompromise,
            &ca_actor(),
        )
        .await
        .unwrap();
    let crl2 = env.write_crl(&personnes_name(), None, "personnes2.crl");
    let (o, json) = verify(&sig, None, "prescription", &crl2);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        (json["indication"].as_str(), json["sub_indication"].as_str()),
        (Some("INDETERMINATE"), Some("REVOKED_NO_POE"))
    );
    // Human output without --json.
    let o = igc(&[
        "verify",
        "--in",
        s(&sig),
        "--document-type",
        "prescription",
        "--anchor",
        s(&p.root_pem),
        "--ca",
        s(&p.personnes_pem),
        "--crl",
        s(&crl2),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("REVOKED_NO_POE"),
        "{}",
        text(&o)
    );
    // Usage errors.
    let o = igc(&[
        "verify",
        "--in",
        s(&sig),
        "--document-type",
        "poem",
        "--anchor",
        s(&p.root_pem),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown document type"));
}
