//! `igc sign` and `igc verify`: CAdES signatures of documents with a key in a PKCS#11 token
//! (the professional's card; SoftHSM in tests), and their offline validation from files
//! (trust anchor, CA certificates, CRLs) — the same validator as `POST /api/v1/verify`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::archive_cmd::read_cas;
use crate::augment::{Augmenter, Level};
use crate::operator::write_new;
use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use hsm_config::{HsmSigner, Module, ModuleLocation, PoolOptions, Token};
use pkix::key::{CheckedKey, CheckedSignature};
use time::OffsetDateTime;
use validation::{
    parse_certificates, sign, CrlRevocationSource, DocumentKind, Indication, SignatureInput,
    Validator,
};

/// `igc sign`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  igc sign --key-label dr-martin-sign --pin-file card.pin --token CPS \\\n    --cert sign.pem --in ordonnance.txt --out ordonnance.p7s --tsa-url http://127.0.0.1:8080/tsa\n  igc sign --level LTA --key-label dr-martin-sign --pin-file card.pin --token CPS \\\n    --cert sign.pem --in ordonnance.txt --out ordonnance.p7s --tsa-url http://127.0.0.1:8080/tsa \\\n    --ca root.pem --allow-host 127.0.0.1\n\nLevels: B (no time-stamp), T (signature time-stamp), LT (plus the certificates and OCSP\nresponses or CRLs of the signer's and the TSA's chains, fetched from the hosts allowed with\n--allow-host), LTA (plus an archive time-stamp). Default: T."
)]
pub struct SignArgs {
    /// Label of the signing key in the token.
    #[arg(long)]
    key_label: String,
    /// File holding the token's user PIN (mode 0600).
    #[arg(long)]
    pin_file: PathBuf,
    /// PKCS#11 module; default: [hsm] module of the configuration, else SoftHSM2.
    #[arg(long)]
    module: Option<PathBuf>,
    /// The module's C_Initialize string (NSS softoken, kryoptic); default: [hsm] init_args
    /// of the configuration when --module is not given either.
    #[arg(long)]
    init_args: Option<String>,
    /// Token label; default: [hsm] token_label of the configuration.
    #[arg(long)]
    token: Option<String>,
    /// The signer's certificate (PEM; further certificates in the file are included as
    /// its chain).
    #[arg(long)]
    cert: PathBuf,
    /// The document to sign.
    #[arg(long = "in")]
    input: PathBuf,
    /// Where to write the DER CMS signature (never overwritten).
    #[arg(long)]
    out: PathBuf,
    /// Leave the document out of the signature.
    #[arg(long)]
    detached: bool,
    /// Time-stamp the signature at this RFC 3161 TSA (http://…/tsa): CAdES-T and above.
    #[arg(long)]
    tsa_url: Option<String>,
    /// CAdES level: B, T (default), LT or LTA (T and above need --tsa-url).
    #[arg(long, value_enum)]
    level: Option<Level>,
    /// CA certificate files (PEM) to build the chains with (LT, LTA).
    #[arg(long)]
    ca: Vec<PathBuf>,
    /// Host (or host:port) OCSP responses, CRLs and CA certificates may be fetched from
    /// (LT, LTA).
    #[arg(long)]
    allow_host: Vec<String>,
    /// cades (a CMS signature file) or pades (the PDF itself, signed in an incremental
    /// update; --in must be a PDF).
    #[arg(long, value_enum, default_value = "cades")]
    format: Format,
    /// PAdES: the signature field's name (default Signature, Signature2, …).
    #[arg(long)]
    field: Option<String>,
    /// PAdES: the reason shown (/Reason), e.g. "Ordonnance".
    #[arg(long)]
    reason: Option<String>,
    /// PAdES: the place shown (/Location).
    #[arg(long)]
    location: Option<String>,
    /// PAdES: a visible signature on PAGE (1 = first) at x1,y1,x2,y2 (points), naming the
    /// signer and their profession, e.g. 1,36,36,300,100.
    #[arg(long, value_name = "PAGE,X1,Y1,X2,Y2")]
    visible: Option<String>,
}

/// What `igc sign` produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A CMS signature (CAdES, ETSI EN 319 122).
    Cades,
    /// The signed PDF (PAdES, ETSI EN 319 142).
    Pades,
}

/// `--visible PAGE,X1,Y1,X2,Y2` (PAGE counted from 1).
fn parse_visible(v: &str) -> Result<(usize, [f32; 4])> {
    let parts: Vec<&str> = v.split(',').map(str::trim).collect();
    let [page, x1, y1, x2, y2] = parts.as_slice() else {
        bail!("--visible {v}: PAGE,X1,Y1,X2,Y2 expected");
    };
    let page: usize = page
        .parse()
        .ok()
        .filter(|p| *p >= 1)
        .ok_or_else(|| anyhow!("--visible {v}: the page is counted from 1"))?;
    let mut rect = [0f32; 4];
    for (r, t) in rect.iter_mut().zip([x1, y1, x2, y2]) {
        *r = t
            .parse()
            .ok()
            .filter(|x: &f32| x.is_finite())
            .ok_or_else(|| anyhow!("--visible {v}: {t} is not a number"))?;
    }
    if rect[0] >= rect[2] || rect[1] >= rect[3] {
        bail!("--visible {v}: x1 < x2 and y1 < y2 expected");
    }
    Ok((page - 1, rect))
}

/// `igc verify`.
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  igc verify --in ordonnance.p7s --document-type prescription --anchor root.pem \\\n    --ca ca-personnes.pem --crl ca-personnes.crl --json\n\nExit status: 0 when TOTAL_PASSED, 1 otherwise."
)]
pub struct VerifyArgs {
    /// The CMS signature (DER or PEM).
    #[arg(long = "in")]
    input: PathBuf,
    /// The signed document, for a detached signature.
    #[arg(long)]
    content: Option<PathBuf>,
    /// prescription, medical-certificate, death-certificate or generic.
    #[arg(long)]
    document_type: String,
    /// Trust anchor certificate(s) (PEM or DER).
    #[arg(long, required = true)]
    anchor: Vec<PathBuf>,
    /// CA certificate files (PEM, several per file allowed).
    #[arg(long)]
    ca: Vec<PathBuf>,
    /// CRL files (PEM or DER).
    #[arg(long)]
    crl: Vec<PathBuf>,
    /// A host (`host` or `host:port`) whose OCSP responder or CRL, named in the certificates'
    /// AIA/CDP, may be fetched over http:// after the CRL files (repeatable). Without it no
    /// network access.
    #[arg(long = "allow-host", value_name = "HOST")]
    allow_host: Vec<String>,
    /// Validation time (RFC 3339); default now.
    #[arg(long)]
    at: Option<String>,
    /// A certificate policy under which the signing certificate of a prescription, medical or
    /// death certificate must be issued (the SIGN profile's policy OID; repeatable; RFC 5280
    /// explicit policy). Default: none required.
    #[arg(long = "policy", value_name = "OID")]
    policy: Vec<String>,
    /// Print the whole report as JSON.
    #[arg(long)]
    json: bool,
}

/// Policy OIDs given on the command line.
fn policy_oids(oids: &[String]) -> Result<Vec<der::asn1::ObjectIdentifier>> {
    oids.iter()
        .map(|o| {
            o.parse::<der::asn1::ObjectIdentifier>()
                .map_err(|e| anyhow!("--policy {o}: not an OID ({e})"))
        })
        .collect()
}

/// What the `[hsm]` table of the configuration file says, when it says it (a missing or
/// unreadable configuration is not an error: `--module`/`--token` suffice).
#[derive(Default)]
struct HsmDefaults {
    module: Option<PathBuf>,
    init_args: Option<String>,
    token: Option<String>,
}

fn hsm_defaults(config: &Path) -> HsmDefaults {
    let Ok(text) = std::fs::read_to_string(config) else {
        return HsmDefaults::default();
    };
    let Ok(value) = text.parse::<toml::Table>() else {
        return HsmDefaults::default();
    };
    let hsm = value.get("hsm").and_then(|h| h.as_table());
    // As `[hsm] softhsm2_conf` does for the server: exported before the module loads, unless
    // the environment already says.
    if let Some(conf) = hsm
        .and_then(|h| h.get("softhsm2_conf"))
        .and_then(|c| c.as_str())
    {
        if std::env::var_os("SOFTHSM2_CONF").is_none() {
            std::env::set_var("SOFTHSM2_CONF", conf);
        }
    }
    let text_of = |key: &str| hsm.and_then(|h| h.get(key)).and_then(|v| v.as_str());
    HsmDefaults {
        module: text_of("module").map(PathBuf::from),
        init_args: text_of("init_args").map(str::to_owned),
        token: text_of("token_label").map(str::to_owned),
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

pub fn run_sign(config: &Path, args: SignArgs) -> Result<()> {
    // T by default: a signature without a time-stamp proves nothing once the certificate
    // expires or is revoked.
    let level = args.level.unwrap_or(Level::T);
    if level > Level::B && args.tsa_url.is_none() {
        bail!(
            "--level {}{} needs --tsa-url; give --level B to sign without a time-stamp",
            level.name(),
            if args.level.is_none() {
                " (the default)"
            } else {
                ""
            }
        );
    }
    let defaults = hsm_defaults(config);
    let configured = match defaults.module {
        Some(path) => ModuleLocation {
            path,
            init_args: defaults.init_args,
        },
        None => ModuleLocation::softhsm(),
    };
    let module = ModuleLocation::chosen(args.module, args.init_args, configured);
    let token_label = args.token.or(defaults.token).ok_or_else(|| {
        anyhow!("no token: give --token or set [hsm] token_label in the configuration")
    })?;
    let certs = parse_certificates(&read(&args.cert)?)
        .map_err(|e| anyhow!("{}: {e}", args.cert.display()))?;
    let (cert, chain) = certs
        .split_first()
        .ok_or_else(|| anyhow!("{}: no certificate", args.cert.display()))?;
    let content = read(&args.input)?;
    let pin = hsm_config::config::read_pin_file(&args.pin_file)?;
    let module = Module::load_location(&module)?;
    let token = Token::open(module, &token_label, pin, PoolOptions::default())?;
    // Through the signing seam: a signature the card gets wrong never reaches the file.
    let signer = CheckedKey::new(
        std::sync::Arc::new(HsmSigner::new(&token, &args.key_label)?),
        "cms",
    )?;
    let aug = match &args.tsa_url {
        Some(url) if level > Level::B => {
            let mut pool = chain.to_vec();
            pool.extend(read_cas(&args.ca)?);
            Some(Augmenter::new(url, &args.allow_host, pool)?)
        }
        _ => None,
    };
    if args.format == Format::Pades {
        if args.detached {
            bail!("--detached: a PAdES signature is inside the PDF");
        }
        if !validation::pades::is_pdf(&content) {
            bail!("{}: not a PDF (--format pades)", args.input.display());
        }
        let size = content.len();
        let request = crate::pades_cmd::PadesSign {
            original: content,
            cert,
            field: args.field.clone(),
            reason: args.reason.clone(),
            location: args.location.clone(),
            visible: args.visible.as_deref().map(parse_visible).transpose()?,
        };
        let out = crate::pades_cmd::sign_pdf(request, level, aug.as_ref(), |digest| {
            Ok(sign::sign_pades_cms::<_, CheckedSignature>(
                &signer, cert, digest, chain,
            )?)
        })
        .with_context(|| format!("making the PDF signature {}", level.name()))?;
        write_new(&args.out, &out)?;
        println!(
            "{}: PAdES-BASELINE-{} signature of {} ({size} bytes, {} bytes appended)",
            args.out.display(),
            level.name(),
            args.input.display(),
            out.len() - size
        );
        return Ok(());
    }
    if args.field.is_some()
        || args.reason.is_some()
        || args.location.is_some()
        || args.visible.is_some()
    {
        bail!("--field, --reason, --location and --visible are for --format pades");
    }
    let cms = sign::sign_cades_b::<_, CheckedSignature>(
        &signer,
        cert,
        &content,
        &sign::SignOptions {
            detached: args.detached,
            signing_time: None,
            chain: chain.to_vec(),
        },
    )
    .context("signing")?;
    let cms = match &aug {
        None => cms,
        Some(aug) => aug
            .extend(&cms, args.detached.then_some(content.as_slice()), level)
            .with_context(|| format!("making the signature {}", level.name()))?,
    };
    let level = level.name();
    write_new(&args.out, &cms)?;
    println!(
        "{}: {level} {} signature of {} ({} bytes)",
        args.out.display(),
        if args.detached {
            "detached"
        } else {
            "attached"
        },
        args.input.display(),
        content.len()
    );
    Ok(())
}

pub fn run_verify(args: VerifyArgs) -> Result<()> {
    let document: DocumentKind = args.document_type.parse().map_err(|e: String| anyhow!(e))?;
    let at = args
        .at
        .as_deref()
        .map(|t| OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339))
        .transpose()
        .context("--at must be an RFC 3339 time")?;
    let mut anchors = Vec::new();
    for p in &args.anchor {
        anchors.extend(parse_certificates(&read(p)?).map_err(|e| anyhow!("{}: {e}", p.display()))?);
    }
    let mut cas = Vec::new();
    for p in &args.ca {
        cas.extend(parse_certificates(&read(p)?).map_err(|e| anyhow!("{}: {e}", p.display()))?);
    }
    let revocation = revocation_source(&args.crl, &args.allow_host)?;
    let validator = Validator::new(
        anchors,
        cas,
        revocation,
        ca::domain::SigningRules::builtin()?,
        ca::domain::ProfessionTable::builtin()?,
    )?
    .with_policy(validation::ValidationPolicy {
        signature_policies: policy_oids(&args.policy)?,
        ..validation::ValidationPolicy::default()
    });
    let signature = read(&args.input)?;
    let content = args.content.as_deref().map(read).transpose()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    if validation::pades::is_pdf(&signature) {
        if content.is_some() {
            bail!("--content: a PDF carries its own content");
        }
        let report = rt.block_on(validator.validate_pdf(&signature, document, at));
        return print_report(&report, args.json);
    }
    let report = rt.block_on(validator.validate_signature(SignatureInput {
        content_ranges: None,
        pdf: None,
        signature: &signature,
        content: content.as_deref(),
        document,
        validation_time: at,
    }));
    print_report(&report, args.json)
}

/// Prints a signature report (and each signature's, for several), then the exit status:
/// `Ok` only for TOTAL_PASSED.
fn print_report(report: &validation::SignatureReport, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        println!("{}", report.summary);
        if report.signatures.is_empty() {
            print_checks(&report.checks);
        }
        for (i, signature) in report.signatures.iter().enumerate() {
            println!(
                "signature {}{}: {}",
                i + 1,
                signature
                    .field
                    .as_deref()
                    .map(|f| format!(" ({f}, {})", signature.signature_format))
                    .unwrap_or_default(),
                signature.summary
            );
            print_checks(&signature.checks);
        }
    }
    verdict(report.indication, report.sub_indication)
}

/// CRL files, then (when hosts are allowed) OCSP and CRLs fetched from the certificates'
/// AIA/CDP on those hosts.
fn revocation_source(
    crl: &[PathBuf],
    allow_host: &[String],
) -> Result<Arc<dyn validation::RevocationSource>> {
    let crl_files = crl.iter().map(|p| read(p)).collect::<Result<Vec<_>>>()?;
    let crls = CrlRevocationSource::from_bytes(&crl_files).map_err(|e| anyhow!(e))?;
    if allow_host.is_empty() {
        return Ok(Arc::new(crls));
    }
    for h in allow_host {
        crate::config::validate_allow_host(h).context("--allow-host")?;
    }
    let policy = validation::evidence::FetchPolicy {
        allow_hosts: allow_host.to_vec(),
        ..Default::default()
    };
    Ok(Arc::new(validation::FirstKnownRevocationSource::new(vec![
        Arc::new(crls),
        Arc::new(validation::evidence::OnlineRevocationSource::new(
            validation::evidence::Fetcher::new(policy),
        )),
    ])))
}

/// How `igc verify-cert` establishes revocation status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RevocationMode {
    /// Not checked (the report says so).
    None,
    /// From the `--crl` files only.
    Offline,
    /// The `--crl` files, then OCSP and CRLs fetched from the `--allow-host` hosts.
    Online,
}

/// `igc verify-cert`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  igc verify-cert dr-martin.pem --anchor root.pem --untrusted ca-personnes.pem \
    --revocation offline --crl ca-personnes.crl
  igc verify-cert hospital.pem --anchor foreign-root.pem --untrusted bridge.pem \
    --policy 1.2.250.1.999.1.1 --require-explicit-policy --at 2027-03-01T12:00:00Z --json

The path is built through every candidate issuer and validated per RFC 5280 §6.1 (name
constraints, policies, critical extensions, path length); the report lists the path and every
check.

Exit status: 0 only when the path is valid (TOTAL_PASSED), 1 otherwise.")]
pub struct VerifyCertArgs {
    /// The certificate to validate (PEM or DER; the first of a PEM file).
    cert: PathBuf,
    /// Trust anchor certificate(s) (PEM or DER; repeatable, several per file allowed).
    #[arg(long, required = true)]
    anchor: Vec<PathBuf>,
    /// Untrusted certificates that may help build the path (repeatable).
    #[arg(long)]
    untrusted: Vec<PathBuf>,
    /// Validation time (RFC 3339); default now.
    #[arg(long)]
    at: Option<String>,
    /// Revocation checking.
    #[arg(long, value_enum, default_value = "offline")]
    revocation: RevocationMode,
    /// CRL files (PEM or DER) for `offline` and `online`.
    #[arg(long)]
    crl: Vec<PathBuf>,
    /// A host (`host` or `host:port`) OCSP responses and CRLs may be fetched from, with
    /// `--revocation online` (repeatable).
    #[arg(long = "allow-host", value_name = "HOST")]
    allow_host: Vec<String>,
    /// An acceptable certificate policy OID: the user-initial-policy-set of RFC 5280 §6.1.1
    /// (repeatable; default any policy).
    #[arg(long = "policy", value_name = "OID")]
    policy: Vec<String>,
    /// initial-explicit-policy: the path must be valid for at least one acceptable policy.
    #[arg(long)]
    require_explicit_policy: bool,
    /// initial-policy-mapping-inhibit.
    #[arg(long)]
    inhibit_policy_mapping: bool,
    /// initial-any-policy-inhibit.
    #[arg(long)]
    inhibit_any_policy: bool,
    /// Print the whole report as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run_verify_cert(args: VerifyCertArgs) -> Result<()> {
    let at = args
        .at
        .as_deref()
        .map(|t| OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339))
        .transpose()
        .context("--at must be an RFC 3339 time")?;
    let certificates = |paths: &[PathBuf]| -> Result<Vec<x509_cert::Certificate>> {
        let mut out = Vec::new();
        for p in paths {
            out.extend(parse_certificates(&read(p)?).map_err(|e| anyhow!("{}: {e}", p.display()))?);
        }
        Ok(out)
    };
    let anchors = certificates(&args.anchor)?;
    let untrusted = certificates(&args.untrusted)?;
    let cert = certificates(std::slice::from_ref(&args.cert))?
        .into_iter()
        .next()
        .ok_or_else(|| anyhow!("{}: no certificate", args.cert.display()))?;
    let initial_policy_set = if args.policy.is_empty() {
        None
    } else {
        Some(policy_oids(&args.policy)?)
    };
    let policy = validation::path::PolicyInputs {
        initial_policy_set,
        initial_explicit_policy: args.require_explicit_policy,
        initial_policy_mapping_inhibit: args.inhibit_policy_mapping,
        initial_any_policy_inhibit: args.inhibit_any_policy,
    };
    let revocation = match args.revocation {
        RevocationMode::Online if args.allow_host.is_empty() => {
            bail!("--revocation online needs at least one --allow-host")
        }
        RevocationMode::Online => revocation_source(&args.crl, &args.allow_host)?,
        RevocationMode::Offline | RevocationMode::None => revocation_source(&args.crl, &[])?,
    };
    let validator = Validator::new(
        anchors,
        Vec::new(),
        revocation,
        ca::domain::SigningRules::builtin()?,
        ca::domain::ProfessionTable::builtin()?,
    )?
    .with_policy(validation::ValidationPolicy {
        check_revocation: args.revocation != RevocationMode::None,
        ..validation::ValidationPolicy::default()
    });
    let question = validation::CertificateQuestion {
        at,
        untrusted: &untrusted,
        policy,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = rt.block_on(validator.validate_certificate_with(&cert, &question));
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{}", report.summary);
        println!("path:");
        for (i, c) in report.chain.iter().enumerate() {
            println!("  {i}: {} (serial {})", c.subject, c.serial);
        }
        println!("RFC 5280 checks:");
        for c in &report.path_checks {
            println!(
                "  [{}] {} {}: {}",
                if c.passed { "passed" } else { "FAILED" },
                c.position,
                c.check,
                c.detail
            );
        }
        print_checks(&report.checks);
    }
    verdict(report.indication, report.sub_indication)
}

/// The exit status of a validation: `Ok` only for TOTAL_PASSED, else the indication.
fn verdict(indication: Indication, sub: Option<validation::SubIndication>) -> Result<()> {
    if indication == Indication::TotalPassed {
        return Ok(());
    }
    bail!(
        "{indication}{}",
        sub.map(|s| format!(" / {s}")).unwrap_or_default()
    )
}

fn print_checks(checks: &validation::Checks) {
    for c in &checks.0 {
        println!("  [{:?}] {}: {}", c.result, c.check, c.detail);
    }
}
