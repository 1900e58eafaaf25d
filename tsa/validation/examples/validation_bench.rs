//! Validations per second of a médecin's prescription signature (ECDSA P-256, chain of 3,
//! revocation checked), CAdES-B and CAdES-T (time-stamp from our TSA, its chain and status
//! checked too), with the revocation status from the CA store (the online service, SQLite)
//! and from a CRL (offline `igc verify`). One task, then two concurrent tasks.
//!
//! cargo run --release --locked -p validation --example validation_bench
//! (BENCH_SECS=n sets the duration of each measure; default 5.)
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

use std::sync::Arc;
use std::time::{Duration, Instant};

use ca::domain::Profile;
use issuance_common::{sqlite, Env};
use validation::{DocumentKind, Indication, SignatureInput, Validator};
use validation_support::*;

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

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let secs: u64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let env = Env::new(sqlite().await).await;
    let tsa = start_tsa().await;
    let dr = hsm_holder(&env, "10", Profile::Sign).await;
    let b = Arc::new(hsm_sign(&dr, PRESCRIPTION, false));
    let t = Arc::new(tsa.stamp(&b).await);
    let online = Arc::new(store_validator(&env));
    let offline = Arc::new(crl_validator(&env));
    println!("validation_bench: CAdES prescription signature, ECDSA P-256, chain of 3, revocation checked, {secs} s per measure");
    println!(
        "{:<12} {:<22} {:>6} {:>14}",
        "level", "revocation", "tasks", "validations/s"
    );
    for (level, sig) in [("CAdES-B", &b), ("CAdES-T", &t)] {
        for (source, v) in [("CA store (SQLite)", &online), ("CRL", &offline)] {
            for tasks in [1, 2] {
                let rate = measure(v.clone(), sig.clone(), tasks, secs).await;
                println!("{level:<12} {source:<22} {tasks:>6} {rate:>14.0}");
            }
        }
    }
}
