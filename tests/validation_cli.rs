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
use issuance_common::{ca_actor, idnat, orgs_name, personnes_name, pki, register, s, sqlite, Env};

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
        pkix::build_csr::<_, HsmSignature>(&pkix::parse_dn("CN=x").unwrap(), &[], &card).unwrap();
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
        "--level",
        "B",
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
        "--level",
        "B",
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
        "--level",
        "B",
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

// ----- CAdES-T through the TSA over HTTP ---------------------------------------------------

/// An SNTP responder on loopback answering with the system time (RFC 4330 §4 layout).
async fn sntp_server() -> std::net::SocketAddr {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 256];
        loop {
            let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
                return;
            };
            if n < 48 {
                continue;
            }
            let now = || {
                let d = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap();
                let secs = d.as_secs() + 2_208_988_800;
                let frac = (u64::from(d.subsec_nanos()) << 32) / 1_000_000_000;
                (secs << 32) | frac
            };
            let mut r = [0u8; 48];
            r[0] = (4 << 3) | 4;
            r[1] = 1;
            r[2] = buf[2];
            r[3] = 0xec;
            r[12..16].copy_from_slice(b"LOCL");
            r[16..24].copy_from_slice(&now().to_be_bytes());
            r[24..32].copy_from_slice(&buf[40..48]);
            r[32..40].copy_from_slice(&now().to_be_bytes());
            r[40..48].copy_from_slice(&now().to_be_bytes());
            let _ = sock.send_to(&r, peer).await;
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn igc_sign_with_tsa_url_makes_cades_t_that_survives_revocation() {
    use pkix::{build_certificate, certificate_to_pem, InfraCertParams, InfraProfile};
    let env = Env::new(sqlite().await).await;
    let p = pki();
    // The TSA unit (CA Organisations) and the TSA on loopback.
    generate_key(&p.token, KeySpec::EcP256, "tsa-cli").unwrap();
    let tsa_key = HsmSigner::new(&p.token, "tsa-cli").unwrap();
    let now = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    let tsa_cert = build_certificate::<_, HsmSignature>(
        &InfraCertParams {
            profile: InfraProfile::TsaUnit,
            subject: pkix::parse_dn("C=FR, O=IGC Santé (test), CN=TSA (test)").unwrap(),
            subject_spki: tsa_key.spki().clone(),
            issuer: Some(pkix::IssuerInfo::from_certificate(&p.orgs).unwrap()),
            not_before: now,
            not_after: now + time::Duration::days(365),
            serial: None,
            policy_oids: vec!["1.3.6.1.4.1.32473.1.7.3.1".parse().unwrap()],
            crl_url: Some(format!(
                "{}/crl/organisations.crl",
                issuance_common::BASE_URL
            )),
            ca_issuers_url: Some(format!(
                "{}/ca/organisations.crt",
                issuance_common::BASE_URL
            )),
            ocsp_url: Some(format!("{}/ocsp", issuance_common::BASE_URL)),
        },
        &p.orgs_signer,
    )
    .unwrap();
    let tsa_pem = env.path("tsa.pem");
    std::fs::write(&tsa_pem, certificate_to_pem(&tsa_cert).unwrap()).unwrap();
    let (a, b) = (sntp_server().await, sntp_server().await);
    let mut clock = tsa::ClockConfig::new(vec![a.to_string(), b.to_string()]);
    clock.poll_interval_ms = 200;
    clock.retry_interval_ms = 100;
    clock.query_timeout_ms = 150;
    let mut cfg = tsa::TsaConfig::new(
        "1.3.6.1.4.1.32473.1.7.3.1".parse().unwrap(),
        1,
        "tsa-cli",
        &tsa_pem,
        clock,
    );
    cfg.chain = vec![p.orgs_pem.clone()];
    cfg.accuracy_ms = 500;
    let authority =
        tsa::start::<_, HsmSignature, _>(&cfg, tsa_key, tsa::MemoryRecorder::new()).unwrap();
    assert!(
        authority
            .clock()
            .wait_until(true, std::time::Duration::from_secs(10))
            .await
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = tsa::http::router(authority.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    // A médecin's card key and SIGN certificate.
    let id = idnat(4343);
    register(env.store(), &id, "Bernard", "Louise", "10", None).await;
    generate_key(&p.token, KeySpec::EcP256, "card-cli-t").unwrap();
    let card = HsmSigner::new(&p.token, "card-cli-t").unwrap();
    let csr =
        pkix::build_csr::<_, HsmSignature>(&pkix::parse_dn("CN=x").unwrap(), &[], &card).unwrap();
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
    let cert_pem = env.path("sign-t.pem");
    std::fs::write(&cert_pem, cert.pem()).unwrap();
    let pin = env.path("card-t.pin");
    write_pin(&pin);
    let doc = env.path("certificat.txt");
    std::fs::write(
        &doc,
        "CERTIFICAT MEDICAL\nAptitude a la pratique du sport.\n",
    )
    .unwrap();
    let sig = env.path("certificat.p7s");
    let url = format!("http://127.0.0.1:{port}/tsa");
    let o = tokio::task::spawn_blocking({
        let (pin, cert_pem, doc, sig, url) = (
            pin.clone(),
            cert_pem.clone(),
            doc.clone(),
            sig.clone(),
            url.clone(),
        );
        move || {
            igc(&[
                "sign",
                "--key-label",
                "card-cli-t",
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
                "--tsa-url",
                &url,
            ])
        }
    })
    .await
    .unwrap();
    assert!(o.status.success(), "igc sign --tsa-url: {}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("CAdES-BASELINE-T"));

    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    env.revocations
        .revoke(
            &cert.serial,
            ca::domain::RevocationReason::KeyCompromise,
            &ca_actor(),
        )
        .await
        .unwrap();
    let crl = env.write_crl(&personnes_name(), None, "personnes-t.crl");
    let verify = |crls: &[&std::path::Path]| {
        let mut args = vec![
            "verify",
            "--in",
            s(&sig),
            "--document-type",
            "medical-certificate",
            "--anchor",
            s(&p.root_pem),
            "--ca",
            s(&p.personnes_pem),
            "--ca",
            s(&p.orgs_pem),
            "--json",
        ];
        for c in crls {
            args.extend(["--crl", s(c)]);
        }
        let o = igc(&args);
        let json: serde_json::Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("igc verify --json: {e}\n{}", text(&o)));
        (o, json)
    };
    // Without the TSA's CA's CRL, the TSA certificate's status is unknown: the time-stamp
    // proves nothing, and the revocation may predate the signature (issue 22, defect 2).
    let (o, json) = verify(&[&crl]);
    assert!(!o.status.success(), "{}", text(&o));
    assert_eq!(json["indication"], "INDETERMINATE", "{json:#}");
    assert_eq!(json["sub_indication"], "REVOKED_NO_POE", "{json:#}");
    // With CA Organisations' CRL, the time-stamp is valid and the signature survives.
    let orgs_crl = env.write_crl(&orgs_name(), None, "orgs-t.crl");
    let (o, json) = verify(&[&crl, &orgs_crl]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(json["signature_format"], "CAdES-BASELINE-T");
    assert_eq!(json["revocation"]["status"], "revoked");
    assert!(json["timestamp_time"].is_string());
    // A TSA that is not there: a clear failure, nothing written.
    let o = igc(&[
        "sign",
        "--key-label",
        "card-cli-t",
        "--pin-file",
        s(&pin),
        "--token",
        "issuance",
        "--cert",
        s(&cert_pem),
        "--in",
        s(&doc),
        "--out",
        s(&env.path("none.p7s")),
        "--tsa-url",
        "http://127.0.0.1:1/tsa",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("time-stamping"),
        "{}",
        text(&o)
    );
    assert!(!env.path("none.p7s").exists());
}
