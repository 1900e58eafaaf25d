//! Operator commands against the CA store: `igc professional …`,
//! `igc audit verify`. They open the database named by `--config`
//! directly (the same one a running `igc serve` uses).

use std::path::Path;

use crate::pki::open_store;
use anyhow::{bail, Result};
use ca::domain::{IdNatPs, IdentityProofing, ProfessionTable, Professional, ProfessionalStatus};
use ca::workflow::Workflow;
use clap::{Args, Subcommand};

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
        let store = open_store(&cfg).await?;
        match cmd {
            ProfessionalCommand::Add(a) => {
                let idnat: IdNatPs = match (&a.rpps, &a.adeli) {
                    (Some(r), None) => format!("8{r}").parse()?,
                    (None, Some(d)) => format!("0{d}").parse()?,
                    _ => bail!("give exactly one of --rpps and --adeli"),
                };
                let table = ProfessionTable::builtin()?;
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
                Workflow::new(&store, &table).check_register(&who, &professional.profession)?;
                let actor = who.actor()?;
                let proofing = IdentityProofing {
                    document_type,
                    document_number,
                    mode,
                    checked_by: actor.id.clone(),
                    checked_at: time::OffsetDateTime::now_utc(),
                };
                store
                    .register_professional(&professional, &proofing, &actor)
                    .await?;
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
    /// Walk the hash chain of the audit journal; exit 1 naming the first broken entry.
    #[command(after_help = "Example:\n  igc audit verify --json")]
    Verify {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

pub fn audit(config: &Path, cmd: AuditCommand) -> Result<()> {
    let cfg = IgcConfig::load(config)?;
    let AuditCommand::Verify { json } = cmd;
    runtime()?.block_on(async {
        let store = open_store(&cfg).await?;
        let v = store.verify_audit_chain().await?;
        store.close().await;
        if json {
            println!(
                "{}",
                serde_json::json!({
                    "entries_checked": v.entries_checked,
                    "head_seq": v.head_seq,
                    "intact": v.is_intact(),
                    "first_broken_seq": v.first_broken_seq(),
                    "problem": v.first_broken.as_ref().map(|b| format!("{:?}", b.problem)),
                })
            );
        }
        match &v.first_broken {
            None => {
                if !json {
                    println!(
                        "audit journal intact: {} entries, head #{}",
                        v.entries_checked, v.head_seq
                    );
                }
                Ok(())
            }
            Some(b) => bail!("audit journal broken at entry #{}: {:?}", b.seq, b.problem),
        }
    })
}
