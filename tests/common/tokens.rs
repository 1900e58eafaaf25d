//! The PKCS#11 token a development hierarchy lives on, chosen by `IGC_TEST_TOKEN`:
//! `softhsm` (the default), `kryoptic` or `nss` (issue 26). `scripts/tokens.sh` installs the
//! other two (`make test` and `make test-hsm-matrix` call it).

use std::path::{Path, PathBuf};

use super::repo;

/// NSS softoken from Debian's `libnss3`.
pub const NSS_MODULE: &str = "/usr/lib/x86_64-linux-gnu/libsoftokn3.so";
/// The PIN `certutil -N` gives a new NSS database: the token's first PIN, which the
/// `init-token` ceremony replaces by one nobody sees (`existing_token`).
const NSS_INITIAL_PIN: &str = "initial-pin-of-the-database";
/// The tokens of the development ceremonies (`01-init-root-token`, `02-init-online-token`).
const DEV_TOKENS: [&str; 2] = ["igc-root", "igc-online"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    SoftHsm,
    Kryoptic,
    Nss,
}

pub fn kind() -> Kind {
    match std::env::var("IGC_TEST_TOKEN").as_deref() {
        Err(_) | Ok("") | Ok("softhsm") => Kind::SoftHsm,
        Ok("kryoptic") => Kind::Kryoptic,
        Ok("nss") => Kind::Nss,
        Ok(other) => panic!("IGC_TEST_TOKEN={other:?}: expected softhsm, kryoptic or nss"),
    }
}

/// A module ready to hold the development tokens, under `var/hsm/` of a hierarchy's directory.
pub struct DevToken {
    pub kind: Kind,
    pub module: PathBuf,
    pub init_args: Option<String>,
}

impl DevToken {
    /// Prepares the module's storage under `dir/var/hsm/`: nothing for SoftHSM (`igc
    /// dev-setup` writes its configuration), a kryoptic configuration with free slots, or one
    /// NSS database per development token, made by `certutil -N` as an HSM's own tool would
    /// make a partition (its first PIN in `var/hsm/initial.pin`).
    pub fn prepare(kind: Kind, dir: &Path) -> DevToken {
        let hsm = dir.join("var/hsm");
        std::fs::create_dir_all(&hsm).unwrap();
        match kind {
            Kind::SoftHsm => DevToken {
                kind,
                module: PathBuf::from(hsm_config::config::SOFTHSM_MODULE),
                init_args: None,
            },
            Kind::Kryoptic => {
                let module = repo().join("target/tokens/kryoptic/libkryoptic_pkcs11.so");
                require(&module);
                let store = hsm.join("kryoptic");
                std::fs::create_dir_all(&store).unwrap();
                let mut conf = String::new();
                for slot in 1..=3 {
                    conf.push_str(&format!(
                        "[[slots]]\nslot = {slot}\ndbtype = \"sqlite\"\ndbargs = \"{}\"\n\n",
                        store.join(format!("slot{slot}.sql")).display()
                    ));
                }
                let conf_path = hsm.join("kryoptic.toml");
                std::fs::write(&conf_path, conf).unwrap();
                DevToken {
                    kind,
                    module,
                    init_args: Some(format!("kryoptic_conf={}", conf_path.display())),
                }
            }
            Kind::Nss => {
                let module = PathBuf::from(NSS_MODULE);
                require(&module);
                let pin = hsm.join("initial.pin");
                write_private(&pin, &format!("{NSS_INITIAL_PIN}\n"));
                let mut tokens = vec![];
                for (i, label) in DEV_TOKENS.iter().enumerate() {
                    let db = hsm.join("nss").join(label);
                    std::fs::create_dir_all(&db).unwrap();
                    let out = std::process::Command::new("certutil")
                        .args(["-N", "-d"])
                        .arg(format!("sql:{}", db.display()))
                        .arg("-f")
                        .arg(&pin)
                        .output()
                        .expect("certutil (libnss3-tools) runs: see scripts/tokens.sh");
                    assert!(out.status.success(), "certutil -N: {out:?}");
                    // NSS names a token from its description; user slots start at 0x10.
                    tokens.push(format!(
                        "{:#x}=[configdir='sql:{}' tokenDescription='{label}' flags=optimizeSpace]",
                        0x10 + i,
                        db.display()
                    ));
                }
                let first = hsm.join("nss").join(DEV_TOKENS[0]);
                DevToken {
                    kind,
                    module,
                    init_args: Some(format!(
                        "configdir='sql:{}' certPrefix='' keyPrefix='' secmod='secmod.db' \
                         flags=optimizeSpace tokens=<{}>",
                        first.display(),
                        tokens.join(" ")
                    )),
                }
            }
        }
    }

    /// A development ceremony file as this module needs it: on NSS the tokens exist already
    /// (made by `certutil`), so the `init-token` ceremonies take them over.
    pub fn edit_ceremony(&self, text: &str) -> String {
        if self.kind == Kind::Nss && text.contains("ceremony: init-token") {
            format!("{text}existing_token:\n  initial_pin_file: var/hsm/initial.pin\n")
        } else {
            text.to_owned()
        }
    }
}

fn require(module: &Path) {
    assert!(
        module.exists(),
        "{} is missing: run scripts/tokens.sh (or `make test`, which installs the tokens)",
        module.display()
    );
}

fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}
