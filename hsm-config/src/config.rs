//! HSM configuration and PIN sources.

use std::path::{Path, PathBuf};

use cryptoki::types::AuthPin;
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Default PKCS#11 module: Debian's SoftHSM2.
pub const SOFTHSM_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// How to reach one token: the `[hsm]` table of `igc.toml`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HsmConfig {
    /// Path of the PKCS#11 module (shared library).
    #[serde(default = "default_module")]
    pub module: PathBuf,
    /// The module's own initialisation string, handed to `C_Initialize` in `pReserved`
    /// (NSS softoken: `configdir='sql:/path' certPrefix='' keyPrefix='' secmod='secmod.db'`;
    /// kryoptic: `kryoptic_conf=/path/kryoptic.toml`). Most modules take none.
    #[serde(default)]
    pub init_args: Option<String>,
    /// Label of the token holding the online keys.
    pub token_label: String,
    /// File holding the user PIN (mode 0600, never world-readable).
    pub pin_file: PathBuf,
    /// Upper bound on concurrently open sessions.
    #[serde(default = "default_max_sessions")]
    pub max_sessions: usize,
    /// How long a caller waits for a free session before getting `Busy`.
    #[serde(default = "default_session_wait_ms")]
    pub session_wait_ms: u64,
    /// Minimum delay between two reconnection attempts while the token is away.
    #[serde(default = "default_retry_interval_ms")]
    pub retry_interval_ms: u64,
    /// SoftHSM only: its configuration file, exported as `SOFTHSM2_CONF`
    /// before the module is loaded (when that variable is not set already).
    #[serde(default)]
    pub softhsm2_conf: Option<PathBuf>,
    /// Label of the AES-256 key of this token that seals the RA operators' TOTP secrets
    /// (created by a `secret-key` ceremony).
    #[serde(default = "default_totp_seal_key_label")]
    pub totp_seal_key_label: String,
}

fn default_module() -> PathBuf {
    PathBuf::from(SOFTHSM_MODULE)
}
fn default_max_sessions() -> usize {
    8
}
fn default_session_wait_ms() -> u64 {
    5_000
}
fn default_retry_interval_ms() -> u64 {
    250
}
/// Label of the TOTP sealing key of the development ceremonies.
pub const DEFAULT_TOTP_SEAL_KEY_LABEL: &str = "ra-totp-seal";
fn default_totp_seal_key_label() -> String {
    DEFAULT_TOTP_SEAL_KEY_LABEL.to_owned()
}

impl HsmConfig {
    /// A configuration with defaults for everything but the token and PIN file.
    pub fn new(token_label: impl Into<String>, pin_file: impl Into<PathBuf>) -> Self {
        HsmConfig {
            module: default_module(),
            init_args: None,
            token_label: token_label.into(),
            pin_file: pin_file.into(),
            max_sessions: default_max_sessions(),
            session_wait_ms: default_session_wait_ms(),
            retry_interval_ms: default_retry_interval_ms(),
            softhsm2_conf: None,
            totp_seal_key_label: default_totp_seal_key_label(),
        }
    }

    /// Checks values that serde cannot.
    pub fn validate(&self) -> Result<()> {
        if self.token_label.is_empty() || self.token_label.len() > 32 {
            return Err(Error::Config(
                "hsm.token_label must be 1 to 32 bytes (PKCS#11 label size)".into(),
            ));
        }
        if self.totp_seal_key_label.is_empty() || self.totp_seal_key_label.len() > 64 {
            return Err(Error::Config(
                "hsm.totp_seal_key_label must be 1 to 64 bytes".into(),
            ));
        }
        if self.max_sessions == 0 || self.max_sessions > 1024 {
            return Err(Error::Config("hsm.max_sessions must be 1..=1024".into()));
        }
        Ok(())
    }
}

/// Which PKCS#11 module to load, and with which initialisation string: what `[hsm]`, the
/// ceremony files and the commands that open a token have in common.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleLocation {
    /// Path of the module (shared library).
    pub path: PathBuf,
    /// The module's own `C_Initialize` string (`pReserved`), for those that need one.
    pub init_args: Option<String>,
}

impl ModuleLocation {
    /// A module that takes no initialisation string.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        ModuleLocation {
            path: path.into(),
            init_args: None,
        }
    }

    /// Debian's SoftHSM2, the default everywhere a module is not named.
    pub fn softhsm() -> Self {
        ModuleLocation::new(SOFTHSM_MODULE)
    }

    /// The module asked for (a command's flags, a ceremony file's fields) over `default`
    /// (the configuration's): a module named explicitly takes only the string given with it;
    /// otherwise the default module, with the string given or else the default's.
    pub fn chosen(path: Option<PathBuf>, init_args: Option<String>, default: Self) -> Self {
        match path {
            Some(path) => ModuleLocation { path, init_args },
            None => ModuleLocation {
                init_args: init_args.or(default.init_args),
                path: default.path,
            },
        }
    }
}

impl HsmConfig {
    /// The module this configuration names, with its initialisation string.
    pub fn module_location(&self) -> ModuleLocation {
        ModuleLocation {
            path: self.module.clone(),
            init_args: self.init_args.clone(),
        }
    }
}

/// Reads a PIN from a file: one line, trailing newline ignored.
///
/// The file must not be readable by other users, so that a PIN never sits in a
/// world-readable place by accident.
pub fn read_pin_file(path: &Path) -> Result<AuthPin> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o007 != 0 {
            return Err(Error::Pin(format!(
                "{} is accessible to other users; chmod 600 it",
                path.display()
            )));
        }
    }
    if meta.len() > 1024 {
        return Err(Error::Pin(format!(
            "{} is too large for a PIN file",
            path.display()
        )));
    }
    let raw = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?);
    let pin = raw.trim_end_matches(['\n', '\r']);
    if pin.is_empty() || pin.contains(['\n', '\r']) {
        return Err(Error::Pin(format!(
            "{} must hold exactly one non-empty line",
            path.display()
        )));
    }
    Ok(AuthPin::from(pin.to_owned()))
}

/// Writes a secret to a new file with mode 0600; never overwrites.
pub fn write_secret_file(path: &Path, contents: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|e| Error::io(path, e))?;
    f.write_all(contents).map_err(|e| Error::io(path, e))?;
    f.sync_all().map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn pin_file_rules() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pin");
        write_secret_file(&p, b"1234\n").unwrap();
        assert_eq!(read_pin_file(&p).unwrap().expose_secret(), "1234");
        // never overwritten
        assert!(write_secret_file(&p, b"x").is_err());

        let world = dir.path().join("world");
        std::fs::write(&world, "1234").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&world, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(read_pin_file(&world), Err(Error::Pin(_))));

        let two = dir.path().join("two");
        write_secret_file(&two, b"12\n34\n").unwrap();
        assert!(read_pin_file(&two).is_err());
        let empty = dir.path().join("empty");
        write_secret_file(&empty, b"\n").unwrap();
        assert!(read_pin_file(&empty).is_err());
    }

    #[test]
    fn config_rejects_unknown_fields() {
        let bad = "token_label = \"t\"\npin_file = \"p\"\nmodul = \"x\"\n";
        assert!(toml::from_str::<HsmConfig>(bad).is_err());
        let good = "token_label = \"t\"\npin_file = \"p\"\n";
        let cfg: HsmConfig = toml::from_str(good).unwrap();
        assert_eq!(cfg.module, PathBuf::from(SOFTHSM_MODULE));
        cfg.validate().unwrap();
        assert_eq!(cfg.init_args, None);
        let nss = "module = \"/usr/lib/x86_64-linux-gnu/libsoftokn3.so\"\n\
                   init_args = \"configdir='sql:/var/nss' certPrefix='' keyPrefix='' secmod='secmod.db'\"\n\
                   token_label = \"NSS Certificate DB\"\npin_file = \"p\"\n";
        let cfg: HsmConfig = toml::from_str(nss).unwrap();
        assert_eq!(
            cfg.init_args.as_deref(),
            Some("configdir='sql:/var/nss' certPrefix='' keyPrefix='' secmod='secmod.db'")
        );
    }
}
