//! The development hierarchy served by `igc serve` on a free port, with the URLs of its
//! certificates (OCSP, CRL, caIssuers, TSA) pointing at it, and the operators and signers the
//! long-term signature tests need (CAdES and PAdES from the command line).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use der::Encode;
use sha2::Digest;

use super::{
    assert_success, cli_operators, configure_clock, dev_ceremonies, igc, igc_with_credentials,
    ready, rpps, stderr, stdout, tool, wait_until, CliOperator, DevPki, Sntp, IGC,
};

/// A free loopback port (released before use; the hierarchy's URLs must name it up front).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The development hierarchy with every `127.0.0.1:8080` URL (ceremonies and configuration)
/// moved to `port`, so that the certificates' OCSP, CRL and caIssuers URLs reach the
/// `igc serve` of this test.
pub fn dev_pki_on(port: u16) -> DevPki {
    dev_pki_on_token(port, super::tokens::Kind::SoftHsm)
}

/// [`dev_pki_on`] with the tokens on the module `kind` names (issue 26).
pub fn dev_pki_on_token(port: u16, kind: super::tokens::Kind) -> DevPki {
    let dir = tempfile::tempdir().unwrap();
    let token = super::tokens::DevToken::prepare(kind, dir.path());
    let here = format!("127.0.0.1:{port}");
    let ceremonies = dir.path().join("ceremonies");
    std::fs::create_dir_all(&ceremonies).unwrap();
    for e in std::fs::read_dir(dev_ceremonies()).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            let text = std::fs::read_to_string(&p).unwrap();
            std::fs::write(
                ceremonies.join(p.file_name().unwrap()),
                token.edit_ceremony(&text.replace("127.0.0.1:8080", &here)),
            )
            .unwrap();
        }
    }
    // dev-setup writes the configuration (naming the module), then it is moved to `port`.
    let mut args = vec!["dev-setup", "--ceremonies", ceremonies.to_str().unwrap()];
    let module = token.module.display().to_string();
    if kind != super::tokens::Kind::SoftHsm {
        args.extend(["--module", &module]);
        if let Some(init_args) = &token.init_args {
            args.extend(["--init-args", init_args]);
        }
    }
    let out = igc(dir.path(), &args);
    assert_success(&out, "igc dev-setup");
    let config = dir.path().join("var/igc.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("127.0.0.1:8080"));
    std::fs::write(&config, text.replace("127.0.0.1:8080", &here)).unwrap();
    let first_logins = stdout(&out)
        .lines()
        .filter_map(|l| {
            let login = l.split("identifiant « ").nth(1)?.split(" »").next()?;
            let otp = l.split("usage unique « ").nth(1)?.split(" »").next()?;
            Some((login.to_owned(), otp.to_owned()))
        })
        .collect();
    DevPki { dir, first_logins }
}

/// `igc serve` on `port`, killed on drop.
pub struct Serve {
    pub child: Child,
    pub base: String,
}

impl Serve {
    /// Stops the server now (and waits for it).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `igc serve` on `port`; its log goes to `serve.log` in `d` (read by tests that check what
/// it logs at start).
pub fn serve_on(d: &Path, port: u16) -> Serve {
    let log = std::fs::File::create(d.join("serve.log")).unwrap();
    let child = Command::new(IGC)
        .current_dir(d)
        .env("SOFTHSM2_CONF", d.join("var/hsm/softhsm2.conf"))
        .args([
            "serve",
            "--config",
            "var/igc.toml",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--portal-listen",
            "127.0.0.1:0",
            "--tsa-listen",
            "127.0.0.1:0",
        ])
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let serve = Serve {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let ready = wait_until(Duration::from_secs(40), || {
        // http_get panics on a refused connection: probe the port first.
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            && super::http_get(&format!("{}/readyz", serve.base)).0 == 200
    });
    assert!(
        ready,
        "igc serve on {port} never ready:\n{}",
        std::fs::read_to_string(d.join("serve.log")).unwrap_or_default()
    );
    serve
}

pub struct Ctx {
    pub pki: DevPki,
    pub serve: Serve,
    pub _clock: (Sntp, Sntp),
    pub clerk: CliOperator,
    pub approver: CliOperator,
    pub managers: Vec<CliOperator>,
}

impl Ctx {
    pub fn new() -> Ctx {
        Ctx::on_token(super::tokens::Kind::SoftHsm)
    }

    /// [`Ctx::new`] with the hierarchy's tokens on the module `kind` names.
    pub fn on_token(kind: super::tokens::Kind) -> Ctx {
        let port = free_port();
        let pki = dev_pki_on_token(port, kind);
        let (a, b) = (Sntp::start(0), Sntp::start(0));
        configure_clock(&pki, &a, &b);
        let serve = serve_on(pki.dir.path(), port);
        let mut ops = cli_operators(
            &pki,
            &[
                ("clerk-a", "clerk", Some("medecins")),
                ("approb-b", "approver", Some("medecins")),
                ("clerk-c", "clerk", Some("medecins")),
            ],
        )
        .into_iter();
        let (clerk, approver) = (ops.next().unwrap(), ops.next().unwrap());
        Ctx {
            pki,
            serve,
            _clock: (a, b),
            clerk,
            approver,
            managers: ops.collect(),
        }
    }

    pub fn dir(&self) -> &Path {
        self.pki.dir.path()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir().join(name)
    }

    pub fn tsa_url(&self) -> String {
        format!("{}/tsa", self.serve.base)
    }

    /// Registers a médecin; returns the IdNat.
    pub fn register(&self, rpps_base: u64, surname: &str) -> String {
        let who = ready(&self.managers);
        let rpps = rpps(rpps_base);
        let args = [
            "professional",
            "add",
            "--rpps",
            &rpps,
            "--surname",
            surname,
            "--given-name",
            "Anne",
            "--profession",
            "10",
            "--document-number",
            "X4RTBPFW4",
            "--actor",
            &who.login,
            "--actor-credentials-fd",
            "3",
        ];
        let out = igc_with_credentials(self.dir(), &args, &[who.credentials()]);
        assert_success(&out, "professional add");
        format!("8{rpps}")
    }

    /// A SIGN certificate for the CSR, issued through the CLI (four eyes): its PEM path.
    pub fn issue_sign(&self, idnat: &str, csr: &Path, name: &str) -> PathBuf {
        let cert = self.path(&format!("{name}.pem"));
        let out = igc_with_credentials(
            self.dir(),
            &[
                "cert",
                "issue",
                "--idnat",
                idnat,
                "--profile",
                "sign",
                "--csr",
                csr.to_str().unwrap(),
                "--out",
                cert.to_str().unwrap(),
                "--actor",
                "clerk-a",
                "--actor-credentials-fd",
                "3",
                "--approver",
                "approb-b",
                "--approver-credentials-fd",
                "4",
            ],
            &[self.clerk.credentials(), self.approver.credentials()],
        );
        assert_success(&out, "cert issue");
        cert
    }

    /// A médecin and a SIGN certificate for a P-256 key made by OpenSSL: (key, cert) paths.
    pub fn openssl_signer(&self) -> (PathBuf, PathBuf) {
        let idnat = self.register(1_000_777_001, "Durand");
        let key = self.path("signer.key");
        let csr = self.path("signer.csr");
        let out = tool(
            "openssl",
            &[
                "req",
                "-new",
                "-nodes",
                "-subj",
                "/CN=ignored",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-keyout",
                key.to_str().unwrap(),
                "-out",
                csr.to_str().unwrap(),
            ],
        );
        assert_success(&out, "openssl req");
        let cert = self.issue_sign(&idnat, &csr, "signer");
        (key, cert)
    }

    /// A SIGN key in the development token (the "card") and its certificate with the
    /// personnes CA after it: the PEM path.
    pub fn hsm_signer(&self, label: &str) -> PathBuf {
        use hsm_config::{HsmSignature, HsmSigner, KeySpec};
        // This process loads SoftHSM with the hierarchy's token directory.
        std::env::set_var("SOFTHSM2_CONF", self.pki.softhsm_conf());
        let module =
            hsm_config::Module::load(Path::new(hsm_config::config::SOFTHSM_MODULE)).unwrap();
        let pin = hsm_config::config::read_pin_file(&self.path("var/hsm/online.pin")).unwrap();
        let token = hsm_config::Token::open(
            module,
            "igc-online",
            pin,
            hsm_config::PoolOptions::default(),
        )
        .unwrap();
        hsm_config::keys::generate_key(&token, KeySpec::EcP256, label).unwrap();
        let card = HsmSigner::new(&token, label).unwrap();
        let csr = pkix::build_csr::<_, HsmSignature>(&pkix::parse_dn("CN=x").unwrap(), &[], &card)
            .unwrap();
        let csr_path = self.path(&format!("{label}.csr"));
        std::fs::write(
            &csr_path,
            pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", csr.to_der().unwrap())),
        )
        .unwrap();
        let idnat = self.register(1_000_777_002, "Petit");
        let cert = self.issue_sign(&idnat, &csr_path, label);
        let with_chain = self.path(&format!("{label}-chain.pem"));
        std::fs::write(
            &with_chain,
            format!(
                "{}{}",
                std::fs::read_to_string(cert).unwrap(),
                std::fs::read_to_string(self.pki.pki("personnes.pem")).unwrap()
            ),
        )
        .unwrap();
        with_chain
    }

    pub fn extend(&self, input: &Path, to: &str, out: &Path) -> Output {
        let url = self.tsa_url();
        igc(
            self.dir(),
            &[
                "extend",
                input.to_str().unwrap(),
                "--to",
                to,
                "--tsa-url",
                &url,
                "--allow-host",
                "127.0.0.1",
                "--out",
                out.to_str().unwrap(),
            ],
        )
    }

    /// `openssl cms -verify` with the root as the only trust anchor.
    pub fn cms_verify(&self, sig: &Path, doc: &Path) {
        let out_file = self.path("verified.out");
        let out = tool(
            "openssl",
            &[
                "cms",
                "-verify",
                "-binary",
                "-inform",
                "DER",
                "-in",
                sig.to_str().unwrap(),
                "-CAfile",
                self.pki.pki("root.pem").to_str().unwrap(),
                "-certfile",
                self.pki.pki("personnes.pem").to_str().unwrap(),
                "-out",
                out_file.to_str().unwrap(),
            ],
        );
        assert_success(&out, &format!("openssl cms -verify {}", sig.display()));
        assert_eq!(
            std::fs::read(out_file).unwrap(),
            std::fs::read(doc).unwrap()
        );
    }

    /// `openssl ts -verify` of `token` (DER ContentInfo) against `imprint`.
    pub fn ts_verify(&self, token: &[u8], imprint: &[u8], name: &str) {
        let file = self.path(&format!("{name}.tst"));
        std::fs::write(&file, token).unwrap();
        let chain = self.path("tsa-chain.pem");
        std::fs::write(
            &chain,
            format!(
                "{}{}",
                std::fs::read_to_string(self.pki.pki("tsa-unit-1.pem")).unwrap(),
                std::fs::read_to_string(self.pki.pki("organisations.pem")).unwrap()
            ),
        )
        .unwrap();
        let out = tool(
            "openssl",
            &[
                "ts",
                "-verify",
                "-digest",
                &hex::encode(imprint),
                "-in",
                file.to_str().unwrap(),
                "-token_in",
                "-CAfile",
                self.pki.pki("root.pem").to_str().unwrap(),
                "-untrusted",
                chain.to_str().unwrap(),
            ],
        );
        let text = format!("{}{}", stdout(&out), stderr(&out));
        assert!(
            out.status.success() && text.contains("Verification: OK"),
            "openssl ts -verify {name}: {text}"
        );
        // The same token against another imprint fails: the check is not vacuous.
        let mut other = imprint.to_vec();
        other[0] ^= 1;
        let out = tool(
            "openssl",
            &[
                "ts",
                "-verify",
                "-digest",
                &hex::encode(&other),
                "-in",
                file.to_str().unwrap(),
                "-token_in",
                "-CAfile",
                self.pki.pki("root.pem").to_str().unwrap(),
                "-untrusted",
                chain.to_str().unwrap(),
            ],
        );
        assert!(!out.status.success(), "{name}: a wrong imprint verified");
    }

    /// Every time-stamp of `sig`: the signature time-stamp against SHA-256 of the signature
    /// value, each archive time-stamp against the imprint recomputed from the file. Returns
    /// the number of archive time-stamps.
    pub fn check_tokens(&self, sig: &Path, tag: &str) -> usize {
        let bytes = std::fs::read(sig).unwrap();
        let parsed = validation::cades::parse_cms(&bytes).unwrap();
        let tokens = validation::cades::timestamp_tokens(&parsed.signer);
        assert_eq!(tokens.len(), 1, "{tag}: one signature time-stamp");
        let imprint = sha2::Sha256::digest(parsed.signer.signature.as_bytes());
        self.ts_verify(
            &tokens[0].to_der().unwrap(),
            &imprint,
            &format!("{tag}-sig"),
        );
        let ats = validation::ltv::archive_timestamps(&parsed.signer).unwrap();
        for (i, t) in ats.iter().enumerate() {
            validation::ltv::check_ats_hash_index(&parsed.signed_data, &parsed.signer, &t.index)
                .unwrap();
            let imprint = validation::ltv::ats_v3_imprint(
                &parsed.signed_data,
                &parsed.signer,
                None,
                t.hash,
                &t.index,
            )
            .unwrap();
            self.ts_verify(
                &t.token.to_der().unwrap(),
                &imprint,
                &format!("{tag}-ats{i}"),
            );
        }
        ats.len()
    }
}

pub fn unsigned_oids(sig: &Path) -> Vec<String> {
    let parsed = validation::cades::parse_cms(&std::fs::read(sig).unwrap()).unwrap();
    parsed
        .signer
        .unsigned_attrs
        .iter()
        .flat_map(|s| s.iter())
        .map(|a| a.oid.to_string())
        .collect()
}

/// `igc verify --json` in an empty folder, with the root as the only thing known (no CA
/// certificate, no CRL, no network): (output, report).
pub fn verify_root_only(ctx: &Ctx, sig: &Path, document: &str) -> (Output, serde_json::Value) {
    let elsewhere = tempfile::tempdir().unwrap();
    let root = elsewhere.path().join("root.pem");
    std::fs::copy(ctx.pki.pki("root.pem"), &root).unwrap();
    let copy = elsewhere.path().join("signature.p7s");
    std::fs::copy(sig, &copy).unwrap();
    let o = igc(
        elsewhere.path(),
        &[
            "verify",
            "--in",
            copy.to_str().unwrap(),
            "--document-type",
            document,
            "--anchor",
            root.to_str().unwrap(),
            "--json",
        ],
    );
    no_panic(&o);
    let report = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("igc verify --json: {e}: {}", stderr(&o)));
    (o, report)
}

pub fn no_panic(o: &Output) {
    let err = stderr(o);
    assert!(!err.contains("panicked"), "{err}");
}
