//! PAdES signing and validation of a médecin's prescription as a PDF of 1 and of 100 pages, at
//! B-T and B-LTA (ECDSA P-256 card key in SoftHSM, chain of 3), beside pyHanko validating the
//! same files in the same run.
//!
//! Signing (one task, in process, TSA without HTTP): the incremental update with its
//! placeholder, SHA-256 of the ByteRange, the card's CMS signature, a signature time-stamp,
//! filling /Contents; B-LTA adds a DSS (the chain, the current CRLs of CA Personnes and CA
//! Organisations, fetched once as a cache of evidence would hold them), a document time-stamp
//! and a DSS update with its TSA's data.
//!
//! Validation (in process, one then two tasks): B-T with the CRLs given (offline `igc
//! verify`), B-LTA by a validator that knows only the root and has no revocation source (the
//! file's own evidence).
//!
//! Peer: `tests/pades/pyhanko_validate.py --bench N` (pyHanko 0.38 in the project's venv,
//! root only; B-LTA offline from the file, B-T with revocation checking off since the
//! fixture's URLs are not served: pyHanko then does less than we do).
//!
//! cargo run --release --locked -p validation --example pades_bench   (BENCH_SECS=n; default 5)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../../ca/tests/support/mod.rs"]
mod support;

#[path = "../../../ca/tests/issuance_common/mod.rs"]
#[allow(unused_macros)]
mod issuance_common;

#[path = "../../tests/common/mod.rs"]
mod common;

#[path = "../tests/validation_support/mod.rs"]
mod validation_support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ca::domain::Profile;
use der::Encode;
use hsm_config::HsmSignature;
use issuance_common::{orgs_name, personnes_name, pki, sqlite, Env};
use sha2::{Digest, Sha256};
use validation::pdf::{self, DssContent, SigKind, SignatureRequest};
use validation::{sign, CrlRevocationSource, DocumentKind, Indication, Validator};
use validation_support::*;
use x509_cert::crl::CertificateList;
use x509_cert::Certificate;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn python() -> PathBuf {
    let venv = repo().join(".venv/bin/python");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn digest(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

struct Signer<'a> {
    holder: &'a Holder,
    tsa: &'a Tsa,
    chain: Vec<Certificate>,
    crls: Vec<CertificateList>,
}

impl Signer<'_> {
    /// The PDF `original` signed at B-T, or B-LTA when `lta`.
    async fn sign(&self, original: &[u8], lta: bool) -> Vec<u8> {
        let card = self.holder.hsm_signer();
        let request = SignatureRequest {
            field_name: "Signature",
            kind: SigKind::Signature,
            sub_filter: validation::pades::SUB_FILTER_CADES,
            contents_capacity: 16 * 1024,
            signing_time: Some("D:20261207120000+00'00'"),
            name: Some("Dr Claire Martin"),
            reason: Some("Ordonnance"),
            location: None,
            visible: None,
        };
        let mut prepared = pdf::prepare_signature(original, &request).unwrap();
        let d = digest(&prepared.signed_parts(original));
        let cms = sign::sign_pades_cms::<_, HsmSignature>(
            &card,
            &self.holder.certificate,
            &d,
            std::slice::from_ref(&pki().personnes),
        )
        .unwrap();
        let (req, nonce) = sign::timestamp_request(&cms).unwrap();
        let reply = self.tsa.tsa.respond(&req).await;
        let cms = sign::attach_timestamp(&cms, &reply.der, &nonce).unwrap();
        prepared.fill(&cms).unwrap();
        let mut out = original.to_vec();
        out.extend_from_slice(&prepared.appended);
        if !lta {
            return out;
        }
        let dss = DssContent {
            certs: self.chain.iter().map(|c| c.to_der().unwrap()).collect(),
            crls: self.crls.iter().map(|c| c.to_der().unwrap()).collect(),
            ..DssContent::default()
        };
        let appended = pdf::append_dss(&out, &dss).unwrap();
        out.extend_from_slice(&appended);
        let request = SignatureRequest {
            field_name: "DocumentTimeStamp",
            kind: SigKind::DocTimeStamp,
            sub_filter: validation::pades::SUB_FILTER_RFC3161,
            contents_capacity: 12 * 1024,
            signing_time: None,
            name: None,
            reason: None,
            location: None,
            visible: None,
        };
        let mut prepared = pdf::prepare_signature(&out, &request).unwrap();
        let d = digest(&prepared.signed_parts(&out));
        let (req, _) =
            sign::timestamp_request_with(const_oid::db::rfc5912::ID_SHA_256, &d).unwrap();
        let reply = self.tsa.tsa.respond(&req).await;
        let token = sign::granted_token(&reply.der).unwrap();
        prepared.fill(&token.to_der().unwrap()).unwrap();
        out.extend_from_slice(&prepared.appended);
        out
    }
}

async fn measure(v: Arc<Validator>, pdf: Arc<Vec<u8>>, tasks: usize, secs: u64) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let (v, pdf) = (v.clone(), pdf.clone());
        handles.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                let r = v.validate_pdf(&pdf, DocumentKind::Prescription, None).await;
                assert_eq!(r.indication, Indication::TotalPassed, "{}", r.summary);
                n += 1;
            }
            n
        }));
    }
    let mut total = 0;
    for h in handles {
        total += h.await.unwrap();
    }
    total as f64 / started.elapsed().as_secs_f64()
}

/// pyHanko's rate on `file`: validations/s, or why it could not say.
fn pyhanko_rate(file: &Path, root: &Path, level: &str, n: u32) -> Result<f64, String> {
    let mut cmd = std::process::Command::new(python());
    cmd.arg(repo().join("tests/pades/pyhanko_validate.py"))
        .arg(file)
        .args(["--root", root.to_str().unwrap(), "--expect-level", level])
        .args(["--bench", &n.to_string()]);
    if level == "B-LTA" {
        cmd.arg("--offline");
    } else {
        cmd.args(["--revocation", "none"]);
    }
    let out = cmd.output().map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let json: serde_json::Value = text
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .or_else(|| serde_json::from_str(&text).ok())
        .ok_or_else(|| format!("{text}{}", String::from_utf8_lossy(&out.stderr)))?;
    json["bench"]["validations_per_second"]
        .as_f64()
        .or_else(|| json["validations_per_second"].as_f64())
        .ok_or_else(|| format!("no rate in {json}"))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let secs: u64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let env = Env::new(sqlite().await).await;
    let tsa = start_tsa().await;
    let dr = hsm_holder(&env, "10", Profile::Sign).await;
    let p = pki();
    let crls = vec![
        current_crl(&env, &personnes_name()),
        current_crl(&env, &orgs_name()),
    ];
    let signer = Signer {
        holder: &dr,
        tsa: &tsa,
        chain: vec![p.personnes.clone(), p.orgs.clone(), tsa_unit().cert.clone()],
        crls: crls.clone(),
    };
    let offline = Arc::new(
        Validator::new(
            vec![p.root.clone()],
            vec![p.personnes.clone(), p.orgs.clone()],
            Arc::new(CrlRevocationSource::new(crls.clone())),
            ca::domain::SigningRules::builtin().unwrap(),
            ca::domain::ProfessionTable::builtin().unwrap(),
        )
        .unwrap(),
    );
    let embedded = Arc::new(
        Validator::new(
            vec![p.root.clone()],
            Vec::new(),
            Arc::new(CrlRevocationSource::new(Vec::new())),
            ca::domain::SigningRules::builtin().unwrap(),
            ca::domain::ProfessionTable::builtin().unwrap(),
        )
        .unwrap(),
    );
    let root_pem = p.dir.join("bench-root.pem");
    std::fs::write(
        &root_pem,
        pem::encode(&pem::Pem::new("CERTIFICATE", p.root.to_der().unwrap())),
    )
    .unwrap();
    println!(
        "pades_bench: a prescription PDF signed with an ECDSA P-256 card key (SoftHSM), chain of 3, {secs} s per measure; load average {}",
        loadavg()
    );
    println!(
        "{:<22} {:>9} {:>12} {:>13} {:>13} {:>12}",
        "file", "bytes", "signatures/s", "ours 1 task/s", "ours 2 tasks/s", "pyHanko/s"
    );
    for pages in [1u32, 100] {
        let original_path = p.dir.join(format!("bench-{pages}.pdf"));
        let made = std::process::Command::new(python())
            .arg(repo().join("tests/pades/make_pdf.py"))
            .arg(&original_path)
            .args(["--pages", &pages.to_string()])
            .output()
            .unwrap();
        assert!(made.status.success(), "make_pdf.py");
        let original = std::fs::read(&original_path).unwrap();
        for (lta, level) in [(false, "B-T"), (true, "B-LTA")] {
            // Signing rate.
            let started = Instant::now();
            let deadline = started + Duration::from_secs(secs);
            let mut n = 0u64;
            let mut signed = Vec::new();
            while Instant::now() < deadline {
                signed = signer.sign(&original, lta).await;
                n += 1;
            }
            let signing = n as f64 / started.elapsed().as_secs_f64();
            let signed = Arc::new(signed);
            let v = if lta { &embedded } else { &offline };
            let r = v
                .validate_pdf(&signed, DocumentKind::Prescription, None)
                .await;
            assert_eq!(r.indication, Indication::TotalPassed, "{}", r.summary);
            let one = measure(v.clone(), signed.clone(), 1, secs).await;
            let two = measure(v.clone(), signed.clone(), 2, secs).await;
            let file = p.dir.join(format!("bench-{pages}-{level}.pdf"));
            std::fs::write(&file, signed.as_slice()).unwrap();
            let peer = match pyhanko_rate(&file, &root_pem, level, 20) {
                Ok(r) => format!("{r:.1}"),
                Err(e) => format!("failed: {}", e.lines().next().unwrap_or("")),
            };
            println!(
                "{:<22} {:>9} {signing:>12.0} {one:>13.0} {two:>13.0} {peer:>12}",
                format!("{pages} page(s) {level}"),
                signed.len()
            );
        }
    }
    println!("end; load average {}", loadavg());
}
