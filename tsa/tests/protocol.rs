//! Every refusal is an RFC 3161 rejection with the right failInfo (checked
//! by our parser and by `openssl ts -reply -text`), never an HTTP 5xx; the
//! HTTP edge cases; the nonce echoed exactly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use const_oid::db::rfc5912;
use hsm_config::KeySpec;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tsa::asn1::PkiStatus;
use tsa::FailureInfo;

const SHA256: &str = "2.16.840.1.101.3.4.2.1";

/// What `openssl ts -reply -text` prints for each failInfo bit.
fn openssl_failure_text(f: FailureInfo) -> &'static str {
    match f {
        FailureInfo::BadAlg => "unrecognized or unsupported algorithm identifier",
        FailureInfo::BadRequest => "transaction not permitted or supported",
        FailureInfo::BadDataFormat => "the data submitted has the wrong format",
        FailureInfo::TimeNotAvailable => "the TSA's time source is not available",
        FailureInfo::UnacceptedPolicy => "the requested TSA policy is not supported by the TSA",
        FailureInfo::UnacceptedExtension => "the requested extension is not supported by the TSA",
        FailureInfo::AddInfoNotAvailable => {
            "the additional information requested could not be understood or is not available"
        }
        FailureInfo::SystemFailure => "the request cannot be handled due to system failure",
    }
}

/// Checks a rejection reply with our parser and with OpenSSL.
async fn expect_rejection(pki: &Pki, reply: &[u8], expected: FailureInfo, case: &str) {
    let (status, failure, text) = rejection(reply);
    assert_eq!(status, PkiStatus::Rejection, "{case}");
    assert_eq!(failure, expected, "{case}: {text}");
    assert!(!text.is_empty(), "{case}: no statusString");
    let f = pki.path("rejection.tsr");
    std::fs::write(&f, reply).unwrap();
    let out = ok(
        &openssl(&["ts", "-reply", "-in", f.to_str().unwrap(), "-text"]).await,
        "openssl ts -reply -text",
    );
    assert!(out.contains("Status: Rejected."), "{case}: {out}");
    let line = out
        .lines()
        .find(|l| l.starts_with("Failure info: "))
        .unwrap_or_else(|| panic!("{case}: no failure info in {out}"));
    assert_eq!(
        line,
        format!("Failure info: {}", openssl_failure_text(expected)),
        "{case}"
    );
}

async fn query_file(pki: &Pki, args: &[&str]) -> Vec<u8> {
    let data = pki.path("data.bin");
    std::fs::write(&data, b"some document").unwrap();
    let q = pki.path("query.tsq");
    let mut all = vec![
        "ts",
        "-query",
        "-data",
        data.to_str().unwrap(),
        "-out",
        q.to_str().unwrap(),
    ];
    all.extend(args);
    ok(&openssl(&all).await, "openssl ts -query");
    std::fs::read(q).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rejection_has_its_fail_info() {
    let pki = Pki::new("protocol-rejections", KeySpec::EcP256);
    let run = start_tsa(&pki, 21, |_| {}).await;
    let c = client();

    // Made by OpenSSL: SHA-1 and MD5 imprints, a policy we do not serve.
    for (args, expected, case) in [
        (&["-sha1"][..], FailureInfo::BadAlg, "SHA-1 imprint"),
        (&["-md5"][..], FailureInfo::BadAlg, "MD5 imprint"),
        (
            &["-sha256", "-tspolicy", "1.3.6.1.4.1.32473.1.7.3.99"][..],
            FailureInfo::UnacceptedPolicy,
            "foreign policy",
        ),
    ] {
        let q = query_file(&pki, args).await;
        // Through the shared lanes and through the dedicated listener alike.
        for url in &run.urls {
            let reply = post_query(&c, url, q.clone()).await;
            expect_rejection(&pki, &reply, expected, &format!("{case} ({url})")).await;
        }
    }
    // Our own policy requested explicitly is fine.
    let q = query_file(&pki, &["-sha256", "-tspolicy", POLICY]).await;
    for url in &run.urls {
        tst_info(&post_query(&c, url, q.clone()).await);
    }

    // Made by hand.
    let h32 = [7u8; 32];
    let cases: Vec<(Vec<u8>, FailureInfo, &str)> = vec![
        (
            make_query("1.2.3.4.5", false, &h32, None, None, false, false),
            FailureInfo::BadAlg,
            "unknown algorithm",
        ),
        (
            make_query(
                rfc5912::ID_SHA_1.to_string().as_str(),
                true,
                &[1u8; 20],
                None,
                None,
                false,
                false,
            ),
            FailureInfo::BadAlg,
            "SHA-1, by hand",
        ),
        (
            make_query(SHA256, true, &[7u8; 20], None, None, false, false),
            FailureInfo::BadDataFormat,
            "SHA-256 imprint of 20 octets",
        ),
        (
            make_query(
                "2.16.840.1.101.3.4.2.3",
                false,
                &h32,
                None,
                None,
                false,
                false,
            ),
            FailureInfo::BadDataFormat,
            "SHA-512 imprint of 32 octets",
        ),
        (
            make_query(SHA256, false, &[], None, None, false, false),
            FailureInfo::BadDataFormat,
            "empty imprint",
        ),
        (
            make_query(SHA256, false, &h32, None, None, false, true),
            FailureInfo::UnacceptedExtension,
            "request extension",
        ),
        (
            make_query(SHA256, false, &h32, Some("1.2.3.4"), None, false, false),
            FailureInfo::UnacceptedPolicy,
            "foreign policy, by hand",
        ),
        (
            b"not DER at all".to_vec(),
            FailureInfo::BadDataFormat,
            "garbage",
        ),
        (Vec::new(), FailureInfo::BadDataFormat, "empty body"),
        (
            {
                let mut q = make_query(SHA256, false, &h32, None, None, false, false);
                q.truncate(q.len() - 1);
                q
            },
            FailureInfo::BadDataFormat,
            "truncated",
        ),
        (
            {
                let mut q = make_query(SHA256, false, &h32, None, None, false, false);
                q.push(0);
                q
            },
            FailureInfo::BadDataFormat,
            "trailing byte",
        ),
        (
            {
                // version 2: the INTEGER after the outer SEQUENCE header.
                let mut q = make_query(SHA256, false, &h32, None, None, false, false);
                assert_eq!(&q[2..5], &[0x02, 0x01, 0x01]);
                q[4] = 2;
                q
            },
            FailureInfo::BadDataFormat,
            "version 2",
        ),
        (
            {
                // SHA-256 with parameters that are neither absent nor NULL.
                let q = make_query(SHA256, true, &h32, None, None, false, false);
                let pos = q.windows(2).position(|w| w == [0x05, 0x00]).unwrap();
                let mut bad = q.clone();
                bad[pos] = 0x04; // OCTET STRING {} instead of NULL
                bad
            },
            FailureInfo::BadAlg,
            "algorithm parameters",
        ),
    ];
    for (q, expected, case) in cases {
        for url in &run.urls {
            let reply = post_query(&c, url, q.clone()).await;
            expect_rejection(&pki, &reply, expected, &format!("{case} ({url})")).await;
        }
    }

    // The recorder fails: the TSA refuses (systemFailure) rather than
    // issue a token it cannot record, and recovers by itself.
    let good = make_query(SHA256, false, &h32, None, Some(&[1, 2, 3]), false, false);
    run.recorder.set_failing(true);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let reply = post_query(&c, &run.url, good.clone()).await;
        let r = parse_reply(&reply);
        if r.status.status == PkiStatus::Rejection {
            expect_rejection(&pki, &reply, FailureInfo::SystemFailure, "recorder failing").await;
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never refused");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The dedicated listener refuses too, and both report not ready.
    let reply = post_query(&c, &run.listener_url, good.clone()).await;
    expect_rejection(
        &pki,
        &reply,
        FailureInfo::SystemFailure,
        "recorder failing (listener)",
    )
    .await;
    for url in &run.urls {
        let readyz = url.replace("/tsa", "/readyz");
        let ready = request(&c, "GET", &readyz, None, vec![]).await;
        let body = String::from_utf8_lossy(&ready.body);
        assert_eq!(ready.status, 503, "{readyz}: {body}");
    }
    run.recorder.set_failing(false);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let reply = post_query(&c, &run.url, good.clone()).await;
        if parse_reply(&reply).status.status == PkiStatus::Granted {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never recovered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tst_info(&post_query(&c, &run.listener_url, good.clone()).await);
    for url in &run.urls {
        let readyz = url.replace("/tsa", "/readyz");
        assert_eq!(request(&c, "GET", &readyz, None, vec![]).await.status, 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_edges() {
    let pki = Pki::new("protocol-http", KeySpec::EcP256);
    let run = start_tsa(&pki, 22, |c| c.max_request_bytes = 1024).await;
    let c = client();
    let good = make_query(SHA256, false, &[3u8; 32], None, None, false, false);

    // Through the shared lanes and through the dedicated listener alike.
    for url in &run.urls {
        let base = url.trim_end_matches("/tsa").to_owned();
        // Wrong or missing content type: 415, and an RFC 3161 badRequest body.
        for ct in [Some("application/octet-stream"), None, Some("text/plain")] {
            let r = request(&c, "POST", url, ct, good.clone()).await;
            assert_eq!(r.status, 415, "{ct:?}");
            assert_eq!(
                r.headers.get("accept-post").unwrap(),
                "application/timestamp-query"
            );
            assert_eq!(
                r.content_type.as_deref(),
                Some("application/timestamp-reply")
            );
            expect_rejection(&pki, &r.body, FailureInfo::BadRequest, "content type").await;
        }
        // Parameters and case in the media type are fine.
        let r = request(
            &c,
            "POST",
            url,
            Some("Application/TimeStamp-Query; charset=binary"),
            good.clone(),
        )
        .await;
        assert_eq!(r.status, 200);
        tst_info(&r.body);

        // Other methods: 405 with Allow: POST.
        for m in ["GET", "PUT", "DELETE"] {
            let r = request(&c, m, url, None, vec![]).await;
            assert_eq!(r.status, 405, "{m}");
            assert_eq!(r.headers.get("allow").unwrap(), "POST");
        }

        // A body over the limit, announced by Content-Length: refused without
        // reading it (we send 100 bytes of the 100 MB announced).
        let (status, body) = raw_exchange(
            &base,
            "Content-Length: 100000000\r\n",
            &[[0x30u8; 100].as_slice()],
        )
        .await;
        assert_eq!(status, 200);
        expect_rejection(
            &pki,
            &body,
            FailureInfo::BadDataFormat,
            "Content-Length over limit",
        )
        .await;

        // Chunked, over the limit: refused after reading at most the limit
        // (the final chunk is never sent).
        let chunk = format!("200\r\n{}\r\n", "A".repeat(0x200));
        let chunks = vec![chunk.as_bytes(); 4];
        let (status, body) = raw_exchange(&base, "Transfer-Encoding: chunked\r\n", &chunks).await;
        assert_eq!(status, 200);
        expect_rejection(
            &pki,
            &body,
            FailureInfo::BadDataFormat,
            "chunked over limit",
        )
        .await;

        // Exactly at the limit is read (and is garbage here).
        let r = post_query(&c, url, vec![0x30; 1024]).await;
        expect_rejection(&pki, &r, FailureInfo::BadDataFormat, "at the limit").await;
    }

    // The dedicated listener keeps the status page to the main listener.
    let status = run.listener_url.replace("/tsa", "/tsa/status");
    assert_eq!(request(&c, "GET", &status, None, vec![]).await.status, 404);

    // /readyz and /tsa/status while trusted.
    let r = request(&c, "GET", &format!("{}/readyz", run.base), None, vec![]).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let r = request(&c, "GET", &format!("{}/tsa/status", run.base), None, vec![]).await;
    let st: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(st["ready"], true);
    assert_eq!(st["instance_id"], 22);
    assert_eq!(st["policy"], POLICY);
    assert_eq!(st["clock"]["trusted"], true);
    assert_eq!(st["clock"]["sources"].as_array().unwrap().len(), 2);
    assert!(st["clock"]["sources"][0]["offset_seconds"].is_f64());
}

/// Sends a request head with `extra` headers and the `chunks`, without
/// ever finishing the body; returns the status and body of the reply.
async fn raw_exchange(base: &str, extra: &str, chunks: &[&[u8]]) -> (u16, Vec<u8>) {
    let addr = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /tsa HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/timestamp-query\r\n{extra}\r\n"
    );
    // One write: the server has everything when it refuses, so it closes without unread
    // data (no reset that could drop its reply); a broken pipe, if it closed first, is fine.
    let mut data = head.into_bytes();
    for c in chunks {
        data.extend_from_slice(c);
    }
    let _ = s.write_all(&data).await;
    let mut buf = Vec::new();
    let read = async {
        let mut tmp = [0u8; 4096];
        loop {
            let n = s.read(&mut tmp).await.unwrap();
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&tmp[..n]);
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map(|v| v.trim().parse().unwrap())
                    .unwrap();
                if buf.len() >= end + 4 + len {
                    return (head, buf[end + 4..end + 4 + len].to_vec());
                }
            }
        }
        panic!("connection closed before a full reply");
    };
    let (head, body) = tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("no reply while the body was still incomplete");
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nonces_are_echoed_exactly() {
    let pki = Pki::new("protocol-nonce", KeySpec::EcP256);
    let run = start_tsa(&pki, 23, |_| {}).await;
    let c = client();
    let long: Vec<u8> = (1..=200u8).collect();
    for nonce in [
        vec![0u8],
        vec![1u8],
        vec![0x00, 0x80],
        vec![0xff],
        vec![0x80, 0x00, 0x01],
        long,
    ] {
        let q = make_query(SHA256, false, &[9u8; 32], None, Some(&nonce), false, false);
        for url in &run.urls {
            let tst = tst_info(&post_query(&c, url, q.clone()).await);
            assert_eq!(tst.nonce.unwrap().as_bytes(), nonce.as_slice(), "{url}");
        }
    }
    // The dedicated listener's threads signed its requests (six), the
    // shared lanes the others.
    assert_eq!(run.tsa.status().listener_thread_jobs, 6);
    assert_eq!(run.tsa.status().tokens_issued, 12);
    // No nonce in, no nonce out.
    let q = make_query(SHA256, false, &[9u8; 32], None, None, false, false);
    assert!(tst_info(&post_query(&c, &run.url, q).await).nonce.is_none());
    // A non-minimal INTEGER is not DER: badDataFormat.
    let mut q = make_query(SHA256, false, &[9u8; 32], None, Some(&[0x05]), false, false);
    let pos = q.len() - 3;
    assert_eq!(&q[pos..], &[0x02, 0x01, 0x05]);
    q.truncate(pos);
    q.extend([0x02, 0x02, 0x00, 0x05]);
    q[1] += 1;
    let reply = post_query(&c, &run.url, q).await;
    expect_rejection(
        &pki,
        &reply,
        FailureInfo::BadDataFormat,
        "non-minimal nonce",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_to_start_misconfigured() {
    use hsm_config::{HsmSignature, HsmSigner};
    use tsa::{ClockGuard, MemoryRecorder, TimeStampAuthority, TokenLog, TsaCertificates};
    let pki = Pki::new("protocol-startup", KeySpec::EcP256);
    let sntp = [SntpServer::start(0).await, SntpServer::start(0).await];
    let cfg = config(&pki, 24, fast_clock(&[&sntp[0], &sntp[1]]));
    let start = |cfg: &tsa::TsaConfig, signer: HsmSigner, certs: TsaCertificates, accuracy| {
        let clock = ClockGuard::start(cfg.clock.clone(), accuracy).unwrap();
        let log = TokenLog::start(MemoryRecorder::new(), &cfg.recorder).unwrap();
        TimeStampAuthority::new::<_, HsmSignature>(cfg, signer, certs, clock, log)
    };
    let certs = || TsaCertificates::from_pem_files(&pki.tsa_pem, &cfg.chain).unwrap();

    // A CA certificate is not a TSA certificate (no critical, sole
    // timeStamping EKU).
    let e = TsaCertificates::from_pem_files(&pki.ca_pem, &[]).unwrap_err();
    assert!(matches!(e, tsa::Error::Certificate { .. }), "{e}");
    assert!(e.to_string().contains("extended key usage"), "{e}");

    // The signer must hold the certificate's key.
    let root = HsmSigner::new(&pki.token, "root").unwrap();
    let e = start(&cfg, root, certs(), cfg.accuracy()).unwrap_err();
    assert!(
        e.to_string().contains("not the key of this certificate"),
        "{e}"
    );

    // The clock guard must check at least the declared accuracy.
    let e = start(&cfg, pki.tsa_signer.clone(), certs(), cfg.accuracy() * 2).unwrap_err();
    assert!(matches!(e, tsa::Error::Config(_)), "{e}");

    // One NTP server is not enough.
    let mut one = cfg.clone();
    one.clock.servers.truncate(1);
    assert!(
        tsa::start::<_, HsmSignature, _>(&one, pki.tsa_signer.clone(), MemoryRecorder::new())
            .is_err()
    );

    // The right pieces start.
    start(&cfg, pki.tsa_signer.clone(), certs(), cfg.accuracy()).unwrap();
}
