//! The development hierarchy made by `igc dev-setup`, checked by OpenSSL and
//! pkilint, and served by `igc serve`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::OnceLock;

use common::{assert_success, igc, pkilint_errors, stderr, tool, DevPki, Server};
use der::{Decode, DecodePem, Encode};
use x509_cert::Certificate;

fn pki() -> &'static DevPki {
    static PKI: OnceLock<DevPki> = OnceLock::new();
    PKI.get_or_init(DevPki::new)
}

const CERTS: [&str; 6] = [
    "root.pem",
    "personnes.pem",
    "organisations.pem",
    "ocsp-personnes.pem",
    "ocsp-organisations.pem",
    "tsa-unit-1.pem",
];

fn cert(file: &str) -> Certificate {
    Certificate::from_pem(std::fs::read(pki().pki(file)).unwrap()).unwrap()
}

fn verify(args: &[&str]) {
    let out = tool("openssl", args);
    assert!(
        out.status.success() && common::stdout(&out).contains(": OK"),
        "openssl {args:?}:\n{}{}",
        common::stdout(&out),
        stderr(&out)
    );
}

#[test]
fn openssl_verifies_the_whole_hierarchy() {
    let p = |f: &str| pki().pki(f).to_str().unwrap().to_owned();
    let root = p("root.pem");
    let arl = p("root-arl-1.pem");
    verify(&["verify", "-x509_strict", "-CAfile", &root, &root]);
    for ca in ["personnes", "organisations"] {
        let sub = p(&format!("{ca}.pem"));
        // Sub-CA against the root's ARL.
        verify(&[
            "verify",
            "-x509_strict",
            "-crl_check",
            "-CAfile",
            &root,
            "-CRLfile",
            &arl,
            &sub,
        ]);
        verify(&[
            "verify",
            "-x509_strict",
            "-CAfile",
            &root,
            "-untrusted",
            &sub,
            &p(&format!("ocsp-{ca}.pem")),
        ]);
    }
    verify(&[
        "verify",
        "-x509_strict",
        "-purpose",
        "timestampsign",
        "-CAfile",
        &root,
        "-untrusted",
        &p("organisations.pem"),
        &p("tsa-unit-1.pem"),
    ]);
    // The ARL's signature, by the root.
    let out = tool(
        "openssl",
        &["crl", "-in", &arl, "-CAfile", &root, "-noout", "-verify"],
    );
    assert!(stderr(&out).contains("verify OK"), "{}", stderr(&out));
}

#[test]
fn pkilint_finds_no_error() {
    for file in CERTS {
        let errors = pkilint_errors("lint_pkix_cert", &[], &pki().pki(file));
        assert!(errors.is_empty(), "{file}: {errors:?}");
    }
    let errors = pkilint_errors(
        "lint_crl",
        &["-t", "ARL", "-p", "PKIX"],
        &pki().pki("root-arl-1.pem"),
    );
    assert!(errors.is_empty(), "ARL: {errors:?}");
}

fn eku_of(c: &Certificate) -> (bool, Vec<der::asn1::ObjectIdentifier>) {
    let ext = c
        .tbs_certificate
        .extensions
        .as_ref()
        .unwrap()
        .iter()
        .find(|e| e.extn_id == const_oid::db::rfc5280::ID_CE_EXT_KEY_USAGE)
        .expect("EKU present");
    let eku = x509_cert::ext::pkix::ExtendedKeyUsage::from_der(ext.extn_value.as_bytes()).unwrap();
    (ext.critical, eku.0)
}

#[test]
fn tsa_unit_has_critical_sole_timestamping_and_ocsp_signers_nocheck() {
    let (critical, purposes) = eku_of(&cert("tsa-unit-1.pem"));
    assert!(critical, "TSA EKU must be critical");
    assert_eq!(purposes, vec![const_oid::db::rfc5280::ID_KP_TIME_STAMPING]);
    for ocsp in ["ocsp-personnes.pem", "ocsp-organisations.pem"] {
        let c = cert(ocsp);
        let (_, purposes) = eku_of(&c);
        assert_eq!(purposes, vec![const_oid::db::rfc5280::ID_KP_OCSP_SIGNING]);
        let nocheck = c
            .tbs_certificate
            .extensions
            .as_ref()
            .unwrap()
            .iter()
            .any(|e| e.extn_id == const_oid::db::rfc6960::ID_PKIX_OCSP_NOCHECK);
        assert!(nocheck, "{ocsp} lacks id-pkix-ocsp-nocheck");
    }
    // Sub-CAs are signed by the root, infrastructure certs by their sub-CA.
    let root = cert("root.pem");
    let pers = cert("personnes.pem");
    pkix::verify::verify_certificate_signed_by(&pers, &root).unwrap();
    pkix::verify::verify_certificate_signed_by(&cert("ocsp-personnes.pem"), &pers).unwrap();
}

#[test]
fn dev_setup_is_idempotent_and_never_regenerates() {
    let before: Vec<Vec<u8>> = CERTS
        .iter()
        .map(|f| std::fs::read(pki().pki(f)).unwrap())
        .collect();
    let out = igc(
        pki().dir.path(),
        &[
            "dev-setup",
            "--ceremonies",
            common::dev_ceremonies().to_str().unwrap(),
        ],
    );
    assert_success(&out, "second dev-setup");
    assert!(
        stderr(&out).contains("0 ceremonies run, 14 reused"),
        "{}",
        stderr(&out)
    );
    let after: Vec<Vec<u8>> = CERTS
        .iter()
        .map(|f| std::fs::read(pki().pki(f)).unwrap())
        .collect();
    assert_eq!(before, after);
}

#[test]
fn inconsistent_var_is_refused_not_regenerated() {
    let fresh = DevPki::new();
    let tokens = fresh.path("var/hsm/tokens");
    std::fs::remove_dir_all(&tokens).unwrap();
    std::fs::create_dir_all(&tokens).unwrap();
    let root_before = std::fs::read(fresh.pki("root.pem")).unwrap();
    let out = igc(
        fresh.dir.path(),
        &[
            "dev-setup",
            "--ceremonies",
            common::dev_ceremonies().to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("inconsistent"), "{}", stderr(&out));
    assert_eq!(std::fs::read(fresh.pki("root.pem")).unwrap(), root_before);
}

#[test]
fn serve_answers_health_and_publishes_ca_certificates() {
    let server = Server::start(pki().dir.path());
    let (status, body, ctype) = server.get("/healthz");
    assert_eq!(status, 200);
    assert_eq!(ctype, "application/json");
    assert!(String::from_utf8_lossy(&body).contains("ok"));
    // HSM and database ready; the dev TSA's NTP servers may be unreachable here, in which
    // case the TSA (and so the instance) is reported not ready, with the reason.
    let (status, body, _) = server.get("/readyz");
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (&v["hsm"], &v["database"]),
        (&"ok".into(), &"ok".into()),
        "{v}"
    );
    match status {
        200 => assert_eq!(v["status"], "ready"),
        503 => {
            assert_eq!(v["tsa"]["ready"], false, "{v}");
            assert_eq!(v["tsa"]["clock"]["trusted"], false, "{v}");
        }
        other => panic!("/readyz answered {other}: {v}"),
    }
    for name in ["root", "personnes", "organisations"] {
        let expected = cert(&format!("{name}.pem")).to_der().unwrap();
        let (status, der, ctype) = server.get(&format!("/ca/{name}.crt"));
        assert_eq!((status, ctype.as_str()), (200, "application/pkix-cert"));
        assert_eq!(der, expected, "{name}.crt");
        let (status, pem, _) = server.get(&format!("/ca/{name}.pem"));
        assert_eq!(status, 200);
        assert_eq!(
            Certificate::from_pem(&pem).unwrap().to_der().unwrap(),
            expected
        );
    }
    let (status, crl, ctype) = server.get("/crl/root.crl");
    assert_eq!((status, ctype.as_str()), (200, "application/pkix-crl"));
    x509_cert::crl::CertificateList::from_der(&crl).unwrap();
    for missing in ["/ca/nope.crt", "/ca/root.exe", "/crl/nope.crl", "/nothing"] {
        assert_eq!(server.get(missing).0, 404, "{missing}");
    }
}
