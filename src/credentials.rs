//! Operator credentials on the command line: every operator named by a command that files,
//! approves or rejects a certificate request authenticates, with their password and TOTP
//! code, read from the terminal without echo, or from a file descriptor for scripts
//! (`--actor-credentials-fd 3`: the password on the first line, the code on the second).
//!
//! The credentials are read before anything is opened or written; never from the command
//! line, never logged. They are checked by `ca::workflow` with the portal's rules.

use std::fs::{File, OpenOptions};
use std::io::{BufRead as _, BufReader, IsTerminal as _, Read as _, Write as _};

use anyhow::{bail, Context as _, Result};
use ca::storage::Store;
use ca::workflow::{AuthenticatedOperator, LockoutPolicy};
use clap::Args;
use zeroize::Zeroizing;

use crate::config::IgcConfig;

/// How the journal records an operator who authenticated on the command line.
pub const AUTH_CLI_PASSWORD_TOTP: &str = "cli:password+totp";

/// Longest credentials file read from a descriptor.
const MAX_CREDENTIALS_LEN: u64 = 4096;

/// The operator acting, who authenticates.
#[derive(Debug, Args)]
pub struct OperatorArgs {
    /// Login of the operator acting (default: $USER). They authenticate with their password
    /// and TOTP code, asked on the terminal.
    #[arg(long)]
    pub actor: Option<String>,
    /// Read the actor's password and TOTP code from this open file descriptor (two lines:
    /// password, then code) instead of the terminal — for scripts.
    #[arg(long, value_name = "FD")]
    pub actor_credentials_fd: Option<u32>,
}

impl OperatorArgs {
    pub fn login(&self) -> Result<String> {
        let login = self
            .actor
            .clone()
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_default();
        if login.trim().is_empty() {
            bail!("name the operator acting with --actor LOGIN");
        }
        Ok(login.trim().to_owned())
    }
}

/// A password and a TOTP code, wiped from memory when dropped.
pub struct Secret {
    login: String,
    password: Zeroizing<String>,
    totp: Zeroizing<String>,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secret")
            .field("login", &self.login)
            .finish_non_exhaustive()
    }
}

impl Secret {
    /// Reads the credentials of `login` (named by `option`, e.g. `--actor`) from descriptor
    /// `fd`, or else from the terminal; refuses when there is neither.
    pub fn read(login: &str, option: &str, fd: Option<u32>) -> Result<Secret> {
        match fd {
            Some(fd) => from_fd(login, option, fd),
            None if std::io::stdin().is_terminal() => from_terminal(login, option),
            None => bail!(
                "no terminal to ask the password and TOTP code of operator {login} ({option}): \
                 run interactively, or give {option}-credentials-fd N with the password and \
                 the code on two lines of descriptor N; nothing was done"
            ),
        }
    }

    /// Checks the credentials (a refusal is journaled and counted by the store).
    pub async fn authenticate(
        &self,
        store: &Store,
        policy: LockoutPolicy,
    ) -> Result<AuthenticatedOperator> {
        Ok(AuthenticatedOperator::with_password_totp(
            store,
            &self.login,
            &self.password,
            &self.totp,
            policy,
            AUTH_CLI_PASSWORD_TOTP,
        )
        .await?)
    }
}

/// Lockout after repeated failures: the portal's settings (`[portal]`), or its defaults.
pub fn lockout_policy(cfg: &IgcConfig) -> LockoutPolicy {
    let portal = cfg.portal.clone().unwrap_or_default();
    LockoutPolicy {
        max_failures: portal.max_failed_logins,
        lock_for: time::Duration::seconds(i64::try_from(portal.lockout_secs).unwrap_or(900)),
    }
}

fn parse(login: &str, text: &str, whence: &str) -> Result<Secret> {
    let mut lines = text.lines().map(|l| l.strip_suffix('\r').unwrap_or(l));
    let password = Zeroizing::new(lines.next().unwrap_or_default().to_owned());
    let totp = Zeroizing::new(lines.next().unwrap_or_default().trim().to_owned());
    if password.is_empty() || totp.is_empty() {
        bail!(
            "{whence}: expected the password of operator {login} on the first line and the TOTP \
             code on the second; nothing was done"
        );
    }
    Ok(Secret {
        login: login.to_owned(),
        password,
        totp,
    })
}

fn from_fd(login: &str, option: &str, fd: u32) -> Result<Secret> {
    let whence = format!("{option}-credentials-fd {fd}");
    // /dev/fd/N opens the descriptor the caller left open for us (a pipe or a file).
    let file = File::open(format!("/dev/fd/{fd}")).with_context(|| {
        format!("{whence}: descriptor {fd} is not open for reading; nothing was done")
    })?;
    let mut text = Zeroizing::new(String::new());
    file.take(MAX_CREDENTIALS_LEN + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("{whence}: cannot read the credentials"))?;
    if text.len() as u64 > MAX_CREDENTIALS_LEN {
        bail!("{whence}: more than {MAX_CREDENTIALS_LEN} bytes; nothing was done");
    }
    parse(login, &text, &whence)
}

/// Echo off on the terminal until dropped.
struct NoEcho<'a> {
    tty: &'a File,
    saved: rustix::termios::Termios,
}

impl<'a> NoEcho<'a> {
    fn new(tty: &'a File) -> Result<Self> {
        use rustix::termios::{tcgetattr, tcsetattr, LocalModes, OptionalActions};
        let saved = tcgetattr(tty).context("reading the terminal's settings")?;
        let mut silent = saved.clone();
        silent.local_modes.remove(LocalModes::ECHO);
        silent.local_modes.insert(LocalModes::ECHONL);
        tcsetattr(tty, OptionalActions::Flush, &silent).context("turning echo off")?;
        Ok(NoEcho { tty, saved })
    }
}

impl Drop for NoEcho<'_> {
    fn drop(&mut self) {
        use rustix::termios::{tcsetattr, OptionalActions};
        if tcsetattr(self.tty, OptionalActions::Now, &self.saved).is_err() {
            eprintln!("warning: could not turn the terminal's echo back on (run `stty echo`)");
        }
    }
}

fn from_terminal(login: &str, option: &str) -> Result<Secret> {
    let tty = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .with_context(|| {
            format!(
                "no terminal to ask the credentials of operator {login} ({option}); give \
                 {option}-credentials-fd N; nothing was done"
            )
        })?;
    let ask = |prompt: &str| -> Result<Zeroizing<String>> {
        (&tty).write_all(prompt.as_bytes())?;
        (&tty).flush()?;
        let _quiet = NoEcho::new(&tty)?;
        let mut line = Zeroizing::new(String::new());
        BufReader::new(&tty).read_line(&mut line)?;
        Ok(Zeroizing::new(
            line.trim_end_matches(['\r', '\n']).to_owned(),
        ))
    };
    let password = ask(&format!("Password of operator {login} ({option}): "))?;
    let totp = ask(&format!("TOTP code of operator {login} ({option}): "))?;
    let text = Zeroizing::new(format!("{}\n{}\n", *password, *totp));
    parse(login, &text, "terminal")
}
