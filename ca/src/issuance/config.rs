//! Issuance policy of one CA, as the operator writes it in `igc.toml`.
//!
//! ```toml
//! base_url = "http://pki.igc-sante.test"      # where /ca/ and /crl/ are served (HTTP)
//! url_name = "ca-personnes"                    # optional; default: slug of the CA name
//!
//! [profiles.auth]
//! policy_oid = "1.3.6.1.5.5.7.13.1"            # example arc (RFC 7229 test OIDs)
//! validity_days = 1095
//! [profiles.sign]
//! policy_oid = "1.3.6.1.5.5.7.13.2"
//! [profiles.conf]
//! policy_oid = "1.3.6.1.5.5.7.13.3"
//! [profiles.ra-operator]
//! policy_oid = "1.3.6.1.5.5.7.13.5"
//! validity_days = 365
//!
//! [crl]
//! partition_days = 30          # notAfter window of one CRL partition
//! next_update_hours = 24       # nextUpdate - thisUpdate
//! regenerate_minutes = 60      # scheduled regeneration of every CRL
//! ```
//!
//! Every table refuses unknown keys. A CA issues exactly the profiles listed under
//! `profiles`.

use std::fmt::Write as _;

use pkix::check_http_url;
use serde::{Deserialize, Serialize};
use spki::ObjectIdentifier;

use crate::domain::Profile;
use crate::error::{Error, Result};

/// Default validity of end-entity certificates (CPS3: three years).
pub const DEFAULT_VALIDITY_DAYS: u32 = 1095;
/// Longest validity accepted in the configuration.
pub const MAX_VALIDITY_DAYS: u32 = 3653;
/// The ANS's own arc: never claimed by this project.
const ANS_ARC: &str = "1.2.250.1.213";

/// Policy of one CA: where things are published, which profiles it issues, CRL settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Public base URL (plain `http://`) under which `/ca/{url_name}.crt` and `/crl/…` are
    /// served; goes into the CDP, AIA and issuingDistributionPoint URLs.
    pub base_url: String,
    /// Name of the CA in URLs; default: the CA name in lower case, runs of other characters
    /// than `a-z0-9` replaced by `-` ("CA Personnes" → `ca-personnes`). Must not end with
    /// `-<digits>` (that is how partition CRLs are named).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_name: Option<String>,
    /// AIA id-ad-ocsp URL; default `{base_url}/ocsp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ocsp_url: Option<String>,
    /// AIA id-ad-caIssuers URL; default `{base_url}/ca/{url_name}.crt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_issuers_url: Option<String>,
    /// `O=` of RA operator certificates; default: the `O` of the CA certificate's subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_organization: Option<String>,
    /// `O=` of professionals with neither a structure nor an Order (RPPS+ professions).
    #[serde(default = "default_registration_office")]
    pub registration_office: String,
    /// The profiles this CA issues.
    pub profiles: ProfilePolicies,
    /// CRL settings.
    #[serde(default)]
    pub crl: CrlPolicy,
}

fn default_registration_office() -> String {
    "Guichet d'enregistrement RPPS+".to_owned()
}

/// The end-entity profiles a CA issues; absent = not issued by this CA.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfilePolicies {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<ProfilePolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign: Option<ProfilePolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conf: Option<ProfilePolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<ProfilePolicy>,
    #[serde(
        default,
        rename = "ra-operator",
        skip_serializing_if = "Option::is_none"
    )]
    pub ra_operator: Option<ProfilePolicy>,
}

impl ProfilePolicies {
    /// The policy of a profile, when this CA issues it.
    pub fn get(&self, profile: Profile) -> Option<&ProfilePolicy> {
        match profile {
            Profile::Auth => self.auth.as_ref(),
            Profile::Sign => self.sign.as_ref(),
            Profile::Conf => self.conf.as_ref(),
            Profile::Server => self.server.as_ref(),
            Profile::RaOperator => self.ra_operator.as_ref(),
            Profile::OcspSigner | Profile::TsaUnit | Profile::SubCa => None,
        }
    }

    /// The configured profiles with their policy.
    pub fn iter(&self) -> impl Iterator<Item = (Profile, &ProfilePolicy)> {
        [
            Profile::Auth,
            Profile::Sign,
            Profile::Conf,
            Profile::Server,
            Profile::RaOperator,
        ]
        .into_iter()
        .filter_map(|p| self.get(p).map(|pp| (p, pp)))
    }
}

/// Policy OID and validity of one profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfilePolicy {
    /// certificatePolicies OID (dotted). Ship an example arc; the ANS arc
    /// 1.2.250.1.213 is refused.
    pub policy_oid: String,
    /// Validity in days (default 1095, i.e. three years).
    #[serde(default = "default_validity_days")]
    pub validity_days: u32,
}

fn default_validity_days() -> u32 {
    DEFAULT_VALIDITY_DAYS
}

/// CRL settings of a CA. See [`crate::crl`] for the partitioning scheme.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrlPolicy {
    /// Width of a partition's notAfter window, in days. Fixed for the life of the CA: the
    /// partition number of a certificate is computed with it at issuance.
    #[serde(default = "default_partition_days")]
    pub partition_days: u32,
    /// nextUpdate − thisUpdate, in hours.
    #[serde(default = "default_next_update_hours")]
    pub next_update_hours: u32,
    /// Every CRL is regenerated at this interval (at most half of `next_update_hours`).
    #[serde(default = "default_regenerate_minutes")]
    pub regenerate_minutes: u32,
    /// How often an instance checks whether another instance changed the revocation state
    /// (multi-instance deployments on PostgreSQL), in seconds.
    #[serde(default = "default_poll_seconds")]
    pub poll_seconds: u32,
    /// Revoked certificates stay listed this many days after they expire (RFC 5280 §3.3
    /// requires at least one regularly scheduled CRL after expiry); partitions whose window
    /// ended longer ago are no longer published.
    #[serde(default = "default_expired_retention_days")]
    pub expired_retention_days: u32,
    /// Rows per page of the storage walk.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
}

fn default_partition_days() -> u32 {
    30
}
fn default_next_update_hours() -> u32 {
    24
}
fn default_regenerate_minutes() -> u32 {
    60
}
fn default_poll_seconds() -> u32 {
    10
}
fn default_expired_retention_days() -> u32 {
    30
}
fn default_page_size() -> u32 {
    10_000
}

impl Default for CrlPolicy {
    fn default() -> Self {
        CrlPolicy {
            partition_days: default_partition_days(),
            next_update_hours: default_next_update_hours(),
            regenerate_minutes: default_regenerate_minutes(),
            poll_seconds: default_poll_seconds(),
            expired_retention_days: default_expired_retention_days(),
            page_size: default_page_size(),
        }
    }
}

/// `CA Personnes` → `ca-personnes`.
pub fn slug(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars().flat_map(char::to_lowercase) {
        let c = match c {
            'à' | 'â' | 'ä' => 'a',
            'ç' => 'c',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'î' | 'ï' => 'i',
            'ô' | 'ö' => 'o',
            'ù' | 'û' | 'ü' => 'u',
            c => c,
        };
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

fn config_err(msg: impl Into<String>) -> Error {
    Error::Config(msg.into())
}

/// Parses a policy OID and refuses the ANS arc.
pub(crate) fn parse_policy_oid(profile: Profile, s: &str) -> Result<ObjectIdentifier> {
    let oid = ObjectIdentifier::new(s.trim())
        .map_err(|e| config_err(format!("profiles.{profile}.policy_oid {s:?}: {e}")))?;
    let text = oid.to_string();
    if text == ANS_ARC || text.starts_with(&format!("{ANS_ARC}.")) {
        return Err(config_err(format!(
            "profiles.{profile}.policy_oid {text}: the arc {ANS_ARC} belongs to the ANS; \
             use your own arc (or the RFC 7229 test arc 1.3.6.1.5.5.7.13 for examples)"
        )));
    }
    Ok(oid)
}

impl PolicyConfig {
    /// An example policy (RFC 7229 test OIDs) issuing the given profiles, with defaults
    /// everywhere else. For tests and the development setup.
    pub fn example(base_url: &str, profiles: &[Profile]) -> Self {
        let mut p = ProfilePolicies::default();
        for &profile in profiles {
            let (slot, arc) = match profile {
                Profile::Auth => (&mut p.auth, 1),
                Profile::Sign => (&mut p.sign, 2),
                Profile::Conf => (&mut p.conf, 3),
                Profile::Server => (&mut p.server, 4),
                Profile::RaOperator => (&mut p.ra_operator, 5),
                Profile::OcspSigner | Profile::TsaUnit | Profile::SubCa => continue,
            };
            *slot = Some(ProfilePolicy {
                policy_oid: format!("1.3.6.1.5.5.7.13.{arc}"),
                validity_days: DEFAULT_VALIDITY_DAYS,
            });
        }
        PolicyConfig {
            base_url: base_url.to_owned(),
            url_name: None,
            ocsp_url: None,
            ca_issuers_url: None,
            operator_organization: None,
            registration_office: default_registration_office(),
            profiles: p,
            crl: CrlPolicy::default(),
        }
    }

    /// Checks the whole configuration; `ca_name` gives the default URL name.
    pub fn validate(&self, ca_name: &str) -> Result<()> {
        self.resolve_urls(ca_name).map(|_| ())?;
        if self.profiles.iter().next().is_none() {
            return Err(config_err("profiles: the CA issues no profile"));
        }
        let mut seen: Vec<ObjectIdentifier> = Vec::new();
        for (profile, pp) in self.profiles.iter() {
            let oid = parse_policy_oid(profile, &pp.policy_oid)?;
            if seen.contains(&oid) {
                return Err(config_err(format!(
                    "profiles.{profile}.policy_oid {oid} is used by another profile"
                )));
            }
            seen.push(oid);
            if !(1..=MAX_VALIDITY_DAYS).contains(&pp.validity_days) {
                return Err(config_err(format!(
                    "profiles.{profile}.validity_days must be 1 to {MAX_VALIDITY_DAYS}, got {}",
                    pp.validity_days
                )));
            }
        }
        if self.registration_office.trim().is_empty()
            || self.registration_office.chars().count() > 64
        {
            return Err(config_err("registration_office: 1 to 64 characters"));
        }
        let c = &self.crl;
        let range = |field: &str, v: u32, lo: u32, hi: u32| {
            if (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err(config_err(format!(
                    "crl.{field} must be {lo} to {hi}, got {v}"
                )))
            }
        };
        range("partition_days", c.partition_days, 1, 366)?;
        range("next_update_hours", c.next_update_hours, 1, 24 * 31)?;
        range("regenerate_minutes", c.regenerate_minutes, 1, 24 * 60 * 31)?;
        range("poll_seconds", c.poll_seconds, 1, 3600)?;
        range("expired_retention_days", c.expired_retention_days, 1, 3650)?;
        range("page_size", c.page_size, 100, 1_000_000)?;
        if u64::from(c.regenerate_minutes) * 2 > u64::from(c.next_update_hours) * 60 {
            return Err(config_err(format!(
                "crl.regenerate_minutes ({}) must be at most half of crl.next_update_hours ({} h), \
                 so that a CRL is replaced well before its nextUpdate",
                c.regenerate_minutes, c.next_update_hours
            )));
        }
        Ok(())
    }

    /// The URL name and base URL (without trailing `/`), checked.
    pub(crate) fn resolve_urls(&self, ca_name: &str) -> Result<ResolvedUrls> {
        let base = self.base_url.trim().trim_end_matches('/').to_owned();
        check_http_url("base_url", &base).map_err(|e| config_err(e.to_string()))?;
        if base.contains('?') {
            return Err(config_err("base_url must not have a query"));
        }
        let name = match &self.url_name {
            Some(n) => n.clone(),
            None => slug(ca_name),
        };
        let valid_chars = !name.is_empty() && name.len() <= 64 && super::subject::is_ldh(&name);
        if !valid_chars {
            return Err(config_err(format!(
                "url_name {name:?}: 1 to 64 characters a-z 0-9 -, not starting or ending with -"
            )));
        }
        if let Some((_, tail)) = name.rsplit_once('-') {
            if tail.bytes().all(|b| b.is_ascii_digit()) {
                return Err(config_err(format!(
                    "url_name {name:?} must not end with -<digits> (partition CRLs are named so)"
                )));
            }
        }
        let ocsp = self
            .ocsp_url
            .clone()
            .unwrap_or_else(|| format!("{base}/ocsp"));
        check_http_url("ocsp_url", &ocsp).map_err(|e| config_err(e.to_string()))?;
        let ca_issuers = self
            .ca_issuers_url
            .clone()
            .unwrap_or_else(|| format!("{base}/ca/{name}.crt"));
        check_http_url("ca_issuers_url", &ca_issuers).map_err(|e| config_err(e.to_string()))?;
        Ok(ResolvedUrls {
            base,
            name,
            ocsp,
            ca_issuers,
        })
    }
}

/// URLs derived from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResolvedUrls {
    pub base: String,
    pub name: String,
    pub ocsp: String,
    pub ca_issuers: String,
}

impl ResolvedUrls {
    /// File name of a CRL under `/crl/`.
    pub fn crl_file(&self, partition: Option<u32>) -> String {
        let mut s = self.name.clone();
        if let Some(p) = partition {
            let _ = write!(s, "-{p}");
        }
        s.push_str(".crl");
        s
    }

    /// Full URL of a CRL.
    pub fn crl_url(&self, partition: Option<u32>) -> String {
        format!("{}/crl/{}", self.base, self.crl_file(partition))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slug("CA Personnes"), "ca-personnes");
        assert_eq!(slug("  CA  Établissements! "), "ca-etablissements");
    }

    #[test]
    fn example_validates_and_urls() {
        let p = PolicyConfig::example("http://pki.test/", &[Profile::Auth, Profile::Sign]);
        p.validate("CA Personnes").unwrap();
        let u = p.resolve_urls("CA Personnes").unwrap();
        assert_eq!(u.crl_url(None), "http://pki.test/crl/ca-personnes.crl");
        assert_eq!(u.crl_url(Some(7)), "http://pki.test/crl/ca-personnes-7.crl");
        assert_eq!(u.ca_issuers, "http://pki.test/ca/ca-personnes.crt");
        assert_eq!(u.ocsp, "http://pki.test/ocsp");
    }

    #[test]
    fn parses_the_documented_toml_and_refuses_unknown_keys() {
        let doc = r#"
base_url = "http://pki.igc-sante.test"
url_name = "ca-personnes"

[profiles.auth]
policy_oid = "1.3.6.1.5.5.7.13.1"
validity_days = 1095
[profiles.sign]
policy_oid = "1.3.6.1.5.5.7.13.2"
[profiles.conf]
policy_oid = "1.3.6.1.5.5.7.13.3"
[profiles.ra-operator]
policy_oid = "1.3.6.1.5.5.7.13.5"
validity_days = 365

[crl]
partition_days = 30
next_update_hours = 24
regenerate_minutes = 60
"#;
        let p: PolicyConfig = toml::from_str(doc).unwrap();
        p.validate("CA Personnes").unwrap();
        assert_eq!(p.profiles.sign.as_ref().unwrap().validity_days, 1095);
        assert_eq!(p.profiles.ra_operator.as_ref().unwrap().validity_days, 365);
        assert!(p.profiles.server.is_none());
        assert_eq!(p.crl.expired_retention_days, 30);
        for bad in [
            doc.replace("url_name", "url_nom"),
            doc.replace("[profiles.sign]", "[profiles.signature]"),
            doc.replace("partition_days", "partitions"),
            doc.replace("validity_days = 365", "validity = 365"),
        ] {
            assert!(toml::from_str::<PolicyConfig>(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn refusals() {
        let base = PolicyConfig::example("http://pki.test", &[Profile::Auth]);
        let mut p = base.clone();
        p.profiles.auth.as_mut().unwrap().policy_oid = "1.2.250.1.213.1.7.1".into();
        assert!(matches!(p.validate("CA"), Err(Error::Config(m)) if m.contains("ANS")));
        let mut p = base.clone();
        p.base_url = "https://pki.test".into();
        assert!(p.validate("CA").is_err());
        let mut p = base.clone();
        p.url_name = Some("ca-2024".into());
        assert!(p.validate("CA").is_err());
        let mut p = base.clone();
        p.crl.regenerate_minutes = 24 * 60;
        assert!(p.validate("CA").is_err());
        let mut p = base.clone();
        p.profiles.auth.as_mut().unwrap().validity_days = 0;
        assert!(p.validate("CA").is_err());
        let mut p = base;
        p.profiles.auth = None;
        assert!(p.validate("CA").is_err());
    }
}
