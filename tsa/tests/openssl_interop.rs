//! OpenSSL as the independent peer: `openssl ts -query` → POST /tsa →
//! `openssl ts -verify` and `openssl ts -reply -text`, with the TSA key in
//! SoftHSM (EC P-256 and RSA-2048).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use const_oid::db::{rfc5911, rfc5912};
use der::{Decode, Encode};
use hsm_config::KeySpec;

/// Every combination of hash, nonce and certReq verifies with OpenSSL, both
/// against the data and against the query (which also checks the nonce and
/// the imprint).
async fn all_combinations(label: &str, key: KeySpec, instance: u16) {
    let pki = Pki::new(label, key);
    let run = start_tsa(&pki, instance, |_| {}).await;
    // No lanes configured: chosen by the key (RSA signatures are pure CPU
    // on a software token, fewer lanes keep the tail short).
    let rsa = matches!(key, KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096);
    let lanes = if rsa { 3 } else { 4 };
    assert_eq!(run.tsa.status().signing_lanes, lanes);
    let client = client();
    let data = pki.path("document.txt");
    std::fs::write(&data, "Ordonnance du Dr Martin, 12 mars 2026\n").unwrap();
    let (data_s, trust) = (data.to_str().unwrap(), pki.trust_pem.to_str().unwrap());
    let mut n = 0;
    for hash in ["-sha256", "-sha384", "-sha512"] {
        for nonce in [true, false] {
            for cert in [true, false] {
                n += 1;
                let q = pki.path(&format!("q{n}.tsq"));
                let r = pki.path(&format!("r{n}.tsr"));
                let mut args = vec!["ts", "-query", "-data", data_s, hash, "-out"];
                args.push(q.to_str().unwrap());
                if !nonce {
                    args.push("-no_nonce");
                }
                if cert {
                    args.push("-cert");
                }
                ok(&openssl(&args).await, "openssl ts -query");
                // Alternately through the shared lanes and the dedicated
                // listener: each combination is checked by OpenSSL on both.
                let url = &run.urls[n % 2];
                let reply = post_query(&client, url, std::fs::read(&q).unwrap()).await;
                std::fs::write(&r, &reply).unwrap();

                let tst = tst_info(&reply);
                assert_eq!(tst.nonce.is_some(), nonce, "{hash} nonce={nonce}");
                let expected_alg = match hash {
                    "-sha256" => rfc5912::ID_SHA_256,
                    "-sha384" => rfc5912::ID_SHA_384,
                    _ => rfc5912::ID_SHA_512,
                };
                assert_eq!(tst.message_imprint.hash_algorithm.oid, expected_alg);

                // Without certReq the token carries no certificate: the
                // verifier is given the TSA certificate as untrusted input.
                let mut verify = vec![
                    "ts",
                    "-verify",
                    "-data",
                    data_s,
                    "-in",
                    r.to_str().unwrap(),
                    "-CAfile",
                    trust,
                ];
                if !cert {
                    verify.extend(["-untrusted", pki.tsa_pem.to_str().unwrap()]);
                }
                let out = openssl(&verify).await;
                let text = ok(
                    &out,
                    &format!("openssl ts -verify -data ({hash}, nonce={nonce}, cert={cert})"),
                );
                assert!(text.contains("Verification: OK"), "{text}");

                let mut verify_q = vec![
                    "ts",
                    "-verify",
                    "-queryfile",
                    q.to_str().unwrap(),
                    "-in",
                    r.to_str().unwrap(),
                    "-CAfile",
                    trust,
                ];
                if !cert {
                    verify_q.extend(["-untrusted", pki.tsa_pem.to_str().unwrap()]);
                }
                let text = ok(&openssl(&verify_q).await, "openssl ts -verify -queryfile");
                assert!(text.contains("Verification: OK"), "{text}");

                if !cert {
                    // Proof that the certificate really is absent: without
                    // -untrusted, OpenSSL cannot find the signer.
                    let out = openssl(&verify[..8]).await;
                    assert!(
                        !out.status.success(),
                        "verified without the TSA certificate although certReq was false"
                    );
                }
            }
        }
    }
    // The data changed by one byte does not verify.
    std::fs::write(&data, "Ordonnance du Dr Martin, 13 mars 2026\n").unwrap();
    let out = openssl(&[
        "ts",
        "-verify",
        "-data",
        data_s,
        "-in",
        pki.path("r1.tsr").to_str().unwrap(),
        "-CAfile",
        trust,
    ])
    .await;
    assert!(!out.status.success(), "a token verified against other data");
    assert_eq!(run.tsa.status().tokens_issued, 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ec_p256_tokens_verify_with_openssl() {
    all_combinations("interop-ec", KeySpec::EcP256, 11).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsa_2048_tokens_verify_with_openssl() {
    all_combinations("interop-rsa", KeySpec::Rsa2048, 12).await;
}

/// `openssl ts -reply -text` shows the configured policy, accuracy, nonce
/// and TSA name; the reply's structure is what RFC 3161 / RFC 5816 ask.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_text_shows_the_configuration() {
    let pki = Pki::new("interop-text", KeySpec::EcP256);
    let run = start_tsa(&pki, 13, |c| {
        c.accuracy_ms = 1250;
        c.precision_digits = 6;
    })
    .await;
    let client = client();
    let data = pki.path("certificat.txt");
    std::fs::write(&data, "Certificat médical\n").unwrap();
    let q = pki.path("q.tsq");
    let r = pki.path("r.tsr");
    ok(
        &openssl(&[
            "ts",
            "-query",
            "-data",
            data.to_str().unwrap(),
            "-sha256",
            "-cert",
            "-out",
            q.to_str().unwrap(),
        ])
        .await,
        "openssl ts -query",
    );
    let qtext = ok(
        &openssl(&["ts", "-query", "-in", q.to_str().unwrap(), "-text"]).await,
        "openssl ts -query -text",
    );
    let nonce_line = qtext
        .lines()
        .find(|l| l.starts_with("Nonce: "))
        .expect("query has a nonce")
        .to_owned();
    let reply = post_query(&client, &run.url, std::fs::read(&q).unwrap()).await;
    std::fs::write(&r, &reply).unwrap();
    let text = ok(
        &openssl(&["ts", "-reply", "-in", r.to_str().unwrap(), "-text"]).await,
        "openssl ts -reply -text",
    );
    assert!(text.contains("Status: Granted."), "{text}");
    assert!(text.contains(&format!("Policy OID: {POLICY}")), "{text}");
    assert!(
        text.contains("Accuracy: 0x01 seconds, 0xFA millis, unspecified micros"),
        "{text}"
    );
    assert!(
        text.contains(&nonce_line),
        "{nonce_line} not echoed:\n{text}"
    );
    assert!(text.contains("Ordering: no"), "{text}");
    // OpenSSL prints the UTF-8 of "é" escaped.
    let tsa_line =
        "TSA: DirName:/C=FR/O=IGC Santé TEST/OU=0002 000000000/CN=IGC Santé TEST TSA unit"
            .replace('é', "\\xC3\\xA9");
    assert!(text.contains(&tsa_line), "{tsa_line} not in\n{text}");
    // Sub-second genTime ("Time stamp: Mar 12 10:11:12.123456 2026 GMT").
    let ts_line = text
        .lines()
        .find(|l| l.starts_with("Time stamp: "))
        .expect("Time stamp line");
    // Our own parse agrees, and genTime is close to now.
    let tst = tst_info(&reply);
    let micros = tst.gen_time.datetime().microsecond();
    assert_eq!(
        tst.gen_time.datetime().nanosecond() % 1000,
        0,
        "6 digits at most"
    );
    if micros != 0 {
        let frac = format!("{micros:06}");
        let frac = frac.trim_end_matches('0');
        assert!(
            ts_line.contains(&format!(".{frac} ")),
            "fraction .{frac} not in {ts_line}"
        );
    }
    assert_eq!(tst.policy, policy());
    let acc = tst.accuracy.clone().unwrap();
    assert_eq!(
        (acc.seconds, acc.millis, acc.micros),
        (Some(1), Some(250), None)
    );
    let age = time::OffsetDateTime::now_utc() - tst.gen_time.datetime();
    assert!(
        age >= time::Duration::ZERO && age < time::Duration::seconds(5),
        "{age}"
    );
    let gen = tst.gen_time.to_der().unwrap();
    let gen_text = std::str::from_utf8(&gen[2..]).unwrap();
    assert!(
        !gen_text.contains(".Z") && !gen_text.contains("0Z"),
        "{gen_text}"
    );

    // SignedData: signing-certificate-v2 with the SHA-256 of the TSA
    // certificate and its issuer/serial; digest SHA-256; the certificates
    // asked for (TSA + chain).
    let resp = parse_reply(&reply);
    let ci = resp.time_stamp_token.unwrap();
    assert_eq!(ci.content_type, rfc5911::ID_SIGNED_DATA);
    let sd = cms::signed_data::SignedData::from_der(&ci.content.to_der().unwrap()).unwrap();
    assert_eq!(
        sd.encap_content_info.econtent_type,
        pkix::oid::ID_CT_TST_INFO
    );
    let certs = sd.certificates.as_ref().unwrap();
    assert_eq!(
        certs.0.len(),
        3,
        "TSA certificate plus the configured chain"
    );
    let si = &sd.signer_infos.0.as_slice()[0];
    assert_eq!(si.digest_alg.oid, rfc5912::ID_SHA_256);
    let attrs = si.signed_attrs.as_ref().unwrap();
    let ess = attrs
        .iter()
        .find(|a| a.oid == rfc5911::ID_AA_SIGNING_CERTIFICATE_V_2)
        .expect("signing-certificate-v2");
    let v = ess.values.get(0).unwrap().to_der().unwrap();
    let scv2 = tsa::asn1::SigningCertificateV2::from_der(&v).unwrap();
    let id = &scv2.certs[0];
    assert!(
        id.hash_algorithm.is_none(),
        "SHA-256 is the DEFAULT, omitted in DER"
    );
    let cert_der = pki.tsa_cert.to_der().unwrap();
    use sha2::Digest;
    assert_eq!(
        id.cert_hash.as_bytes(),
        &sha2::Sha256::digest(&cert_der)[..]
    );
    let is = id.issuer_serial.as_ref().unwrap();
    assert_eq!(is.serial_number, pki.tsa_cert.tbs_certificate.serial_number);
    for a in [
        rfc5911::ID_CONTENT_TYPE,
        rfc5911::ID_MESSAGE_DIGEST,
        rfc5911::ID_SIGNING_TIME,
    ] {
        assert!(
            attrs.iter().any(|x| x.oid == a),
            "missing signed attribute {a}"
        );
    }

    // The recorder got serial, genTime, policy and imprint.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while run.recorder.tokens().is_empty() {
        assert!(std::time::Instant::now() < deadline, "token not recorded");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let rec = &run.recorder.tokens()[0];
    assert_eq!(rec.serial, tst.serial_number.as_bytes());
    assert_eq!(rec.gen_time, tst.gen_time.datetime());
    assert_eq!(rec.policy, policy());
    assert_eq!(rec.imprint, tst.message_imprint.hashed_message.as_bytes());
    assert_eq!(rec.instance_id, 13);
    let token_der = ci.to_der().unwrap();
    assert_eq!(
        rec.token_sha256.as_slice(),
        &sha2::Sha256::digest(&token_der)[..]
    );
}
