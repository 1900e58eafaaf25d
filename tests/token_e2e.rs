//! Issue 26: the whole PKI on the PKCS#11 token `IGC_TEST_TOKEN` names (`softhsm`, the
//! default; `kryoptic`; `nss`), judged by OpenSSL. Every development ceremony runs on that
//! module (SoftHSM's token directory must stay empty on the others; on NSS the tokens are
//! databases made by `certutil`, taken over by the `init-token` ceremonies as an HSM's
//! partitions would be); `igc serve` signs with its keys; two operators issue a médecin's
//! certificate with the real `igc` (four eyes); OpenSSL verifies the certificate's chain, the
//! OCSP responder's answer for it (good, then revoked), the CRL listing it, and a time-stamp
//! token. `make test` runs it on SoftHSM (with the suite) and on kryoptic;
//! `make test-hsm-matrix` on all three.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::served::Ctx;
use common::tokens::{self, Kind};
use common::{
    assert_success, http_get, http_post, igc_with_credentials, ready, stderr, stdout, tool,
};

fn openssl(args: &[&str]) -> String {
    let out = tool("openssl", args);
    assert_success(&out, &format!("openssl {}", args.join(" ")));
    format!("{}{}", stdout(&out), stderr(&out))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `openssl ocsp` for `cert` against the served responder: its status line.
fn ocsp_status(ctx: &Ctx, cert: &Path, chain: &Path) -> String {
    let text = openssl(&[
        "ocsp",
        "-issuer",
        s(&ctx.pki.pki("personnes.pem")),
        "-cert",
        s(cert),
        "-url",
        &format!("{}/ocsp", ctx.serve.base),
        "-CAfile",
        s(chain),
    ]);
    assert!(
        text.contains("Response verify OK"),
        "OCSP response not verified by OpenSSL: {text}"
    );
    text
}

#[test]
fn ceremonies_issuance_ocsp_crl_and_tsa_on_the_configured_token() {
    let kind = tokens::kind();
    let ctx = Ctx::on_token(kind);
    let d = ctx.dir();

    // The keys are where the configuration says: on another module, SoftHSM holds nothing.
    let softhsm_tokens = std::fs::read_dir(d.join("var/hsm/tokens"))
        .map(|entries| entries.count())
        .unwrap_or(0);
    if kind == Kind::SoftHsm {
        assert!(softhsm_tokens > 0, "the SoftHSM run made no token");
    } else {
        assert_eq!(softhsm_tokens, 0, "{kind:?}: the ceremonies used SoftHSM");
    }
    let transcript = std::fs::read_to_string(d.join("var/ceremonies/03-root.json")).unwrap();
    let module = match kind {
        Kind::SoftHsm => "libsofthsm2.so",
        Kind::Kryoptic => "libkryoptic_pkcs11.so",
        Kind::Nss => "libsoftokn3.so",
    };
    assert!(
        transcript.contains(module),
        "the root's transcript does not name {module}: {transcript}"
    );

    if kind == Kind::Nss {
        // The databases' first PIN (certutil's) was replaced by the custodians': a new
        // process logging in with it is refused (`igc hsm check`'s live test).
        let out = common::igc(
            d,
            &[
                "hsm",
                "check",
                "--config",
                "var/igc.toml",
                "--pin-file",
                "var/hsm/initial.pin",
                "--needs",
                "ec",
            ],
        );
        assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
        assert!(
            stdout(&out)
                .lines()
                .any(|l| l.starts_with("login ") && l.contains("failed")),
            "{}",
            stdout(&out)
        );
    }

    // Each signer's mechanism is chosen from the token's list and logged at start; a healthy
    // start logs no error.
    let log = std::fs::read_to_string(d.join("serve.log")).unwrap();
    let expected = match kind {
        Kind::SoftHsm => "pkcs11_mechanism=CKM_ECDSA\n",
        Kind::Kryoptic | Kind::Nss => "pkcs11_mechanism=CKM_ECDSA_SHA256\n",
    };
    for key in ["ca-personnes", "ocsp-personnes", "tsa-unit-1"] {
        assert!(
            log.lines()
                .any(|l| l.contains(&format!("key={key} ")) && format!("{l}\n").ends_with(expected)),
            "{kind:?}: no {expected:?} logged for {key}:\n{log}"
        );
    }
    let errors: Vec<&str> = log.lines().filter(|l| l.contains("ERROR")).collect();
    assert!(
        errors.is_empty(),
        "{kind:?}: errors logged at start:\n{}",
        errors.join("\n")
    );

    // The hierarchy, as OpenSSL sees it.
    let chain = d.join("personnes-chain.pem");
    std::fs::write(
        &chain,
        format!(
            "{}{}",
            std::fs::read_to_string(ctx.pki.pki("root.pem")).unwrap(),
            std::fs::read_to_string(ctx.pki.pki("personnes.pem")).unwrap()
        ),
    )
    .unwrap();
    openssl(&[
        "verify",
        "-CAfile",
        s(&ctx.pki.pki("root.pem")),
        s(&ctx.pki.pki("personnes.pem")),
        s(&ctx.pki.pki("organisations.pem")),
    ]);

    // Issuance through the CLI, four eyes, the CA key on the token.
    let (_key, cert) = ctx.openssl_signer();
    let verified = openssl(&["verify", "-CAfile", s(&chain), s(&cert)]);
    assert!(verified.contains(": OK"), "{verified}");
    let status = ocsp_status(&ctx, &cert, &chain);
    assert!(
        status.contains(": good"),
        "issued certificate not good: {status}"
    );

    // Revoked by a clerk of the Order: OCSP says so, and the next CRL lists it.
    let serial = openssl(&["x509", "-in", s(&cert), "-noout", "-serial"])
        .trim()
        .trim_start_matches("serial=")
        .to_lowercase();
    let clerk = ready(&ctx.managers);
    let out = igc_with_credentials(
        d,
        &[
            "cert",
            "revoke",
            "--serial",
            &serial,
            "--reason",
            "keyCompromise",
            "--actor",
            &clerk.login,
            "--actor-credentials-fd",
            "3",
        ],
        &[clerk.credentials()],
    );
    assert_success(&out, "cert revoke");
    let ok = common::wait_until(std::time::Duration::from_secs(10), || {
        ocsp_status(&ctx, &cert, &chain).contains(": revoked")
    });
    assert!(ok, "OCSP never said revoked");
    let status = ocsp_status(&ctx, &cert, &chain);
    assert!(status.contains("Reason: keyCompromise"), "{status}");
    let crl = d.join("personnes.crl");
    let listed = common::wait_until(std::time::Duration::from_secs(10), || {
        let (code, body, _) = http_get(&format!("{}/crl/personnes.crl", ctx.serve.base));
        std::fs::write(&crl, &body).unwrap();
        code == 200
            && tool(
                "openssl",
                &["crl", "-inform", "DER", "-in", s(&crl), "-noout", "-text"],
            )
            .stdout
            .windows(serial.len())
            .any(|w| w.eq_ignore_ascii_case(serial.as_bytes()))
    });
    assert!(listed, "the CRL never listed {serial}");
    let text = openssl(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        s(&crl),
        "-CAfile",
        s(&chain),
        "-noout",
    ]);
    assert!(text.contains("verify OK"), "CRL signature: {text}");

    // A time-stamp token from the TSA unit's key on the token.
    let doc = d.join("ordonnance.txt");
    std::fs::write(&doc, "ordonnance de test\n").unwrap();
    let query = d.join("req.tsq");
    openssl(&[
        "ts",
        "-query",
        "-data",
        s(&doc),
        "-sha256",
        "-cert",
        "-out",
        s(&query),
    ]);
    let (code, reply, _) = http_post(
        &ctx.tsa_url(),
        "application/timestamp-query",
        &std::fs::read(&query).unwrap(),
    );
    assert_eq!(code, 200);
    let reply_path = d.join("resp.tsr");
    std::fs::write(&reply_path, reply).unwrap();
    let tsa_chain = d.join("organisations-chain.pem");
    std::fs::write(
        &tsa_chain,
        format!(
            "{}{}",
            std::fs::read_to_string(ctx.pki.pki("organisations.pem")).unwrap(),
            std::fs::read_to_string(ctx.pki.pki("tsa-unit-1.pem")).unwrap()
        ),
    )
    .unwrap();
    let text = openssl(&[
        "ts",
        "-verify",
        "-data",
        s(&doc),
        "-in",
        s(&reply_path),
        "-CAfile",
        s(&ctx.pki.pki("root.pem")),
        "-untrusted",
        s(&tsa_chain),
    ]);
    assert!(text.contains("Verification: OK"), "{text}");
}
