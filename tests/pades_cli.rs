//! PAdES from the command line against the development hierarchy served by `igc serve`
//! (issue 24), with independent verifiers both ways:
//! - `igc sign --format pades` with the médecin's card (SoftHSM) at B, T, LT and LTA, each
//!   file validated by pyHanko with our root as the only anchor (LT and LTA offline) and by
//!   `igc verify`; the CMS inside accepted by `openssl cms -verify` over the ByteRange bytes;
//! - pyHanko signs with a key and certificate of our CA, our TSA and OCSP; `igc verify`
//!   reports each level as pyHanko made it;
//! - tampering (a byte in a covered range, content appended after the signature, a shrunk
//!   ByteRange) and bad input, each refused with a reason.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::served::Ctx;
use common::{assert_success, igc, repo, stderr, stdout, tool};

fn python() -> PathBuf {
    let venv = repo().join(".venv/bin/python");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

fn py(script: &str, args: &[&str]) -> Output {
    std::process::Command::new(python())
        .arg(repo().join("tests/pades").join(script))
        .args(args)
        .output()
        .unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A PDF of `pages` pages made by `make_pdf.py`.
fn make_pdf(ctx: &Ctx, name: &str, pages: u32) -> PathBuf {
    let out = ctx.path(name);
    let o = py("make_pdf.py", &[s(&out), "--pages", &pages.to_string()]);
    assert_success(&o, "make_pdf.py");
    out
}

/// `igc verify` of a PDF with the root as the only trust anchor; `online` lets it fetch
/// OCSP/CRLs from the served hierarchy.
fn verify(ctx: &Ctx, pdf: &Path, online: bool) -> (Output, serde_json::Value) {
    let root = ctx.pki.pki("root.pem");
    let mut args = vec![
        "verify",
        "--in",
        s(pdf),
        "--document-type",
        "prescription",
        "--anchor",
        s(&root),
        "--json",
    ];
    if online {
        args.extend(["--allow-host", "127.0.0.1"]);
    }
    let o = igc(ctx.dir(), &args);
    let json = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("igc verify --json: {e}\n{}", stderr(&o)));
    (o, json)
}

/// pyHanko validates `pdf` at `level` with our root only.
fn pyhanko_validates(ctx: &Ctx, pdf: &Path, level: &str) {
    let root = ctx.pki.pki("root.pem");
    let mut args = vec![s(pdf), "--root", s(&root), "--expect-level", level];
    if level == "B-LT" || level == "B-LTA" {
        args.push("--offline");
    }
    let o = py("pyhanko_validate.py", &args);
    assert_success(&o, &format!("pyHanko validating our {level} ({})", s(pdf)));
}

/// The signature fields of a PDF as our parser reads them.
fn fields(pdf: &Path) -> Vec<validation::pdf::SignatureField> {
    let bytes = std::fs::read(pdf).unwrap();
    let file =
        validation::pdf::PdfFile::parse(&bytes, &validation::pdf::PdfLimits::default()).unwrap();
    file.signatures().unwrap()
}

fn sign_pades(ctx: &Ctx, card: &Path, input: &Path, out: &Path, level: &str) -> Output {
    let url = ctx.tsa_url();
    igc(
        ctx.dir(),
        &[
            "sign",
            "--format",
            "pades",
            "--level",
            level,
            "--key-label",
            "dr-pades",
            "--pin-file",
            "var/hsm/online.pin",
            "--token",
            "igc-online",
            "--cert",
            s(card),
            "--in",
            s(input),
            "--out",
            s(out),
            "--tsa-url",
            &url,
            "--allow-host",
            "127.0.0.1",
            "--reason",
            "Ordonnance",
            "--visible",
            "1,36,36,300,110",
        ],
    )
}

#[test]
fn our_pades_at_every_level_passes_pyhanko_openssl_and_igc_verify() {
    let ctx = Ctx::new();
    let card = ctx.hsm_signer("dr-pades");
    let doc = make_pdf(&ctx, "ordonnance.pdf", 1);
    let original = std::fs::read(&doc).unwrap();
    for (level, pyhanko_level) in [("B", "B-B"), ("T", "B-T"), ("LT", "B-LT"), ("LTA", "B-LTA")] {
        let out = ctx.path(&format!("ordonnance-{level}.pdf"));
        let o = sign_pades(&ctx, &card, &doc, &out, level);
        assert_success(&o, &format!("igc sign --format pades --level {level}"));
        let signed = std::fs::read(&out).unwrap();
        assert_eq!(
            &signed[..original.len()],
            original.as_slice(),
            "an incremental update never rewrites earlier bytes"
        );
        pyhanko_validates(&ctx, &out, pyhanko_level);
        // Ours: B and T need the status online; LT and LTA from the file alone.
        let (o, report) = verify(&ctx, &out, matches!(level, "B" | "T"));
        assert_eq!(
            report["indication"],
            "TOTAL_PASSED",
            "igc verify of our {level}: {report:#}\n{}",
            stdout(&o)
        );
        let signature = &report["signatures"][0];
        assert_eq!(
            signature["signature_format"],
            format!("PAdES-BASELINE-{level}"),
            "{report:#}"
        );
        // OpenSSL on the CMS inside, over the ByteRange bytes.
        let f = fields(&out)
            .into_iter()
            .find(|f| f.kind == validation::pdf::SigKind::Signature)
            .unwrap();
        let [a, la, b, lb] = f.byte_range.map(|v| usize::try_from(v).unwrap());
        let mut content = signed[a..a + la].to_vec();
        content.extend_from_slice(&signed[b..b + lb]);
        let content_path = ctx.path(&format!("byterange-{level}.bin"));
        std::fs::write(&content_path, &content).unwrap();
        let cms_path = ctx.path(&format!("contents-{level}.der"));
        std::fs::write(&cms_path, f.cms_der().unwrap()).unwrap();
        let root = ctx.pki.pki("root.pem");
        let o = tool(
            "openssl",
            &[
                "cms",
                "-verify",
                "-binary",
                "-inform",
                "DER",
                "-in",
                s(&cms_path),
                "-content",
                s(&content_path),
                "-CAfile",
                s(&root),
                "-purpose",
                "any",
                "-out",
                "/dev/null",
            ],
        );
        assert_success(&o, &format!("openssl cms -verify of our {level}"));
    }

    // The same through the validation API: the PDF as the signature, no content.
    let lta = std::fs::read(ctx.path("ordonnance-LTA.pdf")).unwrap();
    use base64::Engine;
    let body = serde_json::json!({
        "signature": base64::engine::general_purpose::STANDARD.encode(&lta),
        "document_type": "prescription",
    });
    let (status, reply, _) = common::http_post(
        &format!("{}/api/v1/verify", ctx.serve.base),
        "application/json",
        body.to_string().as_bytes(),
    );
    let reply: serde_json::Value = serde_json::from_slice(&reply).unwrap();
    assert_eq!(status, 200, "{reply:#}");
    assert_eq!(reply["indication"], "TOTAL_PASSED", "{reply:#}");
    assert_eq!(
        reply["signatures"][0]["signature_format"], "PAdES-BASELINE-LTA",
        "{reply:#}"
    );

    // Tampering, each refused with its reason in French and English.
    // One byte inside the first covered range (the page content).
    let mut flipped = lta.clone();
    let at = flipped
        .windows(10)
        .position(|w| w == b"Ordonnance")
        .unwrap();
    flipped[at] ^= 0x20;
    let p = ctx.path("flipped.pdf");
    std::fs::write(&p, &flipped).unwrap();
    let (o, report) = verify(&ctx, &p, false);
    assert_ne!(o.status.code(), Some(0));
    assert_eq!(report["indication"], "TOTAL_FAILED", "{report:#}");
    // Content appended after the signature (pyHanko's forger of a page update).
    let p = ctx.path("updated.pdf");
    let o = py(
        "selftest_tamper.py",
        &[s(&ctx.path("ordonnance-T.pdf")), s(&p), "--update-content"],
    );
    assert_success(&o, "selftest_tamper.py --update-content");
    let (o, report) = verify(&ctx, &p, true);
    assert_ne!(o.status.code(), Some(0));
    let text = report.to_string();
    assert!(
        text.contains("modifié après la signature")
            && text.contains("modified after the signature"),
        "{report:#}"
    );
    // A shrunk ByteRange: the second range ends one byte before the revision does (the
    // number rewritten with the same width, leading zeros being valid PDF).
    let t = std::fs::read(ctx.path("ordonnance-T.pdf")).unwrap();
    let f = &fields(&ctx.path("ordonnance-T.pdf"))[0];
    let array = t.windows(10).rposition(|w| w == b"/ByteRange").unwrap();
    let close = array + t[array..].iter().position(|&b| b == b']').unwrap();
    let old = f.byte_range[3].to_string();
    let start = close
        - t[array..close]
            .iter()
            .rev()
            .position(|&b| !b.is_ascii_whitespace())
            .unwrap()
        - old.len();
    assert_eq!(&t[start..start + old.len()], old.as_bytes());
    let shrink = |by: u64| {
        let new = format!("{:0width$}", f.byte_range[3] - by, width = old.len());
        let mut shrunk = t.clone();
        shrunk[start..start + old.len()].copy_from_slice(new.as_bytes());
        let p = ctx.path(&format!("shrunk-{by}.pdf"));
        std::fs::write(&p, &shrunk).unwrap();
        verify(&ctx, &p, true)
    };
    // By 100 bytes: the range no longer covers its revision.
    let (o, report) = shrink(100);
    assert_ne!(o.status.code(), Some(0));
    let text = report.to_string();
    assert!(
        text.contains("ByteRange") && text.contains("ne couvre pas"),
        "{report:#}"
    );
    // By one byte (within the end-of-line a writer may leave out): the hash says so.
    let (o, report) = shrink(1);
    assert_ne!(o.status.code(), Some(0));
    assert_eq!(report["sub_indication"], "HASH_FAILURE", "{report:#}");

    // A second signature whose ByteRange leaves out the first signature's revision: its
    // ranges rewritten (same width) to start after that revision.
    let twice = ctx.path("twice.pdf");
    let o = sign_pades(&ctx, &card, &ctx.path("ordonnance-B.pdf"), &twice, "B");
    assert_success(&o, "a second PAdES signature");
    let (o, report) = verify(&ctx, &twice, true);
    assert_eq!(
        report["indication"],
        "TOTAL_PASSED",
        "{report:#}\n{}",
        stdout(&o)
    );
    assert_eq!(report["signatures"].as_array().unwrap().len(), 2);
    let first_end = fields(&ctx.path("ordonnance-B.pdf"))[0].revision_end as u64;
    let bytes = std::fs::read(&twice).unwrap();
    let second = fields(&twice)
        .into_iter()
        .max_by_key(|f| f.revision_end)
        .unwrap();
    let open = bytes.windows(10).rposition(|w| w == b"/ByteRange").unwrap()
        + bytes[bytes.windows(10).rposition(|w| w == b"/ByteRange").unwrap()..]
            .iter()
            .position(|&b| b == b'[')
            .unwrap();
    let close = open + bytes[open..].iter().position(|&b| b == b']').unwrap();
    let [_, la, b, lb] = second.byte_range;
    let mut text = format!("[{first_end} {} {b} {lb}", la - first_end).into_bytes();
    assert!(
        text.len() <= close - open,
        "no room to rewrite the ByteRange"
    );
    text.resize(close - open, b' ');
    let mut cut = bytes.clone();
    cut[open..close].copy_from_slice(&text);
    let p = ctx.path("second-skips-first.pdf");
    std::fs::write(&p, &cut).unwrap();
    let (o, report) = verify(&ctx, &p, true);
    assert_ne!(o.status.code(), Some(0), "{report:#}");
    assert_ne!(report["indication"], "TOTAL_PASSED");
    assert!(report.to_string().contains("ByteRange"), "{report:#}");
}

#[test]
fn pyhanko_signatures_of_our_ca_are_reported_at_the_level_pyhanko_made() {
    let ctx = Ctx::new();
    let (key, cert) = ctx.openssl_signer();
    let doc = make_pdf(&ctx, "certificat.pdf", 3);
    let chain = ctx.pki.pki("personnes.pem");
    let root = ctx.pki.pki("root.pem");
    let url = ctx.tsa_url();
    for (level, ours) in [
        ("B-B", "PAdES-BASELINE-B"),
        ("B-T", "PAdES-BASELINE-T"),
        ("B-LT", "PAdES-BASELINE-LT"),
        ("B-LTA", "PAdES-BASELINE-LTA"),
    ] {
        let out = ctx.path(&format!("pyhanko-{level}.pdf"));
        let o = py(
            "pyhanko_sign.py",
            &[
                s(&doc),
                s(&out),
                "--key",
                s(&key),
                "--cert",
                s(&cert),
                "--chain",
                s(&chain),
                "--level",
                level,
                "--tsa",
                &url,
                "--root",
                s(&root),
            ],
        );
        assert_success(&o, &format!("pyhanko_sign.py {level}"));
        let (o, report) = verify(&ctx, &out, matches!(level, "B-B" | "B-T"));
        assert_eq!(
            report["indication"],
            "TOTAL_PASSED",
            "igc verify of pyHanko's {level}: {report:#}\n{}",
            stdout(&o)
        );
        let signature = report["signatures"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| {
                s["signature_format"]
                    .as_str()
                    .unwrap()
                    .starts_with("PAdES-BASELINE")
            })
            .unwrap_or_else(|| panic!("{report:#}"));
        assert_eq!(signature["signature_format"], ours, "{report:#}");
    }

    // igc extend raises pyHanko's B-T to LT, then LTA; pyHanko and we agree on each.
    for (from, to, level) in [
        ("pyhanko-B-T.pdf", "LT", "B-LT"),
        ("extended-LT.pdf", "LTA", "B-LTA"),
    ] {
        let out = ctx.path(&format!("extended-{to}.pdf"));
        let o = igc(
            ctx.dir(),
            &[
                "extend",
                s(&ctx.path(from)),
                "--to",
                to,
                "--tsa-url",
                &url,
                "--allow-host",
                "127.0.0.1",
                "--out",
                s(&out),
            ],
        );
        assert_success(&o, &format!("igc extend {from} --to {to}"));
        pyhanko_validates(&ctx, &out, level);
        let (o, report) = verify(&ctx, &out, false);
        assert_eq!(
            report["signatures"][0]["signature_format"],
            format!("PAdES-BASELINE-{to}"),
            "{report:#}\n{}",
            stdout(&o)
        );
        assert_eq!(report["indication"], "TOTAL_PASSED", "{report:#}");
    }

    // igc archive renew adds a document time-stamp to a PDF whose last one is old enough.
    let folder = ctx.path("archive");
    std::fs::create_dir_all(&folder).unwrap();
    let archived = folder.join("certificat.pdf");
    std::fs::copy(ctx.path("extended-LTA.pdf"), &archived).unwrap();
    let before = std::fs::metadata(&archived).unwrap().len();
    std::thread::sleep(std::time::Duration::from_secs(2));
    let o = igc(
        ctx.dir(),
        &[
            "archive",
            "renew",
            s(&folder),
            "--tsa-url",
            &url,
            "--allow-host",
            "127.0.0.1",
            "--older-than",
            "0.00001",
            "--json",
        ],
    );
    assert_success(&o, "igc archive renew");
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        summary["renewed"].as_array().unwrap().len(),
        1,
        "{summary:#}"
    );
    assert!(std::fs::metadata(&archived).unwrap().len() > before);
    let timestamps = fields(&archived)
        .iter()
        .filter(|f| f.kind == validation::pdf::SigKind::DocTimeStamp)
        .count();
    assert_eq!(timestamps, 2, "the one igc extend added and the renewal's");
    pyhanko_validates(&ctx, &archived, "B-LTA");
    let (_, report) = verify(&ctx, &archived, false);
    assert_eq!(report["indication"], "TOTAL_PASSED", "{report:#}");
}

/// Runs `igc args…` and samples its peak resident memory (VmHWM) until it exits: the output
/// and the peak in bytes.
fn igc_peak_memory(ctx: &Ctx, args: &[&str]) -> (Output, u64) {
    let mut child = std::process::Command::new(common::IGC)
        .current_dir(ctx.dir())
        .env("SOFTHSM2_CONF", ctx.pki.softhsm_conf())
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    // Bounded: the command ends well within this.
    for _ in 0..60_000 {
        if let Ok(text) = std::fs::read_to_string(&status_file) {
            if let Some(kb) = text
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
            {
                peak = peak.max(kb * 1024);
            }
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    (child.wait_with_output().unwrap(), peak)
}

/// "A 50 MB PDF signs and validates without holding several copies in memory": the peak
/// resident memory of `igc sign` and of `igc verify` stays under twice the file's size.
#[test]
fn a_50_mb_pdf_signs_and_validates_without_several_copies_in_memory() {
    let ctx = Ctx::new();
    let card = ctx.hsm_signer("dr-pades");
    let big = ctx.path("big.pdf");
    let o = py("make_pdf.py", &[s(&big), "--pages", "2", "--size-mb", "50"]);
    assert_success(&o, "make_pdf.py --size-mb 50");
    let size = std::fs::metadata(&big).unwrap().len();
    let out = ctx.path("big-signed.pdf");
    let url = ctx.tsa_url();
    let (o, sign_peak) = igc_peak_memory(
        &ctx,
        &[
            "sign",
            "--format",
            "pades",
            "--level",
            "T",
            "--key-label",
            "dr-pades",
            "--pin-file",
            "var/hsm/online.pin",
            "--token",
            "igc-online",
            "--cert",
            s(&card),
            "--in",
            s(&big),
            "--out",
            s(&out),
            "--tsa-url",
            &url,
        ],
    );
    assert_success(&o, "igc sign of a 50 MB PDF");
    let root = ctx.pki.pki("root.pem");
    let (o, verify_peak) = igc_peak_memory(
        &ctx,
        &[
            "verify",
            "--in",
            s(&out),
            "--document-type",
            "prescription",
            "--anchor",
            s(&root),
            "--allow-host",
            "127.0.0.1",
            "--json",
        ],
    );
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["indication"], "TOTAL_PASSED", "{report:#}");
    eprintln!(
        "50 MB PDF ({size} bytes): peak resident memory of igc sign {} MiB, of igc verify {} MiB",
        sign_peak >> 20,
        verify_peak >> 20
    );
    for (what, peak) in [("igc sign", sign_peak), ("igc verify", verify_peak)] {
        assert!(
            peak < 2 * size,
            "{what} peaked at {peak} bytes for a {size}-byte PDF: several copies in memory"
        );
    }
}

#[test]
fn bad_pdfs_are_refused_with_a_reason_never_a_panic() {
    let ctx = Ctx::new();
    let doc = make_pdf(&ctx, "plain.pdf", 1);
    let plain = std::fs::read(&doc).unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("no signature", plain.clone()),
        ("broken xref", {
            let mut b = plain.clone();
            let at = b.windows(9).rposition(|w| w == b"startxref").unwrap();
            b.truncate(at + 10);
            b.extend_from_slice(b"999999999\n%%EOF\n");
            b
        }),
        ("truncated", plain[..plain.len() / 2].to_vec()),
        ("only a header", b"%PDF-1.7\n".to_vec()),
    ];
    for (what, bytes) in cases {
        let p = ctx.path("bad.pdf");
        std::fs::write(&p, &bytes).unwrap();
        let (o, report) = verify(&ctx, &p, false);
        assert_eq!(o.status.code(), Some(1), "{what}: {}", stderr(&o));
        assert_ne!(report["indication"], "TOTAL_PASSED", "{what}");
        assert!(
            !report["summary"].as_str().unwrap().is_empty(),
            "{what}: a reason"
        );
    }
}
