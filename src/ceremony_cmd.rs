//! `igc ceremony check|run FILE.yaml`, `igc ceremony journal TRANSCRIPT.json`.
//!
//! A ceremony's transcript is written next to its outputs and *journaled*: the SHA-256 of the
//! transcript file, with what it says (ceremony, operators, times), is appended to the audit
//! journal of the CA database (DESIGN.md §8), so that the journal — anchored in time by the
//! TSA — vouches for the transcript kept on paper and disk. `run` journals at once when the
//! configuration is there; a ceremony held offline (the root's) is journaled afterwards on the
//! online system with `igc ceremony journal`. Journaling the same transcript twice records it
//! once.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use ca::domain::Actor;
use ca::storage::{Outcome, Store};
use clap::{Args, Subcommand};
use hsm_config::ceremony::Ceremony;
use sha2::{Digest as _, Sha256};

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
    /// Append a transcript's SHA-256 (and its ceremony, operators and times) to the audit
    /// journal: for ceremonies held where the CA database is not reachable. Idempotent.
    #[command(
        after_help = "Example (on the online system, after the offline root ceremony):\n  igc ceremony journal var/ceremonies/03-root.json"
    )]
    Journal {
        /// The transcript (JSON) written by `igc ceremony run`.
        transcript: PathBuf,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
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
            let (transcript, path) = run_file(&a.file, &default_module(config), config)?;
            journal_after_run(config, &path);
            if a.json {
                println!("{}", serde_json::to_string_pretty(&transcript)?);
            }
            Ok(())
        }
        CeremonyCommand::Journal { transcript, json } => {
            let cfg = crate::config::IgcConfig::load(config)?;
            // The people are those the transcript names; the journal records who ran the
            // command no better than a self-declared name would.
            let actor = ceremony_actor()?;
            let journaled = runtime()?.block_on(async {
                let store = crate::pki::open_store(&cfg).await?;
                let out = journal_transcript(&store, &transcript, &actor).await;
                store.close().await;
                out
            })?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "transcript": transcript,
                        "sha256": journaled.sha256,
                        "seq": journaled.seq,
                        "already_journaled": !journaled.new,
                    })
                );
            } else {
                println!("{}", journaled.describe(&transcript));
            }
            Ok(())
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// The journal action of a transcript.
const TRANSCRIPT_ACTION: &str = "ceremony.transcript";
/// The transcript format `igc ceremony run` writes.
const TRANSCRIPT_FORMAT: &str = "igc-ceremony-transcript/1";

/// A transcript in the journal.
#[derive(Debug)]
pub struct JournaledTranscript {
    /// The journal entry.
    pub seq: u64,
    /// SHA-256 of the transcript file, hex.
    pub sha256: String,
    /// False when it was journaled before (that entry is `seq`).
    pub new: bool,
}

impl JournaledTranscript {
    fn describe(&self, path: &Path) -> String {
        format!(
            "transcript {} (SHA-256 {}) {} journal entry #{}",
            path.display(),
            self.sha256,
            if self.new {
                "journaled as"
            } else {
                "already journaled as"
            },
            self.seq
        )
    }
}

/// Appends the transcript at `path` to the journal, unless an entry for the same bytes is there.
pub async fn journal_transcript(
    store: &Store,
    path: &Path,
    actor: &Actor,
) -> Result<JournaledTranscript> {
    let bytes =
        std::fs::read(path).with_context(|| format!("reading transcript {}", path.display()))?;
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let t: serde_json::Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a JSON transcript", path.display()))?;
    if t["format"] != TRANSCRIPT_FORMAT {
        bail!(
            "{} is not a ceremony transcript (format {}, expected {TRANSCRIPT_FORMAT})",
            path.display(),
            t["format"]
        );
    }
    // The object names the bytes: the same transcript is found again wherever it is kept.
    let object = format!("ceremony-transcript:{sha256}");
    let earlier = store
        .audit_entries_about(std::slice::from_ref(&object), 1)
        .await?;
    if let Some(e) = earlier.iter().find(|e| e.action == TRANSCRIPT_ACTION) {
        return Ok(JournaledTranscript {
            seq: e.seq,
            sha256,
            new: false,
        });
    }
    let details = serde_json::json!({
        "transcript": path.file_name().map(|n| n.to_string_lossy()),
        "transcript_sha256": sha256,
        "ceremony": t["ceremony"],
        "ceremony_file": t["file"],
        "ceremony_file_sha256": t["file_sha256"],
        "operators": t["operators"],
        "started_at": t["started_at"],
        "finished_at": t["finished_at"],
        "outputs": t["outputs"].as_array().map_or(0, Vec::len),
    });
    let seq = store
        .record_event(
            actor,
            TRANSCRIPT_ACTION,
            &object,
            Outcome::Success,
            &details,
        )
        .await?;
    Ok(JournaledTranscript {
        seq,
        sha256,
        new: true,
    })
}

/// Who journals a transcript right after its ceremony: the user running it, authenticated by
/// being present at the ceremony.
fn ceremony_actor() -> Result<Actor> {
    let id = std::env::var("USER").unwrap_or_else(|_| "ceremony".into());
    Ok(Actor::new(&id, "ceremony")?)
}

/// Journals the transcript just written, when the configuration (and so the database) is
/// there. The ceremony is done whatever happens here: a failure is reported, with the command
/// that journals the transcript later, and does not fail the ceremony.
fn journal_after_run(config: &Path, transcript: &Path) {
    if !config.exists() {
        eprintln!(
            "transcript not journaled: no configuration {} here (offline ceremony); on the \
             online system run: igc ceremony journal {}",
            config.display(),
            transcript.display()
        );
        return;
    }
    let outcome = (|| {
        let cfg = crate::config::IgcConfig::load(config)?;
        let actor = ceremony_actor()?;
        runtime()?.block_on(async {
            let store = crate::pki::open_store(&cfg).await?;
            let out = journal_transcript(&store, transcript, &actor).await;
            store.close().await;
            out
        })
    })();
    match outcome {
        Ok(j) => eprintln!("{}", j.describe(transcript)),
        Err(e) => eprintln!(
            "warning: transcript not journaled ({e:#}); run: igc ceremony journal {}",
            transcript.display()
        ),
    }
}

/// Loads, validates and runs one ceremony file, with progress on stderr; returns the
/// transcript and where it was written.
pub fn run_file(
    file: &Path,
    module: &Path,
    config: &Path,
) -> Result<(hsm_config::ceremony::Transcript, PathBuf)> {
    let c = Ceremony::load(file)?;
    let transcript_path = c.spec().common().transcript.to_owned();
    let prepared = c
        .prepare()
        .with_context(|| format!("{} is not valid; nothing was done", file.display()))?;
    eprintln!("ceremony {} ({})", file.display(), c.spec().kind());
    let mut registry = PortalRegistry { config };
    let t = prepared
        .run_with(
            module,
            &mut |step| eprintln!("  - {step}"),
            Some(&mut registry),
        )
        .with_context(|| format!("ceremony {} failed", file.display()))?;
    Ok((t, transcript_path))
}

/// The RA portal's operators in the configured database, where a `ra-administrators`
/// ceremony creates the first administrators.
struct PortalRegistry<'a> {
    config: &'a Path,
}

impl hsm_config::ceremony::AdministratorRegistry for PortalRegistry<'_> {
    fn create_first_administrators(
        &mut self,
        administrators: &[hsm_config::ceremony::spec::RaAdministrator],
        ceremony_sha256: &str,
    ) -> std::result::Result<(), String> {
        let created = (|| -> Result<Vec<(String, String)>> {
            let cfg = crate::config::IgcConfig::load(self.config)?;
            let validity = cfg
                .portal
                .clone()
                .unwrap_or_default()
                .one_time_password_validity();
            let accounts: Vec<(String, String)> = administrators
                .iter()
                .map(|a| (a.login.clone(), a.name.trim().to_owned()))
                .collect();
            let actor = Actor::system("ceremony")?;
            runtime()?.block_on(async {
                let store = crate::pki::open_store(&cfg).await?;
                let out = ra_portal::create_first_administrators(
                    &store,
                    &accounts,
                    validity,
                    ceremony_sha256,
                    &actor,
                )
                .await;
                store.close().await;
                out.map_err(|e| anyhow::anyhow!("{e}"))
            })
        })()
        .map_err(|e| format!("{e:#}"))?;
        // Printed once, on the ceremony's terminal, for each administrator to note in front of
        // the witnesses; never logged, never stored in clear.
        for (login, otp) in &created {
            println!(
                "première connexion au portail AE : identifiant « {login} », mot de passe à \
                 usage unique « {otp} » (laissez le code TOTP vide, scannez le QR code, \
                 choisissez un nouveau mot de passe)"
            );
        }
        Ok(())
    }
}
