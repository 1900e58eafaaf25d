//! The readiness probe's signature does not hold other callers: while one
//! probe waits for a slow HSM, other `/readyz` calls answer at once, and a
//! probe unanswered for a second is itself reported as the HSM's failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use hsm_config::{HsmSignature, HsmSigner, KeySpec};
use tsa::MemoryRecorder;

/// The TSA's HSM signer, made to take `delay_ms` per signature.
#[derive(Clone)]
struct SlowSigner {
    inner: HsmSigner,
    delay_ms: Arc<AtomicU64>,
}

impl signature::Keypair for SlowSigner {
    type VerifyingKey = <HsmSigner as signature::Keypair>::VerifyingKey;
    fn verifying_key(&self) -> Self::VerifyingKey {
        self.inner.verifying_key()
    }
}

impl spki::DynSignatureAlgorithmIdentifier for SlowSigner {
    fn signature_algorithm_identifier(&self) -> spki::Result<spki::AlgorithmIdentifierOwned> {
        self.inner.signature_algorithm_identifier()
    }
}

impl signature::Signer<HsmSignature> for SlowSigner {
    fn try_sign(&self, msg: &[u8]) -> Result<HsmSignature, signature::Error> {
        std::thread::sleep(Duration::from_millis(self.delay_ms.load(Ordering::SeqCst)));
        self.inner.try_sign(msg)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_probe_holds_no_other_caller() {
    let _hsm = softhsm();
    let pki = Pki::new("probe", KeySpec::EcP256);
    let sntp = [SntpServer::start(0).await, SntpServer::start(0).await];
    let cfg = config(&pki, 61, fast_clock(&[&sntp[0], &sntp[1]]));
    let delay_ms = Arc::new(AtomicU64::new(0));
    let signer = SlowSigner {
        inner: pki.tsa_signer.clone(),
        delay_ms: delay_ms.clone(),
    };
    let tsa = tsa::start::<_, HsmSignature, _>(&cfg, signer, MemoryRecorder::new()).unwrap();
    assert_eq!(tsa.probe_signer(), Ok(()));

    // The next probe (the last answer is a second old) takes 2.5 s.
    tokio::time::sleep(tsa::authority::SIGNER_PROBE_INTERVAL).await;
    delay_ms.store(2_500, Ordering::SeqCst);
    let slow = {
        let tsa = tsa.clone();
        std::thread::spawn(move || tsa.probe_signer())
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Meanwhile: the last answer, at once.
    let asked = Instant::now();
    assert_eq!(tsa.probe_signer(), Ok(()));
    assert!(
        asked.elapsed() < Duration::from_millis(200),
        "{:?}",
        asked.elapsed()
    );
    // Once the probe has gone unanswered for the interval: not ready, at once.
    tokio::time::sleep(tsa::authority::SIGNER_PROBE_INTERVAL).await;
    let asked = Instant::now();
    let err = tsa.probe_signer().unwrap_err();
    assert!(
        asked.elapsed() < Duration::from_millis(200),
        "{:?}",
        asked.elapsed()
    );
    assert!(err.contains("has not answered a probe signature"), "{err}");
    // The slow probe ends well; the next one (after the interval) is fine.
    delay_ms.store(0, Ordering::SeqCst);
    assert_eq!(slow.join().unwrap(), Ok(()));
    assert_eq!(tsa.probe_signer(), Ok(()));
}
