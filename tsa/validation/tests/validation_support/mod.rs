//! Fixtures of the validation tests (and of the validation bench): the CA hierarchy of
//! `ca/tests/issuance_common` (root, CA Personnes, CA Organisations, keys in SoftHSM), a TSA
//! unit certified by CA Organisations and served by the real `tsa` authority with SNTP
//! responders on loopback, professionals registered and certified from `openssl req` CSRs
//! (keys made by OpenSSL) or from keys in the token (playing the professional's card).
//!
//! Include after `support` and `issuance_common`:
//! ```ignore
//! #[path = "../../../ca/tests/support/mod.rs"] mod support;
//! #[path = "../../../ca/tests/issuance_common/mod.rs"] #[macro_use] mod issuance_common;
//! #[path = "../../tests/common/mod.rs"] mod common;
//! #[path = "validation_support/mod.rs"] mod validation_support;
//! ```
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ca::domain::{IdNatPs, ProfessionTable, Profile, SigningRules};
use ca::issuance::IssuedCertificate;
use ca::storage::RequestSubject;
use der::{Decode, Encode};
use hsm_config::keys::generate_key;
use hsm_config::{HsmSignature, HsmSigner, KeySpec};
use pkix::{build_certificate, certificate_to_pem, parse_dn, InfraCertParams, InfraProfile};
use tsa::{MemoryRecorder, TimeStampAuthority, TsaConfig};
use validation::{
    sign, CrlRevocationSource, DocumentKind, RevocationSource, SignatureInput, SignatureReport,
    StoreRevocationSource, Validator,
};
use x509_cert::Certificate;

use crate::common::{fast_clock, SntpServer};
use crate::issuance_common::{pki, register, run, s, BASE_URL};

pub const TSA_POLICY: &str = "1.3.6.1.4.1.32473.1.7.3.1";

pub const PRESCRIPTION: &[u8] = b"ORDONNANCE\nPatient: Jeanne Exemple, 1950-02-03\n\
Amoxicilline 1 g, 1 comprime matin et soir pendant 6 jours.\nQSP 6 jours.\n";

/// The TSA unit certificate (CA Organisations) and its key label in the fixture token.
pub struct TsaUnit {
    pub cert: Certificate,
    pub pem: PathBuf,
    pub chain_pem: PathBuf,
}

pub fn tsa_unit() -> &'static TsaUnit {
    static UNIT: OnceLock<TsaUnit> = OnceLock::new();
    UNIT.get_or_init(|| {
        let p = pki();
        generate_key(&p.token, KeySpec::EcP256, "tsa-unit").unwrap();
        let signer = HsmSigner::new(&p.token, "tsa-unit").unwrap();
        let now = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
        let cert = build_certificate::<_, HsmSignature>(
            &InfraCertParams {
                profile: InfraProfile::TsaUnit,
                subject: parse_dn("C=FR, O=IGC Santé (test), CN=IGC Santé TSA (test)").unwrap(),
                subject_spki: signer.spki().clone(),
                issuer: Some(pkix::IssuerInfo::from_certificate(&p.orgs).unwrap()),
                not_before: now,
                not_after: now + time::Duration::days(365 * 5),
                serial: None,
                policy_oids: vec![TSA_POLICY.parse().unwrap()],
                crl_url: Some(format!("{BASE_URL}/crl/organisations.crl")),
                ca_issuers_url: Some(format!("{BASE_URL}/ca/organisations.crt")),
                ocsp_url: Some(format!("{BASE_URL}/ocsp")),
            },
            &p.orgs_signer,
        )
        .unwrap();
        let pem = p.dir.join("tsa.pem");
        std::fs::write(&pem, certificate_to_pem(&cert).unwrap()).unwrap();
        let chain_pem = p.dir.join("tsa-chain.pem");
        std::fs::write(
            &chain_pem,
            format!(
                "{}{}",
                certificate_to_pem(&p.orgs).unwrap(),
                certificate_to_pem(&p.root).unwrap()
            ),
        )
        .unwrap();
        TsaUnit {
            cert,
            pem,
            chain_pem,
        }
    })
}

/// Records the TSA unit certificate in `env`'s store, as every certificate a CA key signs is
/// recorded (issue 22): the store then knows its status at any time. Idempotent per store.
pub async fn record_tsa_unit(env: &crate::issuance_common::Env) {
    let unit = tsa_unit();
    let tbs = &unit.cert.tbs_certificate;
    let (not_before, not_after) = (
        time::OffsetDateTime::from(tbs.validity.not_before.to_system_time()),
        time::OffsetDateTime::from(tbs.validity.not_after.to_system_time()),
    );
    let serial = ca::domain::Serial::from_be_bytes(tbs.serial_number.as_bytes()).unwrap();
    if env.store().certificate(&serial).await.unwrap().is_some() {
        return;
    }
    env.store()
        .record_issued_certificate(
            &ca::storage::NewCertificate {
                serial,
                issuer: crate::issuance_common::orgs_name(),
                profile: Profile::TsaUnit,
                professional: None,
                structure: None,
                subject: pkix::name_to_string(&tbs.subject),
                not_before,
                not_after,
                der: unit.cert.to_der().unwrap(),
                crl_partition: env.orgs.partition_of(not_after).unwrap(),
                supersedes: None,
            },
            None,
            &crate::issuance_common::ca_actor(),
        )
        .await
        .unwrap();
}

/// A running TSA (authority object, SNTP sources): call `stamp` to time-stamp.
pub struct Tsa {
    pub tsa: TimeStampAuthority,
    pub sntp: Vec<SntpServer>,
}

pub async fn start_tsa() -> Tsa {
    let unit = tsa_unit();
    let sntp = vec![SntpServer::start(0).await, SntpServer::start(0).await];
    let mut cfg = TsaConfig::new(
        TSA_POLICY.parse().unwrap(),
        1,
        "tsa-unit",
        &unit.pem,
        fast_clock(&[&sntp[0], &sntp[1]]),
    );
    cfg.chain = vec![unit.chain_pem.clone()];
    cfg.accuracy_ms = 500;
    let signer = HsmSigner::new(&pki().token, "tsa-unit").unwrap();
    let tsa = tsa::start::<_, HsmSignature, _>(&cfg, signer, MemoryRecorder::new()).unwrap();
    assert!(
        tsa.clock().wait_until(true, Duration::from_secs(10)).await,
        "TSA clock never trusted: {:?}",
        tsa.clock().status()
    );
    Tsa { tsa, sntp }
}

impl Tsa {
    /// CAdES-B → CAdES-T through the TSA.
    pub async fn stamp(&self, cms: &[u8]) -> Vec<u8> {
        let (req, nonce) = sign::timestamp_request(cms).unwrap();
        let reply = self.tsa.respond(&req).await;
        sign::attach_timestamp(cms, &reply.der, &nonce).unwrap()
    }
}

// ----- professionals ---------------------------------------------------------------------------

static NEXT: AtomicU64 = AtomicU64::new(0);

/// A professional with a certificate and its private key.
pub struct Holder {
    pub idnat: IdNatPs,
    pub cert: IssuedCertificate,
    pub certificate: Certificate,
    pub cert_pem: PathBuf,
    /// OpenSSL key file (`openssl` holders).
    pub key_pem: Option<PathBuf>,
    /// Token key label (`hsm` holders).
    pub key_label: Option<String>,
}

impl Holder {
    pub fn hsm_signer(&self) -> HsmSigner {
        HsmSigner::new(&pki().token, self.key_label.as_deref().unwrap()).unwrap()
    }
}

fn unique() -> u64 {
    // Different per test process too (RPPS numbers are unique in one store only anyway).
    NEXT.fetch_add(1, Ordering::Relaxed) + 1000 + u64::from(std::process::id() % 1000) * 10_000
}

/// Registers a professional of `profession` and issues a certificate of `profile` for a key
/// made by `openssl req` (P-256).
pub async fn openssl_holder(
    env: &crate::issuance_common::Env,
    profession: &str,
    profile: Profile,
) -> Holder {
    openssl_holder_with(
        env,
        profession,
        profile,
        &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
    )
    .await
}

/// Same, with the `openssl req -newkey` arguments given (`["rsa:2048"]`, …).
pub async fn openssl_holder_with(
    env: &crate::issuance_common::Env,
    profession: &str,
    profile: Profile,
    newkey: &[&str],
) -> Holder {
    let n = unique();
    let idnat = crate::issuance_common::idnat(n);
    register(env.store(), &idnat, "Martin", "Claire", profession, None).await;
    let key = env.path(&format!("holder{n}.key"));
    let csr = env.path(&format!("holder{n}.csr"));
    let mut args = vec!["req", "-new", "-nodes", "-newkey"];
    args.extend_from_slice(newkey);
    args.extend(["-keyout", s(&key), "-out", s(&csr), "-subj", "/CN=x"]);
    let out = run("openssl", &args);
    assert!(out.ok, "openssl req: {}", out.stderr);
    let cert = env
        .request_and_issue(
            &env.personnes,
            profile,
            RequestSubject::Professional(idnat.clone()),
            &std::fs::read(&csr).unwrap(),
            &[],
            None,
        )
        .await
        .unwrap();
    let cert_pem = env.write_cert(&format!("holder{n}.pem"), &cert.der);
    Holder {
        idnat,
        certificate: Certificate::from_der(&cert.der).unwrap(),
        cert,
        cert_pem,
        key_pem: Some(key),
        key_label: None,
    }
}

/// Same, with the key generated in the fixture token (the professional's card).
pub async fn hsm_holder(
    env: &crate::issuance_common::Env,
    profession: &str,
    profile: Profile,
) -> Holder {
    let n = unique();
    let idnat = crate::issuance_common::idnat(n);
    register(env.store(), &idnat, "Durand", "Paul", profession, None).await;
    let label = format!("card-{n}");
    generate_key(&pki().token, KeySpec::EcP256, &label).unwrap();
    let signer = HsmSigner::new(&pki().token, &label).unwrap();
    let csr = pkix::build_csr::<_, HsmSignature>(&parse_dn("CN=x").unwrap(), &[], &signer).unwrap();
    let cert = env
        .request_and_issue(
            &env.personnes,
            profile,
            RequestSubject::Professional(idnat.clone()),
            &csr.to_der().unwrap(),
            &[],
            None,
        )
        .await
        .unwrap();
    let cert_pem = env.write_cert(&format!("holder{n}.pem"), &cert.der);
    Holder {
        idnat,
        certificate: Certificate::from_der(&cert.der).unwrap(),
        cert,
        cert_pem,
        key_pem: None,
        key_label: Some(label),
    }
}

/// `openssl cms -sign -cades -binary -md sha256` (attached unless `detached`); DER.
pub fn openssl_sign(dir: &Path, holder: &Holder, content: &[u8], detached: bool) -> Vec<u8> {
    openssl_sign_with(dir, holder, content, detached, &[])
}

/// Same, with extra `openssl cms -sign` arguments (`-keyopt rsa_padding_mode:pss`, …).
pub fn openssl_sign_with(
    dir: &Path,
    holder: &Holder,
    content: &[u8],
    detached: bool,
    extra: &[&str],
) -> Vec<u8> {
    let n = unique();
    let doc = dir.join(format!("doc{n}.txt"));
    let out_path = dir.join(format!("sig{n}.p7s"));
    std::fs::write(&doc, content).unwrap();
    let p = pki();
    let mut args = vec![
        "cms",
        "-sign",
        "-cades",
        "-binary",
        "-md",
        "sha256",
        "-in",
        s(&doc),
        "-signer",
        s(&holder.cert_pem),
        "-inkey",
        s(holder.key_pem.as_ref().unwrap()),
        "-certfile",
        s(&p.personnes_pem),
        "-outform",
        "DER",
        "-out",
        s(&out_path),
    ];
    if !detached {
        args.push("-nodetach");
    }
    args.extend_from_slice(extra);
    let out = run("openssl", &args);
    assert!(out.ok, "openssl cms -sign: {}", out.stderr);
    std::fs::read(&out_path).unwrap()
}

/// CAdES-B by the library with the holder's token key.
pub fn hsm_sign(holder: &Holder, content: &[u8], detached: bool) -> Vec<u8> {
    sign::sign_cades_b::<_, HsmSignature>(
        &holder.hsm_signer(),
        &holder.certificate,
        content,
        &sign::SignOptions {
            detached,
            signing_time: None,
            chain: vec![pki().personnes.clone()],
        },
    )
    .unwrap()
}

// ----- validators ------------------------------------------------------------------------------

pub fn validator_with(revocation: Arc<dyn RevocationSource>) -> Validator {
    let p = pki();
    Validator::new(
        vec![p.root.clone()],
        vec![p.personnes.clone(), p.orgs.clone()],
        revocation,
        SigningRules::builtin().unwrap(),
        ProfessionTable::builtin().unwrap(),
    )
    .unwrap()
}

/// The current full CRL of `ca` in the fixture's publisher.
pub fn current_crl(
    env: &crate::issuance_common::Env,
    ca: &ca::domain::CaName,
) -> x509_cert::crl::CertificateList {
    let der = env.publisher.current(ca, None).expect("no full CRL");
    x509_cert::crl::CertificateList::from_der(&der).unwrap()
}

/// Online validator: statuses from the CA store, then CA Organisations' CRL (the fixture's
/// TSA unit is certified by CA Organisations outside the store).
pub fn store_validator(env: &crate::issuance_common::Env) -> Validator {
    validator_with(Arc::new(validation::FirstKnownRevocationSource::new(vec![
        Arc::new(StoreRevocationSource::new(env.store().clone())),
        Arc::new(CrlRevocationSource::new(vec![current_crl(
            env,
            &crate::issuance_common::orgs_name(),
        )])),
    ])))
    .with_registry(env.store().clone())
}

/// Offline validator: the current full CRLs of CA Personnes and CA Organisations (the TSA's).
pub fn crl_validator(env: &crate::issuance_common::Env) -> Validator {
    validator_with(Arc::new(CrlRevocationSource::new(vec![
        current_crl(env, &crate::issuance_common::personnes_name()),
        current_crl(env, &crate::issuance_common::orgs_name()),
    ])))
}

pub async fn validate(
    v: &Validator,
    sig: &[u8],
    content: Option<&[u8]>,
    doc: DocumentKind,
    at: Option<time::OffsetDateTime>,
) -> SignatureReport {
    v.validate_signature(SignatureInput {
        content_ranges: None,
        pdf: None,
        signature: sig,
        content,
        document: doc,
        validation_time: at,
    })
    .await
}

/// Asserts indication and sub-indication, printing the report otherwise.
pub fn expect(report: &SignatureReport, indication: &str, sub: Option<&str>) {
    let json = serde_json::to_value(report).unwrap();
    assert_eq!(
        (json["indication"].as_str(), json["sub_indication"].as_str()),
        (Some(indication), sub),
        "unexpected result:\n{}",
        serde_json::to_string_pretty(&json).unwrap()
    );
}

/// The detail of the failed check `name`.
pub fn failed_detail(report: &SignatureReport, name: &str) -> String {
    report
        .checks
        .0
        .iter()
        .find(|c| c.check == name && c.result == validation::CheckResult::Failed)
        .map(|c| c.detail.clone())
        .unwrap_or_else(|| {
            panic!(
                "check {name} did not fail:\n{}",
                serde_json::to_string_pretty(report).unwrap()
            )
        })
}

/// Flips the last octet of the SignerInfo's signature value inside the DER.
pub fn corrupt_signature(cms: &[u8]) -> Vec<u8> {
    let parsed = validation::cades::parse_cms(cms).unwrap();
    let sig = parsed.signer.signature.as_bytes();
    let pos = cms
        .windows(sig.len())
        .position(|w| w == sig)
        .expect("signature octets in the DER");
    let mut out = cms.to_vec();
    out[pos + sig.len() - 1] ^= 0x01;
    out
}
