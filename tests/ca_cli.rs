//! The CA through the `igc` binary, as operators and relying parties use it, on SQLite and
//! on PostgreSQL: `igc professional add`, `igc cert issue|revoke|suspend|reinstate`,
//! `igc crl generate`; `igc serve` publishing the CRLs at the URLs in the certificates' CDPs,
//! the OCSP responder and the directory. OpenSSL (`verify -crl_check`, `ocsp`) and pkilint
//! are the judges. Keys are made by `openssl req`, outside our process.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "../ca/tests/support/pg.rs"]
mod pg;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{
    assert_success, cli_operators, http_get, igc, igc_with_credentials, pkilint_errors, ready,
    rpps, stderr, stdout, tool, wait_until, CliOperator, DevPki, Server,
};

/// The dev configuration, made quick to follow changes made by other processes.
fn fast_polling(pki: &DevPki) {
    let path = pki.path("var/igc.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text.replace(
        "regenerate_minutes = 60\n",
        "regenerate_minutes = 60\npoll_seconds = 1\n",
    );
    let text = text.replace("poll_interval_ms = 2000\n", "poll_interval_ms = 500\n");
    assert!(text.contains("poll_seconds = 1") && text.contains("poll_interval_ms = 500"));
    // No TSA here: its clock guard would need NTP servers (tests/tsa_serve.rs covers it).
    let text = match text.find("\n[tsa]") {
        Some(i) => text[..i + 1].to_owned(),
        None => text,
    };
    std::fs::write(path, text).unwrap();
}

struct Ctx {
    pki: DevPki,
    server: Server,
    /// A clerk and an approver of the Ordre des médecins, who authenticate on the CLI.
    clerk: CliOperator,
    approver: CliOperator,
    /// Clerks of the same Order who register professionals and manage certificates.
    managers: Vec<CliOperator>,
}

impl Ctx {
    fn new(db: Option<&str>) -> Ctx {
        let pki = match db {
            Some(url) => DevPki::with_database(url),
            None => DevPki::new(),
        };
        fast_polling(&pki);
        let server = Server::start(pki.dir.path());
        let mut ops = cli_operators(
            &pki,
            &[
                ("clerk-a", "clerk", Some("medecins")),
                ("approb-b", "approver", Some("medecins")),
                ("clerk-c", "clerk", Some("medecins")),
                ("clerk-d", "clerk", Some("medecins")),
            ],
        )
        .into_iter();
        let (clerk, approver) = (ops.next().unwrap(), ops.next().unwrap());
        Ctx {
            pki,
            server,
            clerk,
            approver,
            managers: ops.collect(),
        }
    }

    /// `igc` as one authenticated operator (a manager, credentials on descriptor 3); `used`
    /// false for a command expected to be refused before the operator authenticates.
    fn igc_as(&self, args: &[&str], used: bool) -> std::process::Output {
        let who = ready(&self.managers);
        let creds = if used {
            who.credentials()
        } else {
            who.credentials_not_used()
        };
        let mut args = args.to_vec();
        args.extend(["--actor", &who.login, "--actor-credentials-fd", "3"]);
        igc_with_credentials(self.dir(), &args, &[creds])
    }

    /// `igc` with the clerk's credentials on descriptor 3 and the approver's on 4; `used`
    /// false for a command expected to be refused before anybody authenticates.
    fn igc_as_operators(&self, args: &[&str], used: bool) -> std::process::Output {
        let creds = if used {
            [self.clerk.credentials(), self.approver.credentials()]
        } else {
            [
                self.clerk.credentials_not_used(),
                self.approver.credentials_not_used(),
            ]
        };
        let mut args = args.to_vec();
        args.extend([
            "--actor",
            "clerk-a",
            "--actor-credentials-fd",
            "3",
            "--approver",
            "approb-b",
            "--approver-credentials-fd",
            "4",
        ]);
        igc_with_credentials(self.dir(), &args, &creds)
    }

    fn dir(&self) -> &Path {
        self.pki.dir.path()
    }

    fn igc(&self, args: &[&str]) -> std::process::Output {
        igc(self.dir(), args)
    }

    fn register(&self, rpps: &str, surname: &str, profession: &str) -> String {
        let out = self.igc_as(
            &[
                "professional",
                "add",
                "--rpps",
                rpps,
                "--surname",
                surname,
                "--given-name",
                "Anne",
                "--profession",
                profession,
                "--document-number",
                "X4RTBPFW4",
            ],
            true,
        );
        assert_success(&out, "professional add");
        format!("8{rpps}")
    }

    fn csr(&self, name: &str, key: &str) -> PathBuf {
        let csr = self.dir().join(format!("{name}.csr"));
        let keyfile = self.dir().join(format!("{name}.key"));
        let mut args = vec!["req", "-new", "-nodes", "-subj", "/CN=ignored"];
        let (alg, opt);
        if let Some(curve) = key.strip_prefix("ec:") {
            alg = "ec".to_owned();
            opt = format!("ec_paramgen_curve:{curve}");
        } else {
            alg = "rsa".to_owned();
            opt = format!("rsa_keygen_bits:{}", key.trim_start_matches("rsa:"));
        }
        args.extend(["-newkey", &alg, "-pkeyopt", &opt]);
        args.extend([
            "-keyout",
            keyfile.to_str().unwrap(),
            "-out",
            csr.to_str().unwrap(),
        ]);
        let out = tool("openssl", &args);
        assert_success(&out, "openssl req");
        csr
    }

    /// Issues through the CLI; returns the JSON report and the PEM path.
    fn issue(&self, idnat: &str, profile: &str, key: &str) -> (serde_json::Value, PathBuf) {
        let csr = self.csr(&format!("{idnat}-{profile}"), key);
        let out_path = self.dir().join(format!("{idnat}-{profile}.pem"));
        let out = self.igc_as_operators(
            &[
                "cert",
                "issue",
                "--idnat",
                idnat,
                "--profile",
                profile,
                "--csr",
                csr.to_str().unwrap(),
                "--out",
                out_path.to_str().unwrap(),
                "--json",
            ],
            true,
        );
        assert_success(&out, "cert issue");
        (serde_json::from_slice(&out.stdout).unwrap(), out_path)
    }

    /// Fetches the CRL at the path of a CDP URL from our server, as PEM in a file.
    fn fetch_crl(&self, cdp: &str, file: &str) -> PathBuf {
        let path = cdp.split_once("/crl/").map(|(_, f)| f).unwrap();
        let (status, der, ct) = self.server.get(&format!("/crl/{path}"));
        assert_eq!(status, 200, "GET /crl/{path}");
        assert_eq!(ct, "application/pkix-crl");
        let pem_path = self.dir().join(file);
        std::fs::write(&pem_path, pem::encode(&pem::Pem::new("X509 CRL", der))).unwrap();
        pem_path
    }

    fn verify(&self, cert: &Path, crl: &Path) -> (bool, String) {
        let out = tool(
            "openssl",
            &[
                "verify",
                "-x509_strict",
                "-crl_check",
                "-CAfile",
                self.pki.pki("root.pem").to_str().unwrap(),
                "-untrusted",
                self.pki.pki("personnes.pem").to_str().unwrap(),
                "-CRLfile",
                crl.to_str().unwrap(),
                cert.to_str().unwrap(),
            ],
        );
        let text = format!("{}{}", stdout(&out), stderr(&out));
        (out.status.success() && text.contains(": OK"), text)
    }

    fn ocsp(&self, cert: &Path) -> String {
        let chain = self.dir().join("chain.pem");
        let mut text = std::fs::read_to_string(self.pki.pki("personnes.pem")).unwrap();
        text.push_str(&std::fs::read_to_string(self.pki.pki("root.pem")).unwrap());
        std::fs::write(&chain, text).unwrap();
        let out = tool(
            "openssl",
            &[
                "ocsp",
                "-issuer",
                self.pki.pki("personnes.pem").to_str().unwrap(),
                "-cert",
                cert.to_str().unwrap(),
                "-url",
                &format!("{}/ocsp", self.server.base),
                "-CAfile",
                chain.to_str().unwrap(),
            ],
        );
        let text = format!("{}{}", stdout(&out), stderr(&out));
        assert!(text.contains("Response verify OK"), "{text}");
        text
    }

    /// Waits until the served CRL at `cdp` verifies (or not) `cert` as expected.
    fn wait_verify(&self, cert: &Path, cdp: &str, expect_ok: bool, what: &str) -> String {
        let mut last = String::new();
        let ok = wait_until(Duration::from_secs(20), || {
            let crl = self.fetch_crl(cdp, "current.crl.pem");
            let (ok, text) = self.verify(cert, &crl);
            last = text;
            ok == expect_ok
        });
        assert!(
            ok,
            "{what}: openssl verify did not turn {expect_ok}: {last}"
        );
        last
    }
}

fn lifecycle(db: Option<&str>) {
    let ctx = Ctx::new(db);
    let idnat = ctx.register(&rpps(1_000_123_456), "Lefèvre", "10");
    let mut issued = Vec::new();
    for (profile, key) in [
        ("auth", "ec:P-256"),
        ("sign", "ec:P-384"),
        ("conf", "rsa:2048"),
    ] {
        let (report, pem) = ctx.issue(&idnat, profile, key);
        assert_eq!(report["profile"], profile);
        let cdp = report["crl_url"].as_str().unwrap().to_owned();
        assert!(
            cdp.starts_with("http://127.0.0.1:8080/crl/personnes-"),
            "{cdp}"
        );
        // pkilint on the certificate, OpenSSL with the CRL served at its CDP.
        let errors = pkilint_errors("lint_pkix_cert", &[], &pem);
        assert!(errors.is_empty(), "{profile}: {errors:?}");
        let crl = ctx.fetch_crl(&cdp, &format!("{profile}.crl.pem"));
        let errors = pkilint_errors("lint_crl", &["-t", "CRL", "-p", "PKIX"], &crl);
        assert!(errors.is_empty(), "CRL: {errors:?}");
        let (ok, text) = ctx.verify(&pem, &crl);
        assert!(ok, "{profile}: {text}");
        assert!(ctx.ocsp(&pem).contains(": good"));
        issued.push((report["serial"].as_str().unwrap().to_owned(), pem, cdp));
    }
    let (auth, sign, conf) = (&issued[0], &issued[1], &issued[2]);

    // Bad input: exit 1 with a clear message, and nothing written (journal unchanged).
    let entries_before = audit_entries(&ctx);
    let bad_csr = ctx.dir().join("bad.csr");
    std::fs::write(
        &bad_csr,
        b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
    )
    .unwrap();
    let unknown = format!("8{}", rpps(1_000_999_999));
    let mut bad_luhn = idnat.clone();
    let last = bad_luhn.pop().unwrap().to_digit(10).unwrap();
    bad_luhn.push(char::from_digit((last + 1) % 10, 10).unwrap());
    let good_csr = ctx.csr("spare", "ec:P-256");
    let rsa1024 = ctx.csr("rsa1024", "rsa:1024");
    let p521 = ctx.csr("p521", "ec:P-521");
    let k256 = ctx.csr("k256", "ec:secp256k1");
    // A CSR whose self-signature does not verify: one bit of the signature flipped.
    let forged = ctx.dir().join("forged.csr");
    let mut der = pem::parse(std::fs::read(&good_csr).unwrap())
        .unwrap()
        .into_contents();
    let n = der.len();
    der[n - 3] ^= 0x01;
    std::fs::write(&forged, &der).unwrap();
    for (who, csr, expect) in [
        (idnat.as_str(), &bad_csr, "not an acceptable CSR"),
        (idnat.as_str(), &forged, "not an acceptable CSR"),
        (idnat.as_str(), &rsa1024, "not an acceptable CSR"),
        (idnat.as_str(), &p521, "not an acceptable CSR"),
        (idnat.as_str(), &k256, "not an acceptable CSR"),
        (unknown.as_str(), &good_csr, "professional"),
        (bad_luhn.as_str(), &good_csr, "check digit"),
    ] {
        // Refused before the operators' credentials are checked (not consumed).
        let out = ctx.igc_as_operators(
            &[
                "cert",
                "issue",
                "--idnat",
                who,
                "--profile",
                "auth",
                "--csr",
                csr.to_str().unwrap(),
                "--out",
                "never.pem",
            ],
            false,
        );
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(
            stderr(&out).contains(expect),
            "{}: expected {expect:?} in {}",
            csr.display(),
            stderr(&out)
        );
        assert!(!ctx.dir().join("never.pem").exists());
    }
    // An unknown profession is refused at registration (before the operator authenticates).
    let out = ctx.igc_as(
        &[
            "professional",
            "add",
            "--rpps",
            &rpps(1_000_555_111),
            "--surname",
            "X",
            "--given-name",
            "Y",
            "--profession",
            "99",
            "--document-number",
            "Z1",
        ],
        false,
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        audit_entries(&ctx),
        entries_before,
        "bad input wrote to the journal"
    );
    // Four eyes: the approver cannot be the clerk who files.
    let out = ctx.igc(&[
        "cert",
        "issue",
        "--idnat",
        &idnat,
        "--profile",
        "auth",
        "--csr",
        good_csr.to_str().unwrap(),
        "--out",
        "never.pem",
        "--actor",
        "clerk-a",
        "--approver",
        "clerk-a",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("four eyes"), "{}", stderr(&out));

    // A prescription signed by the médecin with `openssl cms -cades` verifies through
    // igc serve's validation API.
    let presc = ctx.dir().join("prescription.txt");
    std::fs::write(
        &presc,
        "Amoxicilline 1 g, 2 fois par jour pendant 6 jours\n",
    )
    .unwrap();
    let p7s = ctx.dir().join("prescription.p7s");
    let key = ctx.dir().join(format!("{idnat}-sign.key"));
    let out = tool(
        "openssl",
        &[
            "cms",
            "-sign",
            "-cades",
            "-binary",
            "-md",
            "sha256",
            "-nodetach",
            "-outform",
            "DER",
            "-in",
            presc.to_str().unwrap(),
            "-signer",
            sign.1.to_str().unwrap(),
            "-inkey",
            key.to_str().unwrap(),
            "-out",
            p7s.to_str().unwrap(),
        ],
    );
    assert_success(&out, "openssl cms -sign -cades");
    let verify = |ctx: &Ctx| -> serde_json::Value {
        use base64::Engine as _;
        let body = serde_json::json!({
            "signature": base64::engine::general_purpose::STANDARD.encode(std::fs::read(&p7s).unwrap()),
            "document_type": "prescription",
        });
        let (status, body, _) = common::http_post(
            &format!("{}/api/v1/verify", ctx.server.base),
            "application/json",
            body.to_string().as_bytes(),
        );
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        serde_json::from_slice(&body).unwrap()
    };
    let report = verify(&ctx);
    assert_eq!(report["indication"], "TOTAL_PASSED", "{report}");

    // Revoke SIGN (keyCompromise): the served CRL and OCSP say so.
    let out = ctx.igc_as(
        &[
            "cert",
            "revoke",
            "--serial",
            &sign.0,
            "--reason",
            "keyCompromise",
            "--json",
        ],
        true,
    );
    assert_success(&out, "cert revoke");
    let text = ctx.wait_verify(&sign.1, &sign.2, false, "revoked SIGN");
    assert!(text.contains("certificate revoked"), "{text}");
    let mut ocsp_text = String::new();
    assert!(
        wait_until(Duration::from_secs(10), || {
            ocsp_text = ctx.ocsp(&sign.1);
            ocsp_text.contains(": revoked")
        }),
        "{ocsp_text}"
    );
    assert!(ocsp_text.contains("Reason: keyCompromise"), "{ocsp_text}");
    // Without a time-stamp, the signature can no longer be shown to predate the revocation.
    let report = verify(&ctx);
    assert_eq!(
        (&report["indication"], &report["sub_indication"]),
        (&"INDETERMINATE".into(), &"REVOKED_NO_POE".into()),
        "{report}"
    );
    // Revoking it again is a clear error, not a second entry.
    let out = ctx.igc_as(
        &[
            "cert",
            "revoke",
            "--serial",
            &sign.0,
            "--reason",
            "superseded",
        ],
        true,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("already revoked"), "{}", stderr(&out));
    // certificateHold goes through suspend, not revoke.
    let out = ctx.igc_as(
        &[
            "cert",
            "revoke",
            "--serial",
            &auth.0,
            "--reason",
            "certificateHold",
        ],
        false,
    );
    assert_eq!(out.status.code(), Some(1));

    // Suspend AUTH, then reinstate it: rejected, then accepted again.
    assert_success(
        &ctx.igc_as(&["cert", "suspend", "--serial", &auth.0], true),
        "suspend",
    );
    let text = ctx.wait_verify(&auth.1, &auth.2, false, "suspended AUTH");
    assert!(text.contains("certificate revoked"), "{text}");
    assert!(wait_until(Duration::from_secs(10), || ctx
        .ocsp(&auth.1)
        .contains("Reason: certificateHold")));
    assert_success(
        &ctx.igc_as(&["cert", "reinstate", "--serial", &auth.0], true),
        "reinstate",
    );
    ctx.wait_verify(&auth.1, &auth.2, true, "reinstated AUTH");
    assert!(wait_until(Duration::from_secs(10), || ctx
        .ocsp(&auth.1)
        .contains(": good")));
    // CONF never changed.
    let crl = ctx.fetch_crl(&conf.2, "conf-final.crl.pem");
    assert!(ctx.verify(&conf.1, &crl).0);

    // The directory: valid certificates with their PEM, no identity-proofing data.
    let (status, body, ct) = ctx.server.get(&format!("/directory?idnat={idnat}"));
    assert_eq!((status, ct.as_str()), (200, "application/json"));
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let person = &v["professionals"][0];
    assert_eq!(person["idnat"], idnat.as_str());
    assert_eq!(person["profession"], "Médecin");
    let serials: Vec<&str> = person["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["serial"].as_str().unwrap())
        .collect();
    assert!(serials.contains(&auth.0.as_str()) && serials.contains(&conf.0.as_str()));
    assert!(
        !serials.contains(&sign.0.as_str()),
        "revoked SIGN is listed"
    );
    let conf_pem = std::fs::read_to_string(&conf.1).unwrap();
    assert!(person["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["pem"].as_str() == Some(conf_pem.as_str())));
    let raw = String::from_utf8_lossy(&body).to_lowercase();
    assert!(
        !raw.contains("x4rtbpfw4") && !raw.contains("document"),
        "{raw}"
    );
    let (status, body, _) = ctx.server.get("/directory?name=lefevre");
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains(&idnat));
    for q in ["", "?idnat=12345", "?idnat=1&name=x", "?name="] {
        let (status, body, _) = ctx.server.get(&format!("/directory{q}"));
        assert_eq!(status, 400, "{q}: {}", String::from_utf8_lossy(&body));
    }

    // `igc crl generate`: new numbers, strictly above the served ones, also after a restart.
    let before = crl_number(&ctx.fetch_crl(&conf.2, "before.crl.pem"));
    let out_dir = ctx.dir().join("crl-out");
    let out = ctx.igc(&[
        "crl",
        "generate",
        "--out-dir",
        out_dir.to_str().unwrap(),
        "--json",
    ]);
    assert_success(&out, "crl generate");
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let file = conf.2.rsplit('/').next().unwrap();
    let entry = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["file_name"] == file)
        .unwrap_or_else(|| panic!("{file} not generated: {list}"));
    assert!(entry["number"].as_u64().unwrap() > before);
    let der = std::fs::read(out_dir.join(file)).unwrap();
    let pem_path = ctx.dir().join("generated.crl.pem");
    std::fs::write(&pem_path, pem::encode(&pem::Pem::new("X509 CRL", der))).unwrap();
    assert!(ctx.verify(&conf.1, &pem_path).0);
    assert!(!ctx.verify(&sign.1, &pem_path).0);

    // Every action is journaled and the chain is intact.
    let out = ctx.igc(&["audit", "verify", "--json"]);
    assert_success(&out, "audit verify");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["intact"], true);
}

fn audit_entries(ctx: &Ctx) -> u64 {
    let out = ctx.igc(&["audit", "verify", "--json"]);
    assert_success(&out, "audit verify");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["entries_checked"].as_u64().unwrap()
}

fn crl_number(pem_path: &Path) -> u64 {
    let out = tool(
        "openssl",
        &[
            "crl",
            "-noout",
            "-crlnumber",
            "-in",
            pem_path.to_str().unwrap(),
        ],
    );
    let text = stdout(&out);
    let hex = text.trim().strip_prefix("crlNumber=").unwrap();
    u64::from_str_radix(hex.trim_start_matches("0x"), 16).unwrap()
}

#[test]
fn sqlite_cli_lifecycle() {
    lifecycle(None);
}

#[test]
fn postgres_cli_lifecycle() {
    let Some(cluster) = pg::PgCluster::start().unwrap() else {
        return; // IGC_SKIP_PG=1
    };
    let url = cluster.create_database("cli").unwrap();
    lifecycle(Some(&url));
}

/// Two `igc serve` instances on one PostgreSQL: a revocation made elsewhere (here by the
/// operator CLI, a third process) is answered by both within the polling interval.
#[test]
fn postgres_two_instances_share_revocations() {
    let Some(cluster) = pg::PgCluster::start().unwrap() else {
        return;
    };
    let url = cluster.create_database("twoinstances").unwrap();
    let ctx = Ctx::new(Some(&url));
    let other = Server::start(ctx.dir());
    let idnat = ctx.register(&rpps(1_000_222_333), "Martin", "10");
    let (report, pem) = ctx.issue(&idnat, "auth", "ec:P-256");
    let serial = report["serial"].as_str().unwrap().to_owned();
    let cdp = report["crl_url"].as_str().unwrap().to_owned();
    let cdp_path = format!("/crl/{}", cdp.split_once("/crl/").unwrap().1);
    let ocsp_at = |base: &str| {
        let mut chain = std::fs::read_to_string(ctx.pki.pki("personnes.pem")).unwrap();
        chain.push_str(&std::fs::read_to_string(ctx.pki.pki("root.pem")).unwrap());
        let chain_path = ctx.dir().join("chain2.pem");
        std::fs::write(&chain_path, chain).unwrap();
        let out = tool(
            "openssl",
            &[
                "ocsp",
                "-issuer",
                ctx.pki.pki("personnes.pem").to_str().unwrap(),
                "-cert",
                pem.to_str().unwrap(),
                "-url",
                &format!("{base}/ocsp"),
                "-CAfile",
                chain_path.to_str().unwrap(),
            ],
        );
        format!("{}{}", stdout(&out), stderr(&out))
    };
    for base in [&ctx.server.base, &other.base] {
        let answer = ocsp_at(base);
        assert!(answer.contains(": good"), "{base}: {answer}");
    }
    let started = std::time::Instant::now();
    assert_success(
        &ctx.igc_as(
            &[
                "cert",
                "revoke",
                "--serial",
                &serial,
                "--reason",
                "affiliationChanged",
            ],
            true,
        ),
        "revoke",
    );
    // Configured interval: OCSP polls every 0.5 s, CRLs every 1 s; allow for load.
    for base in [&ctx.server.base, &other.base] {
        assert!(
            wait_until(Duration::from_secs(10), || ocsp_at(base)
                .contains(": revoked")),
            "{base} never answered revoked"
        );
    }
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    for base in [&ctx.server.base, &other.base] {
        assert!(wait_until(Duration::from_secs(10), || {
            let (status, der, _) = http_get(&format!("{base}{cdp_path}"));
            let path = ctx.dir().join("shared.crl.pem");
            std::fs::write(&path, pem::encode(&pem::Pem::new("X509 CRL", der))).unwrap();
            status == 200 && !ctx.verify(&pem, &path).0
        }));
    }
    drop(other);
}
