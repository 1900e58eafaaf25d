//! The HSM returns a well-formed signature that does not verify (SoftHSMv2 #901): no
//! certificate and no CRL carrying it leaves the process. A test signer wraps the real SoftHSM
//! CA key and corrupts its signatures; issuance fails with a self-check error and records
//! nothing (no certificate row, the request stays approved), CRL generation fails and the
//! published CRL stays the last good one, and `igc_signature_self_check_failures_total
//! {purpose="ca"}` counts each.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
#[path = "../ca/tests/issuance_common/mod.rs"]
mod issuance_common;
#[path = "../ca/tests/support/mod.rs"]
mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use ca::crl::CrlPublisher;
use ca::domain::{ProfessionTable, Profile, RequestStatus};
use ca::issuance::{CaSigner, CertificateAuthority};
use ca::storage::RequestSubject;
use hsm_config::{HsmSignature, HsmSigner};
use issuance_common::*;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use spki::{AlgorithmIdentifierOwned, DynSignatureAlgorithmIdentifier};

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

/// The real HSM key, but every `every`th signature has one bit flipped in its last octet:
/// still well-formed DER, no longer a valid signature.
#[derive(Clone)]
struct Corrupting {
    real: HsmSigner,
    every: usize,
    made: Arc<AtomicUsize>,
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

async fn certificate_rows(db: &Db) -> i64 {
    let pool = db.raw().await;
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM certificates")
        .fetch_one(&pool)
        .await
        .unwrap()
}

on_both_backends!(a_corrupted_signature_never_leaves_as_a_certificate_or_a_crl);

mod scenarios {
    pub(crate) use super::a_corrupted_signature_never_leaves_as_a_certificate_or_a_crl;
}

async fn a_corrupted_signature_never_leaves_as_a_certificate_or_a_crl(db: Db) {
    metrics();
    let env = Env::new(db).await;
    let store = env.store();
    let p = pki();
    let corrupting = Corrupting {
        real: p.personnes_signer.clone(),
        every: 1,
        made: Arc::default(),
    };
    let bad_ca = Arc::new(
        CertificateAuthority::new(
            personnes_name(),
            &der::Encode::to_der(&p.personnes).unwrap(),
            CaSigner::new(corrupting).unwrap(),
            personnes_policy(),
            store.clone(),
            Arc::new(ProfessionTable::builtin().unwrap()),
        )
        .unwrap(),
    );
    let id = idnat(1_000_765_432);
    register(store, &id, "Morel", "Hélène", "10", None).await;
    let subject = RequestSubject::Professional(id.clone());
    let before = self_check_failures("ca");

    // A certificate: refused, nothing recorded, the request still waits.
    let certificates = certificate_rows(&env.db).await;
    let csr = openssl_csr(env.files.path(), "ec:P-256");
    let request = env
        .approved_request(Profile::Auth, subject.clone(), &csr)
        .await;
    let refused = bad_ca
        .issue(
            ca::issuance::IssueRequest {
                request,
                dns_names: Vec::new(),
                renewal_of: None,
            },
            &ca_actor(),
        )
        .await;
    match refused {
        Err(ca::Error::X509(pkix::X509Error::SelfCheck(_))) => {}
        other => panic!("issuance with a corrupted signature: {other:?}"),
    }
    assert_eq!(certificate_rows(&env.db).await, certificates);
    assert_eq!(
        store.request(request).await.unwrap().unwrap().status,
        RequestStatus::Approved
    );
    assert!(self_check_failures("ca") > before);

    // A CRL: generation fails, the published CRL stays the last good one.
    let published = env
        .publisher
        .list()
        .into_iter()
        .find(|c| c.ca == personnes_name())
        .expect("CA Personnes publishes CRLs");
    let file = published.file_name.clone();
    let bad_publisher = CrlPublisher::new(vec![bad_ca.clone()]).unwrap();
    let before_crl = self_check_failures("ca");
    assert!(
        bad_publisher.regenerate_all().await.is_err(),
        "a CRL with a corrupted signature was published"
    );
    assert!(self_check_failures("ca") > before_crl);
    let fetched = env.publisher.fetch(&file).await.unwrap().unwrap();
    assert_eq!(fetched.number, published.number, "a new CRL was recorded");
    let crl = <x509_cert::crl::CertificateList as der::Decode>::from_der(&fetched.der).unwrap();
    pkix::verify::verify_crl_signed_by(&crl, &p.personnes).unwrap();

    // The same request, through the good key: issued, and it verifies.
    let issued = env
        .personnes
        .issue(
            ca::issuance::IssueRequest {
                request,
                dns_names: Vec::new(),
                renewal_of: None,
            },
            &ca_actor(),
        )
        .await
        .unwrap();
    let cert = <x509_cert::Certificate as der::Decode>::from_der(&issued.der).unwrap();
    pkix::verify::verify_certificate_signed_by(&cert, &p.personnes).unwrap();
}
