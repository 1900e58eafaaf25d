//! The HSM returns a well-formed signature that does not verify (SoftHSMv2 #901): no OCSP
//! response carrying it leaves the process. A test signer wraps the real SoftHSM responder key
//! and corrupts every signature; OpenSSL's requests (with and without a nonce, so both the
//! cached and the fresh path sign) get `internalError`, and
//! `igc_signature_self_check_failures_total{purpose="ocsp"}` counts the refused signatures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../ca/tests/ocsp_support/mod.rs"]
mod ocsp_support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use ca::ocsp::{OcspCa, OcspConfig, OcspResponder, OcspResponseStatus};
use der::Decode;
use hsm_config::{HsmSignature, HsmSigner};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use ocsp_support::*;
use spki::{AlgorithmIdentifierOwned, DynSignatureAlgorithmIdentifier};
use x509_ocsp::OcspResponse;

fn metrics() -> &'static PrometheusHandle {
    static H: OnceLock<PrometheusHandle> = OnceLock::new();
    H.get_or_init(|| PrometheusBuilder::new().install_recorder().unwrap())
}

fn self_check_failures(purpose: &str) -> u64 {
    let prefix = format!("igc_signature_self_check_failures_total{{purpose=\"{purpose}\"}} ");
    metrics()
        .render()
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0, |v| v.trim().parse().unwrap())
}

/// The real HSM key, but once `on`, every signature has one bit flipped in its last octet:
/// still well-formed DER, no longer a valid signature.
#[derive(Clone)]
struct Corrupting {
    real: HsmSigner,
    on: Arc<AtomicBool>,
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
        if !self.on.load(Ordering::Relaxed) {
            return Ok(good);
        }
        let mut der = good.as_bytes().to_vec();
        let last = der.len() - 1;
        der[last] ^= 0x01;
        HsmSignature::try_from(der.as_slice())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_signature_never_leaves_as_an_ocsp_response() {
    metrics();
    let db = sqlite().await;
    let p = pki();
    let (_, _, pem) = p
        .issue(&p.personnes, Some(&db.store), "clerk-selfcheck")
        .await;
    let on = Arc::new(AtomicBool::new(true));
    let ocsp_ca = || {
        let corrupting = Corrupting {
            real: p.personnes.responder_signer.clone(),
            on: on.clone(),
        };
        OcspCa::new(
            p.personnes.name.clone(),
            &p.personnes.cert,
            &p.personnes.responder_cert,
            corrupting,
        )
        .unwrap()
    };
    // A responder whose key signs wrongly from the start does not start.
    let before = self_check_failures("ocsp");
    let refused =
        OcspResponder::new(db.store.clone(), OcspConfig::default(), vec![ocsp_ca()]).await;
    assert!(
        refused.is_err(),
        "a responder started with a key that signs wrongly"
    );
    assert!(self_check_failures("ocsp") > before);

    // One that goes wrong while serving answers internalError, never a bad response.
    on.store(false, Ordering::Relaxed);
    let responder = OcspResponder::new(db.store.clone(), OcspConfig::default(), vec![ocsp_ca()])
        .await
        .unwrap();
    let (_, addr) = serve(responder).await;
    on.store(true, Ordering::Relaxed);
    let before = self_check_failures("ocsp");
    for extra in [&["-no_nonce"][..], &[][..]] {
        let request = openssl_request(
            &p.personnes.pem_path,
            &pem,
            &unique(&p.dir, "q", "der"),
            extra,
        )
        .await;
        let reply = post(addr, "/ocsp", &request).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        let status = OcspResponse::from_der(&reply.body).unwrap().response_status;
        assert_eq!(
            status,
            OcspResponseStatus::InternalError,
            "request {extra:?}: a response signed with a corrupted signature?"
        );
    }
    let counted = self_check_failures("ocsp") - before;
    assert!(counted >= 2, "{counted} self-check failures counted");
}
