//! A private token for one test binary, on the PKCS#11 module that `IGC_TEST_TOKEN` names:
//! `softhsm` (the default), `kryoptic` or `nss` (issue 26). `scripts/tokens.sh` installs the
//! other two.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use hsm_config::cryptoki::types::AuthPin;
use hsm_config::{Module, PoolOptions, Token};

pub const SOFTHSM_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
pub const NSS_MODULE: &str = "/usr/lib/x86_64-linux-gnu/libsoftokn3.so";
pub const USER_PIN: &str = "test-user-pin-1234";
pub const SO_PIN: &str = "test-so-pin-1234";
/// The one token of an NSS database (NSS names it from the init string).
pub const NSS_TOKEN_LABEL: &str = "igc-test-nss";
/// Slots of the kryoptic configuration: one token per test label, at most this many.
const KRYOPTIC_SLOTS: u32 = 12;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    SoftHsm,
    Kryoptic,
    Nss,
}

impl Kind {
    /// Whether the module can hold one token per test label (NSS has one key database).
    pub fn has_many_tokens(self) -> bool {
        self != Kind::Nss
    }
}

pub fn kind() -> Kind {
    match std::env::var("IGC_TEST_TOKEN").as_deref() {
        Err(_) | Ok("") | Ok("softhsm") => Kind::SoftHsm,
        Ok("kryoptic") => Kind::Kryoptic,
        Ok("nss") => Kind::Nss,
        Ok(other) => panic!("IGC_TEST_TOKEN={other:?}: expected softhsm, kryoptic or nss"),
    }
}

pub struct TestHsm {
    pub kind: Kind,
    pub module: PathBuf,
    pub init_args: Option<String>,
    pub dir: PathBuf,
    /// SoftHSM only: the directory of its token files.
    pub token_dir: PathBuf,
    _keep: tempfile::TempDir,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn require(module: &Path) {
    assert!(
        module.exists(),
        "{} is missing: run scripts/tokens.sh (or `make test`, which installs the tokens)",
        module.display()
    );
}

/// One token environment per test process: the module is process-wide.
pub fn hsm() -> &'static TestHsm {
    static HSM: OnceLock<TestHsm> = OnceLock::new();
    HSM.get_or_init(|| {
        let kind = kind();
        let keep = tempfile::tempdir().unwrap();
        let dir = keep.path().to_owned();
        let token_dir = dir.join("tokens");
        std::fs::create_dir_all(&token_dir).unwrap();
        let (module, init_args) = match kind {
            Kind::SoftHsm => {
                let conf = dir.join("softhsm2.conf");
                std::fs::write(
                    &conf,
                    format!(
                        "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
                        token_dir.display()
                    ),
                )
                .unwrap();
                std::env::set_var("SOFTHSM2_CONF", &conf);
                (PathBuf::from(SOFTHSM_MODULE), None)
            }
            Kind::Kryoptic => {
                let module = std::env::var_os("IGC_KRYOPTIC_MODULE")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| {
                        workspace_root().join("target/tokens/kryoptic/libkryoptic_pkcs11.so")
                    });
                let conf = dir.join("kryoptic.toml");
                let mut text = String::new();
                for slot in 1..=KRYOPTIC_SLOTS {
                    text.push_str(&format!(
                        "[[slots]]\nslot = {slot}\ndbtype = \"sqlite\"\ndbargs = \"{}\"\n\n",
                        token_dir.join(format!("slot{slot}.sql")).display()
                    ));
                }
                std::fs::write(&conf, text).unwrap();
                (module, Some(format!("kryoptic_conf={}", conf.display())))
            }
            Kind::Nss => {
                let db = token_dir.join("nssdb");
                std::fs::create_dir_all(&db).unwrap();
                let pin_file = dir.join("nss.pin");
                std::fs::write(&pin_file, format!("{USER_PIN}\n")).unwrap();
                let out = std::process::Command::new("certutil")
                    .args(["-N", "-d"])
                    .arg(format!("sql:{}", db.display()))
                    .arg("-f")
                    .arg(&pin_file)
                    .output()
                    .expect("certutil (libnss3-tools) runs: see scripts/tokens.sh");
                assert!(out.status.success(), "certutil -N: {out:?}");
                (
                    PathBuf::from(NSS_MODULE),
                    Some(format!(
                        "configdir='sql:{}' certPrefix='' keyPrefix='' secmod='secmod.db' \
                         flags=optimizeSpace dbTokenDescription='{NSS_TOKEN_LABEL}'",
                        db.display()
                    )),
                )
            }
        };
        require(&module);
        TestHsm {
            kind,
            module,
            init_args,
            dir,
            token_dir,
            _keep: keep,
        }
    })
}

pub fn module() -> Arc<Module> {
    let hsm = hsm();
    Module::load_with(&hsm.module, hsm.init_args.as_deref()).unwrap()
}

/// The label of the token a test asking for `label` gets: its own where the module can
/// hold several, the database's one on NSS (key labels then stay unique across tests).
pub fn token_label(label: &str) -> &str {
    if kind().has_many_tokens() {
        label
    } else {
        NSS_TOKEN_LABEL
    }
}

/// Creates (once per label) and opens a token with the test PINs.
pub fn token(label: &str, opts: PoolOptions) -> Token {
    let m = module();
    let label = token_label(label);
    if kind().has_many_tokens() {
        match m.init_token(
            label,
            &AuthPin::from(SO_PIN.to_owned()),
            &AuthPin::from(USER_PIN.to_owned()),
        ) {
            Ok(()) | Err(hsm_config::Error::TokenExists(_)) => {}
            Err(e) => panic!("init_token: {e}"),
        }
    }
    Token::open(m, label, AuthPin::from(USER_PIN.to_owned()), opts).unwrap()
}
