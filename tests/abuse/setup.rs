//! What the harness needs before the load starts: the development PKI with its TSA's clock on
//! loopback SNTP, `igc serve` on free ports, RA operators (a clerk and an approver for the
//! issuances, enough others for one login a second under the one-use-per-TOTP-step rule),
//! professionals, CSRs, a real certificate for OCSP, and the hostile CMS.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use der::asn1::{BitString, OctetString};
use der::{Decode, Encode};
use serde_json::{json, Value};
use sha1::Sha1;
use sha2::Digest as _;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::ext::Extension;
use x509_cert::serial_number::SerialNumber;
use x509_cert::Certificate;
use x509_ocsp::{CertId, OcspRequest, Request, TbsRequest};

use super::http::Pool;
use crate::common::{self, browser, DevPki, Sntp, IGC};

/// `igc serve` started by the harness (killed on drop), its stderr in a file (thousands of
/// refused logins would flood the test's output).
pub struct Serve {
    pub child: Child,
    pub main: SocketAddr,
    pub portal: SocketAddr,
    pub tsa: SocketAddr,
    pub log: std::path::PathBuf,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn addr_of(url: &str) -> SocketAddr {
    let rest = url
        .trim_start_matches("http://")
        .trim_start_matches("https://");
    rest.split('/').next().unwrap().parse().unwrap()
}

impl Serve {
    pub fn start(cwd: &Path) -> Serve {
        let log = cwd.join("serve.log");
        let mut child = Command::new(igc_bin())
            .current_dir(cwd)
            .args([
                "serve",
                "--config",
                "var/igc.toml",
                "--listen",
                "127.0.0.1:0",
                "--portal-listen",
                "127.0.0.1:0",
                "--tsa-listen",
                "127.0.0.1:0",
            ])
            .env_remove("IGC_CONFIG")
            .env("SOFTHSM2_CONF", cwd.join("var/hsm/softhsm2.conf"))
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<(u8, String)>();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let kind = if let Some(r) = line.strip_prefix("igc TSA listening on ") {
                    (2, r.split_whitespace().next().unwrap_or("").to_owned())
                } else if let Some(r) = line.strip_prefix("igc listening on ") {
                    (0, r.trim().to_owned())
                } else if let Some(r) = line.strip_prefix("igc portal on ") {
                    (1, r.trim().to_owned())
                } else {
                    continue;
                };
                let _ = tx.send(kind);
            }
        });
        let (mut main, mut portal, mut tsa) = (None, None, None);
        let end = Instant::now() + Duration::from_secs(60);
        while main.is_none() || portal.is_none() || tsa.is_none() {
            let left = end.saturating_duration_since(Instant::now());
            let (k, url) = rx.recv_timeout(left).unwrap_or_else(|_| {
                panic!(
                    "igc serve did not report its three listeners within 60 s:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            });
            let a = Some(addr_of(&url));
            match k {
                0 => main = a,
                1 => portal = a,
                _ => tsa = a,
            }
        }
        Serve {
            child,
            main: main.unwrap(),
            portal: portal.unwrap(),
            tsa: tsa.unwrap(),
            log,
        }
    }

    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

/// The `igc` under test: `IGC_ABUSE_BIN` when set, else the one cargo built for this test.
/// Worktrees sharing one `CARGO_TARGET_DIR` overwrite each other's `target/*/igc` (the path
/// cargo gives the test): pinning the binary (its `deps/igc-<hash>` twin) makes sure which code
/// a benchmark measured.
pub fn igc_bin() -> PathBuf {
    std::env::var_os("IGC_ABUSE_BIN").map_or_else(|| PathBuf::from(IGC), PathBuf::from)
}

/// The development PKI made by [`igc_bin`]'s `dev-setup` (as [`DevPki::with_config`] does with
/// cargo's binary), its TSA checking the clock against two SNTP responders on loopback (the
/// machine may have no NTP access).
pub fn pki_with_clock() -> (DevPki, Sntp, Sntp) {
    let (a, b) = (Sntp::start(0), Sntp::start(0));
    let servers = format!("servers = [\"{}\", \"{}\"]", a.addr, b.addr);
    let dir = tempfile::tempdir().unwrap();
    let c = std::fs::read_to_string(common::repo().join("src/dev-igc.toml")).unwrap();
    let start = c.find("servers = [").unwrap();
    let end = start + c[start..].find('\n').unwrap();
    std::fs::create_dir_all(dir.path().join("var")).unwrap();
    std::fs::write(
        dir.path().join("var/igc.toml"),
        format!("{}{servers}{}", &c[..start], &c[end..]),
    )
    .unwrap();
    let out = Command::new(igc_bin())
        .current_dir(dir.path())
        .args(["dev-setup", "--ceremonies"])
        .arg(common::dev_ceremonies())
        .env_remove("IGC_CONFIG")
        .env_remove("SOFTHSM2_CONF")
        .output()
        .unwrap();
    common::assert_success(&out, "igc dev-setup");
    let first_logins = common::stdout(&out)
        .lines()
        .filter_map(|l| {
            let login = l.split("identifiant « ").nth(1)?.split(" »").next()?;
            let otp = l.split("usage unique « ").nth(1)?.split(" »").next()?;
            Some((login.to_owned(), otp.to_owned()))
        })
        .collect();
    (DevPki { dir, first_logins }, a, b)
}

/// An operator with a TOTP secret, and the last step it used (a step is accepted once).
pub struct Operator {
    pub login: String,
    /// The address the operator logs in from: each at a desk of their own.
    pub address: std::net::Ipv4Addr,
    key: Vec<u8>,
    last_step: Mutex<i64>,
}

fn now_step() -> i64 {
    ra_portal::current_step(time::OffsetDateTime::now_utc().unix_timestamp())
}

impl Operator {
    /// A TOTP code of a step not used yet and accepted now (current or next), if any.
    pub fn next_code(&self) -> Option<String> {
        let mut last = self.last_step.lock().unwrap();
        let now = now_step();
        let step = now.max(*last + 1);
        if step > now + 1 {
            return None;
        }
        *last = step;
        Some(ra_portal::totp_code(&self.key, step))
    }
}

/// RA operators of the Ordre des médecins made through the portal as the RA does it: the
/// ceremony's administrator A creates each account, administrator B confirms it, the operator
/// enrols (password [`browser::PASSWORD`], TOTP). `specs`: (login, role).
pub fn operators(pki: &DevPki, portal: &str, specs: &[(String, &str)]) -> Vec<Operator> {
    let dir = pki.path("operators");
    let a = browser::Browser::new(&dir, "admin-a", portal);
    let b = browser::Browser::new(&dir, "admin-b", portal);
    a.enrol("admin", &pki.first_login("admin"));
    b.enrol("admin.b", &pki.first_login("admin.b"));
    let mut otps = Vec::new();
    for (login, role) in specs {
        a.create_operator(login, role, "medecins");
        otps.push((login.clone(), b.confirm_operator(login)));
    }
    // One after the other, each from the operator's own address (127.0.2.x): the portal limits
    // login attempts per address, as it should against a flood from one place.
    otps.iter()
        .enumerate()
        .map(|(i, (login, otp))| {
            let d = dir.join(login);
            let address = std::net::Ipv4Addr::new(127, 0, 2, u8::try_from(i % 250 + 2).unwrap());
            let secret = browser::Browser::new(&d, login, portal)
                .at_address(&address.to_string())
                .enrol(login, otp);
            Operator {
                login: login.clone(),
                address,
                key: ra_portal::base32_decode(&secret).unwrap(),
                // Enrolment used the current step.
                last_step: Mutex::new(now_step()),
            }
        })
        .collect()
}

/// A bearer token of the portal's API for `op`.
pub async fn api_token(portal: &Pool, op: &Operator) -> String {
    let code = loop {
        if let Some(c) = op.next_code() {
            break c;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let body = json!({ "login": op.login, "password": browser::PASSWORD, "totp": code });
    let r = portal
        .post(
            "/api/v1/sessions",
            "application/json",
            &[],
            body.to_string(),
        )
        .await
        .unwrap();
    assert_eq!(
        r.status,
        201,
        "API login of {}: {}",
        op.login,
        String::from_utf8_lossy(&r.body)
    );
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    v["token"].as_str().unwrap().to_owned()
}

/// Registers médecins through the API (the clerk checks an identity card face to face);
/// returns their IdNat.
pub async fn register_medecins(portal: &Pool, token: &str, n: usize) -> Vec<String> {
    let auth = format!("Bearer {token}");
    let mut ids = Vec::new();
    for i in 0..n {
        let rpps = common::rpps(2_000_000_000 + i as u64);
        let body = json!({
            "idnat": rpps,
            "surname": format!("Charge{i}"),
            "given_names": "Anne",
            "profession": "10",
            "document_type": "cni",
            "document_number": "X4RT12AB",
            "mode": "face-to-face",
        });
        let r = portal
            .post(
                "/api/v1/professionals",
                "application/json",
                &[("authorization", &auth)],
                body.to_string(),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        ids.push(format!("8{rpps}"));
    }
    ids
}

/// One issuance: the clerk files a request, the approver approves it (four eyes), the CA
/// issues. Returns the certificate's JSON.
pub async fn issue(
    portal: &Pool,
    clerk: &str,
    approver: &str,
    idnat: &str,
    csr_pem: &str,
) -> Result<Value, String> {
    let auth = format!("Bearer {clerk}");
    let r = portal
        .post(
            &format!("/api/v1/professionals/{idnat}/requests"),
            "application/json",
            &[("authorization", &auth)],
            json!({ "profile": "auth", "csr": csr_pem }).to_string(),
        )
        .await?;
    if r.status != 201 {
        return Err(format!("file: HTTP {}", r.status));
    }
    let v: Value = serde_json::from_slice(&r.body).map_err(|_| "file: not JSON".to_owned())?;
    let id = v["id"].as_i64().ok_or("file: no id")?;
    let auth = format!("Bearer {approver}");
    let r = portal
        .post(
            &format!("/api/v1/requests/{id}/approve"),
            "application/json",
            &[("authorization", &auth)],
            "{}",
        )
        .await?;
    if r.status != 201 {
        return Err(format!("approve: HTTP {}", r.status));
    }
    serde_json::from_slice(&r.body).map_err(|_| "approve: not JSON".to_owned())
}

/// `n` P-256 CSRs made by OpenSSL (a professional's card would), in PEM.
pub fn csrs(dir: &Path, n: usize) -> Vec<String> {
    std::fs::create_dir_all(dir).unwrap();
    (0..n)
        .map(|i| browser::openssl_csr(dir, &format!("csr{i}")).1)
        .collect()
}

pub fn read_cert(path: &Path) -> Certificate {
    let text = std::fs::read_to_string(path).unwrap();
    let p = pem::parse(text).unwrap();
    Certificate::from_der(p.contents()).unwrap()
}

/// The SHA-1 CertID of `serial` under `issuer` (RFC 5019 clients use SHA-1).
pub fn cert_id(issuer: &Certificate, serial: &[u8]) -> CertId {
    let name = issuer.tbs_certificate.subject.to_der().unwrap();
    let key = issuer
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes();
    CertId {
        hash_algorithm: AlgorithmIdentifierOwned {
            oid: const_oid::db::rfc5912::ID_SHA_1,
            parameters: Some(der::asn1::Null.into()),
        },
        issuer_name_hash: OctetString::new(Sha1::digest(&name).to_vec()).unwrap(),
        issuer_key_hash: OctetString::new(Sha1::digest(key).to_vec()).unwrap(),
        serial_number: SerialNumber::new(serial).unwrap(),
    }
}

/// An OCSP request for one CertID, with a nonce (RFC 9654) when given.
pub fn ocsp_request(id: CertId, nonce: Option<&[u8]>) -> Vec<u8> {
    let extensions = nonce.map(|n| {
        vec![Extension {
            extn_id: const_oid::db::rfc6960::ID_PKIX_OCSP_NONCE,
            critical: false,
            extn_value: OctetString::new(OctetString::new(n).unwrap().to_der().unwrap()).unwrap(),
        }]
    });
    OcspRequest {
        tbs_request: TbsRequest {
            request_list: vec![Request::new(id)],
            request_extensions: extensions,
            ..Default::default()
        },
        optional_signature: None,
    }
    .to_der()
    .unwrap()
}

/// The GET path of an OCSP request (RFC 6960 appendix A: URL-encoded base64).
pub fn ocsp_get_path(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let enc = b64
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    format!("/ocsp/{enc}")
}

/// Whether an OCSP response says "successful" and "good" for its one certificate.
pub fn ocsp_good(der: &[u8]) -> Result<(), String> {
    let r = x509_ocsp::OcspResponse::from_der(der).map_err(|_| "OCSP: undecodable")?;
    if r.response_status != x509_ocsp::OcspResponseStatus::Successful {
        return Err(format!("OCSP: {:?}", r.response_status));
    }
    let b = x509_ocsp::BasicOcspResponse::from_der(
        r.response_bytes
            .ok_or("OCSP: no response bytes")?
            .response
            .as_bytes(),
    )
    .map_err(|_| "OCSP: undecodable basic response")?;
    match b
        .tbs_response_data
        .responses
        .first()
        .map(|s| &s.cert_status)
    {
        Some(x509_ocsp::CertStatus::Good(_)) => Ok(()),
        other => Err(format!("OCSP status {other:?}")),
    }
}

/// A TimeStampReq (RFC 3161) for a SHA-256 imprint with a fresh 64-bit nonce and certReq,
/// encoded by hand (the TSA's own types are what is being tested).
pub fn tsa_request(data: &[u8], nonce: u64) -> Vec<u8> {
    let mut out = vec![0x30, 0x41, 0x02, 0x01, 0x01, 0x30, 0x2f, 0x30, 0x0b];
    // AlgorithmIdentifier sha256 (parameters absent).
    out.extend_from_slice(&[
        0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
    ]);
    out.extend_from_slice(&[0x04, 0x20]);
    out.extend_from_slice(&sha2::Sha256::digest(data));
    // A positive nonce of 8 octets: the first octet in 0x01..=0x7f.
    let mut n = nonce.to_be_bytes();
    n[0] = (n[0] & 0x7f) | 0x01;
    out.extend_from_slice(&[0x02, 0x08]);
    out.extend_from_slice(&n);
    out.extend_from_slice(&[0x01, 0x01, 0xff]);
    debug_assert_eq!(out.len(), 2 + 0x41);
    out
}

/// Whether a TimeStampResp grants a token.
pub fn tsa_granted(der: &[u8]) -> Result<(), String> {
    let r = tsa::asn1::TimeStampResp::from_der(der).map_err(|_| "TSA: undecodable")?;
    match r.status.status {
        tsa::asn1::PkiStatus::Granted | tsa::asn1::PkiStatus::GrantedWithMods => Ok(()),
        _ => Err(format!(
            "TSA rejection {:?}",
            r.status.fail_info.and_then(|f| f.single())
        )),
    }
}

fn spki_of(key: &p256::ecdsa::SigningKey) -> SubjectPublicKeyInfoOwned {
    use p256::pkcs8::EncodePublicKey as _;
    let doc = key.verifying_key().to_public_key_der().unwrap();
    SubjectPublicKeyInfoOwned::from_der(doc.as_bytes()).unwrap()
}

fn ecdsa_sha256() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: const_oid::db::rfc5912::ECDSA_WITH_SHA_256,
        parameters: None,
    }
}

/// A certificate signed by `signer` (no checks: the point is to be hostile).
fn cert(
    serial: [u8; 16],
    issuer: &x509_cert::name::Name,
    subject: &x509_cert::name::Name,
    spki: SubjectPublicKeyInfoOwned,
    extensions: Vec<Extension>,
    signer: &p256::ecdsa::SigningKey,
) -> Certificate {
    use p256::ecdsa::signature::Signer as _;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let day = Duration::from_secs(86_400);
    let tbs = x509_cert::TbsCertificate {
        version: x509_cert::Version::V3,
        serial_number: SerialNumber::new(&serial).unwrap(),
        signature: ecdsa_sha256(),
        issuer: issuer.clone(),
        validity: x509_cert::time::Validity {
            not_before: x509_cert::time::Time::UtcTime(
                der::asn1::UtcTime::from_unix_duration(now - day).unwrap(),
            ),
            not_after: x509_cert::time::Time::UtcTime(
                der::asn1::UtcTime::from_unix_duration(now + day * 365).unwrap(),
            ),
        },
        subject: subject.clone(),
        subject_public_key_info: spki,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(extensions),
    };
    let sig: p256::ecdsa::DerSignature = signer.sign(&tbs.to_der().unwrap());
    Certificate {
        tbs_certificate: tbs,
        signature_algorithm: ecdsa_sha256(),
        signature: BitString::from_bytes(sig.as_bytes()).unwrap(),
    }
}

fn ext(oid: der::asn1::ObjectIdentifier, critical: bool, value: impl Encode) -> Extension {
    Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(value.to_der().unwrap()).unwrap(),
    }
}

/// The hostile CMS of issue 20: a CAdES-B signature whose signer certificate names CA
/// Personnes as issuer, carrying `decoys` CA certificates that all have CA Personnes's subject
/// (and keys that signed nothing), so that path building verifies a signature for each.
/// Returns the JSON body of `POST /api/v1/verify`.
pub fn hostile_cms(personnes: &Certificate, decoys: usize) -> String {
    use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages};
    let mut rng = rand::thread_rng();
    let issuer_key = p256::ecdsa::SigningKey::random(&mut rng);
    let signer_key = p256::ecdsa::SigningKey::random(&mut rng);
    let decoy_key = p256::ecdsa::SigningKey::random(&mut rng);
    let ca_name = personnes.tbs_certificate.subject.clone();
    let signer_name: x509_cert::name::Name = "CN=Signataire hostile,O=Abus,C=FR".parse().unwrap();
    let signer_cert = cert(
        rand::random::<[u8; 16]>().map(|b| b & 0x7f),
        &ca_name,
        &signer_name,
        spki_of(&signer_key),
        vec![ext(
            const_oid::db::rfc5280::ID_CE_KEY_USAGE,
            true,
            KeyUsage(KeyUsages::NonRepudiation.into()),
        )],
        &issuer_key,
    );
    let decoy_exts = vec![
        ext(
            const_oid::db::rfc5280::ID_CE_BASIC_CONSTRAINTS,
            true,
            BasicConstraints {
                ca: true,
                path_len_constraint: Some(0),
            },
        ),
        ext(
            const_oid::db::rfc5280::ID_CE_KEY_USAGE,
            true,
            KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign),
        ),
    ];
    let decoy_spki = spki_of(&decoy_key);
    let mut certs: Vec<(Vec<u8>, Certificate)> = (0..decoys)
        .map(|i| {
            let mut serial = [0u8; 16];
            serial[0] = 0x11;
            serial[8..].copy_from_slice(&(i as u64).to_be_bytes());
            let c = cert(
                serial,
                &ca_name,
                &ca_name,
                decoy_spki.clone(),
                decoy_exts.clone(),
                &decoy_key,
            );
            (c.to_der().unwrap(), c)
        })
        .collect();
    certs.push((signer_cert.to_der().unwrap(), signer_cert.clone()));
    // DER order of a SET OF (X.690 §11.6), so that building the set is one linear pass.
    certs.sort_by(|a, b| a.0.cmp(&b.0));
    let cms = validation::sign::sign_cades_b::<_, p256::ecdsa::DerSignature>(
        &signer_key,
        &signer_cert,
        b"Ordonnance: paracetamol 1 g, 3 fois par jour.",
        &validation::sign::SignOptions::default(),
    )
    .unwrap();
    // The certificate set is outside what the signature covers: swap it for the big one
    // (`sign_cades_b` inserts one by one, quadratic in the set's size).
    let ci = cms::content_info::ContentInfo::from_der(&cms).unwrap();
    let mut sd = ci
        .content
        .decode_as::<cms::signed_data::SignedData>()
        .unwrap();
    let set = der::asn1::SetOfVec::try_from(
        certs
            .into_iter()
            .map(|(_, c)| cms::cert::CertificateChoices::Certificate(c))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    sd.certificates = Some(cms::signed_data::CertificateSet(set));
    let der = cms::content_info::ContentInfo {
        content_type: ci.content_type,
        content: der::Any::encode_from(&sd).unwrap(),
    }
    .to_der()
    .unwrap();
    json!({
        "signature": base64::engine::general_purpose::STANDARD.encode(der),
        "document_type": "prescription",
    })
    .to_string()
}
