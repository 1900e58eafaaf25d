//! Long-term signatures from the command line: `igc extend` (any CAdES signature or signed
//! PDF to T, LT or LTA) and `igc archive renew` (a new archive or document time-stamp for every
//! signature of a folder whose last one is getting old). The steps are in `augment`, the PDF
//! ones in `pades_cmd`.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use serde::Serialize;
use time::OffsetDateTime;
use validation::{cades, ltv, parse_certificates};
use x509_cert::Certificate;

use crate::augment::{token_facts, Augmenter, Level};
use crate::operator::write_new;

/// `igc extend`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  igc extend ordonnance.p7s --to LT --tsa-url http://127.0.0.1:8080/tsa \\\n    --allow-host 127.0.0.1 --out ordonnance-lt.p7s\n  igc extend contrat.p7s --content contrat.pdf --to LTA --tsa-url http://tsa.example/tsa \\\n    --ca root.pem --allow-host ocsp.example --allow-host tsa.example --out contrat-lta.p7s\n\nThe signature may come from any CAdES producer (openssl cms -sign -cades included); one\nSignerInfo. CA certificates missing from the signature and from --ca are fetched from the\ncertificates' caIssuers URLs. Exit status: 0 extended, 1 failure."
)]
pub struct ExtendArgs {
    /// The CMS signature (DER or PEM).
    file: PathBuf,
    /// Level to reach.
    #[arg(long, value_enum)]
    to: Level,
    /// RFC 3161 TSA (http://…/tsa) for the signature and archive time-stamps.
    #[arg(long)]
    tsa_url: String,
    /// Where to write the extended signature (never overwritten).
    #[arg(long)]
    out: PathBuf,
    /// The signed document, for a detached signature.
    #[arg(long)]
    content: Option<PathBuf>,
    /// CA certificate files (PEM, several per file) to build the chains with.
    #[arg(long)]
    ca: Vec<PathBuf>,
    /// Host (or host:port) the OCSP responders, CRL and caIssuers URLs may be fetched from.
    #[arg(long)]
    allow_host: Vec<String>,
}

/// `igc archive`.
#[derive(Debug, Subcommand)]
pub enum ArchiveCommand {
    /// Add a new archive time-stamp to every CAdES-LTA signature of a folder that needs one.
    #[command(
        after_help = "Examples:\n  igc archive renew /srv/archives/2026 --tsa-url http://127.0.0.1:8080/tsa --allow-host 127.0.0.1\n  igc archive renew ./signed --tsa-url http://tsa.example/tsa --older-than 180 \\\n    --tsa-expiry-margin 60 --allow-host tsa.example --allow-host ocsp.example --json\n\nFiles ending in .p7s, .p7m, .cms or .pdf are considered (a PDF gets a new document\ntime-stamp). A detached signature's document is the file of the same name without that\nextension. Each file is rewritten atomically (temporary\nfile, then rename). Progress goes to stderr; the summary (renewed, fresh, skipped, failed)\nto stdout. Exit status: 0 when none failed, 1 otherwise."
    )]
    Renew(RenewArgs),
}

/// `igc archive renew`.
#[derive(Debug, Args)]
pub struct RenewArgs {
    /// Folder of signatures (not recursive).
    dir: PathBuf,
    /// RFC 3161 TSA (http://…/tsa).
    #[arg(long)]
    tsa_url: String,
    /// Renew when the last archive time-stamp is older than this many days (fractions
    /// allowed).
    #[arg(long, default_value_t = 365.0)]
    older_than: f64,
    /// Renew when the last archive time-stamp's TSA certificate expires within this many
    /// days.
    #[arg(long, default_value_t = 90.0)]
    tsa_expiry_margin: f64,
    /// CA certificate files (PEM) to build the TSA chains with.
    #[arg(long)]
    ca: Vec<PathBuf>,
    /// Host (or host:port) evidence may be fetched from.
    #[arg(long)]
    allow_host: Vec<String>,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// Certificates of PEM files.
pub fn read_cas(files: &[PathBuf]) -> Result<Vec<Certificate>> {
    let mut out = Vec::new();
    for p in files {
        out.extend(parse_certificates(&read(p)?).map_err(|e| anyhow!("{}: {e}", p.display()))?);
    }
    Ok(out)
}

pub fn run_extend(args: ExtendArgs) -> Result<()> {
    let input = read(&args.file)?;
    if validation::pades::is_pdf(&input) {
        if args.to == Level::B {
            bail!("--to B: a signature cannot be reduced; extend to T, LT or LTA");
        }
        let size = input.len();
        let aug = Augmenter::new(&args.tsa_url, &args.allow_host, read_cas(&args.ca)?)?;
        let out = crate::pades_cmd::extend_pdf(&aug, input, args.to)
            .with_context(|| format!("extending {}", args.file.display()))?;
        write_new(&args.out, &out)?;
        println!(
            "{}: PAdES {} ({} bytes appended)",
            args.out.display(),
            args.to.name(),
            out.len() - size
        );
        return Ok(());
    }
    let cms = cades::cms_der(&input)
        .map_err(|e| anyhow!("{}: {e}", args.file.display()))?
        .into_owned();
    let parsed = cades::parse_cms(&cms).map_err(|e| anyhow!("{}: {e}", args.file.display()))?;
    let content = args.content.as_deref().map(read).transpose()?;
    if parsed.attached.is_none() && content.is_none() && args.to == Level::Lta {
        bail!(
            "{}: detached signature: give the document with --content",
            args.file.display()
        );
    }
    if args.to == Level::B {
        bail!("--to B: a signature cannot be reduced; extend to T, LT or LTA");
    }
    let aug = Augmenter::new(&args.tsa_url, &args.allow_host, read_cas(&args.ca)?)?;
    let out = aug
        .extend(&cms, content.as_deref(), args.to)
        .with_context(|| format!("extending {}", args.file.display()))?;
    write_new(&args.out, &out)?;
    println!(
        "{}: {} ({} bytes)",
        args.out.display(),
        args.to.name(),
        out.len()
    );
    Ok(())
}

#[derive(Debug, Default, Serialize)]
struct Summary {
    renewed: Vec<Entry>,
    fresh: Vec<Entry>,
    skipped: Vec<Entry>,
    failed: Vec<Entry>,
}

#[derive(Debug, Serialize)]
struct Entry {
    file: String,
    reason: String,
}

const SIGNATURE_EXTENSIONS: [&str; 4] = ["p7s", "p7m", "cms", "pdf"];

enum Outcome {
    Renewed(String),
    Fresh(String),
    Skipped(String),
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename.
fn replace_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.igc-tmp-{}", std::process::id()));
    let result = (|| -> Result<()> {
        let mut f =
            std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(bytes)?;
        f.sync_all()?;
        if let Ok(meta) = std::fs::metadata(path) {
            std::fs::set_permissions(&tmp, meta.permissions())?;
        }
        std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn renew_one(
    aug: &Augmenter,
    path: &Path,
    args: &RenewArgs,
    now: OffsetDateTime,
) -> Result<Outcome> {
    let input = read(path)?;
    let days = |d: f64| time::Duration::seconds_f64(d * 86_400.0);
    if validation::pades::is_pdf(&input) {
        // PAdES: the newest document time-stamp is the archive time-stamp.
        let Some((at, not_after)) = crate::pades_cmd::newest_document_timestamp(&input)? else {
            return Ok(Outcome::Skipped(
                "no document time-stamp (make it LTA with igc extend --to LTA)".into(),
            ));
        };
        let (age, left) = (now - at, not_after - now);
        let reason = if age >= days(args.older_than) {
            format!(
                "the last document time-stamp is {} days old",
                age.whole_days()
            )
        } else if left <= days(args.tsa_expiry_margin) {
            format!("its TSA certificate expires in {} days", left.whole_days())
        } else {
            return Ok(Outcome::Fresh(format!(
                "last document time-stamp {at} ({} days old)",
                age.whole_days()
            )));
        };
        let out = crate::pades_cmd::add_document_timestamp(aug, input)?;
        replace_atomically(path, &out)?;
        return Ok(Outcome::Renewed(reason));
    }
    let cms = cades::cms_der(&input).map_err(|e| anyhow!(e))?.into_owned();
    let parsed = cades::parse_cms(&cms).map_err(|e| anyhow!(e))?;
    let ats = ltv::archive_timestamps(&parsed.signer).map_err(|e| anyhow!(e))?;
    let Some(newest) = ats.iter().max_by_key(|t| t.gen_time) else {
        return Ok(Outcome::Skipped(
            "no archive time-stamp (make it LTA with igc extend --to LTA)".into(),
        ));
    };
    let (_, tsa_cert, _) = token_facts(&newest.token)?;
    let age = now - newest.gen_time;
    let not_after =
        OffsetDateTime::from(tsa_cert.tbs_certificate.validity.not_after.to_system_time());
    let left = not_after - now;
    let reason = if age >= days(args.older_than) {
        format!(
            "the last archive time-stamp is {} days old",
            age.whole_days()
        )
    } else if left <= days(args.tsa_expiry_margin) {
        format!("its TSA certificate expires in {} days", left.whole_days())
    } else {
        return Ok(Outcome::Fresh(format!(
            "last archive time-stamp {} ({} days old)",
            newest.gen_time,
            age.whole_days()
        )));
    };
    let content = if parsed.attached.is_some() {
        None
    } else {
        let doc = path.with_extension("");
        Some(read(&doc).map_err(|_| {
            anyhow!(
                "detached signature: its document {} is missing",
                doc.display()
            )
        })?)
    };
    let out = aug.add_archive(&cms, content.as_deref())?;
    replace_atomically(path, &out)?;
    Ok(Outcome::Renewed(reason))
}

pub fn run_archive(cmd: ArchiveCommand) -> Result<()> {
    let ArchiveCommand::Renew(args) = cmd;
    if !(args.older_than >= 0.0 && args.tsa_expiry_margin >= 0.0)
        || args.older_than > 36_500.0
        || args.tsa_expiry_margin > 36_500.0
    {
        bail!("--older-than and --tsa-expiry-margin must be between 0 and 36500 days");
    }
    let mut files = Vec::new();
    for e in
        std::fs::read_dir(&args.dir).with_context(|| format!("reading {}", args.dir.display()))?
    {
        let p = e?.path();
        let ext_ok = p.extension().and_then(|x| x.to_str()).is_some_and(|x| {
            SIGNATURE_EXTENSIONS
                .iter()
                .any(|s| s.eq_ignore_ascii_case(x))
        });
        let hidden = p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if ext_ok && !hidden && p.is_file() {
            files.push(p);
        }
    }
    files.sort();
    let aug = Augmenter::new(&args.tsa_url, &args.allow_host, read_cas(&args.ca)?)?;
    let now = OffsetDateTime::now_utc();
    let mut summary = Summary::default();
    let n = files.len();
    for (i, f) in files.iter().enumerate() {
        let name = f.display().to_string();
        let (label, entry_list, reason) = match renew_one(&aug, f, &args, now) {
            Ok(Outcome::Renewed(r)) => ("renewed", &mut summary.renewed, r),
            Ok(Outcome::Fresh(r)) => ("fresh", &mut summary.fresh, r),
            Ok(Outcome::Skipped(r)) => ("skipped", &mut summary.skipped, r),
            Err(e) => ("FAILED", &mut summary.failed, format!("{e:#}")),
        };
        eprintln!("[{}/{n}] {name}: {label} — {reason}", i + 1);
        entry_list.push(Entry { file: name, reason });
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "{} renewed, {} already fresh, {} skipped, {} failed",
            summary.renewed.len(),
            summary.fresh.len(),
            summary.skipped.len(),
            summary.failed.len()
        );
        for e in &summary.failed {
            println!("  failed: {}: {}", e.file, e.reason);
        }
    }
    if summary.failed.is_empty() {
        Ok(())
    } else {
        bail!(
            "{} of {n} signatures could not be renewed",
            summary.failed.len()
        )
    }
}
