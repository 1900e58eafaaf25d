//! `igc cert …` and `igc crl …`: issuance, revocation and CRLs from the command line,
//! through the same CA objects as `igc serve` (HSM signers, store, CRL publisher). A running
//! server learns of changes made here from the journal (OCSP within `ocsp.poll_interval_ms`,
//! CRLs within `crl.poll_seconds`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use ca::domain::{CaName, IdNatPs, IdNatStruct, Profile, RevocationReason, Serial};
use ca::issuance::IssuedCertificate;
use ca::status::RevocationOutcome;
use ca::storage::{NewRequest, RequestId, RequestSubject};
use ca::workflow::{check_distinct, AuthenticatedOperator, IssueOptions, LockoutPolicy, Workflow};
use clap::{Args, Subcommand};

use crate::config::IgcConfig;
use crate::credentials::{lockout_policy, OperatorArgs, Secret};
use crate::pki::Pki;

#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// File a certificate request for a professional or a structure (first half of the
    /// four-eyes flow; another operator approves it with `igc cert approve`).
    #[command(
        after_help = "Examples:\n  igc cert request --idnat 810003456788 --profile sign --csr sign.csr --actor clerk-a\n  igc cert request --idnat 810003456788 --profile sign --csr sign.csr --actor clerk-a \\\n      --actor-credentials-fd 3 3<clerk-a.credentials\n\nEach operator named (--actor, --approver) authenticates: see `igc cert issue --help`."
    )]
    Request(RequestArgs),
    /// Approve a filed request as a second operator and issue the certificate.
    #[command(
        after_help = "Examples:\n  igc cert approve --request 12 --out sign.pem --actor approb-b\n  igc cert approve --request 12 --out sign.pem --actor approb-b --actor-credentials-fd 3 \\\n      3<approb-b.credentials\n\nThe actor (an approver of the professional's Order, not the operator who filed) authenticates\nwith their password and TOTP code: see `igc cert issue --help`."
    )]
    Approve {
        /// Request id printed by `igc cert request`.
        #[arg(long)]
        request: i64,
        #[command(flatten)]
        out: OutArgs,
        #[command(flatten)]
        actor: OperatorArgs,
    },
    /// Reject a filed request (an approver of the professional's Order, authenticated).
    #[command(
        after_help = "Example:\n  igc cert reject --request 12 --reason \"wrong key usage\" --actor approb-b"
    )]
    Reject {
        #[arg(long)]
        request: i64,
        /// Why (recorded in the journal).
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        actor: OperatorArgs,
    },
    /// File, approve and issue in one step: `--actor` files, `--approver` (a different
    /// operator, present at the terminal) approves; both authenticate. Both are recorded in
    /// the journal.
    #[command(
        after_help = "Examples:\n  igc cert issue --idnat 810003456788 --profile auth --csr auth.csr --out auth.pem \\\n      --actor clerk-a --approver approb-b\n  igc cert issue --idnat 810003456788 --profile auth --csr auth.csr --out auth.pem \\\n      --actor clerk-a --actor-credentials-fd 3 --approver approb-b --approver-credentials-fd 4 \\\n      3<clerk-a.credentials 4<approb-b.credentials\n  igc cert issue --idnat 1750000001 --profile server --dns www.chu.test --csr srv.csr \\\n      --out srv.pem --actor bureau-a --approver bureau-b --json\n\nEach operator named (--actor, --approver) authenticates with their password and TOTP code:\nasked on the terminal (no echo), or read from the descriptor given by --actor-credentials-fd /\n--approver-credentials-fd (two lines: password, then code). Without a terminal or a\ndescriptor, nothing is done. The actor must be a clerk or approver of the professional's\nOrder (the registration office for professions without an Order, for structures and RA\noperators); the approver an approver of that Order (or the registration office), never the\nactor. Exit codes: 0 issued, 1 refused or failed (nothing written when refused before\nfiling), 2 usage error, 3 HSM unavailable."
    )]
    Issue {
        #[command(flatten)]
        request: RequestArgs,
        /// Login of the second operator, who approves (authenticates too).
        #[arg(long)]
        approver: String,
        /// Read the approver's password and TOTP code from this open file descriptor (two
        /// lines) instead of the terminal.
        #[arg(long, value_name = "FD")]
        approver_credentials_fd: Option<u32>,
        #[command(flatten)]
        out: OutArgs,
    },
    /// Revoke a certificate with an RFC 5280 reason.
    #[command(
        after_help = "Example:\n  igc cert revoke --serial 5f3a…e1 --reason keyCompromise --actor clerk-a\n  igc cert revoke --serial 5f3a…e1 --reason keyCompromise --actor clerk-a \\\n      --actor-credentials-fd 3 3<clerk-a.credentials\n\nThe actor (a clerk or approver of the holder's Order; the registration office for\nstructures, RA operators and professions without an Order) authenticates with their password\nand TOTP code (terminal, or descriptor).\n\nReasons: unspecified, keyCompromise, cACompromise, affiliationChanged, superseded,\ncessationOfOperation, privilegeWithdrawn, aACompromise (use `suspend` for certificateHold)."
    )]
    Revoke {
        /// Serial number (hex, as printed by `issue`).
        #[arg(long)]
        serial: String,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        common: ChangeArgs,
    },
    /// Suspend a certificate (certificateHold; undone by `reinstate`).
    #[command(
        after_help = "Example:\n  igc cert suspend --serial 5f3a…e1 --actor clerk-a --actor-credentials-fd 3 3<clerk-a.credentials\n\nThe actor authenticates (see `igc cert revoke --help`)."
    )]
    Suspend {
        #[arg(long)]
        serial: String,
        #[command(flatten)]
        common: ChangeArgs,
    },
    /// Suspend every certificate of a professional whose card was lost or stolen (they call
    /// their Order without their revocation code): a loss declaration that an operator then
    /// confirms (revocation keyCompromise) or lifts, in the portal or its API.
    #[command(
        name = "suspend-all",
        after_help = "Examples:\n  igc cert suspend-all --idnat 810003456788 --actor clerk-a\n  igc cert suspend-all --idnat 810003456788 --actor clerk-a --actor-credentials-fd 3 --json \\\n      3<clerk-a.credentials\n\nThe actor (a clerk or approver of the professional's Order; the registration office for\nprofessions without an Order) authenticates (see `igc cert revoke --help`). Every\ncertificate still good is suspended at once (certificateHold): OCSP answers it, the CRLs\nare signed again. Exit codes: 0 done (also when nothing was left to suspend), 1 refused or\nfailed (nothing written)."
    )]
    SuspendAll {
        /// IdNat of the professional (8+RPPS, 0+ADELI).
        #[arg(long)]
        idnat: String,
        #[command(flatten)]
        common: ChangeArgs,
    },
    /// Lift a suspension: the certificate leaves the next CRLs and OCSP says good again.
    #[command(
        after_help = "Example:\n  igc cert reinstate --serial 5f3a…e1 --actor clerk-a\n\nThe actor authenticates (see `igc cert revoke --help`)."
    )]
    Reinstate {
        #[arg(long)]
        serial: String,
        #[command(flatten)]
        common: ChangeArgs,
    },
    /// Show a certificate's record.
    Show {
        #[arg(long)]
        serial: String,
        /// Print the certificate as PEM instead of a summary.
        #[arg(long)]
        pem: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct RequestArgs {
    /// IdNat of the professional (8+RPPS, 0+ADELI) or, for `server`, of the structure.
    #[arg(long)]
    pub idnat: String,
    /// auth, sign, conf, server or ra-operator.
    #[arg(long)]
    pub profile: String,
    /// PKCS#10 request, PEM or DER (made on the holder's device; its signature proves
    /// possession of the key).
    #[arg(long)]
    pub csr: PathBuf,
    /// Server profile: DNS names (the first one becomes the CN). Repeatable.
    #[arg(long = "dns")]
    pub dns_names: Vec<String>,
    /// Issuing CA (its `name` in igc.toml), when several issue the profile.
    #[arg(long)]
    pub ca: Option<String>,
    /// Renewal: serial of the certificate this one replaces (superseded once issued).
    #[arg(long)]
    pub renews: Option<String>,
    #[command(flatten)]
    pub actor: OperatorArgs,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct OutArgs {
    /// Where to write the certificate (PEM); never overwritten.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct ChangeArgs {
    #[command(flatten)]
    pub actor: OperatorArgs,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum CrlCommand {
    /// Sign fresh CRLs (full CRL and live partitions of every CA) now and optionally write
    /// them as files. CRL numbers come from the database: they keep increasing across
    /// restarts and instances.
    #[command(after_help = "Example:\n  igc crl generate --out-dir /srv/crl --json")]
    Generate {
        /// Directory to write `{file}.crl` (DER) into.
        #[arg(long)]
        out_dir: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

fn open(config: &Path) -> Result<(IgcConfig, tokio::runtime::Runtime)> {
    let cfg = IgcConfig::load(config)?;
    cfg.export_softhsm_conf();
    Ok((cfg, runtime()?))
}

fn subject_of(idnat: &str, profile: Profile) -> Result<RequestSubject> {
    Ok(match profile {
        Profile::Server => RequestSubject::Structure(
            idnat
                .parse::<IdNatStruct>()
                .with_context(|| format!("--idnat {idnat:?} is not a structure IdNat"))?,
        ),
        Profile::RaOperator => RequestSubject::Operator(idnat.parse()?),
        _ => RequestSubject::Professional(
            idnat
                .parse::<IdNatPs>()
                .with_context(|| format!("--idnat {idnat:?} is not a professional IdNat"))?,
        ),
    })
}

/// Checks a request before anything is written: profile, issuing CA, CSR (proof of
/// possession, key policy), subject identifier.
async fn prepare(pki: &Pki, a: &RequestArgs) -> Result<NewRequest> {
    let profile: Profile = a.profile.parse()?;
    if !profile.is_requestable() {
        bail!("the {profile} profile is issued by ceremonies, not by request");
    }
    // The issuing CA must exist before anything is written.
    pki.issuer_for(profile, a.ca.as_deref())?;
    let bytes = std::fs::read(&a.csr).with_context(|| format!("reading {}", a.csr.display()))?;
    ca::issuance::check_csr(&bytes)
        .with_context(|| format!("{} is not an acceptable CSR", a.csr.display()))?;
    // Stored as DER; check_csr has just parsed the PEM form, so this cannot fail on input
    // it accepted, but the error is still reported rather than assumed away.
    let der = if bytes.starts_with(b"-----") {
        pem::parse(&bytes)
            .with_context(|| format!("{} is not PEM", a.csr.display()))?
            .into_contents()
    } else {
        bytes
    };
    let subject = subject_of(&a.idnat, profile)?;
    // An unknown professional is an input error, reported before anybody authenticates.
    if let RequestSubject::Professional(idnat) = &subject {
        if pki.store.find_professional(idnat).await?.is_none() {
            return Err(ca::Error::ProfessionalNotFound {
                idnat: idnat.to_string(),
            }
            .into());
        }
    }
    Ok(NewRequest {
        profile,
        subject,
        csr_der: der,
    })
}

/// Issues approved request `id` through the workflow, as `who`, by the CA named in the
/// configuration (`ca_name`) or the only one that issues its profile.
async fn issue(
    pki: &Pki,
    workflow: &Workflow,
    who: &AuthenticatedOperator,
    id: RequestId,
    ca_name: Option<&str>,
    dns_names: Vec<String>,
    renews: Option<&str>,
) -> Result<IssuedCertificate> {
    let Some(req) = pki.store.request(id).await? else {
        bail!("no request {id}");
    };
    let ca = pki.issuer_for(req.profile, ca_name)?;
    let renewal_of = renews.map(str::parse::<Serial>).transpose()?;
    let options = IssueOptions {
        issuer: Some(ca.name().clone()),
        dns_names,
        renewal_of,
    };
    Ok(workflow.issue(who, id, options).await?)
}

/// Writes `text` to `path` all at once: a crash leaves either no file or the whole file
/// (written beside it, then hard-linked into place, which also refuses to overwrite).
fn write_new(path: &Path, text: &str) -> Result<()> {
    use std::io::Write as _;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::hard_link(&tmp, path)
            .with_context(|| format!("creating {} (never overwritten)", path.display()))
    })();
    let _ = std::fs::remove_file(&tmp);
    result
}

fn report_issued(c: &IssuedCertificate, out: &Path, request: RequestId, json: bool) -> Result<()> {
    write_new(out, &c.pem())?;
    if json {
        let mut v = serde_json::to_value(c)?;
        v["request"] = serde_json::json!(request.0);
        v["out"] = serde_json::json!(out.display().to_string());
        if let Some(code) = &c.revocation_code {
            v["revocation_code"] = serde_json::json!(code.reveal());
        }
        println!("{v}");
    } else {
        println!(
            "issued {} serial {} ({}), valid until {}, written to {}",
            c.profile,
            c.serial,
            c.subject,
            c.not_after,
            out.display()
        );
        if let Some(code) = &c.revocation_code {
            println!(
                "revocation code for the professional (shown once; it suspends their \
                 certificates if the card is lost): {}",
                code.reveal()
            );
        }
    }
    Ok(())
}

fn report_change(what: &str, o: &RevocationOutcome, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::json!({
                "action": what,
                "serials": o.serials.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                "crls": o.crls.iter().map(|c| serde_json::json!({"file": c.file_name, "number": c.number})).collect::<Vec<_>>(),
                "crl_error": o.crl_error.as_ref().map(|e| e.to_string()),
            })
        );
    } else {
        for s in &o.serials {
            println!("{what} {s}");
        }
        for c in &o.crls {
            println!("  CRL {} number {}", c.file_name, c.number);
        }
    }
    if let Some(e) = &o.crl_error {
        eprintln!("warning: the change is recorded but a CRL could not be signed now ({e}); the scheduled regeneration will retry");
    }
}

/// The issuer (the root) of certificate `serial` when it is a sub-CA: its status is published
/// by the root's ARL, which no online CA signs.
async fn sub_ca_issuer(pki: &Pki, serial: &Serial) -> Result<Option<CaName>> {
    Ok(pki
        .store
        .certificate(serial)
        .await?
        .filter(|c| c.profile == Profile::SubCa)
        .map(|c| c.issuer))
}

/// The outcome of a status change of a sub-CA of `root`: no online CA signs a CRL for the
/// root, so the publisher's "unknown CA" for it is not a failure; the people revoking are told
/// where the change is published instead.
fn published_by_arl(mut o: RevocationOutcome, root: Option<CaName>) -> RevocationOutcome {
    let Some(root) = root else {
        return o;
    };
    if matches!(&o.crl_error, Some(ca::Error::UnknownCa { name }) if *name == root.as_str()) {
        o.crl_error = None;
    }
    for s in &o.serials {
        eprintln!(
            "sub-CA {s} is changed in the CA database; the root's ARL ({root}) shows it from the \
             root's next crl ceremony, run where the CA database is reachable (`igc ceremony run` \
             of the root's crl ceremony file)"
        );
    }
    o
}

/// The credentials every operator named by `cmd` must give, read (terminal or descriptor)
/// before anything is opened.
fn credentials_of(cmd: &CertCommand) -> Result<Vec<Secret>> {
    Ok(match cmd {
        CertCommand::Request(a) => {
            vec![Secret::read(
                &a.actor.login()?,
                "--actor",
                a.actor.actor_credentials_fd,
            )?]
        }
        CertCommand::Approve { actor, .. } | CertCommand::Reject { actor, .. } => {
            vec![Secret::read(
                &actor.login()?,
                "--actor",
                actor.actor_credentials_fd,
            )?]
        }
        CertCommand::Issue {
            request,
            approver,
            approver_credentials_fd,
            out,
        } => {
            if out.out.exists() {
                bail!("{} exists (never overwritten)", out.out.display());
            }
            let clerk = request.actor.login()?;
            // Four eyes, before anybody is asked for anything.
            check_distinct(&clerk, approver)?;
            vec![
                Secret::read(&clerk, "--actor", request.actor.actor_credentials_fd)?,
                Secret::read(approver, "--approver", *approver_credentials_fd)?,
            ]
        }
        CertCommand::Revoke { common, .. }
        | CertCommand::Suspend { common, .. }
        | CertCommand::SuspendAll { common, .. }
        | CertCommand::Reinstate { common, .. } => vec![Secret::read(
            &common.actor.login()?,
            "--actor",
            common.actor.actor_credentials_fd,
        )?],
        CertCommand::Show { .. } => Vec::new(),
    })
}

pub fn cert(config: &Path, cmd: CertCommand) -> Result<()> {
    let (cfg, rt) = open(config)?;
    let secrets = credentials_of(&cmd)?;
    let policy = lockout_policy(&cfg);
    rt.block_on(async {
        let pki = Pki::open(&cfg).await?;
        let r = run_cert(&pki, cmd, &secrets, policy).await;
        pki.store.close().await;
        r
    })
}

async fn run_cert(
    pki: &Pki,
    cmd: CertCommand,
    secrets: &[Secret],
    policy: LockoutPolicy,
) -> Result<()> {
    // Status changes made here republish the CRLs at once; a running server's OCSP learns of
    // them from the journal.
    let workflow = pki.workflow(pki.publisher.clone());
    let operator = |i: usize| {
        secrets
            .get(i)
            .context("internal: the operator's credentials were not read")
    };
    match cmd {
        CertCommand::Request(a) => {
            let request = prepare(pki, &a).await?;
            let profile = request.profile;
            let clerk = operator(0)?.authenticate(&pki.store, policy).await?;
            let id = workflow.file(&clerk, &request).await?;
            if a.json {
                println!(
                    "{}",
                    serde_json::json!({"request": id.0, "profile": profile, "status": "filed"})
                );
            } else {
                println!("request {id} filed ({profile}); another operator approves it with: igc cert approve --request {id} --out FILE");
            }
        }
        CertCommand::Approve { request, out, .. } => {
            if out.out.exists() {
                bail!("{} exists (never overwritten)", out.out.display());
            }
            let approver = operator(0)?.authenticate(&pki.store, policy).await?;
            let id = RequestId(request);
            workflow.approve(&approver, id).await?;
            let c = issue(pki, &workflow, &approver, id, None, Vec::new(), None).await?;
            report_issued(&c, &out.out, id, false)?;
        }
        CertCommand::Reject {
            request, reason, ..
        } => {
            let decider = operator(0)?.authenticate(&pki.store, policy).await?;
            workflow
                .reject(&decider, RequestId(request), &reason)
                .await?;
            println!("request {request} rejected");
        }
        CertCommand::Issue {
            request: a, out, ..
        } => {
            let request = prepare(pki, &a).await?;
            let clerk = operator(0)?.authenticate(&pki.store, policy).await?;
            let approver = operator(1)?.authenticate(&pki.store, policy).await?;
            // Role, Order and four eyes are checked before the request is filed.
            let id = workflow
                .file_and_approve(&clerk, &approver, &request)
                .await?;
            let c = issue(
                pki,
                &workflow,
                &approver,
                id,
                a.ca.as_deref(),
                a.dns_names.clone(),
                a.renews.as_deref(),
            )
            .await?;
            report_issued(&c, &out.out, id, a.json)?;
        }
        CertCommand::Revoke {
            serial,
            reason,
            common,
        } => {
            let reason: RevocationReason = reason.parse()?;
            if reason == RevocationReason::CertificateHold {
                bail!("certificateHold is a suspension: use `igc cert suspend`");
            }
            let serial: Serial = serial.parse()?;
            let who = operator(0)?.authenticate(&pki.store, policy).await?;
            let sub_ca = sub_ca_issuer(pki, &serial).await?;
            let o = workflow.revoke(&who, &serial, reason).await?;
            report_change("revoked", &published_by_arl(o, sub_ca), common.json);
        }
        CertCommand::Suspend { serial, common } => {
            let serial: Serial = serial.parse()?;
            let who = operator(0)?.authenticate(&pki.store, policy).await?;
            let sub_ca = sub_ca_issuer(pki, &serial).await?;
            let o = workflow.suspend(&who, &serial).await?;
            report_change("suspended", &published_by_arl(o, sub_ca), common.json);
        }
        CertCommand::SuspendAll { idnat, common } => {
            let idnat: IdNatPs = idnat
                .parse()
                .with_context(|| format!("--idnat {idnat:?} is not a professional's IdNat"))?;
            let who = operator(0)?.authenticate(&pki.store, policy).await?;
            let done = workflow.suspend_all(&who, &idnat).await?;
            let d = &done.declaration;
            if common.json {
                println!(
                    "{}",
                    serde_json::json!({
                        "action": "suspended-all",
                        "declaration": d.id,
                        "professional": d.professional.to_string(),
                        "serials": d.serials.iter().map(ToString::to_string).collect::<Vec<_>>(),
                        "crl_error": done.outcome.crl_error.as_ref().map(ToString::to_string),
                    })
                );
            } else {
                println!(
                    "loss declaration {} for {}: {} certificate(s) suspended{}",
                    d.id,
                    d.professional,
                    d.serials.len(),
                    match &done.outcome.crl_error {
                        None => String::new(),
                        Some(e) => format!(" (CRLs not republished yet: {e})"),
                    }
                );
            }
        }
        CertCommand::Reinstate { serial, common } => {
            let serial: Serial = serial.parse()?;
            let who = operator(0)?.authenticate(&pki.store, policy).await?;
            let sub_ca = sub_ca_issuer(pki, &serial).await?;
            let o = workflow.reinstate(&who, &serial).await?;
            report_change("reinstated", &published_by_arl(o, sub_ca), common.json);
        }
        CertCommand::Show { serial, pem, json } => {
            let serial: Serial = serial.parse()?;
            let Some(c) = pki.store.certificate(&serial).await? else {
                bail!("no certificate with serial {serial}");
            };
            if pem {
                print!(
                    "{}",
                    pem::encode(&pem::Pem::new("CERTIFICATE", c.der.clone()))
                );
            } else if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "serial": c.serial.to_string(),
                        "issuer": c.issuer.to_string(),
                        "profile": c.profile,
                        "subject": c.subject,
                        "status": c.status,
                        "not_before": c.not_before.unix_timestamp(),
                        "not_after": c.not_after.unix_timestamp(),
                        "superseded_by": c.superseded_by.as_ref().map(|s| s.to_string()),
                    })
                );
            } else {
                println!("{} {} {:?} {}", c.serial, c.profile, c.status, c.subject);
            }
        }
    }
    Ok(())
}

pub fn crl(config: &Path, cmd: CrlCommand) -> Result<()> {
    let CrlCommand::Generate { out_dir, json } = cmd;
    let (cfg, rt) = open(config)?;
    rt.block_on(async {
        let pki = Pki::open(&cfg).await?;
        if !json {
            eprintln!("signing CRLs for {} CA(s)…", pki.cas.len());
        }
        let crls = pki.publisher.regenerate_all().await;
        pki.store.close().await;
        let crls = crls?;
        if let Some(dir) = &out_dir {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            for c in &crls {
                let path = dir.join(&c.file_name);
                let tmp = dir.join(format!(".{}.tmp", c.file_name));
                std::fs::write(&tmp, &c.der)?;
                std::fs::rename(&tmp, &path)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
        }
        if json {
            println!(
                "{}",
                serde_json::to_string(&crls.iter().map(|c| &**c).collect::<Vec<_>>())?
            );
        } else {
            // Full CRLs one per line; partitions summarised (there is one per validity window).
            for c in crls.iter().filter(|c| c.scope == ca::crl::CrlScope::Full) {
                let parts: Vec<_> = crls
                    .iter()
                    .filter(|p| p.ca == c.ca && p.scope != ca::crl::CrlScope::Full)
                    .collect();
                println!(
                    "{}: number {}, {} entries, next update {}; {} partition CRLs{}",
                    c.file_name,
                    c.number,
                    c.entries,
                    c.next_update,
                    parts.len(),
                    match (parts.first(), parts.last()) {
                        (Some(a), Some(b)) => format!(" ({} … {})", a.file_name, b.file_name),
                        _ => String::new(),
                    }
                );
            }
        }
        Ok(())
    })
}
