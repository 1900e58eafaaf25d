//! Shared fixtures of the issuance and CRL tests: a root and two issuing CAs whose keys live
//! in a private SoftHSM2 token (one per test process), stores on SQLite and PostgreSQL,
//! OpenSSL and pkilint runners.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use ca::crl::CrlPublisher;
use ca::domain::{
    Actor, CaName, Departement, IdNatPs, IdNatStruct, IdentityDocumentType, IdentityProofing, Name,
    ProfessionTable, Professional, ProfessionalStatus, Profile, ProofingMode, Structure,
};
use ca::issuance::{CaSigner, CertificateAuthority, IssueRequest, IssuedCertificate, PolicyConfig};
use ca::status::Revocations;
use ca::storage::{NewRequest, RequestId, RequestSubject, Store};
use der::{Decode, Encode};
use hsm_config::cryptoki::types::AuthPin;
use hsm_config::keys::generate_key;
use hsm_config::{HsmSigner, KeySpec, Module, PoolOptions, Token};
use pkix::{build_certificate, certificate_to_pem, parse_dn, InfraCertParams, InfraProfile};
use time::{Duration, OffsetDateTime};
use x509_cert::Certificate;

use crate::support::pg::PgCluster;

pub const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
pub const BASE_URL: &str = "http://pki.igc-sante.test";

/// The hierarchy: root, CA Personnes (EC P-256) and CA Organisations (EC P-384), keys in
/// SoftHSM, certificates as DER and PEM files.
pub struct Pki {
    pub dir: PathBuf,
    pub root: Certificate,
    pub root_pem: PathBuf,
    pub personnes: Certificate,
    pub personnes_pem: PathBuf,
    pub personnes_signer: HsmSigner,
    pub orgs: Certificate,
    pub orgs_pem: PathBuf,
    pub orgs_signer: HsmSigner,
    pub token: Token,
    /// Seals the RA operators' TOTP secrets (an AES-256 key of the token).
    pub sealer: hsm_config::HsmSealer,
    _keep: tempfile::TempDir,
}

/// A store on `url` that seals TOTP secrets with the test token's key, as `igc` wires it.
pub async fn sealed_store(url: &str) -> Store {
    Store::connect(url)
        .await
        .unwrap()
        .with_sealer(std::sync::Arc::new(pki().sealer.clone()))
}

pub fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(build_pki)
}

fn build_pki() -> Pki {
    assert!(
        Path::new(MODULE).exists(),
        "SoftHSM2 is not installed ({MODULE} missing)"
    );
    let keep = tempfile::tempdir().unwrap();
    let token_dir = keep.path().join("tokens");
    std::fs::create_dir_all(&token_dir).unwrap();
    let conf = keep.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
            token_dir.display()
        ),
    )
    .unwrap();
    // SOFTHSM2_CONF is read at C_Initialize; the module is process-wide and loaded here once.
    std::env::set_var("SOFTHSM2_CONF", &conf);
    let module = Module::load(Path::new(MODULE)).unwrap();
    let pin = "issuance-test-pin";
    module
        .init_token(
            "issuance",
            &AuthPin::from("issuance-so-pin".to_owned()),
            &AuthPin::from(pin.to_owned()),
        )
        .unwrap();
    let token = Token::open(
        module,
        "issuance",
        AuthPin::from(pin.to_owned()),
        PoolOptions {
            max_sessions: 16,
            ..PoolOptions::default()
        },
    )
    .unwrap();
    generate_key(&token, KeySpec::EcP384, "root").unwrap();
    generate_key(&token, KeySpec::EcP256, "ca-personnes").unwrap();
    generate_key(&token, KeySpec::EcP384, "ca-organisations").unwrap();
    hsm_config::sealer::generate_sealing_key(&token, "ra-totp-seal").unwrap();
    let sealer = hsm_config::HsmSealer::new(&token, "ra-totp-seal").unwrap();
    let root_signer = HsmSigner::new(&token, "root").unwrap();
    let personnes_signer = HsmSigner::new(&token, "ca-personnes").unwrap();
    let orgs_signer = HsmSigner::new(&token, "ca-organisations").unwrap();

    let now = OffsetDateTime::now_utc() - Duration::hours(1);
    let root = build_certificate(
        &InfraCertParams {
            profile: InfraProfile::Root,
            subject: parse_dn("C=FR, O=IGC Santé (test), CN=IGC Santé Racine (test)").unwrap(),
            subject_spki: root_signer.spki().clone(),
            issuer: None,
            not_before: now,
            not_after: now + Duration::days(365 * 20),
            serial: None,
            policy_oids: vec![],
            crl_url: None,
            ca_issuers_url: None,
            ocsp_url: None,
        },
        &root_signer,
    )
    .unwrap();
    let issuer = pkix::IssuerInfo::from_certificate(&root).unwrap();
    let sub = |cn: &str, signer: &HsmSigner| {
        build_certificate(
            &InfraCertParams {
                profile: InfraProfile::SubCa,
                subject: parse_dn(&format!("C=FR, O=IGC Santé (test), CN={cn}")).unwrap(),
                subject_spki: signer.spki().clone(),
                issuer: Some(issuer.clone()),
                not_before: now,
                not_after: now + Duration::days(365 * 10),
                serial: None,
                policy_oids: vec!["2.5.29.32.0".parse().unwrap()],
                crl_url: Some(format!("{BASE_URL}/crl/racine.crl")),
                ca_issuers_url: Some(format!("{BASE_URL}/ca/racine.crt")),
                ocsp_url: None,
            },
            &root_signer,
        )
        .unwrap()
    };
    let personnes = sub("CA Personnes (test)", &personnes_signer);
    let orgs = sub("CA Organisations (test)", &orgs_signer);
    let dir = keep.path().join("pki");
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, c: &Certificate| {
        let p = dir.join(name);
        std::fs::write(&p, certificate_to_pem(c).unwrap()).unwrap();
        p
    };
    Pki {
        root_pem: write("root.pem", &root),
        personnes_pem: write("personnes.pem", &personnes),
        orgs_pem: write("orgs.pem", &orgs),
        dir,
        root,
        personnes,
        personnes_signer,
        orgs,
        orgs_signer,
        sealer,
        token,
        _keep: keep,
    }
}

// ----- databases -------------------------------------------------------------------------------

pub struct Db {
    pub store: Store,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    _pg: Option<PgCluster>,
}

impl Db {
    /// A handle on a database kept alive by another `Db`.
    pub fn from_store(store: Store, url: String) -> Db {
        Db {
            store,
            url,
            _dir: None,
            _pg: None,
        }
    }

    pub async fn raw(&self) -> sqlx::AnyPool {
        sqlx::any::install_default_drivers();
        sqlx::AnyPool::connect(&self.url).await.unwrap()
    }

    /// Another pool on the same database (a second instance).
    pub async fn second_store(&self) -> Store {
        sealed_store(&self.url).await
    }
}

pub async fn sqlite() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("ca.db").display());
    let store = sealed_store(&url).await;
    Db {
        store,
        url,
        _dir: Some(dir),
        _pg: None,
    }
}

/// `None` only when IGC_SKIP_PG=1.
pub async fn postgres() -> Option<Db> {
    let pg = match PgCluster::start() {
        Ok(Some(pg)) => pg,
        Ok(None) => {
            eprintln!("IGC_SKIP_PG=1: PostgreSQL test skipped");
            return None;
        }
        Err(e) => panic!("PostgreSQL test cluster: {e}"),
    };
    let url = pg.create_database("igc_test").unwrap();
    let store = sealed_store(&url).await;
    Some(Db {
        store,
        url,
        _dir: None,
        _pg: Some(pg),
    })
}

/// Runs each named scenario as one test per backend.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = crate::issuance_common::sqlite().await;
                    super::scenarios::$name(db).await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = crate::issuance_common::postgres().await else { return };
                    super::scenarios::$name(db).await;
                }
            )*
        }
    };
}

// ----- the CA under test -------------------------------------------------------------------

pub fn personnes_name() -> CaName {
    "CA Personnes".parse().unwrap()
}

pub fn orgs_name() -> CaName {
    "CA Organisations".parse().unwrap()
}

pub fn clerk(id: &str) -> Actor {
    Actor::new(id, "tls-client-cert").unwrap()
}

pub fn ca_actor() -> Actor {
    Actor::system("ca").unwrap()
}

pub struct Env {
    pub db: Db,
    pub personnes: Arc<CertificateAuthority>,
    pub orgs: Arc<CertificateAuthority>,
    pub publisher: Arc<CrlPublisher>,
    pub revocations: Revocations,
    pub files: tempfile::TempDir,
}

pub fn personnes_policy() -> PolicyConfig {
    PolicyConfig::example(
        BASE_URL,
        &[
            Profile::Auth,
            Profile::Sign,
            Profile::Conf,
            Profile::RaOperator,
        ],
    )
}

pub fn orgs_policy() -> PolicyConfig {
    PolicyConfig::example(BASE_URL, &[Profile::Server])
}

/// The two issuing CAs over `store`.
pub fn authorities(
    store: &Store,
    personnes_policy: PolicyConfig,
) -> (Arc<CertificateAuthority>, Arc<CertificateAuthority>) {
    let p = pki();
    let table = Arc::new(ProfessionTable::builtin().unwrap());
    let personnes = CertificateAuthority::new(
        personnes_name(),
        &p.personnes.to_der().unwrap(),
        CaSigner::new(p.personnes_signer.clone()).unwrap(),
        personnes_policy,
        store.clone(),
        table.clone(),
    )
    .unwrap();
    let orgs = CertificateAuthority::new(
        orgs_name(),
        &p.orgs.to_der().unwrap(),
        CaSigner::new(p.orgs_signer.clone()).unwrap(),
        orgs_policy(),
        store.clone(),
        table,
    )
    .unwrap();
    (Arc::new(personnes), Arc::new(orgs))
}

impl Env {
    pub async fn new(db: Db) -> Env {
        Env::with_policy(db, personnes_policy()).await
    }

    pub async fn with_policy(db: Db, policy: PolicyConfig) -> Env {
        let (personnes, orgs) = authorities(&db.store, policy);
        let publisher = Arc::new(CrlPublisher::new(vec![personnes.clone(), orgs.clone()]).unwrap());
        publisher.regenerate_all().await.unwrap();
        let revocations = Revocations::new(db.store.clone(), publisher.clone());
        Env {
            db,
            personnes,
            orgs,
            publisher,
            revocations,
            files: tempfile::tempdir().unwrap(),
        }
    }

    pub fn store(&self) -> &Store {
        &self.db.store
    }

    /// Copies the files written so far to $ISSUANCE_KEEP, when set (for inspection).
    pub fn keep_files(&self) {
        if let Ok(keep) = std::env::var("ISSUANCE_KEEP") {
            let keep = PathBuf::from(keep);
            std::fs::create_dir_all(&keep).unwrap();
            for entry in std::fs::read_dir(self.files.path()).unwrap() {
                let entry = entry.unwrap();
                std::fs::copy(entry.path(), keep.join(entry.file_name())).unwrap();
            }
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.files.path().join(name)
    }

    /// Files, approves (four eyes) and issues.
    pub async fn request_and_issue(
        &self,
        ca: &CertificateAuthority,
        profile: Profile,
        subject: RequestSubject,
        csr: &[u8],
        dns_names: &[&str],
        renewal_of: Option<ca::domain::Serial>,
    ) -> ca::Result<IssuedCertificate> {
        let id = self.approved_request(profile, subject, csr).await;
        ca.issue(
            IssueRequest {
                request: id,
                dns_names: dns_names.iter().map(|s| (*s).to_owned()).collect(),
                renewal_of,
            },
            &ca_actor(),
        )
        .await
    }

    pub async fn approved_request(
        &self,
        profile: Profile,
        subject: RequestSubject,
        csr: &[u8],
    ) -> RequestId {
        let der = csr_der(csr);
        let id = self
            .store()
            .file_request(
                &NewRequest {
                    profile,
                    subject,
                    csr_der: der,
                },
                &clerk("clerk-a"),
            )
            .await
            .unwrap();
        self.store()
            .approve_request(id, &clerk("clerk-b"))
            .await
            .unwrap();
        id
    }

    /// Writes a DER certificate as PEM; returns the path.
    pub fn write_cert(&self, name: &str, der: &[u8]) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, pem::encode(&pem::Pem::new("CERTIFICATE", der.to_vec()))).unwrap();
        p
    }

    /// Writes the current CRL of a CA (partition or full) as PEM; returns the path.
    pub fn write_crl(&self, ca: &CaName, partition: Option<u32>, name: &str) -> PathBuf {
        let der = self
            .publisher
            .current(ca, partition)
            .unwrap_or_else(|| panic!("no current CRL {ca} {partition:?}"));
        let p = self.path(name);
        std::fs::write(&p, pem::encode(&pem::Pem::new("X509 CRL", der.to_vec()))).unwrap();
        p
    }

    /// `openssl verify -x509_strict -crl_check` of a certificate of CA Personnes or CA
    /// Organisations against the CRL of its partition.
    pub fn openssl_verify(&self, cert: &IssuedCertificate, ca: &CaName) -> Output {
        let p = pki();
        let sub = if *ca == personnes_name() {
            &p.personnes_pem
        } else {
            &p.orgs_pem
        };
        let cert_path = self.write_cert(&format!("{}.pem", cert.serial), &cert.der);
        let crl_path = self.write_crl(
            ca,
            Some(cert.crl_partition),
            &format!("{}-crl.pem", cert.serial),
        );
        openssl_verify(&p.root_pem, sub, &crl_path, &cert_path)
    }
}

pub fn openssl_verify(root: &Path, sub: &Path, crl: &Path, cert: &Path) -> Output {
    run(
        "openssl",
        &[
            "verify",
            "-x509_strict",
            "-crl_check",
            "-CAfile",
            s(root),
            "-untrusted",
            s(sub),
            "-CRLfile",
            s(crl),
            s(cert),
        ],
    )
}

pub fn assert_ok(out: &Output, what: &str) {
    assert!(
        out.ok && out.stdout.contains(": OK"),
        "openssl verify {what}: expected OK\n{}\n{}",
        out.stdout,
        out.stderr
    );
}

pub fn assert_revoked(out: &Output, what: &str) {
    assert!(
        !out.ok && out.stderr.contains("certificate revoked"),
        "openssl verify {what}: expected 'certificate revoked'\n{}\n{}",
        out.stdout,
        out.stderr
    );
}

// ----- registry ----------------------------------------------------------------------------

pub fn luhn_key(payload: &str) -> u32 {
    let sum: u32 = payload
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let d2 = d * 2;
                if d2 > 9 {
                    d2 - 9
                } else {
                    d2
                }
            } else {
                d
            }
        })
        .sum();
    (10 - sum % 10) % 10
}

/// A valid RPPS from a 10-digit payload.
pub fn rpps(n: u64) -> String {
    let payload = format!("{:010}", n);
    format!("{payload}{}", luhn_key(&payload))
}

pub fn idnat(n: u64) -> IdNatPs {
    format!("8{}", rpps(n)).parse().unwrap()
}

pub fn proofing() -> IdentityProofing {
    IdentityProofing {
        document_type: IdentityDocumentType::Cni,
        document_number: "X4RT12AB".parse().unwrap(),
        mode: ProofingMode::FaceToFace,
        checked_by: "clerk-a".parse().unwrap(),
        checked_at: OffsetDateTime::now_utc(),
    }
}

pub async fn register(
    store: &Store,
    id: &IdNatPs,
    surname: &str,
    given: &str,
    profession: &str,
    structure: Option<IdNatStruct>,
) -> Professional {
    let p = Professional {
        idnat: id.clone(),
        surname: surname.parse::<Name>().unwrap(),
        given_names: given.parse::<Name>().unwrap(),
        profession: profession.parse().unwrap(),
        structure,
        status: ProfessionalStatus::Active,
    };
    store
        .register_professional(&p, &proofing(), &clerk("clerk-a"))
        .await
        .unwrap();
    p
}

pub async fn register_structure(store: &Store) -> Structure {
    let s = Structure {
        idnat: "1750000010".parse().unwrap(),
        name: "Hôpital Saint-Exemple".parse().unwrap(),
        departement: "75".parse::<Departement>().unwrap(),
    };
    store
        .register_structure(&s, &clerk("clerk-a"))
        .await
        .unwrap();
    s
}

// ----- keys and CSRs made by OpenSSL ---------------------------------------------------------

/// A CSR made by `openssl req` with a fresh key (the key never enters our process).
/// `key` is an openssl `-newkey` argument plus options: `ec:P-256`, `ec:secp256k1`,
/// `rsa:1024`, …
pub fn openssl_csr(dir: &Path, key: &str) -> Vec<u8> {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let key_path = dir.join(format!("key{n}.pem"));
    let csr_path = dir.join(format!("csr{n}.pem"));
    let mut args: Vec<String> = vec!["req".into(), "-new".into(), "-nodes".into()];
    match key.split_once(':') {
        Some(("ec", curve)) => {
            args.extend([
                "-newkey".into(),
                "ec".into(),
                "-pkeyopt".into(),
                format!("ec_paramgen_curve:{curve}"),
            ]);
        }
        _ => args.extend(["-newkey".into(), key.into()]),
    }
    args.extend([
        "-keyout".into(),
        key_path.display().to_string(),
        "-out".into(),
        csr_path.display().to_string(),
        "-subj".into(),
        "/CN=x".into(),
    ]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run("openssl", &refs);
    assert!(out.ok, "openssl req {key}: {}", out.stderr);
    std::fs::read(&csr_path).unwrap()
}

/// DER of a PEM or DER CSR.
pub fn csr_der(csr: &[u8]) -> Vec<u8> {
    if csr.starts_with(b"-----") {
        pem::parse(csr).unwrap().into_contents()
    } else {
        csr.to_vec()
    }
}

// ----- tools ---------------------------------------------------------------------------------

pub struct Output {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

pub fn run(program: &str, args: &[&str]) -> Output {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (is it installed?): {e}"));
    Output {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A pkilint program: on PATH, else in the workspace's .venv.
fn pkilint_program(name: &str) -> String {
    let on_path = Command::new(name).arg("--help").output().is_ok();
    if on_path {
        return name.to_owned();
    }
    // Compiled into the root package's tests: the virtualenv sits beside Cargo.toml.
    let venv = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".venv/bin")
        .join(name);
    venv.display().to_string()
}

#[derive(Debug)]
pub struct Finding {
    pub file: String,
    pub severity: String,
    pub code: String,
    pub message: Option<String>,
}

/// Runs a pkilint linter (`lint_pkix_cert`, `lint_crl`) on a file; returns every finding.
pub fn pkilint(program: &str, extra: &[&str], file: &Path) -> Vec<Finding> {
    let mut args = vec!["lint"];
    args.extend(extra);
    args.extend(["-s", "ALL", "-f", "JSON", s(file)]);
    let out = run(&pkilint_program(program), &args);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{program} output is not JSON ({e}):\n{}\n{}",
            out.stdout, out.stderr
        )
    });
    let results = json["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results array from {program}: {json}"));
    assert!(!results.is_empty(), "{program} validated nothing");
    let mut findings = Vec::new();
    for result in results {
        for f in result["finding_descriptions"].as_array().unwrap() {
            findings.push(Finding {
                file: file.file_name().unwrap().to_string_lossy().into_owned(),
                severity: f["severity"].as_str().unwrap().to_owned(),
                code: f["code"].as_str().unwrap().to_owned(),
                message: f["message"].as_str().map(str::to_owned),
            });
        }
    }
    findings
}

/// Asserts that pkilint finds no ERROR or FATAL in the files (certificates, then CRLs).
pub fn assert_pkilint_clean(certs: &[PathBuf], crls: &[PathBuf]) {
    let mut all = Vec::new();
    for c in certs {
        all.extend(pkilint("lint_pkix_cert", &[], c));
    }
    for c in crls {
        all.extend(pkilint("lint_crl", &["-t", "CRL", "-p", "PKIX"], c));
    }
    for f in &all {
        if f.severity == "WARNING" || f.severity == "NOTICE" {
            eprintln!(
                "pkilint {} {}: {} {:?}",
                f.severity, f.file, f.code, f.message
            );
        }
    }
    let errors: Vec<&Finding> = all
        .iter()
        .filter(|f| f.severity == "ERROR" || f.severity == "FATAL")
        .collect();
    assert!(errors.is_empty(), "pkilint errors: {errors:#?}");
}

/// Canaries for the pkilint runner: a CA certificate without keyUsage and a CRL without
/// cRLNumber must come out as ERROR findings (otherwise "no ERROR" would prove nothing).
pub fn assert_pkilint_catches_errors(dir: &Path, crl_der: &[u8]) {
    let mut root = pki().root.clone();
    root.tbs_certificate
        .extensions
        .as_mut()
        .unwrap()
        .retain(|e| e.extn_id.to_string() != "2.5.29.15");
    let cert = dir.join("canary-cert.pem");
    std::fs::write(&cert, certificate_to_pem(&root).unwrap()).unwrap();
    let findings = pkilint("lint_pkix_cert", &[], &cert);
    assert!(
        findings
            .iter()
            .any(|f| f.severity == "ERROR" && f.code == "pkix.ca_certificate_no_ku_extension"),
        "pkilint canary (certificate) not caught: {findings:#?}"
    );
    let mut crl = x509_cert::crl::CertificateList::from_der(crl_der).unwrap();
    crl.tbs_cert_list
        .crl_extensions
        .as_mut()
        .unwrap()
        .retain(|e| e.extn_id.to_string() != "2.5.29.20");
    let path = dir.join("canary-crl.pem");
    std::fs::write(
        &path,
        pem::encode(&pem::Pem::new("X509 CRL", crl.to_der().unwrap())),
    )
    .unwrap();
    let findings = pkilint("lint_crl", &["-t", "CRL", "-p", "PKIX"], &path);
    assert!(
        findings
            .iter()
            .any(|f| f.severity == "ERROR" || f.severity == "FATAL"),
        "pkilint canary (CRL without cRLNumber) not caught: {findings:#?}"
    );
}

/// Row counts of the tables a failed operation must not touch, and the audit head.
pub async fn snapshot(db: &Db) -> (i64, i64, i64, (u64, String)) {
    let raw = db.raw().await;
    let count = |t: &'static str| {
        let raw = raw.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {t}")))
                .fetch_one(&raw)
                .await
                .unwrap()
        }
    };
    let certs = count("certificates").await;
    let issued = sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM certificate_requests WHERE status = 'issued'",
    )
    .fetch_one(&raw)
    .await
    .unwrap();
    let professionals = count("professionals").await;
    let head = db.store.audit_head().await.unwrap();
    raw.close().await;
    (certs, issued, professionals, head)
}

/// The certificate's subject as text, the attributes of a multi-valued RDN in CN, SN, GN
/// order (DER sorts them by encoding, hence by value length).
pub fn subject_of(der: &[u8]) -> String {
    let c = Certificate::from_der(der).unwrap();
    let text = pkix::name_to_string(&c.tbs_certificate.subject);
    text.split(", ")
        .map(|rdn| {
            let mut parts: Vec<&str> = rdn.split('+').collect();
            let rank = |p: &str| ["CN=", "SN=", "GN="].iter().position(|k| p.starts_with(k));
            parts.sort_by_key(|p| rank(p));
            parts.join("+")
        })
        .collect::<Vec<_>>()
        .join(", ")
}
