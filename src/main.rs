//! `igc`: the command-line entry point of the health-professional PKI.
//!
//! Subcommands only; the work is done by the crates (`hsm-config`, `ca`,
//! `tsa`, `ra-portal`).
#![forbid(unsafe_code)]

mod archive_cmd;
mod augment;
mod ceremony_cmd;
mod cert_cmd;
mod config;
mod credentials;
mod dev;
mod hsm_cmd;
mod operator;
mod pades_cmd;
mod pki;
mod serve;
mod sign_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit codes scripts can rely on.
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// The operation failed (bad input, refused, verification failed).
    pub const FAILED: u8 = 1;
    /// The HSM could not be reached; retrying later may work.
    pub const HSM_UNAVAILABLE: u8 = 3;
}

#[derive(Debug, Parser)]
#[command(
    name = "igc",
    version,
    about = "HSM-backed PKI for French health professionals",
    after_help = "Examples:\n  igc serve --config var/igc.toml\n  igc ceremony check hsm-config/ceremonies/dev/03-root.yaml\n  igc ceremony run hsm-config/ceremonies/dev/03-root.yaml --json\n  igc dev-setup\n\nExit codes: 0 success, 1 failure, 2 usage error, 3 HSM unavailable."
)]
struct Cli {
    /// Configuration file.
    #[arg(
        long,
        global = true,
        default_value = "var/igc.toml",
        env = "IGC_CONFIG"
    )]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the PKI: CA certificates, CRLs, directory, OCSP, TSA, validation API, RA portal.
    #[command(after_help = "Example:\n  igc serve --config var/igc.toml --listen 127.0.0.1:0")]
    Serve(serve::ServeArgs),
    /// Key ceremonies: one reviewable YAML file each.
    #[command(subcommand)]
    Ceremony(ceremony_cmd::CeremonyCommand),
    /// Register and look up professionals.
    #[command(subcommand)]
    Professional(operator::ProfessionalCommand),
    /// The audit journal.
    #[command(subcommand)]
    Audit(operator::AuditCommand),
    /// Certificates: request, approve, issue, revoke, suspend, reinstate, show.
    #[command(subcommand)]
    Cert(cert_cmd::CertCommand),
    /// Certificate revocation lists.
    #[command(subcommand)]
    Crl(cert_cmd::CrlCommand),
    /// Prepare the development token and CA hierarchy under var/ (idempotent).
    #[command(
        after_help = "Example (writes var/ under the current directory):\n  igc dev-setup --ceremonies hsm-config/ceremonies/dev"
    )]
    DevSetup(dev::DevSetupArgs),
    /// Sign a document (CAdES-B, -T, -LT or -LTA) with a key in a PKCS#11 token.
    Sign(sign_cmd::SignArgs),
    /// Extend a CAdES signature (made by anyone) to T, LT or LTA.
    Extend(archive_cmd::ExtendArgs),
    /// Long-term archives of signatures: renew their archive time-stamps.
    #[command(subcommand)]
    Archive(archive_cmd::ArchiveCommand),
    /// Validate a CAdES signature offline (exit 0 only when TOTAL_PASSED).
    Verify(sign_cmd::VerifyArgs),
    /// Validate a certificate's path to trust anchors per RFC 5280 §6.1 (exit 0 only when
    /// valid), like `openssl verify` with this PKI's rules and report.
    VerifyCert(sign_cmd::VerifyCertArgs),
    /// Qualify a PKCS#11 module and token: mechanisms, attributes, sessions, live test.
    #[command(subcommand)]
    Hsm(hsm_cmd::HsmCommand),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(&cli.config, args),
        Command::Ceremony(c) => ceremony_cmd::run(&cli.config, c),
        Command::DevSetup(args) => dev::run(&cli.config, args),
        Command::Professional(c) => operator::professional(&cli.config, c),
        Command::Audit(c) => operator::audit(&cli.config, c),
        Command::Cert(c) => cert_cmd::cert(&cli.config, c),
        Command::Crl(c) => cert_cmd::crl(&cli.config, c),
        Command::Sign(args) => sign_cmd::run_sign(&cli.config, args),
        Command::Verify(args) => sign_cmd::run_verify(args),
        Command::VerifyCert(args) => sign_cmd::run_verify_cert(args),
        Command::Extend(args) => archive_cmd::run_extend(args),
        Command::Archive(c) => archive_cmd::run_archive(c),
        Command::Hsm(c) => hsm_cmd::run(&cli.config, c),
    };
    match result {
        Ok(()) => ExitCode::from(exit::OK),
        Err(e) => {
            eprintln!("error: {e:#}");
            let unavailable = e
                .chain()
                .filter_map(|c| c.downcast_ref::<hsm_config::Error>())
                .any(hsm_config::Error::is_unavailable);
            ExitCode::from(if unavailable {
                exit::HSM_UNAVAILABLE
            } else {
                exit::FAILED
            })
        }
    }
}
