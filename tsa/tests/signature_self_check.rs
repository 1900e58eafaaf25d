//! The HSM returns a well-formed signature that does not verify (SoftHSMv2 #901): no
//! time-stamp token carrying it leaves the process. A test signer wraps the real SoftHSM key
//! and corrupts one signature in two; the client gets RFC 3161 `systemFailure` for those,
//! good tokens for the others (through the shared lanes and through the dedicated listener),
//! and `igc_signature_self_check_failures_total{purpose="tsa"}` counts them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use common::*;
use hsm_config::{HsmSignature, HsmSigner, KeySpec};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use spki::{AlgorithmIdentifierOwned, DynSignatureAlgorithmIdentifier};
use tsa::asn1::PkiStatus;
use tsa::FailureInfo;

const SHA256: &str = "2.16.840.1.101.3.4.2.1";

fn metrics() -> &'static PrometheusHandle {
    static H: OnceLock<PrometheusHandle> = OnceLock::new();
    H.get_or_init(|| PrometheusBuilder::new().install_recorder().unwrap())
}

/// The real HSM key, but every `every`th signature has one bit of `s` flipped: still a valid
/// DER `Ecdsa-Sig-Value`, no longer a valid signature.
#[derive(Clone)]
struct Corrupting {
    real: HsmSigner,
    every: usize,
    made: std::sync::Arc<AtomicUsize>,
}

impl signature::Keypair for Corrupting {
    type VerifyingKey = <HsmSigner as signature::Keypair>::VerifyingKey;
    fn verifying_key(&self) -> Self::VerifyingKey {
        self.real.verifying_key()
    }
}

impl DynSignatureAlgorithmIdentifier for Corrupting {
    fn signature_algorithm_identifier(&self) -> spki::Result<AlgorithmIdentifierOwned> {
        self.real.signature_algorithm_identifier()
    }
}

impl signature::Signer<HsmSignature> for Corrupting {
    fn try_sign(&self, msg: &[u8]) -> Result<HsmSignature, signature::Error> {
        let good = self.real.try_sign(msg)?;
        if !(self.made.fetch_add(1, Ordering::Relaxed) + 1).is_multiple_of(self.every) {
            return Ok(good);
        }
        let mut der = good.as_bytes().to_vec();
        let last = der.len() - 1;
        der[last] ^= 0x01;
        HsmSignature::try_from(der.as_slice())
    }
}

fn self_check_failures(purpose: &str) -> u64 {
    let text = metrics().render();
    let prefix = format!("igc_signature_self_check_failures_total{{purpose=\"{purpose}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0, |v| v.trim().parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_signature_never_leaves_as_a_token() {
    let _ = softhsm();
    metrics();
    let pki = Pki::new("selfcheck", KeySpec::EcP256);
    let sntp = [SntpServer::start(0).await, SntpServer::start(0).await];
    let cfg = config(&pki, 61, fast_clock(&[&sntp[0], &sntp[1]]));
    let signer = Corrupting {
        real: pki.tsa_signer.clone(),
        every: 2,
        made: Default::default(),
    };
    let tsa = tsa::start::<_, HsmSignature, _>(&cfg, signer, tsa::MemoryRecorder::new()).unwrap();
    assert!(
        tsa.clock()
            .wait_until(true, std::time::Duration::from_secs(10))
            .await,
        "clock never trusted"
    );
    let (base, _server) = serve(tsa::http::standalone_router(tsa.clone())).await;
    let listener = tsa::TsaListener::start(
        "127.0.0.1:0".parse().unwrap(),
        1,
        tsa::listener::stall_limit(&tsa, pool_options().session_wait),
        cfg.limits,
        tsa::http::listener_router(tsa.clone()),
    )
    .unwrap();
    let urls = [
        format!("{base}/tsa"),
        format!("http://{}/tsa", listener.local_addr()),
    ];
    let before = self_check_failures("tsa");
    let c = client();
    let (mut granted, mut refused) = (0, 0);
    // The readiness probe signs too (at most once a second): whatever it took, the requests
    // below see both outcomes within a few tries.
    for i in 0..12u8 {
        let q = make_query(SHA256, false, &[i; 32], None, Some(&[i]), true, false);
        let reply = post_query(&c, &urls[usize::from(i) % 2], q).await;
        if parse_reply(&reply).status.status == PkiStatus::Rejection {
            let (_, failure, text) = rejection(&reply);
            assert_eq!(failure, FailureInfo::SystemFailure, "{text}");
            refused += 1;
        } else {
            // A token that came out is good: OpenSSL verifies it.
            let path = pki.path(&format!("granted-{i}.tsr"));
            std::fs::write(&path, &reply).unwrap();
            let digest = hex::encode([i; 32]);
            let out = openssl(&[
                "ts",
                "-verify",
                "-digest",
                &digest,
                "-in",
                path.to_str().unwrap(),
                "-CAfile",
                pki.trust_pem.to_str().unwrap(),
            ])
            .await;
            let text = ok(&out, "openssl ts -verify");
            assert!(text.contains("Verification: OK"), "{text}");
            granted += 1;
        }
    }
    assert!(
        granted > 0 && refused > 0,
        "granted {granted}, refused {refused}"
    );
    let counted = self_check_failures("tsa") - before;
    assert!(
        counted >= refused,
        "{refused} refusals, {counted} self-check failures counted"
    );
    let status = tsa.status();
    let err = status.last_signing_error.unwrap_or_default();
    assert!(err.contains("does not verify"), "last signing error: {err}");
}
