//! `igc dev-setup`: an unattended development ceremony into `var/`.
//!
//! Runs the reviewed ceremony files of `hsm-config/ceremonies/dev/` in order
//! against a SoftHSM token directory under `var/hsm/`, or against the module that
//! `--module` (or an existing `var/igc.toml`) names. A ceremony whose
//! transcript exists already is reused, never run again, so the hierarchy is
//! created once and kept; if `var/` is inconsistent (transcripts without
//! tokens), it stops and says so instead of regenerating anything silently.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use hsm_config::ceremony::Ceremony;
use hsm_config::ModuleLocation;

#[derive(Debug, Args)]
pub struct DevSetupArgs {
    /// Directory of the development ceremony files (run in name order).
    #[arg(long, default_value = "hsm-config/ceremonies/dev")]
    pub ceremonies: PathBuf,
    /// PKCS#11 module; default: `[hsm] module` of an existing configuration, else SoftHSM2
    /// (whose tokens go to var/hsm/tokens). A configuration written by this command names it.
    #[arg(long)]
    pub module: Option<PathBuf>,
    /// The module's C_Initialize string (NSS softoken's parameters, kryoptic's
    /// `kryoptic_conf=…`); only with --module. See docs/HSM.md.
    #[arg(long, requires = "module")]
    pub init_args: Option<String>,
}

const VAR: &str = "var";

pub fn run(config: &Path, args: DevSetupArgs) -> Result<()> {
    let module = ModuleLocation::chosen(
        args.module.clone(),
        args.init_args.clone(),
        crate::ceremony_cmd::default_module(config),
    );
    // The ceremonies and `igc serve` must use the same module: an existing configuration
    // that names another one is not silently contradicted.
    if args.module.is_some() && config.exists() {
        let configured = crate::config::IgcConfig::load(config)?
            .hsm
            .module_location();
        if configured != module {
            bail!(
                "{} names the module {} (init_args {:?}), not {} (init_args {:?}): remove \
                 var/ to start a development hierarchy on another module, or drop --module. \
                 Nothing was done",
                config.display(),
                configured.path.display(),
                configured.init_args,
                module.path.display(),
                module.init_args,
            );
        }
    }
    let var = Path::new(VAR);
    for d in ["hsm/tokens", "shares", "pki", "ceremonies"] {
        std::fs::create_dir_all(var.join(d)).with_context(|| format!("creating {VAR}/{d}"))?;
    }
    restrict(&var.join("hsm"))?;
    restrict(&var.join("shares"))?;
    let token_dir = std::fs::canonicalize(var.join("hsm/tokens"))?;
    let conf = var.join("hsm/softhsm2.conf");
    if !conf.exists() {
        std::fs::write(
            &conf,
            format!(
                "# SoftHSM2 configuration of the development tokens (written by igc dev-setup)\n\
                 directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
                token_dir.display()
            ),
        )?;
    }
    let conf = std::fs::canonicalize(&conf)?;
    // Single-threaded here: nothing else reads the environment yet.
    std::env::set_var("SOFTHSM2_CONF", &conf);

    let mut files: Vec<PathBuf> = std::fs::read_dir(&args.ceremonies)
        .with_context(|| format!("reading {}", args.ceremonies.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("no ceremony file in {}", args.ceremonies.display());
    }
    // Written first: the ra-administrators ceremony creates its accounts in its database.
    if !config.exists() {
        std::fs::write(config, dev_config(&module)?)
            .with_context(|| format!("writing {}", config.display()))?;
        eprintln!("wrote {}", config.display());
    }
    // Only SoftHSM keeps its tokens in var/hsm/tokens; other modules are asked by the
    // ceremonies themselves (a missing token is an error there).
    let has_tokens = module.path != Path::new(hsm_config::config::SOFTHSM_MODULE)
        || std::fs::read_dir(&token_dir)?.next().is_some();
    let (mut ran, mut reused) = (0, 0);
    for (i, file) in files.iter().enumerate() {
        let c = Ceremony::load(file)?;
        let transcript = c.spec().common().transcript.to_owned();
        if transcript.exists() {
            if !has_tokens {
                bail!(
                    "{} exists but {} holds no token: var/ is inconsistent. \
                     Remove var/ to start a new development hierarchy (nothing is regenerated silently).",
                    transcript.display(),
                    token_dir.display()
                );
            }
            reused += 1;
            continue;
        }
        eprintln!("[{}/{}] {}", i + 1, files.len(), file.display());
        crate::ceremony_cmd::run_file(file, &module, config)?;
        ran += 1;
    }
    journal_transcripts(config, &files)?;
    eprintln!("development hierarchy ready: {ran} ceremonies run, {reused} reused");
    Ok(())
}

/// Appends every ceremony's transcript to the journal of the configured database, once the
/// ceremonies are done; those journaled by an earlier run are found and left as they are.
fn journal_transcripts(config: &Path, files: &[PathBuf]) -> Result<()> {
    let cfg = crate::config::IgcConfig::load(config)?;
    let actor = ca::domain::Actor::new("dev-setup", "ceremony")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let store = crate::pki::open_store(&cfg).await?;
        let mut outcome = Ok(());
        for file in files {
            let c = Ceremony::load(file)?;
            let transcript = c.spec().common().transcript;
            match crate::ceremony_cmd::journal_transcript(&cfg, &store, transcript, &actor).await {
                Ok(j) if j.new => eprintln!(
                    "  transcript {} journaled as entry #{}",
                    transcript.display(),
                    j.seq
                ),
                Ok(_) => {}
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            }
        }
        store.close().await;
        outcome
    })
}

fn restrict(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("chmod 700 {}", dir.display()))
}

/// The configuration matching the development ceremonies (paths relative
/// to `var/`).
const DEV_CONFIG: &str = include_str!("dev-igc.toml");

/// [`DEV_CONFIG`] naming `module` (and its initialisation string) in `[hsm]`.
fn dev_config(module: &ModuleLocation) -> Result<String> {
    let softhsm = format!("module = \"{}\"\n", hsm_config::config::SOFTHSM_MODULE);
    if module == &ModuleLocation::softhsm() {
        return Ok(DEV_CONFIG.to_owned());
    }
    let mut line = format!(
        "module = {}\n",
        toml_string(&module.path.display().to_string())
    );
    if let Some(args) = &module.init_args {
        line.push_str(&format!("init_args = {}\n", toml_string(args)));
    }
    if !DEV_CONFIG.contains(&softhsm) {
        bail!("internal: the development configuration names no SoftHSM module to replace");
    }
    Ok(DEV_CONFIG.replacen(&softhsm, &line, 1))
}

/// `s` as a TOML string (escaped by the toml crate).
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_written_configuration_names_the_module_and_its_string() {
        assert_eq!(dev_config(&ModuleLocation::softhsm()).unwrap(), DEV_CONFIG);
        let nss = ModuleLocation {
            path: PathBuf::from("/usr/lib/x86_64-linux-gnu/libsoftokn3.so"),
            init_args: Some("configdir='sql:/a \"b\"' tokens=<0x10=[x]>".into()),
        };
        let text = dev_config(&nss).unwrap();
        let parsed: crate::config::IgcConfig = toml::from_str(&text).unwrap();
        assert_eq!(parsed.hsm.module_location(), nss);
    }
}
