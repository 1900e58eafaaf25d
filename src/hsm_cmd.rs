//! `igc hsm`: qualify a PKCS#11 module before a ceremony.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use hsm_config::check::{self, CheckOptions, Needs};
use hsm_config::cryptoki::types::AuthPin;
use hsm_config::ModuleLocation;
use zeroize::Zeroizing;

#[derive(Debug, Subcommand)]
pub enum HsmCommand {
    /// Check that a PKCS#11 module and token offer what the configuration needs.
    #[command(after_help = CHECK_HELP)]
    Check(CheckArgs),
}

const CHECK_HELP: &str = "\
Checks, one row each (ok, warning, missing, failed, skipped): the module loads and \
initialises; the token is found by label, initialised, with a user PIN; its session \
limits fit the pool; it offers the mechanisms of the needed key families (EC: \
CKM_EC_KEY_PAIR_GEN for P-256 and P-384 and CKM_ECDSA, CKM_ECDSA_SHA256/384 used when \
present; RSA: CKM_RSA_PKCS_KEY_PAIR_GEN, CKM_SHA256_RSA_PKCS or CKM_RSA_PKCS, \
CKM_SHA256_RSA_PKCS_PSS; AES: CKM_AES_KEY_GEN and CKM_AES_GCM). With a PIN, a live test \
generates a temporary P-256 key pair, reads back its attributes and the token's defaults, \
signs and verifies in software, seals and opens with a temporary AES-256 key, then \
destroys everything it created.

Examples:
  igc hsm check --module /usr/lib/softhsm/libsofthsm2.so --token igc-dev --pin-file var/hsm/user.pin
  igc hsm check --module /opt/vendor/libpkcs11.so --token CA --needs ec,aes --pin-fd 3 3<pin.txt
  igc hsm check --config var/igc.toml --json

Without --module, the [hsm] section of --config gives the module, token, PIN file and pool size.
Exit codes: 0 everything required is there, 1 something required is missing or a live test
failed, 2 usage error.";

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// PKCS#11 module (shared library) to examine; default: `hsm.module` of --config.
    #[arg(long, requires = "token")]
    module: Option<PathBuf>,
    /// Label of the token; default: `hsm.token_label` of --config.
    #[arg(long)]
    token: Option<String>,
    /// String passed to C_Initialize in pReserved (NSS softoken's parameters, kryoptic's
    /// `kryoptic_conf=…`); default: `hsm.init_args` of --config when --module is not given.
    #[arg(long = "init-args", alias = "init-string")]
    init_args: Option<String>,
    /// File holding the user PIN (mode 0600); enables the live test.
    #[arg(long, conflicts_with = "pin_fd")]
    pin_file: Option<PathBuf>,
    /// Open file descriptor to read the user PIN from; enables the live test.
    #[arg(long)]
    pin_fd: Option<u32>,
    /// Sessions the pool opens at once; default: `hsm.max_sessions` of --config, else 8.
    #[arg(long)]
    pool_size: Option<usize>,
    /// Key families the configuration uses (comma-separated: ec, rsa, aes).
    #[arg(long, default_value = "ec,rsa,aes", value_parser = parse_needs)]
    needs: Needs,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

fn parse_needs(s: &str) -> std::result::Result<Needs, String> {
    Needs::parse(s)
}

pub fn run(config: &Path, command: HsmCommand) -> Result<()> {
    match command {
        HsmCommand::Check(args) => run_check(config, args),
    }
}

fn run_check(config: &Path, args: CheckArgs) -> Result<()> {
    // Without --module the configuration file says which token to examine.
    let from_config = match &args.module {
        Some(_) => None,
        None => {
            if !config.exists() {
                // Nothing says which module to examine: a usage error (exit 2).
                clap::Error::raw(
                    clap::error::ErrorKind::MissingRequiredArgument,
                    format!(
                        "--module and --token are required when the configuration {} does not exist\n",
                        config.display()
                    ),
                )
                .exit();
            }
            let cfg = crate::config::IgcConfig::load(config)
                .context("no --module given, and the configuration cannot be read")?;
            cfg.export_softhsm_conf();
            Some(cfg.hsm)
        }
    };
    let ModuleLocation {
        path: module,
        init_args,
    } = match (&args.module, &from_config) {
        (None, None) => bail!("--module is required without a configuration"),
        (_, Some(h)) => {
            ModuleLocation::chosen(args.module.clone(), args.init_args, h.module_location())
        }
        (Some(m), None) => {
            ModuleLocation::chosen(Some(m.clone()), args.init_args, ModuleLocation::softhsm())
        }
    };
    let token_label = match (&args.token, &from_config) {
        (Some(t), _) => t.clone(),
        (None, Some(h)) => h.token_label.clone(),
        (None, None) => bail!("--token is required with --module"),
    };
    let pin = match (&args.pin_file, args.pin_fd, &from_config) {
        (Some(file), _, _) => Some(hsm_config::config::read_pin_file(file)?),
        (None, Some(fd), _) => Some(read_pin_fd(fd)?),
        (None, None, Some(h)) => Some(hsm_config::config::read_pin_file(&h.pin_file)?),
        (None, None, None) => None,
    };
    let pool_size = args
        .pool_size
        .or(from_config.as_ref().map(|h| h.max_sessions))
        .unwrap_or_else(|| hsm_config::HsmConfig::new("-", "-").max_sessions);

    let report = check::run(&CheckOptions {
        module,
        token_label,
        init_string: init_args,
        pin,
        pool_size,
        needs: args.needs,
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
    }
    if report.passed {
        return Ok(());
    }
    let blocking: Vec<String> = report.blocking().map(|r| r.check.clone()).collect();
    bail!(
        "{} with token {:?} cannot serve this configuration; not ok: {}",
        report.module.display(),
        report.token,
        blocking.join(", ")
    )
}

/// Reads a PIN from an inherited descriptor through `/dev/fd`, so that no
/// unsafe descriptor adoption is needed.
fn read_pin_fd(fd: u32) -> Result<AuthPin> {
    let path = PathBuf::from(format!("/dev/fd/{fd}"));
    let file =
        std::fs::File::open(&path).with_context(|| format!("cannot read the PIN from fd {fd}"))?;
    let mut raw = Zeroizing::new(String::new());
    file.take(1025)
        .read_to_string(&mut raw)
        .with_context(|| format!("cannot read the PIN from fd {fd}"))?;
    if raw.len() > 1024 {
        bail!("fd {fd} holds too much for a PIN");
    }
    let pin = raw.trim_end_matches(['\n', '\r']);
    if pin.is_empty() || pin.contains(['\n', '\r']) {
        bail!("fd {fd} must hold exactly one non-empty line");
    }
    Ok(AuthPin::from(pin.to_owned()))
}
