//! Recovery: the token goes away under a running signer and comes back.
//! Its own test binary, because it finalises the process-wide module.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use hsm_config::keys::generate_key;
use hsm_config::{Error, HsmSigner, KeySpec, PoolOptions};

/// The two tests break the process-wide module in different ways: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn opts() -> PoolOptions {
    PoolOptions {
        max_sessions: 4,
        session_wait: Duration::from_secs(2),
        retry: Duration::from_millis(50),
    }
}

/// Signs until it works again, bounded in time.
fn sign_until_ok(signer: &HsmSigner, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        match signer.sign(b"after") {
            Ok(_) => return start.elapsed(),
            Err(e) => {
                assert!(
                    e.is_unavailable(),
                    "expected Unavailable while recovering, got {e}"
                );
                assert!(start.elapsed() < within, "signing did not resume: {e}");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

#[test]
fn token_directory_removed_then_restored() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let hsm = common::hsm();
    if hsm.kind != common::Kind::SoftHsm {
        // Moving token files away is how SoftHSM loses a token; the other modules keep
        // their database open, so the next test (finalisation) is their outage.
        eprintln!("skipped: SoftHSM only");
        return;
    }
    let token = common::token("recover-dir", opts());
    generate_key(&token, KeySpec::EcP256, "k-dir").unwrap();
    let signer = HsmSigner::new(&token, "k-dir").unwrap();

    // Keep signing from other threads while the token disappears.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let signer = signer.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let (mut ok, mut unavailable) = (0u32, 0u32);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    match signer.sign(b"busy") {
                        Ok(_) => ok += 1,
                        Err(e) if e.is_unavailable() => unavailable += 1,
                        Err(e) => panic!("unexpected error during outage: {e}"),
                    }
                }
                (ok, unavailable)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));

    let dirs: Vec<_> = std::fs::read_dir(&hsm.token_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let away = hsm.dir.join("away");
    std::fs::create_dir_all(&away).unwrap();
    for d in &dirs {
        std::fs::rename(d, away.join(d.file_name().unwrap())).unwrap();
    }
    let mut errors = 0;
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && errors < 3 {
        match signer.sign(b"during") {
            Ok(_) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                assert!(e.is_unavailable(), "expected Unavailable, got {e}");
                errors += 1;
            }
        }
    }
    assert!(
        errors >= 3,
        "signing kept working with the token directory gone"
    );

    for d in &dirs {
        std::fs::rename(away.join(d.file_name().unwrap()), d).unwrap();
    }
    let took = sign_until_ok(&signer, Duration::from_secs(10));
    eprintln!("signing resumed {took:?} after the token came back");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in workers {
        let (ok, unavailable) = w.join().unwrap();
        assert!(ok > 0);
        eprintln!("worker: {ok} signatures, {unavailable} unavailable");
    }
    // Later signatures work at full speed again.
    for _ in 0..100 {
        signer.sign(b"steady").unwrap();
    }
}

#[test]
fn module_finalized_behind_our_back() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let token = common::token("recover-fin", opts());
    generate_key(&token, KeySpec::EcP256, "k-fin").unwrap();
    let signer = HsmSigner::new(&token, "k-fin").unwrap();
    signer.sign(b"before").unwrap();
    // Another user of the library finalises it: every session and handle we
    // hold becomes invalid.
    let raw = hsm_config::cryptoki::context::Pkcs11::new(&common::hsm().module).unwrap();
    raw.finalize().unwrap();
    sign_until_ok(&signer, Duration::from_secs(10));
    let e = HsmSigner::new(&token, "missing");
    assert!(matches!(e, Err(Error::KeyNotFound(_))));
}
