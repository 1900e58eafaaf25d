//! A test hierarchy in SoftHSM: root → CA Personnes → OCSP responder, root → CA
//! Organisations → OCSP responder, plus a foreign CA (software key, never configured). Leaf
//! certificates are RA-operator certificates issued by a CA key in the token and recorded in
//! the store through the request → approve → issue workflow (what storage requires for that
//! profile). Shared by the OCSP tests and the benchmark.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ca::domain::{Actor, CaName, Profile, Serial};
use ca::ocsp::OcspCa;
use ca::storage::{NewCertificate, NewRequest, RequestSubject, Store};
use der::{Decode, Encode};
use hsm_config::cryptoki::types::AuthPin;
use hsm_config::keys::generate_key;
use hsm_config::{HsmSigner, KeySpec, Module, PoolOptions, Token};
use pkix::name::{name_to_string, DnBuilder};
use pkix::profiles::{build_certificate, certificate_to_pem, InfraCertParams, InfraProfile};
use pkix::{csr::build_csr, IssuerInfo};
use spki::{EncodePublicKey, ObjectIdentifier, SubjectPublicKeyInfoOwned};
use time::{Duration, OffsetDateTime};
use x509_cert::Certificate;

pub const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
pub const USER_PIN: &str = "ocsp-test-user-pin";
pub const SO_PIN: &str = "ocsp-test-so-pin";
pub const POLICY: &str = "1.3.6.1.4.1.32473.1.7.1.1";
pub const BASE: &str = "http://pki.igc-sante.example";
pub const PERSONNES: &str = "CA Personnes";
pub const ORGANISATIONS: &str = "CA Organisations";

/// A private SoftHSM configuration for this process (SOFTHSM2_CONF is read at C_Initialize).
pub struct SoftHsm {
    pub dir: PathBuf,
    pub token_dir: PathBuf,
    _keep: tempfile::TempDir,
}

impl SoftHsm {
    pub fn new() -> SoftHsm {
        assert!(
            Path::new(MODULE).exists(),
            "SoftHSM2 is not installed ({MODULE} missing): run `make test`, which installs it"
        );
        let keep = tempfile::tempdir().unwrap();
        let token_dir = keep.path().join("tokens");
        std::fs::create_dir_all(&token_dir).unwrap();
        let conf = keep.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n\
                 slots.removable = false\n",
                token_dir.display()
            ),
        )
        .unwrap();
        std::env::set_var("SOFTHSM2_CONF", &conf);
        SoftHsm {
            dir: keep.path().to_owned(),
            token_dir,
            _keep: keep,
        }
    }

    pub fn token(&self, label: &str, opts: PoolOptions) -> Token {
        let m: Arc<Module> = Module::load(Path::new(MODULE)).unwrap();
        match m.init_token(
            label,
            &AuthPin::from(SO_PIN.to_owned()),
            &AuthPin::from(USER_PIN.to_owned()),
        ) {
            Ok(()) | Err(hsm_config::Error::TokenExists(_)) => {}
            Err(e) => panic!("init_token: {e}"),
        }
        Token::open(m, label, AuthPin::from(USER_PIN.to_owned()), opts).unwrap()
    }
}

/// One CA of the hierarchy, with its OCSP responder.
pub struct TestCa {
    pub name: CaName,
    pub cert: Certificate,
    pub signer: HsmSigner,
    pub responder_cert: Certificate,
    pub responder_signer: HsmSigner,
    /// PEM of the CA certificate.
    pub pem_path: PathBuf,
}

impl TestCa {
    pub fn ocsp_ca(&self) -> OcspCa {
        OcspCa::new(
            self.name.clone(),
            &self.cert,
            &self.responder_cert,
            self.responder_signer.clone(),
        )
        .unwrap()
    }
}

/// The whole hierarchy, with PEM files for OpenSSL.
pub struct Pki {
    pub token: Token,
    pub root: Certificate,
    pub personnes: TestCa,
    pub organisations: TestCa,
    /// A CA nobody configured (software key), and a leaf it issued.
    pub foreign_ca_pem: PathBuf,
    pub foreign_leaf_pem: PathBuf,
    /// Root + both sub-CAs, for `-CAfile`.
    pub chain_pem: PathBuf,
    pub root_pem: PathBuf,
    pub dir: PathBuf,
    _keep: tempfile::TempDir,
}

fn oid(s: &str) -> ObjectIdentifier {
    ObjectIdentifier::new(s).unwrap()
}

fn url(path: &str) -> Option<String> {
    Some(format!("{BASE}/{path}"))
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn spki_of<K: EncodePublicKey>(key: &K) -> SubjectPublicKeyInfoOwned {
    SubjectPublicKeyInfoOwned::from_der(key.to_public_key_der().unwrap().as_bytes()).unwrap()
}

fn write_pem(path: &Path, certs: &[&Certificate]) {
    let text: String = certs
        .iter()
        .map(|c| certificate_to_pem(c).unwrap())
        .collect();
    std::fs::write(path, text).unwrap();
}

fn key(token: &Token, label: &str) -> HsmSigner {
    generate_key(token, KeySpec::EcP256, label).unwrap();
    HsmSigner::new(token, label).unwrap()
}

fn sub_ca(
    token: &Token,
    root: &Certificate,
    root_signer: &HsmSigner,
    name: &str,
    label: &str,
    dir: &Path,
) -> TestCa {
    let signer = key(token, label);
    let cert = build_certificate(
        &InfraCertParams {
            profile: InfraProfile::SubCa,
            subject: DnBuilder::new()
                .country("FR")
                .organization("IGC Santé TEST")
                .common_name(name)
                .build()
                .unwrap(),
            subject_spki: signer.spki().clone(),
            issuer: Some(IssuerInfo::from_certificate(root).unwrap()),
            not_before: now() - Duration::hours(1),
            not_after: now() + Duration::days(3650),
            serial: None,
            policy_oids: vec![oid(POLICY)],
            crl_url: url("crl/root.crl"),
            ca_issuers_url: url("ca/root.crt"),
            ocsp_url: None,
        },
        root_signer,
    )
    .unwrap();
    let responder_signer = key(token, &format!("{label}-ocsp"));
    let responder_cert = build_certificate(
        &InfraCertParams {
            profile: InfraProfile::OcspSigner,
            subject: DnBuilder::new()
                .country("FR")
                .organization("IGC Santé TEST")
                .common_name(format!("{name} OCSP"))
                .build()
                .unwrap(),
            subject_spki: responder_signer.spki().clone(),
            issuer: Some(IssuerInfo::from_certificate(&cert).unwrap()),
            not_before: now() - Duration::hours(1),
            not_after: now() + Duration::days(30),
            serial: None,
            policy_oids: vec![oid(POLICY)],
            crl_url: None,
            ca_issuers_url: url(&format!("ca/{label}.crt")),
            ocsp_url: None,
        },
        &signer,
    )
    .unwrap();
    let pem_path = dir.join(format!("{label}.pem"));
    write_pem(&pem_path, &[&cert]);
    TestCa {
        name: name.parse().unwrap(),
        cert,
        signer,
        responder_cert,
        responder_signer,
        pem_path,
    }
}

impl Pki {
    /// Builds the hierarchy in a fresh token of `hsm`.
    pub fn new(hsm: &SoftHsm, label: &str) -> Pki {
        let token = hsm.token(
            label,
            PoolOptions {
                max_sessions: 8,
                session_wait: std::time::Duration::from_secs(2),
                retry: std::time::Duration::from_millis(50),
            },
        );
        let keep = tempfile::tempdir().unwrap();
        let dir = keep.path().to_owned();
        let root_signer = key(&token, "root");
        let root = build_certificate(
            &InfraCertParams {
                profile: InfraProfile::Root,
                subject: DnBuilder::new()
                    .country("FR")
                    .organization("IGC Santé TEST")
                    .common_name("IGC Santé Root CA TEST")
                    .build()
                    .unwrap(),
                subject_spki: root_signer.spki().clone(),
                issuer: None,
                not_before: now() - Duration::hours(1),
                not_after: now() + Duration::days(7300),
                serial: None,
                policy_oids: vec![],
                crl_url: None,
                ca_issuers_url: None,
                ocsp_url: None,
            },
            &root_signer,
        )
        .unwrap();
        let personnes = sub_ca(&token, &root, &root_signer, PERSONNES, "personnes", &dir);
        let organisations = sub_ca(
            &token,
            &root,
            &root_signer,
            ORGANISATIONS,
            "organisations",
            &dir,
        );

        // A foreign CA with a software key, and a leaf of it.
        let foreign_key = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
        let foreign = build_certificate::<_, p256::ecdsa::DerSignature>(
            &InfraCertParams {
                profile: InfraProfile::Root,
                subject: DnBuilder::new()
                    .country("FR")
                    .organization("Ailleurs")
                    .common_name("Foreign CA")
                    .build()
                    .unwrap(),
                subject_spki: spki_of(foreign_key.verifying_key()),
                issuer: None,
                not_before: now() - Duration::hours(1),
                not_after: now() + Duration::days(365),
                serial: None,
                policy_oids: vec![],
                crl_url: None,
                ca_issuers_url: None,
                ocsp_url: None,
            },
            &foreign_key,
        )
        .unwrap();
        let leaf_key = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
        let foreign_leaf = build_certificate::<_, p256::ecdsa::DerSignature>(
            &leaf_params(
                &foreign,
                spki_of(leaf_key.verifying_key()),
                "someone@elsewhere",
            ),
            &foreign_key,
        )
        .unwrap();

        let root_pem = dir.join("root.pem");
        write_pem(&root_pem, &[&root]);
        let chain_pem = dir.join("chain.pem");
        write_pem(&chain_pem, &[&root, &personnes.cert, &organisations.cert]);
        let foreign_ca_pem = dir.join("foreign-ca.pem");
        write_pem(&foreign_ca_pem, &[&foreign]);
        let foreign_leaf_pem = dir.join("foreign-leaf.pem");
        write_pem(&foreign_leaf_pem, &[&foreign_leaf]);
        Pki {
            token,
            root,
            personnes,
            organisations,
            foreign_ca_pem,
            foreign_leaf_pem,
            chain_pem,
            root_pem,
            dir,
            _keep: keep,
        }
    }

    /// Issues an RA-operator certificate from `ca` and, when `store` is given, records it
    /// (request filed by one clerk, approved by another, then issued). Returns the certificate,
    /// its serial and the path of its PEM.
    pub async fn issue(
        &self,
        ca: &TestCa,
        store: Option<&Store>,
        login: &str,
    ) -> (Certificate, Serial, PathBuf) {
        let leaf_key = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
        let params = leaf_params(&ca.cert, spki_of(leaf_key.verifying_key()), login);
        let signer = ca.signer.clone();
        let cert = tokio::task::spawn_blocking(move || build_certificate(&params, &signer))
            .await
            .unwrap()
            .unwrap();
        let serial = Serial::from_be_bytes(cert.tbs_certificate.serial_number.as_bytes()).unwrap();
        if let Some(store) = store {
            let csr = build_csr::<_, p256::ecdsa::DerSignature>(
                &cert.tbs_certificate.subject,
                &[],
                &leaf_key,
            )
            .unwrap();
            let clerk_a = Actor::new("clerk-a", "tls-client-cert").unwrap();
            let clerk_b = Actor::new("clerk-b", "tls-client-cert").unwrap();
            let id = store
                .file_request(
                    &NewRequest {
                        profile: Profile::RaOperator,
                        subject: RequestSubject::Operator(login.parse().unwrap()),
                        csr_der: csr.to_der().unwrap(),
                    },
                    &clerk_a,
                )
                .await
                .unwrap();
            store.approve_request(id, &clerk_b).await.unwrap();
            let validity = &cert.tbs_certificate.validity;
            store
                .record_issued_certificate(
                    &NewCertificate {
                        serial: serial.clone(),
                        issuer: ca.name.clone(),
                        profile: Profile::RaOperator,
                        professional: None,
                        structure: None,
                        subject: name_to_string(&cert.tbs_certificate.subject),
                        not_before: OffsetDateTime::from_unix_timestamp(
                            validity.not_before.to_unix_duration().as_secs() as i64,
                        )
                        .unwrap(),
                        not_after: OffsetDateTime::from_unix_timestamp(
                            validity.not_after.to_unix_duration().as_secs() as i64,
                        )
                        .unwrap(),
                        der: cert.to_der().unwrap(),
                        crl_partition: 0,
                        supersedes: None,
                    },
                    Some(id),
                    &Actor::system("ca").unwrap(),
                )
                .await
                .unwrap();
        }
        let path = self.dir.join(format!("leaf-{serial}.pem"));
        write_pem(&path, &[&cert]);
        (cert, serial, path)
    }
}

fn leaf_params(
    issuer: &Certificate,
    spki: SubjectPublicKeyInfoOwned,
    login: &str,
) -> InfraCertParams {
    InfraCertParams {
        profile: InfraProfile::RaOperator,
        subject: DnBuilder::new()
            .country("FR")
            .organization("Ordre des médecins")
            .common_name(login)
            .build()
            .unwrap(),
        subject_spki: spki,
        issuer: Some(IssuerInfo::from_certificate(issuer).unwrap()),
        not_before: now() - Duration::hours(1),
        not_after: now() + Duration::days(365),
        serial: None,
        policy_oids: vec![oid(POLICY)],
        crl_url: url("crl/personnes.crl"),
        ca_issuers_url: url("ca/personnes.crt"),
        ocsp_url: url("ocsp"),
    }
}
