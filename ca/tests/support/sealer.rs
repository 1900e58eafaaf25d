//! The real TOTP sealer of the storage tests: an AES-256 key generated inside a private
//! SoftHSM2 token (one per test process), used through `hsm_config::HsmSealer`.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use hsm_config::cryptoki::types::AuthPin;
use hsm_config::sealer::generate_sealing_key;
use hsm_config::{HsmSealer, Module, PoolOptions, Token};
use pkix::sealing::SecretSealer;

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

struct Sealing {
    _dir: tempfile::TempDir,
    sealer: HsmSealer,
}

/// The process's SoftHSM sealer (token and key made on first use).
pub fn sealer() -> Arc<dyn SecretSealer> {
    static S: OnceLock<Sealing> = OnceLock::new();
    Arc::new(S.get_or_init(build).sealer.clone())
}

fn build() -> Sealing {
    assert!(
        Path::new(MODULE).exists(),
        "SoftHSM2 is not installed ({MODULE} missing)"
    );
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let conf = dir.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
            tokens.display()
        ),
    )
    .unwrap();
    // Read at C_Initialize; the module is loaded once per process, here.
    std::env::set_var("SOFTHSM2_CONF", &conf);
    let module = Module::load(Path::new(MODULE)).unwrap();
    let pin = "sealing-test-pin";
    module
        .init_token(
            "sealing",
            &AuthPin::from("sealing-so-pin".to_owned()),
            &AuthPin::from(pin.to_owned()),
        )
        .unwrap();
    let token = Token::open(
        module,
        "sealing",
        AuthPin::from(pin.to_owned()),
        PoolOptions::default(),
    )
    .unwrap();
    generate_sealing_key(&token, "ra-totp-seal").unwrap();
    let sealer = HsmSealer::new(&token, "ra-totp-seal").unwrap();
    Sealing { _dir: dir, sealer }
}
