//! `igc ceremony check|run FILE.yaml`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use hsm_config::ceremony::Ceremony;

#[derive(Debug, Subcommand)]
pub enum CeremonyCommand {
    /// Validate a ceremony file without touching the HSM.
    #[command(
        after_help = "Example:\n  igc ceremony check hsm-config/ceremonies/dev/03-root.yaml"
    )]
    Check(FileArgs),
    /// Validate, then run a ceremony against the HSM and write its transcript.
    #[command(
        after_help = "Examples:\n  igc ceremony run hsm-config/ceremonies/dev/01-init-root-token.yaml\n  igc ceremony run --json root.yaml > transcript-copy.json"
    )]
    Run(FileArgs),
}

#[derive(Debug, Args)]
pub struct FileArgs {
    /// The ceremony file (YAML).
    pub file: PathBuf,
    /// Print the result as JSON on stdout (progress still goes to stderr).
    #[arg(long)]
    pub json: bool,
}

/// Module used when neither the ceremony file nor the configuration names one.
fn default_module(config: &Path) -> PathBuf {
    crate::config::IgcConfig::load(config)
        .map(|c| c.hsm.module)
        .unwrap_or_else(|_| PathBuf::from(hsm_config::config::SOFTHSM_MODULE))
}

pub fn run(config: &Path, cmd: CeremonyCommand) -> Result<()> {
    match cmd {
        CeremonyCommand::Check(a) => {
            let c = Ceremony::load(&a.file)?;
            c.prepare()
                .with_context(|| format!("{} is not valid", a.file.display()))?;
            if a.json {
                println!(
                    "{}",
                    serde_json::json!({"file": a.file, "ceremony": c.spec().kind(), "valid": true})
                );
            } else {
                println!("{}: valid {} ceremony", a.file.display(), c.spec().kind());
            }
            Ok(())
        }
        CeremonyCommand::Run(a) => {
            let transcript = run_file(&a.file, &default_module(config))?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&transcript)?);
            }
            Ok(())
        }
    }
}

/// Loads, validates and runs one ceremony file, with progress on stderr.
pub fn run_file(file: &Path, module: &Path) -> Result<hsm_config::ceremony::Transcript> {
    let c = Ceremony::load(file)?;
    let prepared = c
        .prepare()
        .with_context(|| format!("{} is not valid; nothing was done", file.display()))?;
    eprintln!("ceremony {} ({})", file.display(), c.spec().kind());
    let t = prepared
        .run(module, &mut |step| eprintln!("  - {step}"))
        .with_context(|| format!("ceremony {} failed", file.display()))?;
    Ok(t)
}
