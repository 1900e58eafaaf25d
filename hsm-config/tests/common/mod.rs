//! A private SoftHSM2 token directory for one test binary.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use hsm_config::cryptoki::types::AuthPin;
use hsm_config::{Module, PoolOptions, Token};

pub const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
pub const USER_PIN: &str = "test-user-pin-1234";
pub const SO_PIN: &str = "test-so-pin-1234";

pub struct SoftHsm {
    pub dir: PathBuf,
    pub token_dir: PathBuf,
    _keep: tempfile::TempDir,
}

/// One SoftHSM configuration per test process: SOFTHSM2_CONF is read at
/// C_Initialize and the module is process-wide.
pub fn softhsm() -> &'static SoftHsm {
    static HSM: OnceLock<SoftHsm> = OnceLock::new();
    HSM.get_or_init(|| {
        assert!(
            std::path::Path::new(MODULE).exists(),
            "SoftHSM2 is not installed ({MODULE} missing): run `make test`, which installs it"
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
        std::env::set_var("SOFTHSM2_CONF", &conf);
        SoftHsm {
            dir: keep.path().to_owned(),
            token_dir,
            _keep: keep,
        }
    })
}

pub fn module() -> Arc<Module> {
    softhsm();
    Module::load(std::path::Path::new(MODULE)).unwrap()
}

/// Creates (once per label) and opens a token with the test PINs.
pub fn token(label: &str, opts: PoolOptions) -> Token {
    let m = module();
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
