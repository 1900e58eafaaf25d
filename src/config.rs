//! `igc.toml`: the configuration every subcommand reads (`--config`).
//!
//! Relative paths inside the file are relative to the file's own directory,
//! so `var/igc.toml` can say `pki/root.pem` and work from any working
//! directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IgcConfig {
    /// HTTP listener for the public services.
    pub server: ServerConfig,
    /// The online token.
    pub hsm: hsm_config::HsmConfig,
    /// Published PKI material.
    pub pki: PkiConfig,
    /// The issuing CAs (CA Personnes, CA Organisations).
    #[serde(default, rename = "ca")]
    pub cas: Vec<CaConfig>,
    /// Where the CA state lives.
    pub database: DatabaseConfig,
    /// The OCSP responder (defaults apply when the table is absent).
    #[serde(default)]
    pub ocsp: ca::ocsp::OcspConfig,
    /// The time-stamping authority; absent = no `/tsa` endpoint.
    #[serde(default)]
    pub tsa: Option<tsa::TsaConfig>,
    /// The RA portal (its own TLS listener); absent = not served.
    #[serde(default)]
    pub portal: Option<ra_portal::PortalConfig>,
    /// The audit journal (defaults apply when the table is absent).
    #[serde(default)]
    pub audit: AuditConfig,
    /// Limits of the validation service and what it may fetch (defaults apply when the
    /// table is absent).
    #[serde(default)]
    pub validation: ValidationConfig,
}

/// `[validation]`: the limits of one validation ([`validation::ValidationLimits`], the keys of
/// the table itself) and `[validation.fetch]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationConfig {
    /// The limits.
    pub limits: validation::ValidationLimits,
    /// `[validation.fetch]`.
    pub fetch: FetchConfig,
}

impl<'de> Deserialize<'de> for ValidationConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        // The limits keep their own unknown-key refusal: `fetch` is taken out first.
        let mut table = toml::Table::deserialize(d)?;
        let fetch = match table.remove("fetch") {
            Some(v) => FetchConfig::deserialize(v)
                .map_err(|e| D::Error::custom(format!("[validation.fetch]: {e}")))?,
            None => FetchConfig::default(),
        };
        let limits = validation::ValidationLimits::deserialize(toml::Value::Table(table))
            .map_err(D::Error::custom)?;
        Ok(ValidationConfig { limits, fetch })
    }
}

/// `[validation.fetch]`: where the validator may fetch revocation evidence (OCSP at the AIA,
/// CRLs at the CDP of the certificates). No host listed: no network access.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FetchConfig {
    /// `host` or `host:port`, compared exactly.
    pub allow_hosts: Vec<String>,
    /// Time for one exchange, connection included, in ms; 100..=60000.
    pub timeout_ms: u64,
    /// Largest response accepted, in bytes; 1024..=67108864.
    pub max_bytes: usize,
}

impl Default for FetchConfig {
    fn default() -> Self {
        let p = validation::evidence::FetchPolicy::default();
        FetchConfig {
            allow_hosts: p.allow_hosts,
            timeout_ms: u64::try_from(p.timeout.as_millis()).unwrap_or(u64::MAX),
            max_bytes: p.max_bytes,
        }
    }
}

impl FetchConfig {
    /// Refuses values out of bounds and host entries that are not `host` or `host:port`.
    pub fn validate(&self) -> Result<()> {
        if !(100..=60_000).contains(&self.timeout_ms) {
            bail!(
                "timeout_ms must be between 100 and 60000 (got {})",
                self.timeout_ms
            );
        }
        if !(1024..=64 * 1024 * 1024).contains(&self.max_bytes) {
            bail!(
                "max_bytes must be between 1024 and 67108864 (got {})",
                self.max_bytes
            );
        }
        for h in &self.allow_hosts {
            validate_allow_host(h)?;
        }
        Ok(())
    }

    /// The fetch policy.
    pub fn policy(&self) -> validation::evidence::FetchPolicy {
        validation::evidence::FetchPolicy {
            allow_hosts: self.allow_hosts.clone(),
            timeout: std::time::Duration::from_millis(self.timeout_ms),
            max_bytes: self.max_bytes,
        }
    }
}

/// An allow-list entry: a host name or IP address, with an optional port (`[v6]:port`);
/// no scheme, path or wildcard.
pub fn validate_allow_host(h: &str) -> Result<()> {
    let bad = |why: &str| anyhow::anyhow!("allowed host {h:?}: {why} (expected host or host:port)");
    let (name, port) = match h.strip_prefix('[') {
        Some(rest) => {
            let (v6, tail) = rest.split_once(']').ok_or_else(|| bad("unclosed ["))?;
            v6.parse::<std::net::Ipv6Addr>()
                .map_err(|_| bad("not an IPv6 address"))?;
            let port = match tail {
                "" => None,
                t => Some(t.strip_prefix(':').ok_or_else(|| bad("text after ]"))?),
            };
            (None, port)
        }
        None => match h.split_once(':') {
            Some((name, port)) => (Some(name), Some(port)),
            None => (Some(h), None),
        },
    };
    if let Some(name) = name {
        if name.is_empty() {
            return Err(bad("empty host"));
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        {
            return Err(bad(
                "a host name has letters, digits, dots and hyphens only",
            ));
        }
    }
    if let Some(p) = port {
        if !p.parse::<u16>().is_ok_and(|n| n > 0) {
            return Err(bad("the port must be 1..=65535"));
        }
    }
    Ok(())
}

/// `[audit]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// Minutes between two anchors of the journal head by the TSA (`igc serve` with a
    /// `[tsa]`); the head is also anchored at shutdown.
    #[serde(default = "default_anchor_minutes")]
    pub anchor_minutes: u32,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            anchor_minutes: default_anchor_minutes(),
        }
    }
}

fn default_anchor_minutes() -> u32 {
    10
}

/// A day: an auditor expects the journal anchored at least daily.
const MAX_ANCHOR_MINUTES: u32 = 24 * 60;

/// `[database]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://PATH?mode=rwc` (PATH relative to this file) or `postgres://…`.
    pub url: String,
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on (loopback by default).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Base URL relying parties use (appears in certificates).
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// What the main listener grants each connection (`[server.limits]`).
    #[serde(default)]
    pub limits: ca::limits::ListenerLimits,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_base_url() -> String {
    "http://127.0.0.1:8080".into()
}

/// `[pki]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PkiConfig {
    /// The root certificate (PEM).
    pub root_certificate: PathBuf,
    /// The root's current ARL (PEM), served at `/crl/root.crl`.
    pub root_crl: PathBuf,
}

/// One `[[ca]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaConfig {
    /// Short name used in URLs (`personnes`, `organisations`).
    pub name: String,
    /// Label of the CA key in the online token.
    pub key_label: String,
    /// The CA certificate (PEM).
    pub certificate: PathBuf,
    /// Label of the OCSP responder key.
    pub ocsp_key_label: String,
    /// The OCSP responder certificate (PEM).
    pub ocsp_certificate: PathBuf,
    /// What this CA issues and how it publishes CRLs: `[ca.issuance]`.
    pub issuance: IssuanceConfig,
}

/// `[ca.issuance]`: the issuance policy of one CA. URLs (CDP, AIA, OCSP) are derived from
/// `server.base_url` and the CA name: `/ca/{name}.crt`, `/crl/{name}.crl`,
/// `/crl/{name}-{partition}.crl`, `/ocsp`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuanceConfig {
    /// `[ca.issuance.profiles.auth|sign|conf|server|ra-operator]`: policy OID and validity of
    /// each profile this CA issues.
    pub profiles: ca::issuance::ProfilePolicies,
    /// `[ca.issuance.crl]`: partitioning and schedule.
    #[serde(default)]
    pub crl: ca::issuance::CrlPolicy,
    /// `O=` of professionals with neither a structure nor an Order.
    #[serde(default)]
    pub registration_office: Option<String>,
    /// `O=` of RA operator certificates (default: the CA's own `O`).
    #[serde(default)]
    pub operator_organization: Option<String>,
}

impl CaConfig {
    /// The CA's policy as the `ca` crate takes it.
    pub fn policy(&self, base_url: &str) -> ca::issuance::PolicyConfig {
        let mut p = ca::issuance::PolicyConfig::example(base_url, &[]);
        p.url_name = Some(self.name.clone());
        p.profiles = self.issuance.profiles.clone();
        p.crl = self.issuance.crl.clone();
        if let Some(o) = &self.issuance.registration_office {
            p.registration_office = o.clone();
        }
        p.operator_organization = self.issuance.operator_organization.clone();
        p
    }
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path)
        .with_context(|| format!("cannot read configuration {}", path.display()))
}

/// Relative paths in the configuration are relative to its directory.
fn base_of(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new("."))
}

impl IgcConfig {
    /// Reads, parses and validates the configuration at `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = read(path)?;
        Self::parse(&text, base_of(path))
            .with_context(|| format!("invalid configuration {}", path.display()))
    }

    /// [`Self::load`] with command-line overrides applied by `adjust` before the whole is
    /// validated (an override may complete what the file alone leaves invalid).
    pub fn load_with(
        path: &Path,
        adjust: impl FnOnce(&mut IgcConfig) -> Result<()>,
    ) -> Result<Self> {
        let text = read(path)?;
        Self::parse_with(&text, base_of(path), adjust)
            .with_context(|| format!("invalid configuration {}", path.display()))
    }

    /// Parses and validates the text of a configuration file whose
    /// relative paths are relative to `base`. Reads no file: what names
    /// files is checked when they are opened.
    pub fn parse(text: &str, base: &Path) -> Result<Self> {
        Self::parse_with(text, base, |_| Ok(()))
    }

    fn parse_with(
        text: &str,
        base: &Path,
        adjust: impl FnOnce(&mut IgcConfig) -> Result<()>,
    ) -> Result<Self> {
        let mut cfg: IgcConfig = toml::from_str(text)?;
        cfg.resolve(base);
        adjust(&mut cfg)?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn resolve(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.hsm.pin_file);
        if let Some(c) = self.hsm.softhsm2_conf.as_mut() {
            fix(c);
        }
        if let Some(rest) = self.database.url.strip_prefix("sqlite://") {
            let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
            if Path::new(path).is_relative() {
                let joined = base.join(path);
                self.database.url = if query.is_empty() {
                    format!("sqlite://{}", joined.display())
                } else {
                    format!("sqlite://{}?{query}", joined.display())
                };
            }
        }
        fix(&mut self.pki.root_certificate);
        fix(&mut self.pki.root_crl);
        for ca in &mut self.cas {
            fix(&mut ca.certificate);
            fix(&mut ca.ocsp_certificate);
        }
        if let Some(p) = self.portal.as_mut() {
            if let Some(c) = p.tls_cert.as_mut() {
                fix(c);
            }
            if let Some(k) = p.tls_key.as_mut() {
                fix(k);
            }
        }
        if let Some(t) = self.tsa.as_mut() {
            fix(&mut t.certificate);
            for c in &mut t.chain {
                fix(c);
            }
        }
    }

    fn validate(&self) -> Result<()> {
        self.hsm.validate()?;
        if !self.database.url.starts_with("sqlite://")
            && !self.database.url.starts_with("postgres://")
            && !self.database.url.starts_with("postgresql://")
        {
            bail!("database.url must start with sqlite:// or postgres://");
        }
        if !self.server.base_url.starts_with("http://")
            && !self.server.base_url.starts_with("https://")
        {
            bail!("server.base_url must be an http(s) URL");
        }
        for (i, ca) in self.cas.iter().enumerate() {
            if ca.name.is_empty() || !ca.name.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
                bail!("ca.name {:?}: use lower-case letters and '-'", ca.name);
            }
            if ca.name == "root" || self.cas[..i].iter().any(|o| o.name == ca.name) {
                bail!("ca.name {:?} is used twice (or is reserved)", ca.name);
            }
            ca.policy(&self.server.base_url)
                .validate(&ca.name)
                .with_context(|| format!("[ca.issuance] of CA {:?}", ca.name))?;
        }
        self.ocsp.validate().context("[ocsp]")?;
        if !(1..=MAX_ANCHOR_MINUTES).contains(&self.audit.anchor_minutes) {
            bail!("[audit] anchor_minutes must be between 1 and {MAX_ANCHOR_MINUTES}");
        }
        if let Some(t) = &self.tsa {
            t.validate().context("[tsa]")?;
        }
        self.server
            .limits
            .validate("server.limits")
            .map_err(anyhow::Error::msg)?;
        self.validation.limits.validate().context("[validation]")?;
        self.validation
            .fetch
            .validate()
            .context("[validation.fetch]")?;
        if let Some(p) = &self.portal {
            p.limits
                .validate("portal.limits")
                .map_err(anyhow::Error::msg)?;
            if p.tls_cert.is_some() != p.tls_key.is_some() {
                bail!("[portal]: give both tls_cert and tls_key, or neither (self-signed)");
            }
            p.validate()?;
        }
        Ok(())
    }

    /// Exports `SOFTHSM2_CONF` when the configuration names one and the
    /// environment does not. Must run before any thread is started.
    pub fn export_softhsm_conf(&self) {
        if let Some(conf) = &self.hsm.softhsm2_conf {
            if std::env::var_os("SOFTHSM2_CONF").is_none() {
                std::env::set_var("SOFTHSM2_CONF", conf);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn the_development_configuration_parses_with_paths_resolved() {
        let base = Path::new("/srv/igc/var");
        let cfg = IgcConfig::parse(include_str!("dev-igc.toml"), base).unwrap();
        assert_eq!(cfg.pki.root_certificate, base.join("pki/root.pem"));
        assert_eq!(cfg.hsm.pin_file, base.join("hsm/online.pin"));
        assert_eq!(
            cfg.database.url,
            "sqlite:///srv/igc/var/igc.sqlite?mode=rwc"
        );
        assert_eq!(cfg.cas.len(), 2);
        let tsa = cfg.tsa.unwrap();
        assert_eq!(tsa.chain[1], base.join("pki/root.pem"));
        // The signing lanes are left to the key.
        assert_eq!(tsa.max_concurrent_signatures, None);
        assert_eq!(cfg.audit.anchor_minutes, 10);
        // The documented values are the defaults.
        assert_eq!(
            cfg.validation.limits,
            validation::ValidationLimits::default()
        );
        assert_eq!(cfg.validation.fetch, FetchConfig::default());
        assert_eq!(
            cfg.validation.fetch.policy(),
            validation::evidence::FetchPolicy::default()
        );
    }

    #[test]
    fn parse_refuses_what_validation_refuses() {
        let dev = include_str!("dev-igc.toml");
        let base = Path::new("/srv");
        for (from, to) in [
            ("url = \"sqlite://", "url = \"mysql://"),
            ("base_url = \"http://", "base_url = \"ftp://"),
            ("name = \"organisations\"", "name = \"personnes\""),
            ("instance_id = 1", "instance_id = 40000"),
            ("quorum = 2", "quorum = 2\nunknown_key = 1"),
            ("anchor_minutes = 10", "anchor_minutes = 0"),
            ("anchor_minutes = 10", "anchor_minutes = 1441"),
            ("anchor_minutes = 10", "anchor_minutes = 10\nother = 1"),
            (
                "base_url = \"http://127.0.0.1:8080\"",
                "base_url = \"http://127.0.0.1:8080\"\n[server.limits]\nmax_connections = 4",
            ),
            (
                "[portal.limits]\nmax_connections = 4096",
                "[portal.limits]\nmax_connections = 8",
            ),
            (
                "header_read_timeout_secs = 10",
                "header_read_timeout_secs = 0",
            ),
            (
                "header_read_timeout_secs = 10\nbody_read_timeout_secs = 30\n\n[tsa.clock]",
                "header_read_timeout_secs = 10\nbody_read_timeout_secs = 7200\n\n[tsa.clock]",
            ),
            ("[tsa.limits]", "[tsa.limits]\nmax_conections = 10"),
            (
                "fresh_signatures_per_sec = 100",
                "fresh_signatures_per_sec = 0",
            ),
            ("unknown_validity_secs = 300", "unknown_validity_secs = 5"),
            ("max_body_bytes = 4194304", "max_body_bytes = 1024"),
            ("max_body_bytes = 4194304", "max_body_bytes = 67108865"),
            ("max_certificates = 32", "max_certificates = 0"),
            ("max_certificates = 32", "max_certificates = 129"),
            (
                "max_certificate_bytes = 16384",
                "max_certificate_bytes = 100",
            ),
            (
                "max_candidates_per_level = 8",
                "max_candidates_per_level = 0",
            ),
            ("max_work = 64", "max_work = 2"),
            ("max_work = 64", "max_work = 5000"),
            ("deadline_ms = 5000", "deadline_ms = 10"),
            ("deadline_ms = 5000", "deadline_ms = 100"),
            ("queue_wait_ms = 250", "queue_wait_ms = 20000"),
            (
                "queue_wait_ms = 250",
                "queue_wait_ms = 250\nmax_concurrent = 0",
            ),
            (
                "queue_wait_ms = 250",
                "queue_wait_ms = 250\nmaximum_work = 1",
            ),
            (
                "login_max_concurrent_hashes = 2",
                "login_max_concurrent_hashes = 0",
            ),
            ("timeout_ms = 5000", "timeout_ms = 10"),
            ("timeout_ms = 5000", "timeout_ms = 60001"),
            ("max_bytes = 1048576", "max_bytes = 10"),
            ("max_bytes = 1048576", "max_bytes = 1048576\nallow = []"),
            (
                "allow_hosts = []",
                "allow_hosts = [\"http://pki.example.fr\"]",
            ),
            ("allow_hosts = []", "allow_hosts = [\"pki.example.fr:0\"]"),
            ("allow_hosts = []", "allow_hosts = [\"*.example.fr\"]"),
            ("allow_hosts = []", "allow_hosts = [\"pki.example.fr/crl\"]"),
            (
                "login_attempts_per_login_per_minute = 10",
                "login_attempts_per_login_per_minute = 0",
            ),
            ("loss_max_failed_codes = 10", "loss_max_failed_codes = 0"),
            ("loss_lock_secs = 86400", "loss_lock_secs = 1"),
        ] {
            assert!(dev.contains(from), "{from}");
            let text = dev.replacen(from, to, 1);
            assert!(IgcConfig::parse(&text, base).is_err(), "{to} accepted");
        }
    }
}
