//! A médecin's prescription signature (ECDSA P-256 card key in SoftHSM, chain of 3), signed and
//! validated at CAdES-BASELINE-B, -T, -LT and -LTA, with `openssl cms -verify` as the peer.
//!
//! Signing (one task, in process): the card's signature; T adds a time-stamp from our TSA
//! (`TimeStampAuthority::respond`, no HTTP); LT adds the chain and the current CRLs of CA
//! Personnes and CA Organisations (fetched once from the fixture's CRL publisher, as a cache
//! of fetched evidence would hold them); LTA adds an archive time-stamp from the same TSA,
//! then CA Organisations' certificate and CRL inside that token. Each library step is timed.
//!
//! Validation: B and T with the revocation status from the CA store (SQLite) and from CRLs
//! (offline `igc verify`); LT and LTA by a validator that knows only the root and has no
//! revocation source (evidence from the file alone), and by the CRL validator. One task, then
//! two concurrent tasks (the machine's two cores).
//!
//! Peer: `openssl cms -verify` of the same signature, root and the two CRLs in the CA file,
//! `-crl_check` (signature, chain, the signer's status in CA Personnes' CRL; OpenSSL ignores the time-stamps and the
//! long-term attributes), one process per verification, two at a time.
//!
//! cargo run --release --locked -p validation --example validation_bench
//! (BENCH_SECS=n sets the duration of each measure; default 5. BENCH_PROFILE=1 measures only
//! the B-LTA validation from embedded evidence with two tasks, for `perf record`.)
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

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ca::domain::Profile;
use der::Encode;
use hsm_config::{HsmSignature, HsmSigner};
use issuance_common::{orgs_name, personnes_name, pki, s, sqlite, Env};
use validation::{
    ltv, sign, CrlRevocationSource, DocumentKind, Indication, SignatureInput, Validator,
};
use validation_support::*;
use x509_cert::crl::CertificateList;
use x509_cert::Certificate;

async fn measure(v: Arc<Validator>, sig: Arc<Vec<u8>>, tasks: usize, secs: u64) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let (v, sig) = (v.clone(), sig.clone());
        handles.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                let r = v
                    .validate_signature(SignatureInput {
                        content_ranges: None,
                        pdf: None,
                        signature: &sig,
                        content: None,
                        document: DocumentKind::Prescription,
                        validation_time: None,
                    })
                    .await;
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

/// A validator that knows the root and nothing else: no CA certificate, no CRL, no store.
fn root_only() -> Validator {
    Validator::new(
        vec![pki().root.clone()],
        Vec::new(),
        Arc::new(CrlRevocationSource::new(Vec::new())),
        ca::domain::SigningRules::builtin().unwrap(),
        ca::domain::ProfessionTable::builtin().unwrap(),
    )
    .unwrap()
}

/// What signing at each level needs, prepared once.
struct Signing<'a> {
    card: HsmSigner,
    holder: &'a Holder,
    tsa: &'a Tsa,
    chain: Vec<Certificate>,
    crls: Vec<CertificateList>,
    orgs_crl: Vec<CertificateList>,
}

/// Microseconds spent in each step, summed over the signatures made.
#[derive(Default)]
struct Steps {
    b: Duration,
    t: Duration,
    lt: Duration,
    ats: Duration,
    ats_values: Duration,
}

impl Signing<'_> {
    /// One signature at `level` (0 = B … 3 = LTA), each step timed into `steps`.
    async fn sign(&self, level: usize, steps: &mut Steps) -> Vec<u8> {
        let t0 = Instant::now();
        let mut cms = sign::sign_cades_b::<_, HsmSignature>(
            &self.card,
            &self.holder.certificate,
            PRESCRIPTION,
            &sign::SignOptions {
                detached: false,
                signing_time: None,
                chain: vec![pki().personnes.clone()],
            },
        )
        .unwrap();
        let t1 = Instant::now();
        steps.b += t1 - t0;
        if level >= 1 {
            let (req, nonce) = sign::timestamp_request(&cms).unwrap();
            let reply = self.tsa.tsa.respond(&req).await;
            cms = sign::attach_timestamp(&cms, &reply.der, &nonce).unwrap();
            let t2 = Instant::now();
            steps.t += t2 - t1;
            if level >= 2 {
                cms = ltv::add_validation_values(&cms, &self.chain, &self.crls, &[]).unwrap();
                let t3 = Instant::now();
                steps.lt += t3 - t2;
                if level >= 3 {
                    let (req, nonce, index) = ltv::archive_timestamp_request(
                        &cms,
                        None,
                        const_oid::db::rfc5912::ID_SHA_256,
                    )
                    .unwrap();
                    let reply = self.tsa.tsa.respond(&req).await;
                    cms = ltv::attach_archive_timestamp(&cms, None, &reply.der, &nonce, &index)
                        .unwrap();
                    let t4 = Instant::now();
                    steps.ats += t4 - t3;
                    cms = ltv::add_token_validation_values(
                        &cms,
                        std::slice::from_ref(&pki().orgs),
                        &self.orgs_crl,
                        &[],
                    )
                    .unwrap();
                    steps.ats_values += t4.elapsed();
                }
            }
        }
        cms
    }
}

/// Signatures per second at `level`, one task, for `secs`; the mean time of each step.
async fn measure_signing(s: &Signing<'_>, level: usize, secs: u64) -> (f64, u64, Steps) {
    let mut steps = Steps::default();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(secs);
    let mut n = 0u64;
    while Instant::now() < deadline {
        s.sign(level, &mut steps).await;
        n += 1;
    }
    (n as f64 / started.elapsed().as_secs_f64(), n, steps)
}

fn us(d: Duration, n: u64) -> f64 {
    d.as_secs_f64() * 1e6 / n as f64
}

/// `openssl cms -verify` of `sig`, `procs` processes at a time, for `secs`: verifications/s.
fn openssl_rate(sig: &Path, ca_file: &Path, procs: usize, secs: u64) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let total: u64 = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..procs)
            .map(|_| {
                scope.spawn(|| {
                    let mut n = 0u64;
                    while Instant::now() < deadline {
                        let out = std::process::Command::new("openssl")
                            .args([
                                "cms",
                                "-verify",
                                "-binary",
                                "-inform",
                                "DER",
                                "-in",
                                s(sig),
                                "-CAfile",
                                s(ca_file),
                                "-crl_check",
                                "-purpose",
                                "any",
                                "-out",
                                "/dev/null",
                            ])
                            .output()
                            .unwrap();
                        assert!(
                            out.status.success(),
                            "openssl cms -verify: {}",
                            String::from_utf8_lossy(&out.stderr)
                        );
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    total as f64 / started.elapsed().as_secs_f64()
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
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
    let signing = Signing {
        card: dr.hsm_signer(),
        holder: &dr,
        tsa: &tsa,
        chain: vec![p.personnes.clone(), p.orgs.clone(), tsa_unit().cert.clone()],
        crls: crls.clone(),
        orgs_crl: vec![crls[1].clone()],
    };
    let levels = ["CAdES-B", "CAdES-T", "CAdES-LT", "CAdES-LTA"];
    let mut sigs = Vec::new();
    for level in 0..levels.len() {
        sigs.push(Arc::new(signing.sign(level, &mut Steps::default()).await));
    }

    let online = Arc::new(store_validator(&env));
    let offline = Arc::new(crl_validator(&env));
    let embedded = Arc::new(root_only());
    for (sig, name) in sigs.iter().zip(levels).skip(2) {
        let r = validate(&embedded, sig, None, DocumentKind::Prescription, None).await;
        expect(&r, "TOTAL_PASSED", None);
        assert_eq!(
            r.signature_format,
            name.replace("CAdES-", "CAdES-BASELINE-")
        );
        assert!(
            r.revocation
                .as_ref()
                .is_some_and(|r| r.source.starts_with("embedded")),
            "{:?}",
            r.revocation
        );
    }
    // BENCH_PROFILE=1: only the B-LTA validation from embedded evidence, two tasks (for perf).
    if std::env::var_os("BENCH_PROFILE").is_some() {
        let rate = measure(embedded.clone(), sigs[3].clone(), 2, secs).await;
        println!("CAdES-LTA embedded (root only), 2 tasks: {rate:.0} validations/s");
        return;
    }
    println!(
        "validation_bench: CAdES prescription signature, ECDSA P-256 card key (SoftHSM), chain of 3, {secs} s per measure; load average {}",
        loadavg()
    );
    println!("signing, one task, in process (TSA without HTTP; LT/LTA evidence: the CA's current CRLs, fetched once)");
    println!(
        "{:<10} {:>8} {:>12} {:>10} {:>10} {:>10} {:>10} {:>10} {:>9}",
        "level",
        "bytes",
        "signatures/s",
        "B µs",
        "T µs",
        "LT µs",
        "ATS µs",
        "ATS-ev µs",
        "total µs"
    );
    for (level, name) in levels.iter().enumerate() {
        let (rate, n, st) = measure_signing(&signing, level, secs).await;
        let total = st.b + st.t + st.lt + st.ats + st.ats_values;
        println!(
            "{name:<10} {:>8} {rate:>12.0} {:>10.0} {:>10.0} {:>10.0} {:>10.0} {:>10.0} {:>9.0}",
            sigs[level].len(),
            us(st.b, n),
            us(st.t, n),
            us(st.lt, n),
            us(st.ats, n),
            us(st.ats_values, n),
            us(total, n),
        );
    }

    println!("validation, in process; load average {}", loadavg());
    println!(
        "{:<12} {:<30} {:>6} {:>14}",
        "level", "revocation", "tasks", "validations/s"
    );
    let rows: [(usize, &str, &Arc<Validator>); 8] = [
        (0, "CA store (SQLite)", &online),
        (0, "CRL", &offline),
        (1, "CA store (SQLite)", &online),
        (1, "CRL", &offline),
        (2, "embedded (root only)", &embedded),
        (2, "CRL", &offline),
        (3, "embedded (root only)", &embedded),
        (3, "CRL", &offline),
    ];
    for (level, source, v) in rows {
        for tasks in [1, 2] {
            let rate = measure(v.clone(), sigs[level].clone(), tasks, secs).await;
            println!("{:<12} {source:<30} {tasks:>6} {rate:>14.0}", levels[level]);
        }
    }

    // The peer: root and CRLs in one PEM file for OpenSSL.
    let ca_file = p.dir.join("bench-root-crls.pem");
    let mut ca_pem = pem("CERTIFICATE", &p.root.to_der().unwrap());
    for crl in &crls {
        ca_pem.push_str(&pem("X509 CRL", &crl.to_der().unwrap()));
    }
    std::fs::write(&ca_file, ca_pem).unwrap();
    println!(
        "peer: openssl cms -verify -crl_check, one process per verification; load average {}",
        loadavg()
    );
    for level in [0, 3] {
        let file = p.dir.join(format!("bench-{}.p7s", levels[level]));
        std::fs::write(&file, sigs[level].as_slice()).unwrap();
        for procs in [1, 2] {
            let rate = openssl_rate(&file, &ca_file, procs, secs);
            println!(
                "{:<12} {:<30} {procs:>6} {rate:>14.0}",
                levels[level], "openssl (root + CRL file)"
            );
        }
    }
    println!("end; load average {}", loadavg());
}
