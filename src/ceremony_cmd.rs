//! `igc ceremony check|run FILE.yaml`, `igc ceremony journal TRANSCRIPT.json`.
//!
//! A ceremony's transcript is written next to its outputs and *journaled*: the SHA-256 of the
//! transcript file, with what it says (ceremony, operators, times), is appended to the audit
//! journal of the CA database (DESIGN.md §8), so that the journal — anchored in time by the
//! TSA — vouches for the transcript kept on paper and disk. `run` journals at once when the
//! configuration is there; a ceremony held offline (the root's) is journaled afterwards on the
//! online system with `igc ceremony journal`. Journaling the same transcript twice records it
//! once.
//!
//! Every certificate a CA key signs in a ceremony is recorded in the CA database before its
//! file is written: those of an online CA (OCSP responder, TSA unit, RA operator), so that the
//! CA's OCSP responder and CRLs answer for them like for any certificate it issued, and the
//! sub-CAs the root signs, so that one revoked with `igc cert revoke` is listed by the root's
//! next ARL (the `crl` ceremony reads the database's revocations: [`CaRegistry`]). A sub-CA
//! ceremony held where there is no configuration (offline) records nothing and says so: the
//! sub-CA is recorded when its transcript is journaled, or by `igc serve`. `igc serve`
//! back-fills, at start, the configured ones that are not recorded
//! ([`backfill_infrastructure`]): those of hierarchies made before ceremonies recorded them.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use ca::domain::{Actor, Profile, RevocationReason, Serial};
use ca::storage::{InfraOrigin, InfraRecorded, NewCertificate, Outcome, Store};
use clap::{Args, Subcommand};
use der::Encode;
use hsm_config::ceremony::Ceremony;
use hsm_config::ModuleLocation;
use pkix::profiles::InfraProfile;
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use x509_cert::Certificate;

use crate::config::IgcConfig;

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

/// Module used when the ceremony file names none: the configuration's (with its
/// initialisation string), else SoftHSM2.
pub fn default_module(config: &Path) -> ModuleLocation {
    crate::config::IgcConfig::load(config)
        .map(|c| c.hsm.module_location())
        .unwrap_or_else(|_| ModuleLocation::softhsm())
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
                let out = journal_transcript(&cfg, &store, &transcript, &actor).await;
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
/// The certificates the transcript lists as outputs and an online CA of `cfg` signed are
/// recorded first, if they are not (a ceremony held before ceremonies recorded them): see
/// [`record_transcript_certificates`].
pub async fn journal_transcript(
    cfg: &IgcConfig,
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
    record_transcript_certificates(cfg, store, path, &t).await?;
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

/// Back-fills the certificates among the outputs of transcript `t` (at `path`; relative output
/// paths are relative to the directory the ceremony ran in, the current one) that a CA key of
/// `cfg` signed: OCSP responders, TSA units and RA operators of an online CA, told apart by
/// their extended key usage, and sub-CAs of the root. Certificates of other issuers and the
/// root itself are left alone; an output that is no longer there is skipped with a warning; a
/// serial recorded with another certificate is an error.
async fn record_transcript_certificates(
    cfg: &IgcConfig,
    store: &Store,
    path: &Path,
    t: &serde_json::Value,
) -> Result<()> {
    let outputs = t["outputs"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let actor = Actor::system("back-fill")?;
    for o in outputs.iter().filter(|o| o["kind"] == "certificate") {
        let Some(file) = o["path"].as_str().map(PathBuf::from) else {
            continue;
        };
        let Ok((cert, _)) = crate::pki::read_certificate(&file) else {
            eprintln!(
                "warning: {} lists {} as its certificate, which cannot be read here: not \
                 recorded",
                path.display(),
                file.display()
            );
            continue;
        };
        let Some(profile) = ceremony_profile(&cert)? else {
            continue;
        };
        let Some(record) = record_if_ours(cfg, profile, &cert)
            .with_context(|| format!("recording {}", file.display()))?
        else {
            continue;
        };
        if record_infrastructure(store, &record, InfraOrigin::BackFill, &actor).await?
            == InfraRecorded::New
        {
            eprintln!(
                "certificate {} ({}) of {} recorded as issued by {}",
                record.serial,
                profile.as_str(),
                file.display(),
                record.issuer
            );
        }
    }
    Ok(())
}

/// The record of `cert`, of `profile`, when a CA key of `cfg` signed it: a sub-CA when the
/// configured root did (not the root itself), anything else when a configured CA did. `None`
/// for a certificate of another issuer.
fn record_if_ours(
    cfg: &IgcConfig,
    profile: Profile,
    cert: &Certificate,
) -> Result<Option<NewCertificate>> {
    if profile == Profile::SubCa {
        let (root, _) = crate::pki::read_certificate(&cfg.pki.root_certificate)?;
        let tbs = &cert.tbs_certificate;
        if tbs.issuer != root.tbs_certificate.subject || tbs.subject == tbs.issuer {
            return Ok(None);
        }
        return sub_ca_record(cfg, cert, &root).map(Some);
    }
    match issuer_among(cfg, cert)? {
        Some(issuer) => infrastructure_record(cfg, profile, cert, &issuer).map(Some),
        None => Ok(None),
    }
}

/// The profile of a certificate signed in a ceremony: a sub-CA for a CA certificate, else
/// by its extended key usage.
fn ceremony_profile(cert: &Certificate) -> Result<Option<Profile>> {
    use der::oid::db::rfc5280::{ID_KP_CLIENT_AUTH, ID_KP_OCSP_SIGNING, ID_KP_TIME_STAMPING};
    if let Some((_, bc)) = cert
        .tbs_certificate
        .get::<x509_cert::ext::pkix::BasicConstraints>()?
    {
        if bc.ca {
            return Ok(Some(Profile::SubCa));
        }
    }
    let Some((_, eku)) = cert
        .tbs_certificate
        .get::<x509_cert::ext::pkix::ExtendedKeyUsage>()?
    else {
        return Ok(None);
    };
    Ok(if eku.0.contains(&ID_KP_OCSP_SIGNING) {
        Some(Profile::OcspSigner)
    } else if eku.0.contains(&ID_KP_TIME_STAMPING) {
        Some(Profile::TsaUnit)
    } else if eku.0.contains(&ID_KP_CLIENT_AUTH) {
        Some(Profile::RaOperator)
    } else {
        None
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
            let out = journal_transcript(&cfg, &store, transcript, &actor).await;
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
    module: &ModuleLocation,
    config: &Path,
) -> Result<(hsm_config::ceremony::Transcript, PathBuf)> {
    let c = Ceremony::load(file)?;
    let transcript_path = c.spec().common().transcript.to_owned();
    let prepared = c
        .prepare()
        .with_context(|| format!("{} is not valid; nothing was done", file.display()))?;
    if matches!(c.spec(), hsm_config::ceremony::spec::CeremonySpec::Cert(_)) && !config.exists() {
        bail!(
            "{}: a certificate signed by a CA key is recorded in the CA database, and there is \
             no configuration {} here; run this ceremony where the configuration is. Nothing \
             was done",
            file.display(),
            config.display()
        );
    }
    eprintln!("ceremony {} ({})", file.display(), c.spec().kind());
    let mut registry = PortalRegistry { config };
    let mut certificates = CaRegistry {
        config,
        transcript: &transcript_path,
    };
    let mut revocations = CaRegistry {
        config,
        transcript: &transcript_path,
    };
    let t = prepared
        .run_recording(
            module,
            &mut |step| eprintln!("  - {step}"),
            Some(&mut registry),
            Some(&mut certificates),
            Some(&mut revocations),
        )
        .with_context(|| format!("ceremony {} failed", file.display()))?;
    Ok((t, transcript_path))
}

/// The CA database, where a ceremony records each certificate a CA key signs, and where a
/// root's `crl` ceremony finds the sub-CAs revoked since its last ARL.
struct CaRegistry<'a> {
    config: &'a Path,
    /// The transcript the ceremony writes, named in what is printed.
    transcript: &'a Path,
}

impl hsm_config::ceremony::CertificateRegistry for CaRegistry<'_> {
    fn record_certificate(
        &mut self,
        profile: InfraProfile,
        certificate: &Certificate,
        issuer: &Certificate,
    ) -> std::result::Result<(), String> {
        let profile = match profile {
            InfraProfile::OcspSigner => Profile::OcspSigner,
            InfraProfile::TsaUnit => Profile::TsaUnit,
            InfraProfile::RaOperator => Profile::RaOperator,
            InfraProfile::SubCa => Profile::SubCa,
            // Self-signed: no CA answers for the root.
            InfraProfile::Root => return Ok(()),
        };
        if profile == Profile::SubCa && !self.config.exists() {
            // The root's ceremonies may be held offline, before the online system exists;
            // the `run` ceremonies of online CAs are refused without a configuration instead.
            eprintln!(
                "  - sub-CA certificate {} not recorded in the CA database now: there is no \
                 configuration {} here. On the online system, `igc ceremony journal {}` records \
                 it, and `igc serve` records it at its next start once it is a configured CA",
                hex::encode(certificate.tbs_certificate.serial_number.as_bytes()),
                self.config.display(),
                self.transcript.display()
            );
            return Ok(());
        }
        (|| -> Result<()> {
            let cfg = IgcConfig::load(self.config)?;
            let record = if profile == Profile::SubCa {
                sub_ca_record(&cfg, certificate, issuer)?
            } else {
                infrastructure_record(&cfg, profile, certificate, issuer)?
            };
            let actor = ceremony_actor()?;
            let recorded = runtime()?.block_on(async {
                let store = crate::pki::open_store(&cfg).await?;
                let out =
                    record_infrastructure(&store, &record, InfraOrigin::Ceremony, &actor).await;
                store.close().await;
                out
            })?;
            eprintln!(
                "  - certificate {} ({}) recorded as issued by {}{}",
                record.serial,
                profile.as_str(),
                record.issuer,
                if recorded == InfraRecorded::New {
                    ""
                } else {
                    " (it was already)"
                }
            );
            Ok(())
        })()
        .map_err(|e| format!("{e:#}"))
    }
}

impl hsm_config::ceremony::RevocationRegistry for CaRegistry<'_> {
    fn revoked_under(
        &mut self,
        root: &Certificate,
    ) -> std::result::Result<Option<Vec<hsm_config::ceremony::RecordedRevocation>>, String> {
        if !self.config.exists() {
            return Ok(None);
        }
        (|| -> Result<Vec<hsm_config::ceremony::RecordedRevocation>> {
            let cfg = IgcConfig::load(self.config)?;
            runtime()?.block_on(async {
                let store = crate::pki::open_store(&cfg).await?;
                let out = revoked_under(&store, root).await;
                store.close().await;
                out
            })
        })()
        .map(Some)
        .map_err(|e| format!("{e:#}"))
    }
}

/// The certificates signed by `root` that `store` records as revoked or on hold. They are
/// recorded under the root's name, in partition 0 ([`sub_ca_record`]); a record under that
/// name that `root` did not sign (another root with the same name) is left out.
async fn revoked_under(
    store: &Store,
    root: &Certificate,
) -> Result<Vec<hsm_config::ceremony::RecordedRevocation>> {
    use x509_cert::ext::pkix::CrlReason;
    let name = crate::pki::ca_name_of(root, ROOT_FALLBACK_NAME)?;
    let mut entries = store.revoked_entries_for_crl(&name, SUB_CA_CRL_PARTITION);
    let mut found = Vec::new();
    while let Some(page) = entries.next_page().await? {
        for entry in page {
            let Some(record) = store.certificate(&entry.serial).await? else {
                continue;
            };
            let cert = <Certificate as der::Decode>::from_der(&record.der)
                .with_context(|| format!("certificate {} as recorded", entry.serial))?;
            if pkix::verify::verify_certificate_signed_by(&cert, root).is_err() {
                tracing::warn!(serial = %entry.serial, issuer = %name,
                    "recorded under the root's name but not signed by this root: not listed");
                continue;
            }
            let reason = match entry.reason {
                RevocationReason::Unspecified => None,
                RevocationReason::KeyCompromise => Some(CrlReason::KeyCompromise),
                RevocationReason::CaCompromise => Some(CrlReason::CaCompromise),
                RevocationReason::AffiliationChanged => Some(CrlReason::AffiliationChanged),
                RevocationReason::Superseded => Some(CrlReason::Superseded),
                RevocationReason::CessationOfOperation => Some(CrlReason::CessationOfOperation),
                RevocationReason::CertificateHold => Some(CrlReason::CertificateHold),
                RevocationReason::PrivilegeWithdrawn => Some(CrlReason::PrivilegeWithdrawn),
                RevocationReason::AaCompromise => Some(CrlReason::AaCompromise),
            };
            found.push(hsm_config::ceremony::RecordedRevocation {
                serial: cert.tbs_certificate.serial_number.clone(),
                subject: record.subject,
                revoked_at: entry.revoked_at,
                reason,
            });
        }
    }
    Ok(found)
}

/// Records `record` with its journal entry; a serial recorded with another certificate is
/// refused with the serial named.
async fn record_infrastructure(
    store: &Store,
    record: &NewCertificate,
    origin: InfraOrigin,
    actor: &Actor,
) -> Result<InfraRecorded> {
    match store
        .record_infrastructure_certificate(record, origin, actor)
        .await
    {
        Err(ca::Error::DuplicateSerial { serial }) => bail!(
            "serial {serial} of {} ({}) is recorded in the CA database with another \
             certificate: two certificates must never share a serial; find out which one {} \
             really issued before going on",
            record.subject,
            record.profile.as_str(),
            record.issuer
        ),
        other => Ok(other?),
    }
}

/// The record of `certificate` (of `profile`), signed by the configured CA whose certificate
/// is `issuer`. The signature is checked; a certificate of a CA that is not configured is
/// refused (no responder of ours would answer for it).
pub fn infrastructure_record(
    cfg: &IgcConfig,
    profile: Profile,
    certificate: &Certificate,
    issuer: &Certificate,
) -> Result<NewCertificate> {
    let issuer_der = issuer.to_der()?;
    let mut configured = None;
    for c in &cfg.cas {
        let (_, der) = crate::pki::read_certificate(&c.certificate)?;
        if der == issuer_der {
            configured = Some(c);
            break;
        }
    }
    let subject = pkix::name::name_to_string(&certificate.tbs_certificate.subject);
    let Some(configured) = configured else {
        bail!(
            "{subject} is signed by {}, which is not a CA of the configuration",
            pkix::name::name_to_string(&issuer.tbs_certificate.subject)
        );
    };
    pkix::verify::verify_certificate_signed_by(certificate, issuer)
        .map_err(|e| anyhow::anyhow!("{subject} is not signed by CA {}: {e}", configured.name))?;
    let not_after = unix_time(&certificate.tbs_certificate.validity.not_after)?;
    let policy = configured.policy(&cfg.server.base_url);
    new_record(
        certificate,
        crate::pki::ca_name_of(issuer, &configured.name)?,
        profile,
        ca::crl::partition_of(&policy.crl, not_after)?,
    )
}

/// Name of the root in the CA database when its certificate has no CN.
const ROOT_FALLBACK_NAME: &str = "root";
/// The CRL partition of a sub-CA's record: the root has no partitioned CRLs (its ARL, made in
/// a `crl` ceremony, lists every revoked sub-CA), and no online CA reads rows of the root's
/// name.
const SUB_CA_CRL_PARTITION: u32 = 0;

/// The record of sub-CA `certificate`, signed by `issuer`, which must be the configured root
/// (`[pki] root_certificate`). The signature is checked. The sub-CA is recorded under the
/// root's name (its CN), which is no online CA's: no online CRL or OCSP response lists it.
pub fn sub_ca_record(
    cfg: &IgcConfig,
    certificate: &Certificate,
    issuer: &Certificate,
) -> Result<NewCertificate> {
    let (root, root_der) = crate::pki::read_certificate(&cfg.pki.root_certificate)
        .with_context(|| "reading the configured root ([pki] root_certificate)")?;
    let subject = pkix::name::name_to_string(&certificate.tbs_certificate.subject);
    if issuer.to_der()? != root_der {
        bail!(
            "{subject} is signed by {}, which is not the root of the configuration ({})",
            pkix::name::name_to_string(&issuer.tbs_certificate.subject),
            cfg.pki.root_certificate.display()
        );
    }
    pkix::verify::verify_certificate_signed_by(certificate, &root)
        .map_err(|e| anyhow::anyhow!("{subject} is not signed by the root: {e}"))?;
    new_record(
        certificate,
        crate::pki::ca_name_of(&root, ROOT_FALLBACK_NAME)?,
        Profile::SubCa,
        SUB_CA_CRL_PARTITION,
    )
}

fn unix_time(t: &x509_cert::time::Time) -> Result<OffsetDateTime> {
    let secs = i64::try_from(t.to_unix_duration().as_secs())?;
    Ok(OffsetDateTime::from_unix_timestamp(secs)?)
}

/// The record of `certificate` as it is, issued by `issuer` (no subject of the registry, no
/// renewal).
fn new_record(
    certificate: &Certificate,
    issuer: ca::domain::CaName,
    profile: Profile,
    crl_partition: u32,
) -> Result<NewCertificate> {
    let tbs = &certificate.tbs_certificate;
    Ok(NewCertificate {
        serial: Serial::from_be_bytes(tbs.serial_number.as_bytes())?,
        issuer,
        profile,
        professional: None,
        structure: None,
        subject: pkix::name::name_to_string(&tbs.subject),
        not_before: unix_time(&tbs.validity.not_before)?,
        not_after: unix_time(&tbs.validity.not_after)?,
        der: certificate.to_der()?,
        crl_partition,
        supersedes: None,
    })
}

/// Records, at the start of `igc serve`, the configured certificates that CA keys signed in
/// ceremonies and the CA database does not know: each CA's own certificate (a sub-CA of the
/// root), its OCSP responder and the TSA unit. Idempotent (one already recorded with the same
/// DER is skipped); a serial recorded with another certificate stops the start. Each
/// back-filled certificate is journaled. Then the revocations of sub-CAs that the served root
/// ARL lists and the store lacks are recorded ([`import_root_arl`]).
pub async fn backfill_infrastructure(cfg: &IgcConfig, store: &Store) -> Result<()> {
    let mut found: Vec<(Profile, Certificate, String)> = Vec::new();
    for c in &cfg.cas {
        let (cert, _) = crate::pki::read_certificate(&c.certificate)?;
        found.push((
            Profile::SubCa,
            cert,
            format!("the certificate of CA {}", c.name),
        ));
        let (cert, _) = crate::pki::read_certificate(&c.ocsp_certificate)?;
        found.push((
            Profile::OcspSigner,
            cert,
            format!("the OCSP responder of CA {}", c.name),
        ));
    }
    if let Some(t) = &cfg.tsa {
        let (cert, _) = crate::pki::read_certificate(&t.certificate)?;
        found.push((Profile::TsaUnit, cert, "the TSA unit".to_owned()));
    }
    let actor = Actor::system("back-fill")?;
    for (profile, cert, what) in found {
        let Some(record) =
            record_if_ours(cfg, profile, &cert).with_context(|| format!("back-filling {what}"))?
        else {
            tracing::warn!(
                certificate = %what,
                "not signed by the configured root or a configured CA: its status is not \
                 answered here"
            );
            continue;
        };
        let recorded = record_infrastructure(store, &record, InfraOrigin::BackFill, &actor)
            .await
            .with_context(|| format!("back-filling {what}"))?;
        if recorded == InfraRecorded::New {
            tracing::info!(serial = %record.serial, issuer = %record.issuer, certificate = %what,
                "back-filled an infrastructure certificate the CA database did not know");
        }
    }
    import_root_arl(cfg, store, &actor)
        .await
        .with_context(|| format!("reading the root's ARL {}", cfg.pki.root_crl.display()))
}

/// Revokes in the store the recorded sub-CAs that the configured root ARL (`[pki] root_crl`,
/// the one served) revokes and the store still holds as good or on hold, with the ARL's reason
/// and time: a revocation written only in a `crl` ceremony file, or made offline, would
/// otherwise be contradicted by the store, which the CA's own validation asks before the ARL.
/// Suspensions (certificateHold) are not imported: one lifted in the store since the ARL was
/// signed would be suspended again.
async fn import_root_arl(cfg: &IgcConfig, store: &Store, actor: &Actor) -> Result<()> {
    use der::Decode as _;
    use x509_cert::ext::pkix::CrlReason;
    let (root, _) = crate::pki::read_certificate(&cfg.pki.root_certificate)?;
    let der = crate::pki::read_pem_der(&cfg.pki.root_crl, "X509 CRL")?;
    let arl = x509_cert::crl::CertificateList::from_der(&der).context("not a CRL")?;
    pkix::verify::verify_crl_signed_by(&arl, &root)
        .map_err(|e| anyhow::anyhow!("not signed by the root: {e}"))?;
    for entry in arl.tbs_cert_list.revoked_certificates.iter().flatten() {
        let serial = Serial::from_be_bytes(entry.serial_number.as_bytes())?;
        let Some(record) = store.certificate(&serial).await? else {
            continue;
        };
        let held = matches!(record.status, ca::storage::CertificateStatus::OnHold { .. });
        if record.profile != Profile::SubCa
            || !(held || record.status == ca::storage::CertificateStatus::Good)
        {
            continue;
        }
        let cert = Certificate::from_der(&record.der)
            .with_context(|| format!("certificate {serial} as recorded"))?;
        if pkix::verify::verify_certificate_signed_by(&cert, &root).is_err() {
            continue;
        }
        let code = match entry
            .crl_entry_extensions
            .iter()
            .flatten()
            .find(|e| e.extn_id == der::oid::db::rfc5280::ID_CE_CRL_REASONS)
        {
            Some(ext) => CrlReason::from_der(ext.extn_value.as_bytes())
                .with_context(|| format!("reasonCode of serial {serial}"))?
                as u8,
            None => CrlReason::Unspecified as u8,
        };
        let reason = RevocationReason::from_code(code)
            .with_context(|| format!("serial {serial}: reason code {code} is no revocation"))?;
        if reason == RevocationReason::CertificateHold {
            continue;
        }
        let at = unix_time(&entry.revocation_date)?;
        store.revoke(&serial, reason, at, actor).await?;
        tracing::warn!(serial = %serial, reason = %reason.as_str(),
            "sub-CA revoked by the root's ARL but not in the CA database: revoked there too");
    }
    Ok(())
}

/// The configured CA certificate that issued `cert` (by name; the signature is checked when
/// the record is made).
fn issuer_among(cfg: &IgcConfig, cert: &Certificate) -> Result<Option<Certificate>> {
    for c in &cfg.cas {
        let (ca, _) = crate::pki::read_certificate(&c.certificate)?;
        if ca.tbs_certificate.subject == cert.tbs_certificate.issuer {
            return Ok(Some(ca));
        }
    }
    Ok(None)
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
