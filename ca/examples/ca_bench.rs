//! CA benchmarks (issue 3, `make bench`):
//!
//! 1. **durable issuance rate** on SQLite: certificates/s through
//!    [`CertificateAuthority::issue`] (CSR check, lint, SoftHSM EC P-256 signature, checks,
//!    commit of certificate + request + audit entry before returning), at several
//!    concurrencies;
//! 2. **CRL generation** time and peak memory for 10k, 100k and 1M revoked entries (the CA's
//!    full CRL, entries spread over 37 partitions), each in a child process whose peak RSS is
//!    measured by `/usr/bin/time`, side by side with `openssl ca -gencrl` on the same revoked
//!    set (an OpenSSL `index.txt` with the same serials, dates and reasons; a software EC P-256
//!    key).
//!
//! ```text
//! cargo run --release -p ca --example ca_bench                 # everything
//! cargo run --release -p ca --example ca_bench -- --issue 3000 --crl 10000,100000
//! ```
//!
//! Prints markdown tables. Setup data (approved requests, revoked rows) is bulk-inserted with
//! SQL; what is measured goes through the public API only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use ca::crl::CrlScope;
use ca::domain::{
    Actor, CaName, IdentityDocumentType, IdentityProofing, ProfessionTable, Professional,
    ProfessionalStatus, Profile, ProofingMode,
};
use ca::issuance::{CaSigner, CertificateAuthority, IssueRequest, PolicyConfig};
use ca::storage::{RequestId, Store};
use der::Encode;
use hsm_config::cryptoki::types::AuthPin;
use hsm_config::keys::generate_key;
use hsm_config::{HsmSigner, KeySpec, Module, PoolOptions, Token};
use pkix::{build_certificate, build_csr, parse_dn, InfraCertParams, InfraProfile};
use time::{Duration, OffsetDateTime};

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const PIN: &str = "bench-user-pin";
const CA_NAME: &str = "CA Personnes";
const BASE_URL: &str = "http://pki.igc-sante.test";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("crl-child") {
        crl_child(&args[2..]);
        return;
    }
    let mut issue_n = 5000usize;
    let mut sizes = vec![10_000i64, 100_000, 1_000_000];
    let mut concurrency = vec![1usize, 8, 32];
    let mut openssl = true;
    let mut i = 1;
    while i < args.len() {
        match args[i].as_str() {
            "--issue" => {
                issue_n = args[i + 1].parse().unwrap();
                i += 1;
            }
            "--crl" => {
                sizes = args[i + 1]
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(|s| s.parse().unwrap())
                    .collect();
                i += 1;
            }
            "--concurrency" => {
                concurrency = args[i + 1].split(',').map(|s| s.parse().unwrap()).collect();
                i += 1;
            }
            "--no-openssl" => openssl = false,
            other => panic!("unknown argument {other}"),
        }
        i += 1;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let work = tempfile::Builder::new()
        .prefix("ca-bench-")
        .tempdir_in(std::env::var("CA_BENCH_DIR").unwrap_or_else(|_| "/tmp".into()))
        .unwrap();
    let hsm = setup_hsm(work.path());
    println!("# CA benchmarks\n");
    println!(
        "Machine: {} CPUs, {}; SoftHSM2 EC P-256 CA key; SQLite (WAL, synchronous=FULL) in {}.\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model(),
        work.path().display()
    );
    if issue_n > 0 {
        rt.block_on(issuance_bench(&hsm, work.path(), issue_n, &concurrency));
    }
    if !sizes.is_empty() {
        rt.block_on(crl_bench(&hsm, work.path(), &sizes, openssl));
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_default()
}

// ----- HSM and hierarchy -------------------------------------------------------------------

struct Hsm {
    conf: PathBuf,
    ca_der: Vec<u8>,
    ca_pem: PathBuf,
}

fn open_token() -> Token {
    let module = Module::load(Path::new(MODULE)).unwrap();
    Token::open(
        module,
        "bench",
        AuthPin::from(PIN.to_owned()),
        PoolOptions {
            max_sessions: 32,
            ..PoolOptions::default()
        },
    )
    .unwrap()
}

fn setup_hsm(dir: &Path) -> Hsm {
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
            tokens.display()
        ),
    )
    .unwrap();
    std::env::set_var("SOFTHSM2_CONF", &conf);
    let module = Module::load(Path::new(MODULE)).unwrap();
    module
        .init_token(
            "bench",
            &AuthPin::from("bench-so-pin".to_owned()),
            &AuthPin::from(PIN.to_owned()),
        )
        .unwrap();
    let token = open_token();
    generate_key(&token, KeySpec::EcP256, "root").unwrap();
    generate_key(&token, KeySpec::EcP256, "ca").unwrap();
    let root_signer = HsmSigner::new(&token, "root").unwrap();
    let ca_signer = HsmSigner::new(&token, "ca").unwrap();
    let now = OffsetDateTime::now_utc() - Duration::hours(1);
    let root = build_certificate(
        &InfraCertParams {
            profile: InfraProfile::Root,
            subject: parse_dn("C=FR, O=IGC Santé (bench), CN=Racine (bench)").unwrap(),
            subject_spki: root_signer.spki().clone(),
            issuer: None,
            not_before: now,
            not_after: now + Duration::days(7300),
            serial: None,
            policy_oids: vec![],
            crl_url: None,
            ca_issuers_url: None,
            ocsp_url: None,
        },
        &root_signer,
    )
    .unwrap();
    let ca = build_certificate(
        &InfraCertParams {
            profile: InfraProfile::SubCa,
            subject: parse_dn("C=FR, O=IGC Santé (bench), CN=CA Personnes (bench)").unwrap(),
            subject_spki: ca_signer.spki().clone(),
            issuer: Some(pkix::IssuerInfo::from_certificate(&root).unwrap()),
            not_before: now,
            not_after: now + Duration::days(3650),
            serial: None,
            policy_oids: vec!["2.5.29.32.0".parse().unwrap()],
            crl_url: Some(format!("{BASE_URL}/crl/racine.crl")),
            ca_issuers_url: Some(format!("{BASE_URL}/ca/racine.crt")),
            ocsp_url: None,
        },
        &root_signer,
    )
    .unwrap();
    let ca_der = ca.to_der().unwrap();
    let ca_pem = dir.join("ca.pem");
    std::fs::write(
        &ca_pem,
        pem::encode(&pem::Pem::new("CERTIFICATE", ca_der.clone())),
    )
    .unwrap();
    Hsm {
        conf,
        ca_der,
        ca_pem,
    }
}

fn authority(hsm: &Hsm, store: &Store) -> CertificateAuthority {
    let signer = HsmSigner::new(&open_token(), "ca").unwrap();
    CertificateAuthority::new(
        CA_NAME.parse().unwrap(),
        &hsm.ca_der,
        CaSigner::new(signer).unwrap(),
        PolicyConfig::example(BASE_URL, &[Profile::Auth, Profile::Sign, Profile::Conf]),
        store.clone(),
        Arc::new(ProfessionTable::builtin().unwrap()),
    )
    .unwrap()
}

fn db_time(t: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

fn rpps(n: u64) -> String {
    let payload = format!("{n:010}");
    let sum: u32 = payload
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let d = d * 2;
                if d > 9 {
                    d - 9
                } else {
                    d
                }
            } else {
                d
            }
        })
        .sum();
    format!("{payload}{}", (10 - sum % 10) % 10)
}

async fn sqlite_store(dir: &Path, name: &str) -> (Store, String) {
    let url = format!("sqlite://{}?mode=rwc", dir.join(name).display());
    (Store::connect(&url).await.unwrap(), url)
}

async fn raw_pool(url: &str) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(url).await.unwrap()
}

// ----- issuance ----------------------------------------------------------------------------

async fn issuance_bench(hsm: &Hsm, dir: &Path, n: usize, concurrency: &[usize]) {
    println!("## Durable issuance (SQLite)\n");
    println!(
        "Each `issue()` parses and verifies the CSR, lints the TBS, signs with SoftHSM, verifies \
         the certificate against the CA certificate and commits certificate + request \
         transition + audit entry before returning (concurrent issuances share commits).\n"
    );
    println!("| concurrency | certificates | seconds | certificates/s |");
    println!("|---:|---:|---:|---:|");
    for &c in concurrency {
        let (store, url) = sqlite_store(dir, &format!("issue-{c}.db")).await;
        let ids = prepare_requests(&store, &url, n).await;
        let ca = Arc::new(authority(hsm, &store));
        let actor = Actor::system("ca").unwrap();
        let next = Arc::new(AtomicUsize::new(0));
        let ids = Arc::new(ids);
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..c {
            let (ca, next, ids, actor) = (ca.clone(), next.clone(), ids.clone(), actor.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(id) = ids.get(i) else { break };
                    ca.issue(IssueRequest::new(*id), &actor).await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let secs = start.elapsed().as_secs_f64();
        let raw = raw_pool(&url).await;
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM certificates")
            .fetch_one(&raw)
            .await
            .unwrap();
        assert_eq!(count as usize, n);
        assert!(store.verify_audit_chain().await.unwrap().is_intact());
        println!("| {c} | {n} | {secs:.2} | **{:.0}** |", n as f64 / secs);
        store.close().await;
    }
    println!();
}

/// `n` approved requests (AUTH) for 50 médecins, CSRs from fresh P-256 keys; bulk-inserted.
async fn prepare_requests(store: &Store, url: &str, n: usize) -> Vec<RequestId> {
    let clerk = Actor::new("clerk-a", "bench").unwrap();
    let mut idnats = Vec::new();
    for k in 0..50u64 {
        let idnat: ca::domain::IdNatPs = format!("8{}", rpps(1_000_000_000 + k)).parse().unwrap();
        store
            .register_professional(
                &Professional {
                    idnat: idnat.clone(),
                    surname: "Banc".parse().unwrap(),
                    given_names: format!("Essai {k}").parse().unwrap(),
                    profession: "10".parse().unwrap(),
                    structure: None,
                    status: ProfessionalStatus::Active,
                },
                &IdentityProofing {
                    document_type: IdentityDocumentType::Cni,
                    document_number: "AB12".parse().unwrap(),
                    mode: ProofingMode::FaceToFace,
                    checked_by: "clerk-a".parse().unwrap(),
                    checked_at: OffsetDateTime::now_utc(),
                },
                &clerk,
            )
            .await
            .unwrap();
        idnats.push(idnat);
    }
    let subject = parse_dn("CN=x").unwrap();
    let raw = raw_pool(url).await;
    let mut tx = raw.begin().await.unwrap();
    let now = db_time(OffsetDateTime::now_utc());
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let key = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
        let csr = build_csr::<_, p256::ecdsa::DerSignature>(&subject, &[], &key).unwrap();
        let der = csr.to_der().unwrap();
        let id = i as i64 + 1;
        sqlx::query(
            "INSERT INTO certificate_requests (id, profile, professional, csr_der, status, \
             filed_by, filed_at, decided_by, decided_at) \
             VALUES ($1, 'auth', $2, $3, 'approved', 'clerk-a', $4, 'clerk-b', $4)",
        )
        .bind(id)
        .bind(idnats[i % idnats.len()].to_string())
        .bind(base64_encode(&der))
        .bind(&now)
        .execute(&mut *tx)
        .await
        .unwrap();
        ids.push(RequestId(id));
    }
    sqlx::query("UPDATE id_counters SET last_value = $1 WHERE name = 'certificate_requests'")
        .bind(n as i64)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    raw.close().await;
    ids
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

// ----- CRLs --------------------------------------------------------------------------------

const PARTITIONS: i64 = 37;

/// Serials of the revoked set: `2^60 + (i · A mod P)` — distinct for `i < P`, in an order
/// unrelated to insertion order, as random serials are (and small enough for SQLite's
/// 64-bit integers).
const SERIAL_A: i64 = 1_099_511_628_211;
const SERIAL_P: i64 = 1_125_899_906_842_597;

/// The revoked set shared by both sides: serial `i` (1-based), reason by `i % 5`.
fn serial_of(i: i64) -> String {
    format!("{:x}", (1i64 << 60) + (i * SERIAL_A) % SERIAL_P)
}

fn reason_of(i: i64) -> &'static str {
    match i % 5 {
        0 => "certificateHold",
        1 => "keyCompromise",
        2 => "affiliationChanged",
        3 => "unspecified",
        _ => "superseded",
    }
}

async fn crl_bench(hsm: &Hsm, dir: &Path, sizes: &[i64], openssl: bool) {
    println!("## CRL generation\n");
    println!(
        "The CA's full CRL (every entry; {PARTITIONS} partitions walked page by page), signed \
         with SoftHSM; each run in a fresh process, time and peak RSS from `/usr/bin/time` \
         (whole process: start, database connection, walk, encoding, signature, signature \
         check). `openssl ca -gencrl` on an `index.txt` with the same serials, dates and \
         reasons, software EC P-256 key.\n"
    );
    println!(
        "| revoked entries | CRL size | igc: generation (in-process) | igc: process wall | igc: peak RSS | openssl ca -gencrl: wall | openssl: peak RSS | igc speed-up |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    let now = OffsetDateTime::now_utc();
    let revoked_at = now - Duration::days(1);
    let not_after = now + Duration::days(700);
    for &n in sizes {
        let (store, url) = sqlite_store(dir, &format!("crl-{n}.db")).await;
        let ca = authority(hsm, &store);
        let base = ca.partition_of(now).unwrap() as i64;
        insert_revoked(&url, n, base, revoked_at, not_after).await;
        store.close().await;

        // igc, in a child process.
        let out_der = dir.join(format!("igc-{n}.crl"));
        let exe = std::env::current_exe().unwrap();
        let (wall, rss_kb, stdout) = timed(
            &[
                exe.to_str().unwrap(),
                "crl-child",
                &url,
                hsm.conf.to_str().unwrap(),
                dir.join("ca.der").to_str().unwrap(),
                out_der.to_str().unwrap(),
            ],
            &hsm.ca_der,
            dir,
        );
        let child: serde_json::Value = serde_json::from_str(stdout.trim())
            .unwrap_or_else(|e| panic!("child output {stdout:?}: {e}"));
        assert_eq!(child["entries"].as_i64(), Some(n));
        let size = std::fs::metadata(&out_der).unwrap().len();
        // The CRL verifies with OpenSSL.
        let v = Command::new("openssl")
            .args(["crl", "-inform", "DER", "-noout", "-in"])
            .arg(&out_der)
            .arg("-CAfile")
            .arg(&hsm.ca_pem)
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&v.stderr).contains("verify OK"),
            "openssl crl: {}",
            String::from_utf8_lossy(&v.stderr)
        );

        let (o_wall, o_rss) = if openssl {
            let (w, r) = openssl_gencrl(dir, n, revoked_at, not_after);
            (format!("{w:.2} s"), format!("{} MB", r / 1024))
        } else {
            ("—".into(), "—".into())
        };
        let speedup = if openssl {
            format!(
                "{:.1}×",
                o_wall.trim_end_matches(" s").parse::<f64>().unwrap_or(0.0) / wall
            )
        } else {
            "—".into()
        };
        println!(
            "| {n} | {:.1} MB | {:.2} s | {wall:.2} s | {} MB | {o_wall} | {o_rss} | {speedup} |",
            size as f64 / 1e6,
            child["seconds"].as_f64().unwrap(),
            rss_kb / 1024,
        );
    }
    println!();
}

/// Runs a command under `/usr/bin/time`; wall seconds, max RSS (kB), stdout.
fn timed(cmd: &[&str], ca_der: &[u8], dir: &Path) -> (f64, u64, String) {
    std::fs::write(dir.join("ca.der"), ca_der).unwrap();
    let tfile = dir.join("time.txt");
    let out = Command::new("/usr/bin/time")
        .arg("-o")
        .arg(&tfile)
        .args(["-f", "%e %M"])
        .args(cmd)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t = std::fs::read_to_string(&tfile).unwrap();
    let mut it = t.split_whitespace();
    let wall: f64 = it.next().unwrap().parse().unwrap();
    let rss: u64 = it.next().unwrap().parse().unwrap();
    (wall, rss, String::from_utf8_lossy(&out.stdout).into_owned())
}

async fn insert_revoked(
    url: &str,
    n: i64,
    base_partition: i64,
    revoked_at: OffsetDateTime,
    not_after: OffsetDateTime,
) {
    let raw = raw_pool(url).await;
    let t = Instant::now();
    let sql = format!(
        "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) \
         INSERT INTO certificates (serial, issuer, profile, subject, not_before, not_after, der, \
         status, revoked_at, revocation_reason, crl_partition, issued_at) \
         SELECT printf('%x', {two60} + (i * {SERIAL_A}) % {SERIAL_P}), '{CA_NAME}', 'auth', 'CN=x', \
         '{nb}', '{na}', 'MAA=', CASE WHEN i % 5 = 0 THEN 'hold' ELSE 'revoked' END, '{rev}', \
         CASE i % 5 WHEN 0 THEN 'certificateHold' WHEN 1 THEN 'keyCompromise' \
         WHEN 2 THEN 'affiliationChanged' WHEN 3 THEN 'unspecified' ELSE 'superseded' END, \
         {base_partition} + i % {PARTITIONS}, '{nb}' FROM s",
        nb = db_time(revoked_at - Duration::days(30)),
        na = db_time(not_after),
        rev = db_time(revoked_at),
        two60 = 1i64 << 60,
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&raw)
        .await
        .unwrap();
    raw.close().await;
    eprintln!("{n} revoked rows inserted in {:.1?}", t.elapsed());
}

/// The child: generates the full CRL once, writes it, prints JSON.
fn crl_child(args: &[String]) {
    let (url, conf, ca_der, out) = (&args[0], &args[1], &args[2], &args[3]);
    std::env::set_var("SOFTHSM2_CONF", conf);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = Store::connect(url).await.unwrap();
        let ca_der = std::fs::read(ca_der).unwrap();
        let hsm = Hsm {
            conf: conf.into(),
            ca_der,
            ca_pem: PathBuf::new(),
        };
        let ca = authority(&hsm, &store);
        let name: CaName = CA_NAME.parse().unwrap();
        let numbers = store
            .allocate_crl_numbers(&name, 1, false, &Actor::system("bench").unwrap())
            .await
            .unwrap();
        let t = Instant::now();
        let crl = ca
            .generate_crl(CrlScope::Full, numbers.first)
            .await
            .unwrap();
        let secs = t.elapsed().as_secs_f64();
        std::fs::write(out, &crl.der).unwrap();
        println!(
            "{}",
            serde_json::json!({
                "entries": crl.entries,
                "bytes": crl.der.len(),
                "seconds": secs,
                "vmhwm_kb": vm_hwm_kb(),
            })
        );
    });
}

fn vm_hwm_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// `openssl ca -gencrl` over the same revoked set; (wall seconds, peak RSS kB).
fn openssl_gencrl(
    dir: &Path,
    n: i64,
    revoked_at: OffsetDateTime,
    not_after: OffsetDateTime,
) -> (f64, u64) {
    let d = dir.join(format!("openssl-{n}"));
    std::fs::create_dir_all(&d).unwrap();
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(&d)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        "ca.key",
    ]);
    run(&[
        "req",
        "-new",
        "-x509",
        "-key",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "3650",
        "-subj",
        "/C=FR/O=IGC Santé (bench)/CN=OpenSSL CA (bench)",
        "-utf8",
    ]);
    let yymmdd = |t: OffsetDateTime| {
        format!(
            "{:02}{:02}{:02}{:02}{:02}{:02}Z",
            t.year() % 100,
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    };
    let (exp, rev) = (yymmdd(not_after), yymmdd(revoked_at));
    let mut index = String::with_capacity(n as usize * 80);
    for i in 1..=n {
        let reason = match reason_of(i) {
            // OpenSSL wants a hold instruction with certificateHold.
            "certificateHold" => "certificateHold,holdInstructionReject".to_owned(),
            "unspecified" => String::new(),
            r => r.to_owned(),
        };
        let revinfo = if reason.is_empty() {
            rev.clone()
        } else {
            format!("{rev},{reason}")
        };
        index.push_str(&format!(
            "R\t{exp}\t{revinfo}\t{}\tunknown\t/CN=x{i}\n",
            serial_of(i).to_uppercase()
        ));
    }
    std::fs::write(d.join("index.txt"), index).unwrap();
    std::fs::write(d.join("index.txt.attr"), "unique_subject = no\n").unwrap();
    std::fs::write(d.join("crlnumber"), "01\n").unwrap();
    std::fs::write(
        d.join("ca.cnf"),
        "[ ca ]\ndefault_ca = CA_default\n[ CA_default ]\ndir = .\ndatabase = $dir/index.txt\n\
         certificate = $dir/ca.pem\nprivate_key = $dir/ca.key\ncrlnumber = $dir/crlnumber\n\
         default_md = sha256\ndefault_crl_days = 1\nunique_subject = no\n\
         crl_extensions = crl_ext\n[ crl_ext ]\nauthorityKeyIdentifier = keyid:always\n",
    )
    .unwrap();
    let tfile = d.join("time.txt");
    let out = Command::new("/usr/bin/time")
        .arg("-o")
        .arg(&tfile)
        .args([
            "-f", "%e %M", "openssl", "ca", "-gencrl", "-config", "ca.cnf", "-out", "crl.pem",
        ])
        .current_dir(&d)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl ca -gencrl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t = std::fs::read_to_string(&tfile).unwrap();
    let mut it = t.split_whitespace();
    let wall = it.next().unwrap().parse().unwrap();
    let rss = it.next().unwrap().parse().unwrap();
    // Same number of entries (counted on the text form up to 100k).
    if n > 100_000 {
        return (wall, rss);
    }
    let text = Command::new("openssl")
        .args(["crl", "-in", "crl.pem", "-noout", "-text"])
        .current_dir(&d)
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&text.stdout)
        .matches("Serial Number:")
        .count();
    assert_eq!(listed as i64, n, "openssl CRL entries");
    (wall, rss)
}
