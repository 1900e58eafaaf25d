//! Operator commands against the CA store: `igc professional …`,
//! `igc audit verify`, `igc audit export-anchor`. They open the database named by `--config`
//! directly (the same one a running `igc serve` uses).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::pki::{anchor_trust, open_store};
use anyhow::{bail, Context, Result};
use ca::domain::{IdNatPs, IdentityProofing, ProfessionTable, Professional, ProfessionalStatus};
use ca::status::StatusSinks;
use ca::workflow::Workflow;
use clap::{Args, Subcommand};
use serde::Serialize;

use crate::config::IgcConfig;
use crate::credentials::{lockout_policy, OperatorArgs, Secret};

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

#[derive(Debug, Subcommand)]
pub enum ProfessionalCommand {
    /// Register a professional, with the identity proofing done.
    #[command(
        after_help = "Examples:\n  igc professional add --rpps 10003456788 --surname DUPONT --given-name Jean \\\n      --profession 10 --document-type cni --document-number X4RTBPFW4 --proofing face-to-face \\\n      --actor clerk-a\n  igc professional add … --actor clerk-a --actor-credentials-fd 3 3<clerk-a.credentials\n\nThe actor (a clerk or approver of the profession's Order, or the registration office for\nprofessions without an Order) authenticates with their password and TOTP code: asked on the\nterminal (no echo), or read from --actor-credentials-fd (two lines: password, then code)."
    )]
    Add(Box<AddProfessional>),
    /// Show a professional by IdNat (8 + RPPS, or 0 + ADELI).
    Show {
        /// IdNat_PS.
        idnat: String,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct AddProfessional {
    /// RPPS number (11 digits, Luhn check digit).
    #[arg(long, conflicts_with = "adeli", required_unless_present = "adeli")]
    pub rpps: Option<String>,
    /// ADELI number (legacy).
    #[arg(long)]
    pub adeli: Option<String>,
    /// Surname.
    #[arg(long)]
    pub surname: String,
    /// Given name(s).
    #[arg(long)]
    pub given_name: String,
    /// Profession code (TRE_G15/R94/R95, e.g. 10 médecin, 21 pharmacien).
    #[arg(long)]
    pub profession: String,
    /// Identity document type: cni, passport, titre-de-sejour, permis-de-conduire.
    #[arg(long, default_value = "cni")]
    pub document_type: String,
    /// Identity document number.
    #[arg(long)]
    pub document_number: String,
    /// face-to-face or remote.
    #[arg(long, default_value = "face-to-face")]
    pub proofing: String,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub actor: OperatorArgs,
}

pub fn professional(config: &Path, cmd: ProfessionalCommand) -> Result<()> {
    let cfg = IgcConfig::load(config)?;
    // The registering operator's credentials, read before anything is opened.
    let secret = match &cmd {
        ProfessionalCommand::Add(a) => Some(Secret::read(
            &a.actor.login()?,
            "--actor",
            a.actor.actor_credentials_fd,
        )?),
        ProfessionalCommand::Show { .. } => None,
    };
    let policy = lockout_policy(&cfg);
    runtime()?.block_on(async {
        // Registering authenticates the clerk, whose TOTP secret is sealed by the token.
        let store = match cmd {
            ProfessionalCommand::Add(_) => crate::pki::open_operator_store(&cfg).await?,
            ProfessionalCommand::Show { .. } => open_store(&cfg).await?,
        };
        match cmd {
            ProfessionalCommand::Add(a) => {
                let idnat: IdNatPs = match (&a.rpps, &a.adeli) {
                    (Some(r), None) => format!("8{r}").parse()?,
                    (None, Some(d)) => format!("0{d}").parse()?,
                    _ => bail!("give exactly one of --rpps and --adeli"),
                };
                let table = Arc::new(ProfessionTable::builtin()?);
                let profession = a.profession.parse()?;
                table.get(&profession)?;
                let professional = Professional {
                    idnat: idnat.clone(),
                    surname: a.surname.parse()?,
                    given_names: a.given_name.parse()?,
                    profession,
                    structure: None,
                    status: ProfessionalStatus::Active,
                };
                let (document_type, document_number, mode) = (
                    a.document_type.parse()?,
                    a.document_number.parse()?,
                    a.proofing.parse()?,
                );
                // Input checked: now the operator authenticates, and the workflow decides
                // whether their role and Order let them register this profession.
                let Some(secret) = &secret else {
                    bail!("internal: the operator's credentials were not read");
                };
                let who = secret.authenticate(&store, policy).await?;
                // Registering changes no certificate: no CA, no status sink.
                let workflow = Workflow::new(
                    store.clone(),
                    table,
                    Vec::new(),
                    Arc::new(StatusSinks::none()),
                );
                let proofing = IdentityProofing {
                    document_type,
                    document_number,
                    mode,
                    checked_by: who.login().clone(),
                    checked_at: time::OffsetDateTime::now_utc(),
                };
                workflow.register(&who, &professional, &proofing).await?;
                if a.json {
                    println!(
                        "{}",
                        serde_json::json!({"idnat": idnat.to_string(), "registered": true})
                    );
                } else {
                    println!("registered {idnat}");
                }
            }
            ProfessionalCommand::Show { idnat, json } => {
                let idnat: IdNatPs = idnat.parse()?;
                let Some(p) = store.find_professional(&idnat).await? else {
                    bail!("no professional {idnat}");
                };
                let certs = store.certificates_of(&idnat).await?;
                if json {
                    println!(
                        "{}",
                        serde_json::json!({
                            "professional": p,
                            "certificates": certs.iter().map(|c| serde_json::json!({
                                "serial": c.serial.to_string(),
                                "profile": c.profile,
                                "status": c.status,
                            })).collect::<Vec<_>>(),
                        })
                    );
                } else {
                    println!(
                        "{} {} {} ({})",
                        p.idnat, p.surname, p.given_names, p.profession
                    );
                    for c in certs {
                        println!("  {} {:?} {:?}", c.serial, c.profile, c.status);
                    }
                }
            }
        }
        store.close().await;
        Ok(())
    })
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the hash chain of the audit journal and check every anchor (TSA token over the
    /// head at that entry); print the anchored ranges and the unanchored tail; exit 1 naming
    /// the first broken entry and the anchor covering it, or an invalid anchor.
    #[command(after_help = "Examples:\n  igc audit verify\n  igc audit verify --json")]
    Verify {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Write the anchor of entry N for an independent verifier: the time-stamp token
    /// (anchor-N.tst), the data it time-stamps (anchor-N.dat: entry N as hashed, whose
    /// SHA-256 is the entry's hash), that hash (anchor-N.sha256) and the certificates the
    /// token carries (anchor-N-certs.pem). Existing files are never overwritten.
    #[command(
        after_help = "Example:\n  igc audit export-anchor 1234 --out-dir anchors\n  openssl ts -verify -token_in -in anchors/anchor-1234.tst -data anchors/anchor-1234.dat \\\n      -CAfile var/pki/root.pem -untrusted anchors/anchor-1234-certs.pem"
    )]
    ExportAnchor {
        /// Sequence number of the anchored entry (as `igc audit verify` lists them).
        seq: u64,
        /// Directory to write into (created if missing).
        #[arg(long)]
        out_dir: PathBuf,
    },
}

/// One anchor, as `igc audit verify` reports it.
#[derive(Debug, Serialize)]
struct AnchorReport {
    seq: u64,
    head_hash: String,
    #[serde(with = "time::serde::rfc3339")]
    gen_time: time::OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    created_at: time::OffsetDateTime,
    /// `Some(true)` valid, `Some(false)` invalid, `None` not checked (the chain is broken
    /// before it, so what it should time-stamp is unknown).
    valid: Option<bool>,
    tsa: Option<String>,
    error: Option<String>,
    warnings: Vec<String>,
}

/// Checks every anchor against the encodings the chain walk recomputed.
async fn check_anchors(
    cfg: &IgcConfig,
    store: &ca::storage::Store,
    anchors: &[ca::storage::AuditAnchor],
    chain: &ca::storage::AuditVerification,
    encodings: &BTreeMap<u64, Vec<u8>>,
) -> Result<Vec<AnchorReport>> {
    let trust = if anchors.is_empty() {
        None
    } else {
        Some(anchor_trust(cfg, store).context("the certificates anchors are checked against")?)
    };
    let mut reports = Vec::new();
    for a in anchors {
        let mut r = AnchorReport {
            seq: a.seq,
            head_hash: a.head_hash.clone(),
            gen_time: a.gen_time,
            created_at: a.created_at,
            valid: None,
            tsa: None,
            error: None,
            warnings: Vec::new(),
        };
        if a.seq > chain.head_seq {
            r.valid = Some(false);
            r.error = Some(format!(
                "it anchors entry #{} but the journal ends at #{}: entries were removed",
                a.seq, chain.head_seq
            ));
        } else if let (Some(encoding), Some(trust)) = (encodings.get(&a.seq), &trust) {
            let check = validation::anchor::check_anchor(a, encoding, trust).await;
            r.valid = Some(check.is_valid());
            r.tsa = check.tsa;
            r.error = check.error;
            r.warnings = check.warnings;
        }
        reports.push(r);
    }
    Ok(reports)
}

/// The ranges `[first, last]` each valid anchor covers (from the entry after the previous
/// valid anchor up to its own), and the unanchored tail up to `head`.
fn anchored_ranges(anchors: &[AnchorReport], head: u64) -> (Vec<[u64; 2]>, Option<[u64; 2]>) {
    let mut ranges = Vec::new();
    let mut next = 1;
    for a in anchors.iter().filter(|a| a.valid == Some(true)) {
        ranges.push([next, a.seq]);
        next = a.seq + 1;
    }
    let tail = (next <= head).then_some([next, head]);
    (ranges, tail)
}

pub fn audit(config: &Path, cmd: AuditCommand) -> Result<()> {
    let cfg = IgcConfig::load(config)?;
    match cmd {
        AuditCommand::Verify { json } => runtime()?.block_on(verify_journal(&cfg, json)),
        AuditCommand::ExportAnchor { seq, out_dir } => {
            runtime()?.block_on(export_anchor(&cfg, seq, &out_dir))
        }
    }
}

async fn verify_journal(cfg: &IgcConfig, json: bool) -> Result<()> {
    let store = open_store(cfg).await?;
    let outcome = async {
        let anchors = store
            .audit_anchors()
            .await
            .context("reading the anchors of the audit journal")?;
        let keep: BTreeSet<u64> = anchors.iter().map(|a| a.seq).collect();
        let (v, encodings) = store.verify_audit_chain_keeping(&keep).await?;
        let reports = check_anchors(cfg, &store, &anchors, &v, &encodings).await?;
        anyhow::Ok((v, reports))
    }
    .await;
    store.close().await;
    let (v, reports) = outcome?;
    let (ranges, tail) = anchored_ranges(&reports, v.head_seq);
    // The anchor whose range holds the first broken entry: its token proves the journal up to
    // it existed, intact, at its genTime, so the entry was altered after that time.
    let covering = v.first_broken.as_ref().and_then(|b| {
        reports
            .iter()
            .find(|a| a.seq >= b.seq && a.seq <= v.head_seq)
    });
    if json {
        println!(
            "{}",
            serde_json::json!({
                "entries_checked": v.entries_checked,
                "head_seq": v.head_seq,
                "head_hash": v.head_hash,
                "intact": v.is_intact(),
                "first_broken_seq": v.first_broken_seq(),
                "problem": v.first_broken.as_ref().map(|b| format!("{:?}", b.problem)),
                "broken_anchor_seq": covering.map(|a| a.seq),
                "anchors": reports,
                "anchored": ranges,
                "unanchored": tail,
            })
        );
    }
    let mut problems = Vec::new();
    if let Some(b) = &v.first_broken {
        let place = match covering {
            Some(a) => format!(
                "inside the range anchored by anchor #{} (time-stamped {}), whose token commits to \
                 the entry as it was then",
                a.seq, a.gen_time
            ),
            None => "in the unanchored tail".to_owned(),
        };
        problems.push(format!(
            "audit journal broken at entry #{}: {:?}, {place}",
            b.seq, b.problem
        ));
    }
    for a in reports.iter().filter(|a| a.valid == Some(false)) {
        let error = a.error.as_deref().unwrap_or("invalid");
        problems.push(format!("anchor #{} is not valid: {error}", a.seq));
    }
    if !json {
        if problems.is_empty() {
            println!(
                "audit journal intact: {} entries, head #{}",
                v.entries_checked, v.head_seq
            );
        } else {
            println!(
                "audit journal NOT intact: {} entries checked, head #{}",
                v.entries_checked, v.head_seq
            );
        }
        for (range, a) in ranges
            .iter()
            .zip(reports.iter().filter(|a| a.valid == Some(true)))
        {
            println!(
                "  anchored: #{}..#{} by anchor #{} (genTime {}, TSA {})",
                range[0],
                range[1],
                a.seq,
                a.gen_time,
                a.tsa.as_deref().unwrap_or("?")
            );
            for w in &a.warnings {
                println!("    warning: {w}");
            }
        }
        for a in reports.iter().filter(|a| a.valid.is_none()) {
            println!(
                "  anchor #{}: not checked (the chain is broken before it)",
                a.seq
            );
        }
        match tail {
            Some([first, last]) => println!("  unanchored: #{first}..#{last}"),
            None if v.head_seq == 0 => println!("  (empty journal)"),
            None => {}
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        bail!("{}", problems.join("; "))
    }
}

/// Creates `path` with `bytes`; never overwrites.
pub(crate) fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("creating {} (existing files are kept)", path.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))
}

async fn export_anchor(cfg: &IgcConfig, seq: u64, out_dir: &Path) -> Result<()> {
    let store = open_store(cfg).await?;
    let found = async {
        let anchor = store.audit_anchor(seq).await?;
        let encoding = store.audit_entry_encoding(seq).await?;
        anyhow::Ok((anchor, encoding))
    }
    .await;
    store.close().await;
    let (Some(anchor), encoding) = found? else {
        bail!("no anchor at entry #{seq} (igc audit verify lists the anchors)");
    };
    let Some(encoding) = encoding else {
        bail!("anchor #{seq} exists but journal entry #{seq} does not: entries were removed");
    };
    let certificates = validation::cades::parse_cms(&anchor.token_der)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("anchor #{seq}: the stored token is not a CMS SignedData"))?
        .certificates;
    let mut certs_pem = String::new();
    for c in &certificates {
        use der::Encode as _;
        certs_pem.push_str(&pem::encode(&pem::Pem::new("CERTIFICATE", c.to_der()?)));
    }
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let file = |ext: &str| out_dir.join(format!("anchor-{seq}{ext}"));
    let (tst, dat, digest, certs) = (
        file(".tst"),
        file(".dat"),
        file(".sha256"),
        file("-certs.pem"),
    );
    write_new(&tst, &anchor.token_der)?;
    write_new(&dat, &encoding)?;
    write_new(&digest, format!("{}\n", anchor.head_hash).as_bytes())?;
    write_new(&certs, certs_pem.as_bytes())?;
    let current = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&encoding));
    if current != anchor.head_hash {
        eprintln!(
            "warning: entry #{seq} as stored now does not hash to the anchored head hash: it was \
             altered after it was anchored, and {} will not verify against the token",
            dat.display()
        );
    }
    println!(
        "wrote {} (time-stamp token), {} (entry #{seq} as hashed), {}, {}",
        tst.display(),
        dat.display(),
        digest.display(),
        certs.display()
    );
    println!(
        "verify with: openssl ts -verify -token_in -in {} -data {} -CAfile {} -untrusted {}",
        tst.display(),
        dat.display(),
        cfg.pki.root_certificate.display(),
        certs.display()
    );
    Ok(())
}
