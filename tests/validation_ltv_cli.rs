//! Long-term CAdES from the command line against the development hierarchy served by
//! `igc serve` (TSA, OCSP, CRLs and CA certificates at the URLs its certificates name):
//! a CAdES-B made by `openssl cms -sign -cades` extended to LT then LTA by `igc extend`,
//! still accepted by `openssl cms -verify`, each embedded time-stamp accepted by
//! `openssl ts -verify` against the imprint recomputed here; `igc archive renew` on a folder;
//! garbled input refused cleanly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::served::{no_panic, unsigned_oids, verify_root_only, Ctx};
use common::{assert_success, igc, igc_with_credentials, stderr, stdout, tool, wait_until};
use der::Encode;
use sha2::Digest;

#[test]
fn openssl_cades_extended_to_lt_and_lta_then_renewed() {
    let ctx = Ctx::new();
    let (key, cert) = ctx.openssl_signer();
    let doc = ctx.path("ordonnance.txt");
    std::fs::write(
        &doc,
        "ORDONNANCE\nAmoxicilline 1 g matin et soir, 6 jours.\n",
    )
    .unwrap();
    let b = ctx.path("b.p7s");
    let out = tool(
        "openssl",
        &[
            "cms",
            "-sign",
            "-cades",
            "-binary",
            "-nodetach",
            "-md",
            "sha256",
            "-in",
            doc.to_str().unwrap(),
            "-signer",
            cert.to_str().unwrap(),
            "-inkey",
            key.to_str().unwrap(),
            // The issuing CA travels with the signature, as usual.
            "-certfile",
            ctx.pki.pki("personnes.pem").to_str().unwrap(),
            "-outform",
            "DER",
            "-out",
            b.to_str().unwrap(),
        ],
    );
    assert_success(&out, "openssl cms -sign -cades");
    ctx.cms_verify(&b, &doc);

    // LT: certificate-values and revocation-values (with OCSP responses).
    let lt = ctx.path("lt.p7s");
    let o = ctx.extend(&b, "LT", &lt);
    assert!(o.status.success(), "igc extend --to LT: {}", stderr(&o));
    let oids = unsigned_oids(&lt);
    for oid in [
        "1.2.840.113549.1.9.16.2.14",
        "1.2.840.113549.1.9.16.2.23",
        "1.2.840.113549.1.9.16.2.24",
    ] {
        assert!(oids.iter().any(|o| o == oid), "{oid} missing: {oids:?}");
    }
    let parsed = validation::cades::parse_cms(&std::fs::read(&lt).unwrap()).unwrap();
    let rv: validation::ltv::RevocationValues = validation::cades::single_attribute(
        parsed.signer.unsigned_attrs.as_ref(),
        pkix::oid::ID_AA_ETS_REVOCATION_VALUES,
    )
    .unwrap()
    .unwrap()
    .decode_as()
    .unwrap();
    // The signer's OCSP response; CRLs (the CAs' ARL at least).
    assert!(
        rv.ocsp_vals.as_ref().is_some_and(|o| !o.is_empty()),
        "{rv:?}"
    );
    assert!(rv.crl_vals.as_ref().is_some_and(|c| !c.is_empty()));
    ctx.cms_verify(&lt, &doc);
    assert_eq!(ctx.check_tokens(&lt, "lt"), 0);
    // Our validator, knowing only the root, reads the level reached from the file alone.
    let (o, r) = verify_root_only(&ctx, &lt, "prescription");
    assert!(o.status.success(), "{r:#}");
    assert_eq!(r["signature_format"], "CAdES-BASELINE-LT", "{r:#}");
    // The output is never overwritten.
    let again = ctx.extend(&b, "LT", &lt);
    assert!(!again.status.success());

    // LTA.
    let lta = ctx.path("lta.p7s");
    let o = ctx.extend(&lt, "LTA", &lta);
    assert!(o.status.success(), "igc extend --to LTA: {}", stderr(&o));
    assert!(unsigned_oids(&lta).iter().any(|o| o == "0.4.0.1733.2.4"));
    ctx.cms_verify(&lta, &doc);
    assert_eq!(ctx.check_tokens(&lta, "lta"), 1);
    let (o, r) = verify_root_only(&ctx, &lta, "prescription");
    assert!(o.status.success(), "{r:#}");
    assert_eq!(r["signature_format"], "CAdES-BASELINE-LTA", "{r:#}");
    // The archive time-stamp carries its TSA's chain and status.
    let parsed = validation::cades::parse_cms(&std::fs::read(&lta).unwrap()).unwrap();
    let ats = validation::ltv::archive_timestamps(&parsed.signer).unwrap();
    let tp = validation::cades::parse_signed_data(&ats[0].token.content).unwrap();
    assert!(validation::cades::single_attribute(
        tp.signer.unsigned_attrs.as_ref(),
        pkix::oid::ID_AA_ETS_REVOCATION_VALUES
    )
    .unwrap()
    .is_some());

    // igc sign --level LTA with a key in the token, end to end.
    let card_cert = ctx.hsm_signer("card-ltv");
    let signed = ctx.path("signed-lta.p7s");
    let url = ctx.tsa_url();
    let o = igc(
        ctx.dir(),
        &[
            "sign",
            "--level",
            "LTA",
            "--key-label",
            "card-ltv",
            "--pin-file",
            "var/hsm/online.pin",
            "--token",
            "igc-online",
            "--cert",
            card_cert.to_str().unwrap(),
            "--in",
            doc.to_str().unwrap(),
            "--out",
            signed.to_str().unwrap(),
            "--tsa-url",
            &url,
            "--allow-host",
            "127.0.0.1",
        ],
    );
    assert!(o.status.success(), "igc sign --level LTA: {}", stderr(&o));
    assert!(stdout(&o).contains("CAdES-BASELINE-LTA"), "{}", stdout(&o));
    ctx.cms_verify(&signed, &doc);
    assert_eq!(ctx.check_tokens(&signed, "signed"), 1);
    // LT without --tsa-url is refused before anything is signed.
    let o = igc(
        ctx.dir(),
        &[
            "sign",
            "--level",
            "LT",
            "--key-label",
            "card-ltv",
            "--pin-file",
            "var/hsm/online.pin",
            "--token",
            "igc-online",
            "--cert",
            card_cert.to_str().unwrap(),
            "--in",
            doc.to_str().unwrap(),
            "--out",
            ctx.path("no-tsa.p7s").to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--tsa-url"), "{}", stderr(&o));

    // archive renew: an old archive time-stamp is renewed, a fresh one skipped, a non-LTA
    // signature skipped, garbage failed (exit 1), all in the JSON summary.
    let folder = ctx.path("archive");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::copy(&lta, folder.join("old.p7s")).unwrap();
    std::fs::copy(&lt, folder.join("plain.p7s")).unwrap();
    std::thread::sleep(Duration::from_secs(4));
    let o = ctx.extend(&lt, "LTA", &folder.join("fresh.p7s"));
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::write(folder.join("garbage.p7s"), b"\x30\x82\x01\x00garbage").unwrap();
    let renew = |extra: &[&str]| {
        let url = ctx.tsa_url();
        let mut args = vec![
            "archive",
            "renew",
            folder.to_str().unwrap(),
            "--tsa-url",
            &url,
            "--allow-host",
            "127.0.0.1",
            // 2.6 s: "old" is over 4 s old, "fresh" under 2 s.
            "--older-than",
            "0.00003",
            "--json",
        ];
        args.extend_from_slice(extra);
        let started = Instant::now();
        let o = igc(ctx.dir(), &args);
        (o, started)
    };
    let (o, _) = renew(&[]);
    no_panic(&o);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let names = |k: &str| -> Vec<String> {
        summary[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                Path::new(e["file"].as_str().unwrap())
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect()
    };
    assert_eq!(names("renewed"), ["old.p7s"], "{summary}");
    assert_eq!(names("fresh"), ["fresh.p7s"], "{summary}");
    assert_eq!(names("skipped"), ["plain.p7s"], "{summary}");
    assert_eq!(names("failed"), ["garbage.p7s"], "{summary}");
    assert!(stderr(&o).contains("[1/4]"), "progress: {}", stderr(&o));
    let renewed = folder.join("old.p7s");
    ctx.cms_verify(&renewed, &doc);
    assert_eq!(ctx.check_tokens(&renewed, "renewed"), 2);
    // No temporary file left behind.
    assert_eq!(std::fs::read_dir(&folder).unwrap().count(), 4);

    // Without the garbage: exit 0.
    std::fs::remove_file(folder.join("garbage.p7s")).unwrap();
    let o = igc(
        ctx.dir(),
        &[
            "archive",
            "renew",
            folder.to_str().unwrap(),
            "--tsa-url",
            &ctx.tsa_url(),
            "--allow-host",
            "127.0.0.1",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("0 failed"), "{}", stdout(&o));

    // Garbled inputs to extend: a clear error, exit 1, no panic, nothing written.
    let full = std::fs::read(&lta).unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("truncated", full[..full.len() / 2].to_vec()),
        ("text", b"not a signature".to_vec()),
        ("flipped", {
            let mut g = full.clone();
            let n = g.len();
            g[n - 40] ^= 0xff;
            g
        }),
    ];
    for (name, bytes) in cases {
        let input = ctx.path(&format!("{name}.p7s"));
        std::fs::write(&input, bytes).unwrap();
        let out = ctx.path(&format!("{name}-out.p7s"));
        let o = ctx.extend(&input, "LTA", &out);
        no_panic(&o);
        if name != "flipped" {
            assert_eq!(o.status.code(), Some(1), "{name}: {}", stderr(&o));
            assert!(stderr(&o).contains("error:"), "{name}: {}", stderr(&o));
            assert!(!out.exists(), "{name}");
        }
    }
    // A host not allowed: refused with the reason.
    let o = igc(
        ctx.dir(),
        &[
            "extend",
            b.to_str().unwrap(),
            "--to",
            "LT",
            "--tsa-url",
            &ctx.tsa_url(),
            "--out",
            ctx.path("nohost.p7s").to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("127.0.0.1"), "{}", stderr(&o));
}

/// The end-to-end scenario: a médecin signs a prescription at LTA with `igc sign`
/// (card in SoftHSM, our TSA, our OCSP); the signing certificate is then revoked, the CA's
/// CRLs and OCSP move on, the server is stopped; `igc verify` elsewhere, knowing only the
/// root, validates the file TOTAL_PASSED from itself. Each covered part altered fails it.
#[test]
fn medecin_lta_verified_from_the_file_alone_after_revocation_and_shutdown() {
    let mut ctx = Ctx::new();
    let card_chain = ctx.hsm_signer("card-e2e");
    let doc = ctx.path("ordonnance.txt");
    let prescription =
        b"ORDONNANCE\nPatient: Jeanne Exemple\nParacetamol 1 g, 3 fois par jour, 5 jours.\n";
    std::fs::write(&doc, prescription).unwrap();
    let signed = ctx.path("ordonnance.p7s");
    let url = ctx.tsa_url();
    let o = igc(
        ctx.dir(),
        &[
            "sign",
            "--level",
            "LTA",
            "--key-label",
            "card-e2e",
            "--pin-file",
            "var/hsm/online.pin",
            "--token",
            "igc-online",
            "--cert",
            card_chain.to_str().unwrap(),
            "--in",
            doc.to_str().unwrap(),
            "--out",
            signed.to_str().unwrap(),
            "--tsa-url",
            &url,
            "--allow-host",
            "127.0.0.1",
        ],
    );
    assert!(o.status.success(), "igc sign --level LTA: {}", stderr(&o));

    // The card's certificate is revoked (the clerk of the Order, keyCompromise).
    let card = x509_cert::Certificate::load_pem_chain(&std::fs::read(&card_chain).unwrap())
        .unwrap()
        .remove(0);
    let serial = ca::domain::Serial::from_be_bytes(card.tbs_certificate.serial_number.as_bytes())
        .unwrap()
        .to_string();
    std::thread::sleep(Duration::from_millis(1100));
    let out = igc_with_credentials(
        ctx.dir(),
        &[
            "cert",
            "revoke",
            "--serial",
            &serial,
            "--reason",
            "keyCompromise",
            "--actor",
            "clerk-a",
            "--actor-credentials-fd",
            "3",
        ],
        &[ctx.clerk.credentials()],
    );
    assert_success(&out, "igc cert revoke");
    // The CA's OCSP moves on: it now answers revoked for the card.
    let card_pem = ctx.path("card-e2e-only.pem");
    std::fs::write(&card_pem, pkix::certificate_to_pem(&card).unwrap()).unwrap();
    let moved_on = wait_until(Duration::from_secs(20), || {
        let out = tool(
            "openssl",
            &[
                "ocsp",
                "-issuer",
                ctx.pki.pki("personnes.pem").to_str().unwrap(),
                "-cert",
                card_pem.to_str().unwrap(),
                "-url",
                &format!("{}/ocsp", ctx.serve.base),
                "-noverify",
            ],
        );
        stdout(&out).contains(": revoked")
    });
    assert!(
        moved_on,
        "the responder never answered revoked for the card"
    );

    // The original server is stopped.
    ctx.serve.stop();
    let port = ctx
        .serve
        .base
        .rsplit(':')
        .next()
        .unwrap()
        .parse::<u16>()
        .unwrap();
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());

    let (o, r) = verify_root_only(&ctx, &signed, "prescription");
    assert!(o.status.success(), "{r:#}");
    assert_eq!(r["indication"], "TOTAL_PASSED", "{r:#}");
    assert_eq!(r["signature_format"], "CAdES-BASELINE-LTA", "{r:#}");
    assert!(
        r["revocation"]["source"]
            .as_str()
            .unwrap()
            .starts_with("embedded"),
        "{r:#}"
    );

    // Each covered part altered in turn: igc verify fails it.
    let original = std::fs::read(&signed).unwrap();
    let parsed = validation::cades::parse_cms(&original).unwrap();
    let ess = sha2::Sha256::digest(card.to_der().unwrap());
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("content", flip_inside(&original, prescription)),
        ("signed attributes", flip_inside(&original, &ess)),
    ];
    let attribute_value = |oid| {
        validation::cades::single_attribute(parsed.signer.unsigned_attrs.as_ref(), oid)
            .unwrap()
            .unwrap()
            .to_der()
            .unwrap()
    };
    for (what, oid) in [
        (
            "a certificate (certificate-values)",
            pkix::oid::ID_AA_ETS_CERT_VALUES,
        ),
        ("a revocation value", pkix::oid::ID_AA_ETS_REVOCATION_VALUES),
        (
            "the signature time-stamp",
            pkix::oid::ID_AA_SIGNATURE_TIME_STAMP_TOKEN,
        ),
    ] {
        // The last octet of each of these values is the last octet of a signature (of the
        // last certificate or CRL of the list, of the token): the file stays DER.
        cases.push((what, flip_inside(&original, &attribute_value(oid))));
    }
    for (what, altered) in cases {
        let file = ctx.path("altered.p7s");
        std::fs::write(&file, &altered).unwrap();
        let (o, r) = verify_root_only(&ctx, &file, "prescription");
        assert_eq!(o.status.code(), Some(1), "{what} altered: {r:#}");
        assert_eq!(r["indication"], "TOTAL_FAILED", "{what} altered: {r:#}");
        assert!(
            ["HASH_FAILURE", "SIG_CRYPTO_FAILURE"].contains(&r["sub_indication"].as_str().unwrap()),
            "{what} altered: {r:#}"
        );
    }
}

/// Flips the last octet of the first occurrence of `needle` in `bytes`.
fn flip_inside(bytes: &[u8], needle: &[u8]) -> Vec<u8> {
    let pos = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the part is in the file");
    let mut out = bytes.to_vec();
    out[pos + needle.len() - 1] ^= 0x01;
    out
}
