//! Long-term CAdES from the command line: `igc extend` (any CAdES signature to T, LT or LTA)
//! and `igc archive renew` (a new archive time-stamp for every signature of a folder whose
//! last one is getting old), plus the LT/LTA steps `igc sign --level` uses.
//!
//! Validation data is fetched over HTTP by `validation::evidence` (allow-listed hosts only):
//! for each certificate of the signer's chain and of each time-stamp's TSA chain, the OCSP
//! response (else the CRL), fetched now — after the time-stamp it must prove the status at.
//! An end-entity certificate's (signer, TSA unit) evidence must prove the status at that
//! time-stamp (an OCSP response produced after it, or a CRL whose validity period covers it);
//! a CA certificate's must be current (CA CRLs are issued rarely).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use const_oid::db::rfc5912;
use der::Decode;
use serde::Serialize;
use time::OffsetDateTime;
use validation::evidence::fetch::{
    ca_issuers_url, parse_fetched_certificate, FetchPolicy, Fetcher,
};
use validation::evidence::{collect_evidence, Evidence};
use validation::{cades, ltv, parse_certificates, sign};
use x509_cert::crl::CertificateList;
use x509_cert::Certificate;
use x509_ocsp::BasicOcspResponse;

use crate::operator::write_new;

/// CAdES baseline levels (ETSI EN 319 122-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum Level {
    /// Signed attributes only.
    #[value(name = "B", alias = "b")]
    B,
    /// With a signature time-stamp.
    #[value(name = "T", alias = "t")]
    T,
    /// With the validation data (certificates, OCSP responses or CRLs).
    #[value(name = "LT", alias = "lt")]
    Lt,
    /// With an archive time-stamp (v3) over all of it.
    #[value(name = "LTA", alias = "lta")]
    Lta,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::B => "CAdES-BASELINE-B",
            Level::T => "CAdES-BASELINE-T",
            Level::Lt => "CAdES-BASELINE-LT",
            Level::Lta => "CAdES-BASELINE-LTA",
        }
    }
}

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
        after_help = "Examples:\n  igc archive renew /srv/archives/2026 --tsa-url http://127.0.0.1:8080/tsa --allow-host 127.0.0.1\n  igc archive renew ./signed --tsa-url http://tsa.example/tsa --older-than 180 \\\n    --tsa-expiry-margin 60 --allow-host tsa.example --allow-host ocsp.example --json\n\nFiles ending in .p7s, .p7m or .cms are considered. A detached signature's document is the\nfile of the same name without that extension. Each file is rewritten atomically (temporary\nfile, then rename). Progress goes to stderr; the summary (renewed, fresh, skipped, failed)\nto stdout. Exit status: 0 when none failed, 1 otherwise."
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

/// The LT/LTA steps: a TSA, an evidence fetcher and the known CA certificates.
pub struct Augmenter {
    tsa_url: String,
    /// The TSA named by the user, whatever the allow-list of evidence hosts.
    tsa: Fetcher,
    fetcher: Fetcher,
    pool: Vec<Certificate>,
    rt: tokio::runtime::Runtime,
}

/// Validation data to embed.
#[derive(Default)]
struct Values {
    certs: Vec<Certificate>,
    crls: Vec<CertificateList>,
    ocsp: Vec<BasicOcspResponse>,
}

fn self_issued(c: &Certificate) -> bool {
    c.tbs_certificate.subject == c.tbs_certificate.issuer
}

fn subject(c: &Certificate) -> String {
    c.tbs_certificate.subject.to_string()
}

/// The token's TSTInfo genTime and its signer's certificate with the token's certificates.
fn token_facts(
    token: &cms::content_info::ContentInfo,
) -> Result<(OffsetDateTime, Certificate, Vec<Certificate>)> {
    let p =
        cades::parse_signed_data(&token.content).map_err(|e| anyhow!("time-stamp token: {e}"))?;
    let tst = tsa::asn1::TstInfo::from_der(p.attached.as_deref().unwrap_or_default())
        .map_err(|e| anyhow!("time-stamp token TSTInfo: {e}"))?;
    let cert = cades::find_signer_certificate(&p.signer, &p.certificates)
        .cloned()
        .ok_or_else(|| anyhow!("the time-stamp token does not carry its TSA certificate"))?;
    Ok((tst.gen_time.datetime(), cert, p.certificates))
}

impl Augmenter {
    pub fn new(tsa_url: &str, allow_hosts: &[String], pool: Vec<Certificate>) -> Result<Self> {
        Ok(Augmenter {
            tsa_url: tsa_url.to_owned(),
            tsa: Fetcher::for_url(tsa_url, Duration::from_secs(30), 1024 * 1024)
                .map_err(|e| anyhow!("--tsa-url: {e}"))?,
            fetcher: Fetcher::new(FetchPolicy {
                allow_hosts: allow_hosts.to_vec(),
                ..FetchPolicy::default()
            }),
            pool,
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?,
        })
    }

    /// The issuer of `c` among `extra` and the known certificates (the one whose key
    /// verifies it), else from its caIssuers URL.
    fn issuer_of(&self, c: &Certificate, extra: &[Certificate]) -> Result<Certificate> {
        let candidates = extra.iter().chain(self.pool.iter()).filter(|i| {
            i.tbs_certificate.subject == c.tbs_certificate.issuer
                && pkix::verify::verify_certificate_signed_by(c, i).is_ok()
        });
        if let Some(i) = candidates.into_iter().next() {
            return Ok(i.clone());
        }
        let url = ca_issuers_url(c).ok_or_else(|| {
            anyhow!(
                "the issuer of {} is unknown (give it with --ca) and the certificate has no caIssuers URL",
                subject(c)
            )
        })?;
        self.fetcher
            .check_url(&url)
            .map_err(|e| anyhow!("{url}: {e}"))?;
        let bytes = self
            .rt
            .block_on(self.fetcher.get(&url))
            .map_err(|e| anyhow!("fetching the issuer of {}: {e}", subject(c)))?;
        let i = parse_fetched_certificate(&bytes).map_err(|e| anyhow!("{url}: {e}"))?;
        pkix::verify::verify_certificate_signed_by(c, &i)
            .map_err(|e| anyhow!("{url} did not give the issuer of {}: {e}", subject(c)))?;
        Ok(i)
    }

    /// The chain of `leaf` (up to a self-issued root) and the evidence of each of its
    /// non-root certificates; the end entity's must be produced at or after `at`.
    fn chain_values(
        &self,
        leaf: &Certificate,
        extra: &[Certificate],
        at: OffsetDateTime,
        out: &mut Values,
    ) -> Result<()> {
        let now = OffsetDateTime::now_utc();
        let mut cur = leaf.clone();
        // Bounded: no real chain is longer.
        for depth in 0..8 {
            out.certs.push(cur.clone());
            if self_issued(&cur) {
                return Ok(());
            }
            let issuer = self.issuer_of(&cur, extra)?;
            let ev = self
                .rt
                .block_on(collect_evidence(&self.fetcher, &cur, &issuer))
                .map_err(|e| anyhow!("no revocation evidence for {}: {e}", subject(&cur)))?;
            let (when, next, ocsp) = match &ev {
                Evidence::Ocsp(o) => (o.this_update, o.next_update, true),
                Evidence::Crl {
                    this_update,
                    next_update,
                    ..
                } => (*this_update, *next_update, false),
            };
            // The end entity's evidence must prove its status at the time-stamp by the rule
            // the validator applies (EN 319 102-1 §5.2.5 freshness), or what is embedded would
            // not be accepted later.
            let fresh = validation::evidence::is_fresh(when, next, at);
            if depth == 0 && !fresh {
                bail!(
                    "the revocation evidence of {} ({}, {when}) does not prove the status at the time-stamp ({at}) — retry when the responder or CRL is newer",
                    subject(&cur),
                    if ocsp { "OCSP thisUpdate" } else { "CRL thisUpdate" }
                );
            }
            if next.is_some_and(|n| n < now) {
                bail!(
                    "the revocation evidence of {} expired at {}",
                    subject(&cur),
                    next.map(|n| n.to_string()).unwrap_or_default()
                );
            }
            match ev {
                Evidence::Ocsp(o) => out.ocsp.push(
                    BasicOcspResponse::from_der(&o.basic_der)
                        .map_err(|e| anyhow!("OCSP response: {e}"))?,
                ),
                Evidence::Crl { der, .. } => out
                    .crls
                    .push(CertificateList::from_der(&der).map_err(|e| anyhow!("CRL: {e}"))?),
            }
            cur = issuer;
        }
        bail!(
            "the chain of {} is longer than 8 certificates",
            subject(leaf)
        )
    }

    fn timestamp(&self, req: &[u8]) -> Result<Vec<u8>> {
        self.rt
            .block_on(
                self.tsa
                    .post(&self.tsa_url, "application/timestamp-query", req),
            )
            .map_err(|e| anyhow!("the TSA: {e}"))
    }

    /// B → T (nothing when a signature time-stamp is there).
    pub fn to_t(&self, cms: &[u8]) -> Result<Vec<u8>> {
        let parsed = cades::parse_cms(cms).map_err(|e| anyhow!(e))?;
        if !cades::timestamp_tokens(&parsed.signer).is_empty() {
            return Ok(cms.to_vec());
        }
        sign::add_signature_timestamp(cms, |req| self.timestamp(req))
            .context("time-stamping the signature")
    }

    /// T → LT: the signer's chain and each signature time-stamp's TSA chain, with evidence.
    pub fn to_lt(&self, cms: &[u8]) -> Result<Vec<u8>> {
        let parsed = cades::parse_cms(cms).map_err(|e| anyhow!(e))?;
        let tokens = cades::timestamp_tokens(&parsed.signer);
        if tokens.is_empty() {
            bail!("the signature has no signature time-stamp (extend it to T first)");
        }
        let mut values = Values::default();
        let mut first_ts = None::<OffsetDateTime>;
        for t in tokens {
            let token: cms::content_info::ContentInfo = t
                .decode_as()
                .map_err(|e| anyhow!("signature time-stamp: {e}"))?;
            let (at, tsa_cert, certs) = token_facts(&token)?;
            first_ts = Some(first_ts.map_or(at, |f| f.min(at)));
            self.chain_values(&tsa_cert, &certs, at, &mut values)
                .with_context(|| format!("the TSA chain of the signature time-stamp of {at}"))?;
        }
        let at = first_ts.unwrap_or_else(OffsetDateTime::now_utc);
        let signer = cades::find_signer_certificate(
            &parsed.signer,
            parsed.certificates.iter().chain(self.pool.iter()),
        )
        .cloned()
        .ok_or_else(|| {
            anyhow!("the signer's certificate is neither in the signature nor given with --ca")
        })?;
        self.chain_values(&signer, &parsed.certificates, at, &mut values)
            .context("the signer's chain")?;
        Ok(ltv::add_validation_values(
            cms,
            &values.certs,
            &values.crls,
            &values.ocsp,
        )?)
    }

    /// LT → LTA, or a renewal: a new archive-time-stamp-v3, then its TSA's chain and evidence
    /// inside that token.
    pub fn add_archive(&self, cms: &[u8], content: Option<&[u8]>) -> Result<Vec<u8>> {
        let (req, nonce, index) =
            ltv::archive_timestamp_request(cms, content, rfc5912::ID_SHA_256)?;
        let reply = self.timestamp(&req).context("archive time-stamp")?;
        let with = ltv::attach_archive_timestamp(cms, content, &reply, &nonce, &index)?;
        let (_, si) = one_signer(&with)?;
        let ats = ltv::archive_timestamps(&si).map_err(|e| anyhow!(e))?;
        let newest = ats
            .iter()
            .max_by_key(|t| t.gen_time)
            .ok_or_else(|| anyhow!("the archive time-stamp was not added"))?;
        let (at, tsa_cert, certs) = token_facts(&newest.token)?;
        let mut values = Values::default();
        self.chain_values(&tsa_cert, &certs, at, &mut values)
            .context("the TSA chain of the archive time-stamp")?;
        Ok(ltv::add_token_validation_values(
            &with,
            &values.certs,
            &values.crls,
            &values.ocsp,
        )?)
    }

    /// `cms` extended to `to`.
    pub fn extend(&self, cms: &[u8], content: Option<&[u8]>, to: Level) -> Result<Vec<u8>> {
        let mut cms = cms.to_vec();
        if to >= Level::T {
            cms = self.to_t(&cms)?;
        }
        if to >= Level::Lt {
            cms = self.to_lt(&cms)?;
        }
        if to >= Level::Lta {
            cms = self.add_archive(&cms, content)?;
        }
        Ok(cms)
    }
}

fn one_signer(cms: &[u8]) -> Result<(cms::signed_data::SignedData, cms::signed_data::SignerInfo)> {
    let p = cades::parse_cms(cms).map_err(|e| anyhow!(e))?;
    Ok((p.signed_data, p.signer))
}

pub fn run_extend(args: ExtendArgs) -> Result<()> {
    let input = read(&args.file)?;
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

const SIGNATURE_EXTENSIONS: [&str; 3] = ["p7s", "p7m", "cms"];

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
    let days = |d: f64| time::Duration::seconds_f64(d * 86_400.0);
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
