//! `make bench` (HSM part): signatures per second through our signer versus
//! direct cryptoki calls on the same key, 1 and 2 threads, P-256 and RSA-2048,
//! on SoftHSM2 and on kryoptic (when scripts/tokens.sh has built it).
//!
//! Both sides do the same cryptographic work with the mechanism the signer chose from
//! the token's list: on SoftHSM ECDSA hashes in software and signs with CKM_ECDSA (ours
//! also converts r‖s to DER), on kryoptic the token hashes (CKM_ECDSA_SHA256); RSA signs
//! with CKM_SHA256_RSA_PKCS. The direct side keeps one logged-in session per
//! thread and a resolved key handle — the fastest a caller can go — so the
//! difference is the cost of our pool, key cache and adapter.
//!
//! Usage: cargo run --release -p hsm-config --example hsm_bench [-- SECONDS]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cryptoki::context::Pkcs11;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use hsm_config::keys::generate_key;
use hsm_config::{HsmSigner, KeySpec, Module, PoolOptions, SignMechanism, Token};
use sha2::Digest;

const SOFTHSM: &str = hsm_config::config::SOFTHSM_MODULE;
const PIN: &str = "bench-user-pin";
const MSG: &[u8] = b"a TBSCertificate-sized message: ........................................................................................................................................................................................................................................................................................................................................................................................";

/// CPU time (user + system) this process has used so far, in seconds.
/// Unlike wall-clock rates it does not move when other programs load the
/// machine, so the overhead below is computed from it.
fn process_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name: utime is the 12th, stime the 13th.
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0 // CLK_TCK is 100 on Linux
}

/// One measurement: signatures per wall-clock second, and CPU microseconds
/// per signature.
#[derive(Clone, Copy)]
struct Rate {
    per_sec: f64,
    cpu_us: f64,
}

fn run_for(threads: usize, secs: f64, work: impl Fn() -> Box<dyn FnMut() + Send> + Sync) -> Rate {
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let cpu0 = process_cpu_seconds();
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            let mut job = work();
            let (stop, count) = (stop.clone(), count.clone());
            s.spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    job();
                    n += 1;
                }
                count.fetch_add(n, Ordering::Relaxed);
            });
        }
        std::thread::sleep(Duration::from_secs_f64(secs));
        stop.store(true, Ordering::Relaxed);
    });
    let n = count.load(Ordering::Relaxed) as f64;
    Rate {
        per_sec: n / start.elapsed().as_secs_f64(),
        cpu_us: (process_cpu_seconds() - cpu0) * 1e6 / n.max(1.0),
    }
}

const ROUNDS: usize = 3;

fn median(v: &[Rate], key: fn(&Rate) -> f64) -> f64 {
    let mut x: Vec<f64> = v.iter().map(key).collect();
    x.sort_by(f64::total_cmp);
    x[x.len() / 2]
}

/// One token under test: its module, an open token holding the two keys, and the slot.
struct Bench {
    name: String,
    module_path: std::path::PathBuf,
    module: Arc<Module>,
    token: Token,
}

fn prepare(name: &str, module_path: &std::path::Path, init_args: Option<&str>) -> Bench {
    let module = Module::load_with(module_path, init_args).unwrap();
    let pin = AuthPin::from(PIN.to_owned());
    module
        .init_token("bench", &AuthPin::from("bench-so-pin".to_owned()), &pin)
        .unwrap();
    let token = Token::open(
        module.clone(),
        "bench",
        pin,
        PoolOptions {
            max_sessions: 4,
            ..PoolOptions::default()
        },
    )
    .unwrap();
    generate_key(&token, KeySpec::EcP256, "p256").unwrap();
    generate_key(&token, KeySpec::Rsa2048, "rsa2048").unwrap();
    Bench {
        name: name.to_owned(),
        module_path: module_path.to_owned(),
        module,
        token,
    }
}

fn main() {
    let secs: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let conf = dir.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    std::env::set_var("SOFTHSM2_CONF", &conf);
    let mut benches = vec![prepare("SoftHSM2", std::path::Path::new(SOFTHSM), None)];

    // kryoptic, as scripts/tokens.sh builds it (issue 26), with one SQLite slot.
    let kryoptic = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/tokens/kryoptic/libkryoptic_pkcs11.so");
    if kryoptic.exists() {
        let conf = dir.path().join("kryoptic.toml");
        std::fs::write(
            &conf,
            format!(
                "[[slots]]\nslot = 1\ndbtype = \"sqlite\"\ndbargs = \"{}\"\n",
                dir.path().join("kryoptic.sql").display()
            ),
        )
        .unwrap();
        let init = format!("kryoptic_conf={}", conf.display());
        benches.push(prepare("kryoptic", &kryoptic, Some(&init)));
    } else {
        println!(
            "kryoptic not measured: {} is missing (scripts/tokens.sh builds it)",
            kryoptic.display()
        );
    }

    println!(
        "HSM signing, {} CPUs, load average at start: {}, {ROUNDS} alternating rounds of {secs} s, median",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
    println!();
    println!("| token | key | mechanism | threads | direct cryptoki (sig/s) | igc HsmSigner (sig/s) | direct CPU µs/sig | igc CPU µs/sig | overhead (CPU) |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut worst = f64::MIN;
    for bench in &benches {
        worst = worst.max(measure(bench, secs));
    }
    println!();
    println!(
        "worst CPU overhead of the igc signer per signature: {worst:.1}% (target: at most 10%)"
    );
}

/// Prints the rows of one token; returns its worst CPU overhead.
fn measure(bench: &Bench, secs: f64) -> f64 {
    // Direct cryptoki: a second context on the same (already initialised)
    // library, one session per thread.
    let raw = Pkcs11::new(&bench.module_path).unwrap();
    let slot = bench.module.find_slot("bench").unwrap();
    let token = &bench.token;
    let mut worst = f64::MIN;
    for (label, is_ec) in [("p256", true), ("rsa2048", false)] {
        let signer = HsmSigner::new(token, label).unwrap();
        // The direct side asks the token for the same mechanism as the signer chose.
        let token_hashes = signer.mechanism() == SignMechanism::TokenHashes;
        let mechanism_name = signer
            .scheme()
            .mechanism_type(signer.mechanism())
            .to_string();
        for threads in [1usize, 2] {
            let direct_once = || {
                run_for(threads, secs, || {
                    let session = raw.open_rw_session(slot).unwrap();
                    match session.login(UserType::User, Some(&AuthPin::from(PIN.to_owned()))) {
                        Ok(())
                        | Err(cryptoki::error::Error::Pkcs11(
                            cryptoki::error::RvError::UserAlreadyLoggedIn,
                            _,
                        )) => {}
                        Err(e) => panic!("{e}"),
                    }
                    let key = session
                        .find_objects(&[
                            Attribute::Class(ObjectClass::PRIVATE_KEY),
                            Attribute::Label(label.as_bytes().to_vec()),
                        ])
                        .unwrap()[0];
                    Box::new(move || {
                        let sig = match (is_ec, token_hashes) {
                            (true, true) => session.sign(&Mechanism::EcdsaSha256, key, MSG),
                            (true, false) => {
                                let digest = sha2::Sha256::digest(MSG);
                                session.sign(&Mechanism::Ecdsa, key, &digest)
                            }
                            (false, _) => session.sign(&Mechanism::Sha256RsaPkcs, key, MSG),
                        };
                        std::hint::black_box(sig.unwrap());
                    })
                })
            };
            let ours_once = || {
                run_for(threads, secs, || {
                    let signer = signer.clone();
                    Box::new(move || {
                        std::hint::black_box(signer.sign(MSG).unwrap());
                    })
                })
            };
            // Alternate the two sides and keep the median of each, so that
            // other load on the machine hits both alike.
            let (mut d, mut o) = (vec![], vec![]);
            for _ in 0..ROUNDS {
                d.push(direct_once());
                o.push(ours_once());
            }
            let (direct, ours) = (median(&d, |r| r.per_sec), median(&o, |r| r.per_sec));
            let (direct_cpu, ours_cpu) = (median(&d, |r| r.cpu_us), median(&o, |r| r.cpu_us));
            let overhead = (ours_cpu - direct_cpu) / direct_cpu * 100.0;
            worst = worst.max(overhead);
            let name = if is_ec { "EC P-256" } else { "RSA-2048" };
            println!(
                "| {} | {name} | {mechanism_name} | {threads} | {direct:.0} | {ours:.0} | {direct_cpu:.1} | {ours_cpu:.1} | {overhead:+.1}% |",
                bench.name
            );
        }
    }
    worst
}
