//! The key-ceremony engine.
//!
//! A ceremony goes in three steps, and the HSM is opened only in the last:
//! 1. [`Ceremony::load`] parses the YAML file strictly;
//! 2. [`Ceremony::prepare`] validates everything that can be checked without
//!    the token — names, URLs, validity against the issuer, that no output
//!    exists, that inputs parse, and that custodian shares rebuild the PIN
//!    (so wrong shares never reach `C_Login`);
//! 3. [`Prepared::run`] opens the token, creates keys, signs, verifies every
//!    signature against the issuer's public key, writes the outputs (never
//!    overwriting) and the JSON transcript.

pub mod shamir;
pub mod shares;
pub mod spec;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cryptoki::types::AuthPin;
use der::{Decode, DecodePem, Encode};
use pkix::verify;
use pkix::{crl as x509crl, csr as x509csr, profiles, IssuerInfo};
use serde::Serialize;
use sha2::{Digest, Sha256};
use spki::{DecodePublicKey, SubjectPublicKeyInfoOwned};
use time::OffsetDateTime;
use x509_cert::crl::CertificateList;
use x509_cert::ext::pkix::CrlReason;
use x509_cert::name::Name;
use x509_cert::Certificate;

use crate::config::{read_pin_file, write_secret_file, ModuleLocation};
use crate::error::{Error, Result};
use crate::keys::{generate_key, public_key, KeyInfo};
use crate::sealer::generate_sealing_key;
use crate::signer::{HsmSignature, HsmSigner, SignatureScheme};
use crate::token::{Module, PoolOptions, Token};
use shares::TokenSecret;
use spec::{CeremonySpec, CertProfile, IssuerRef, PinSource, TokenRef};

/// Largest ceremony file accepted.
const MAX_FILE: u64 = 1 << 20;

fn x509_err(e: impl std::fmt::Display) -> Error {
    Error::X509(e.to_string())
}

fn bad(msg: impl Into<String>) -> Error {
    Error::Ceremony(msg.into())
}

/// A parsed ceremony file.
#[derive(Debug, Clone)]
pub struct Ceremony {
    path: PathBuf,
    sha256: String,
    spec: CeremonySpec,
}

impl Ceremony {
    /// Reads and strictly parses a ceremony file.
    pub fn load(path: &Path) -> Result<Self> {
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        if meta.len() > MAX_FILE {
            return Err(bad(format!("{} is larger than 1 MiB", path.display())));
        }
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::parse(path, &bytes)
    }

    /// Parses ceremony YAML (`path` is for messages and the transcript).
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Self> {
        let spec: CeremonySpec =
            serde_yaml::from_slice(bytes).map_err(|e| bad(format!("{}: {e}", path.display())))?;
        Ok(Ceremony {
            path: path.to_owned(),
            sha256: hex::encode(Sha256::digest(bytes)),
            spec,
        })
    }

    /// The parsed specification.
    pub fn spec(&self) -> &CeremonySpec {
        &self.spec
    }

    /// Validates the whole ceremony without touching the HSM.
    pub fn prepare(&self) -> Result<Prepared> {
        let common = self.spec.common();
        if common.description.trim().is_empty() {
            return Err(bad("description must say what the ceremony is for"));
        }
        check_names("operators", common.operators)?;
        let mut outputs = vec![common.transcript.to_owned()];
        let plan = match &self.spec {
            CeremonySpec::InitToken(s) => {
                check_label("token_label", &s.token_label)?;
                check_names("shares.custodians", &s.shares.custodians)?;
                let n = s.shares.custodians.len();
                if s.shares.threshold < 2 || usize::from(s.shares.threshold) > n || n > 255 {
                    return Err(bad(format!(
                        "shares.threshold must be between 2 and the number of custodians ({n})"
                    )));
                }
                if !s.shares.output_dir.is_dir() {
                    return Err(bad(format!(
                        "shares.output_dir {} is not a directory",
                        s.shares.output_dir.display()
                    )));
                }
                outputs.extend(shares::share_paths(
                    &s.token_label,
                    &s.shares.custodians,
                    &s.shares.output_dir,
                ));
                outputs.extend(s.user_pin_file.iter().cloned());
                let initial_pin = match &s.existing_token {
                    Some(t) => Some(read_pin_file(&t.initial_pin_file)?),
                    None => None,
                };
                Plan::InitToken { initial_pin }
            }
            CeremonySpec::Root(s) => {
                check_label("key.label", &s.key.label)?;
                let subject = pkix::name::parse_dn(&s.subject).map_err(x509_err)?;
                let validity = validity("validity_days", s.validity_days, None)?;
                outputs.push(s.certificate.clone());
                Plan::Root {
                    pin: resolve_pin(&s.token)?,
                    subject,
                    validity,
                }
            }
            CeremonySpec::Intermediate(s) => {
                check_label("key.label", &s.key.label)?;
                let issuer = load_issuer(&s.issuer)?;
                let subject = pkix::name::parse_dn(&s.subject).map_err(x509_err)?;
                let mut params = issued_params(
                    &issuer,
                    profiles::InfraProfile::SubCa,
                    subject,
                    // Placeholder key until the real one exists; the whole
                    // parameter set is validated again before signing.
                    issuer.spki.clone(),
                    s.validity_days,
                    &s.policy_oids,
                    &s.ca_issuers_url,
                )?;
                params.crl_url = Some(s.crl_url.clone());
                params.validate().map_err(x509_err)?;
                outputs.push(s.certificate.clone());
                Plan::Intermediate {
                    issuer,
                    pin: resolve_pin(&s.token)?,
                    params: Box::new(params),
                }
            }
            CeremonySpec::Key(s) => {
                check_label("key.label", &s.key.label)?;
                if s.public_key.is_none() && s.csr.is_none() {
                    return Err(bad("a key ceremony needs public_key and/or csr as output"));
                }
                outputs.extend(s.public_key.iter().cloned());
                let csr_subject = match &s.csr {
                    Some(c) => {
                        outputs.push(c.path.clone());
                        Some(pkix::name::parse_dn(&c.subject).map_err(x509_err)?)
                    }
                    None => None,
                };
                Plan::Key {
                    pin: resolve_pin(&s.token)?,
                    csr_subject,
                }
            }
            CeremonySpec::SecretKey(s) => {
                check_label("key.label", &s.key.label)?;
                Plan::SecretKey {
                    pin: resolve_pin(&s.token)?,
                }
            }
            CeremonySpec::Cert(s) => {
                let issuer = load_issuer(&s.issuer)?;
                let subject = pkix::name::parse_dn(&s.subject).map_err(x509_err)?;
                let spki = match (&s.public_key, &s.csr) {
                    (Some(p), None) => read_public_key(p)?,
                    (None, Some(p)) => {
                        let bytes = read_input(p)?;
                        x509csr::parse_and_verify_csr(&bytes)
                            .map_err(|e| bad(format!("{}: {e}", p.display())))?
                            .subject_spki
                    }
                    _ => return Err(bad("give exactly one of public_key and csr")),
                };
                let profile = match s.profile {
                    CertProfile::OcspSigner => profiles::InfraProfile::OcspSigner,
                    CertProfile::TsaUnit => profiles::InfraProfile::TsaUnit,
                    CertProfile::RaOperator => profiles::InfraProfile::RaOperator,
                };
                let mut params = issued_params(
                    &issuer,
                    profile,
                    subject,
                    spki,
                    s.validity_days,
                    &s.policy_oids,
                    &s.ca_issuers_url,
                )?;
                params.crl_url = s.crl_url.clone();
                params.ocsp_url = s.ocsp_url.clone();
                params.validate().map_err(x509_err)?;
                outputs.push(s.certificate.clone());
                Plan::Cert {
                    issuer,
                    params: Box::new(params),
                }
            }
            CeremonySpec::Crl(s) => {
                let issuer = load_issuer(&s.issuer)?;
                if let Some(prev) = &s.previous_crl {
                    let crl = read_crl(prev)?;
                    let prev_number = crl_number(&crl)?;
                    if s.crl_number <= prev_number {
                        return Err(bad(format!(
                            "crl_number {} must exceed the previous CRL's ({prev_number})",
                            s.crl_number
                        )));
                    }
                }
                let now = OffsetDateTime::now_utc();
                let mut revoked = Vec::new();
                for r in &s.revoked {
                    let cert = read_certificate(&r.certificate)?;
                    if cert.tbs_certificate.issuer != issuer.certificate.tbs_certificate.subject {
                        return Err(bad(format!(
                            "{} was not issued by this root",
                            r.certificate.display()
                        )));
                    }
                    let at = OffsetDateTime::parse(
                        &r.revoked_at,
                        &time::format_description::well_known::Rfc3339,
                    )
                    .map_err(|e| bad(format!("revoked_at {:?}: {e}", r.revoked_at)))?;
                    if at > now {
                        return Err(bad(format!("revoked_at {} is in the future", r.revoked_at)));
                    }
                    revoked.push(x509crl::RevokedEntry {
                        serial: cert.tbs_certificate.serial_number.clone(),
                        revocation_date: at,
                        reason: Some(parse_reason(&r.reason)?),
                    });
                }
                // Before the date arithmetic, which would overflow (and panic) on a huge value.
                if s.next_update_days == 0 || s.next_update_days > 3660 {
                    return Err(bad("next_update_days must be 1..=3660"));
                }
                let params = x509crl::CrlParams {
                    issuer: issuer.info.clone(),
                    this_update: now,
                    next_update: now + time::Duration::days(i64::from(s.next_update_days)),
                    crl_number: s.crl_number,
                    revoked,
                    issuing_distribution_point: s.distribution_point.as_ref().map(|url| {
                        x509crl::IssuingDistributionPointParams {
                            url: url.clone(),
                            only_contains_user_certs: false,
                            only_contains_ca_certs: true,
                        }
                    }),
                };
                params.validate().map_err(x509_err)?;
                outputs.push(s.crl.clone());
                Plan::Crl {
                    issuer,
                    params: Box::new(params),
                }
            }
            CeremonySpec::RaAdministrators(s) => {
                if !matches!(s.token.pin, PinSource::Shares(_)) {
                    return Err(bad(
                        "token.pin must be custodian shares: the custodians witness this ceremony",
                    ));
                }
                if s.administrators.len() < 2 {
                    return Err(bad(
                        "administrators: at least two (each later account needs a second one)",
                    ));
                }
                for (i, a) in s.administrators.iter().enumerate() {
                    if !(3..=32).contains(&a.login.len())
                        || !a.login.bytes().all(|b| {
                            b.is_ascii_lowercase() || b.is_ascii_digit() || b".-_".contains(&b)
                        })
                    {
                        return Err(bad(format!(
                            "administrators: login {:?}: use 3 to 32 lowercase letters, digits, \
                             '.', '-' or '_'",
                            a.login
                        )));
                    }
                    if s.administrators[..i].iter().any(|b| b.login == a.login) {
                        return Err(bad(format!(
                            "administrators: {:?} is listed twice",
                            a.login
                        )));
                    }
                    let name = a.name.trim();
                    if name.is_empty()
                        || name.chars().count() > 128
                        || name.chars().any(char::is_control)
                    {
                        return Err(bad(format!(
                            "administrators: the name of {:?} must be 1 to 128 characters",
                            a.login
                        )));
                    }
                }
                Plan::RaAdministrators {
                    pin: resolve_pin(&s.token)?,
                }
            }
        };
        for (i, out) in outputs.iter().enumerate() {
            if outputs[..i].contains(out) {
                return Err(bad(format!(
                    "{} is named twice as an output",
                    out.display()
                )));
            }
            if out.exists() {
                return Err(bad(format!(
                    "{} exists already; ceremony outputs are never overwritten",
                    out.display()
                )));
            }
            match out.parent() {
                Some(p) if !p.as_os_str().is_empty() && !p.is_dir() => {
                    return Err(bad(format!(
                        "the directory of {} does not exist",
                        out.display()
                    )))
                }
                _ => {}
            }
        }
        Ok(Prepared {
            ceremony: self.clone(),
            plan,
        })
    }
}

/// A validated ceremony, ready to run against the HSM.
#[derive(Debug)]
pub struct Prepared {
    ceremony: Ceremony,
    plan: Plan,
}

#[derive(Debug)]
enum Plan {
    InitToken {
        /// The PIN of a token initialised by the HSM's tool (`existing_token`).
        initial_pin: Option<AuthPin>,
    },
    Root {
        pin: AuthPin,
        subject: Name,
        validity: (OffsetDateTime, OffsetDateTime),
    },
    Intermediate {
        issuer: LoadedIssuer,
        pin: AuthPin,
        params: Box<profiles::InfraCertParams>,
    },
    Key {
        pin: AuthPin,
        csr_subject: Option<Name>,
    },
    SecretKey {
        pin: AuthPin,
    },
    Cert {
        issuer: LoadedIssuer,
        params: Box<profiles::InfraCertParams>,
    },
    Crl {
        issuer: LoadedIssuer,
        params: Box<x509crl::CrlParams>,
    },
    RaAdministrators {
        pin: AuthPin,
    },
}

/// Where a `ra-administrators` ceremony creates its accounts: the RA's store, wired by the
/// binary (this crate never touches the database).
pub trait AdministratorRegistry {
    /// Creates the first administrators, all or none. `ceremony_sha256` names the ceremony
    /// file. The one-time passwords go to the administrators, never back to the engine.
    fn create_first_administrators(
        &mut self,
        administrators: &[spec::RaAdministrator],
        ceremony_sha256: &str,
    ) -> std::result::Result<(), String>;
}

/// Where a ceremony records each certificate a CA key signs (sub-CA, OCSP responder, TSA
/// unit, RA operator): the CA's store, wired by the binary (this crate never touches the
/// database). Called after the signature is verified and before the certificate's file is
/// written, so that no certificate leaves the ceremony unrecorded: an error stops the
/// ceremony and no file is written. A self-signed root is not recorded (no CA answers for it).
pub trait CertificateRegistry {
    /// Records `certificate`, of `profile`, signed by the key of `issuer`.
    fn record_certificate(
        &mut self,
        profile: profiles::InfraProfile,
        certificate: &Certificate,
        issuer: &Certificate,
    ) -> std::result::Result<(), String>;
}

/// A revocation the CA database records for a certificate the root signed (a sub-CA revoked
/// with `igc cert revoke`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRevocation {
    /// The revoked certificate's serial number.
    pub serial: x509_cert::serial_number::SerialNumber,
    /// Its subject, for messages.
    pub subject: String,
    /// When it was revoked (or suspended).
    pub revoked_at: OffsetDateTime,
    /// The reasonCode of its ARL entry; `None` for `unspecified` (no reasonCode, RFC 5280
    /// §5.3.1).
    pub reason: Option<CrlReason>,
}

/// Where a `crl` ceremony learns which certificates of its root the CA database has revoked,
/// so that a revocation recorded there reaches the root's ARL: wired by the binary (this crate
/// never touches the database). Read before the token is opened; an error stops the ceremony
/// with nothing signed.
pub trait RevocationRegistry {
    /// The certificates signed by the key of `root` that the CA database records as revoked
    /// or on hold; `None` where there is no CA database (an offline ceremony), when the ARL
    /// lists the ceremony file's revocations only.
    fn revoked_under(
        &mut self,
        root: &Certificate,
    ) -> std::result::Result<Option<Vec<RecordedRevocation>>, String>;
}

/// RFC 5280 name of an ARL entry's reason, as ceremony files spell it.
fn reason_name(reason: Option<CrlReason>) -> &'static str {
    match reason {
        None | Some(CrlReason::Unspecified) => "unspecified",
        Some(CrlReason::KeyCompromise) => "keyCompromise",
        Some(CrlReason::CaCompromise) => "cACompromise",
        Some(CrlReason::AffiliationChanged) => "affiliationChanged",
        Some(CrlReason::Superseded) => "superseded",
        Some(CrlReason::CessationOfOperation) => "cessationOfOperation",
        Some(CrlReason::CertificateHold) => "certificateHold",
        Some(CrlReason::RemoveFromCRL) => "removeFromCRL",
        Some(CrlReason::PrivilegeWithdrawn) => "privilegeWithdrawn",
        Some(CrlReason::AaCompromise) => "aACompromise",
    }
}

/// Adds to `entries` (the ceremony file's) the revocations the CA database records. One
/// listed in both is kept once when both say the same (reason, and time to the second: what
/// an ARL holds); when they differ, which one is true is for the people present to decide, so
/// the ceremony stops with both named and nothing signed.
fn merge_recorded(
    entries: &mut Vec<x509crl::RevokedEntry>,
    recorded: Vec<RecordedRevocation>,
) -> Result<usize> {
    let mut added = 0;
    for r in recorded {
        let serial = hex::encode(r.serial.as_bytes());
        match entries.iter().find(|e| e.serial == r.serial) {
            Some(listed)
                if listed.reason == r.reason
                    && listed.revocation_date.unix_timestamp() == r.revoked_at.unix_timestamp() => {
            }
            Some(listed) => {
                return Err(bad(format!(
                    "certificate {serial} ({}) is revoked in the CA database ({} at {}) and the \
                     ceremony file lists it with {} at {}: correct the file's entry, or remove \
                     it and the database's revocation is listed; nothing was signed",
                    r.subject,
                    reason_name(r.reason),
                    rfc3339(r.revoked_at),
                    reason_name(listed.reason),
                    rfc3339(listed.revocation_date),
                )))
            }
            None => {
                entries.push(x509crl::RevokedEntry {
                    serial: r.serial,
                    revocation_date: r.revoked_at,
                    reason: r.reason,
                });
                added += 1;
            }
        }
    }
    Ok(added)
}

#[derive(Debug)]
struct LoadedIssuer {
    certificate: Certificate,
    info: IssuerInfo,
    spki: SubjectPublicKeyInfoOwned,
    pin: AuthPin,
}

/// The JSON record of a ceremony run.
#[derive(Debug, Clone, Serialize)]
pub struct Transcript {
    /// Always `igc-ceremony-transcript/1`.
    pub format: &'static str,
    /// Ceremony type.
    pub ceremony: &'static str,
    /// The ceremony file and its SHA-256.
    pub file: String,
    /// SHA-256 of the ceremony file, hex.
    pub file_sha256: String,
    /// The file's description.
    pub description: String,
    /// People present.
    pub operators: Vec<String>,
    /// PKCS#11 module used.
    pub module: String,
    /// Its initialisation string, when it took one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_args: Option<String>,
    /// Host the ceremony ran on.
    pub host: String,
    /// Start (RFC 3339).
    pub started_at: String,
    /// End (RFC 3339).
    pub finished_at: String,
    /// Keys created or used.
    pub keys: Vec<TranscriptKey>,
    /// Certificates and CRLs signed.
    pub signed: Vec<TranscriptSigned>,
    /// Files written, with their SHA-256.
    pub outputs: Vec<TranscriptOutput>,
    /// RA portal accounts created (logins), by a `ra-administrators` ceremony.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<String>,
}

/// A key in a transcript.
#[derive(Debug, Clone, Serialize)]
pub struct TranscriptKey {
    /// Token label.
    pub token: String,
    /// Key label.
    pub label: String,
    /// Key type.
    pub spec: String,
    /// Whether the ceremony created it.
    pub created: bool,
    /// SHA-256 of the DER SubjectPublicKeyInfo, hex (none for a secret key).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub spki_sha256: String,
}

/// A signed object in a transcript.
#[derive(Debug, Clone, Serialize)]
pub struct TranscriptSigned {
    /// certificate, crl or csr.
    pub kind: &'static str,
    /// Subject (or issuer, for a CRL).
    pub name: String,
    /// Serial (certificate) or CRL number, hex/decimal.
    pub number: String,
    /// Signing key label.
    pub signed_with: String,
    /// Whether the signature was verified with the issuer's public key.
    pub verified: bool,
}

/// An output file in a transcript.
#[derive(Debug, Clone, Serialize)]
pub struct TranscriptOutput {
    /// Path written.
    pub path: String,
    /// What it is.
    pub kind: &'static str,
    /// SHA-256 of the file, hex.
    pub sha256: String,
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

struct Recorder<'r> {
    keys: Vec<TranscriptKey>,
    signed: Vec<TranscriptSigned>,
    outputs: Vec<TranscriptOutput>,
    certificates: Option<&'r mut dyn CertificateRegistry>,
}

impl Recorder<'_> {
    fn key(&mut self, token: &str, key: &KeyInfo, created: bool) {
        self.keys.push(TranscriptKey {
            token: token.into(),
            label: key.label.clone(),
            spec: key.spec.to_string(),
            created,
            spki_sha256: hex::encode(Sha256::digest(&key.spki_der)),
        });
    }

    fn write(
        &mut self,
        path: &Path,
        kind: &'static str,
        contents: &[u8],
        secret: bool,
    ) -> Result<()> {
        if secret {
            write_secret_file(path, contents)?;
        } else {
            write_new_file(path, contents)?;
        }
        self.outputs.push(TranscriptOutput {
            path: path.display().to_string(),
            kind,
            sha256: hex::encode(Sha256::digest(contents)),
        });
        Ok(())
    }

    /// Signs `params` with `signer`, checks the signature with the issuer's certificate (the
    /// new certificate itself when `issuer` is `None`: a root), records it as signed with
    /// `key_label` — in the transcript, and with the issuer in the CA's registry — and writes
    /// it as PEM to `out`.
    fn sign_certificate(
        &mut self,
        params: &profiles::InfraCertParams,
        signer: &HsmSigner,
        issuer: Option<&Certificate>,
        key_label: &str,
        out: &Path,
    ) -> Result<()> {
        let cert =
            profiles::build_certificate::<_, HsmSignature>(params, signer).map_err(x509_err)?;
        verify::verify_certificate_signed_by(&cert, issuer.unwrap_or(&cert))
            .map_err(|e| Error::Verify(e.to_string()))?;
        if let (Some(registry), Some(issuer)) = (self.certificates.as_deref_mut(), issuer) {
            registry
                .record_certificate(params.profile, &cert, issuer)
                .map_err(|e| {
                    bad(format!(
                        "the {} certificate was signed but could not be recorded ({e}); \
                         nothing was written: run the ceremony again",
                        params.profile.name()
                    ))
                })?;
        }
        self.certificate(&cert, key_label);
        let pem = profiles::certificate_to_pem(&cert).map_err(x509_err)?;
        let written = self.write(out, "certificate", pem.as_bytes(), false);
        match written {
            // Recorded but not delivered: nobody holds it, but the CA answers `good` for it
            // until it is revoked.
            Err(e) if self.certificates.is_some() && issuer.is_some() => Err(bad(format!(
                "certificate {} was signed and recorded, but {e}: revoke it (igc cert revoke \
                 --serial {} --reason cessationOfOperation) and run the ceremony again",
                hex::encode(cert.tbs_certificate.serial_number.as_bytes()),
                hex::encode(cert.tbs_certificate.serial_number.as_bytes()),
            ))),
            other => other,
        }
    }

    fn certificate(&mut self, cert: &Certificate, signer: &str) {
        self.signed.push(TranscriptSigned {
            kind: "certificate",
            name: pkix::name::name_to_string(&cert.tbs_certificate.subject),
            number: hex::encode(cert.tbs_certificate.serial_number.as_bytes()),
            signed_with: signer.into(),
            verified: true,
        });
    }
}

impl Prepared {
    /// Runs the ceremony. `default_module` is used when the file names none;
    /// `progress` receives one line per step.
    pub fn run(
        self,
        default_module: &ModuleLocation,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Transcript> {
        self.run_with(default_module, progress, None)
    }

    /// Runs the ceremony; a `ra-administrators` ceremony creates its accounts in `registry`
    /// (and is refused without one).
    pub fn run_with(
        self,
        default_module: &ModuleLocation,
        progress: &mut dyn FnMut(&str),
        registry: Option<&mut dyn AdministratorRegistry>,
    ) -> Result<Transcript> {
        self.run_recording(default_module, progress, registry, None, None)
    }

    /// Runs the ceremony as [`run_with`](Self::run_with) does, records every certificate a CA
    /// key signs in `certificates` before writing it (see [`CertificateRegistry`]), and lists
    /// in a root's ARL the revocations `revocations` records as well as the file's (see
    /// [`RevocationRegistry`]).
    pub fn run_recording(
        self,
        default_module: &ModuleLocation,
        progress: &mut dyn FnMut(&str),
        registry: Option<&mut dyn AdministratorRegistry>,
        certificates: Option<&mut dyn CertificateRegistry>,
        revocations: Option<&mut dyn RevocationRegistry>,
    ) -> Result<Transcript> {
        let started = OffsetDateTime::now_utc();
        let spec = &self.ceremony.spec;
        let common = spec.common();
        let location = ModuleLocation::chosen(
            common.module.map(Path::to_owned),
            common.init_args.map(str::to_owned),
            default_module.clone(),
        );
        let module_path = location.path.clone();
        progress(&format!("loading PKCS#11 module {}", module_path.display()));
        let module = Module::load_location(&location)?;
        let mut rec = Recorder {
            keys: vec![],
            signed: vec![],
            outputs: vec![],
            certificates,
        };
        let mut accounts = vec![];
        match (spec, self.plan) {
            (CeremonySpec::InitToken(s), Plan::InitToken { initial_pin }) => {
                let secret = TokenSecret::generate();
                match &initial_pin {
                    Some(initial) => {
                        progress(&format!(
                            "taking over token {:?}: its initial user PIN replaced by the \
                             custodians' (the SO PIN stays with the HSM's tool)",
                            s.token_label
                        ));
                        module.take_over_token(&s.token_label, initial, &secret.user_pin())?;
                    }
                    None => {
                        progress(&format!("initialising token {:?}", s.token_label));
                        module.init_token(&s.token_label, &secret.so_pin(), &secret.user_pin())?;
                    }
                }
                let paths = secret.write_shares(
                    &s.token_label,
                    &s.shares.custodians,
                    s.shares.threshold,
                    &s.shares.output_dir,
                )?;
                for p in &paths {
                    progress(&format!("wrote custodian share {}", p.display()));
                    let bytes = std::fs::read(p).map_err(|e| Error::io(p, e))?;
                    rec.outputs.push(TranscriptOutput {
                        path: p.display().to_string(),
                        kind: "custodian-share",
                        sha256: hex::encode(Sha256::digest(&bytes)),
                    });
                }
                if let Some(f) = &s.user_pin_file {
                    use secrecy::ExposeSecret;
                    let pin = secret.user_pin();
                    let line = zeroize::Zeroizing::new(format!("{}\n", pin.expose_secret()));
                    rec.write(f, "user-pin-file", line.as_bytes(), true)?;
                }
                // Prove the PIN works before anyone relies on the shares.
                Token::open(module.clone(), &s.token_label, secret.user_pin(), pool())?;
            }
            (
                CeremonySpec::Root(s),
                Plan::Root {
                    pin,
                    subject,
                    validity,
                },
            ) => {
                let token = open(&module, &s.token.label, pin, progress)?;
                progress(&format!(
                    "generating root key {} ({}) in the token",
                    s.key.label, s.key.spec
                ));
                let key = generate_key(&token, s.key.spec, &s.key.label)?;
                rec.key(&s.token.label, &key, true);
                let signer = signer(&token, &s.key.label, s.key.scheme)?;
                let params = profiles::InfraCertParams {
                    profile: profiles::InfraProfile::Root,
                    subject,
                    subject_spki: signer.spki().clone(),
                    issuer: None,
                    not_before: validity.0,
                    not_after: validity.1,
                    serial: None,
                    policy_oids: vec![],
                    crl_url: None,
                    ca_issuers_url: None,
                    ocsp_url: None,
                };
                progress("signing the self-signed root certificate");
                rec.sign_certificate(&params, &signer, None, &s.key.label, &s.certificate)?;
            }
            (
                CeremonySpec::Intermediate(s),
                Plan::Intermediate {
                    issuer,
                    pin,
                    mut params,
                },
            ) => {
                let root_token =
                    open(&module, &s.issuer.token.label, issuer.pin.clone(), progress)?;
                let root_signer = issuer_signer(&root_token, &s.issuer, &issuer)?;
                rec.key(&s.issuer.token.label, root_signer.key(), false);
                let token = open(&module, &s.token.label, pin, progress)?;
                progress(&format!(
                    "generating sub-CA key {} ({})",
                    s.key.label, s.key.spec
                ));
                let key = generate_key(&token, s.key.spec, &s.key.label)?;
                rec.key(&s.token.label, &key, true);
                params.subject_spki = key.spki()?;
                progress("signing the sub-CA certificate with the root key");
                rec.sign_certificate(
                    &params,
                    &root_signer,
                    Some(&issuer.certificate),
                    &s.issuer.key_label,
                    &s.certificate,
                )?;
            }
            (CeremonySpec::Key(s), Plan::Key { pin, csr_subject }) => {
                let token = open(&module, &s.token.label, pin, progress)?;
                progress(&format!("generating key {} ({})", s.key.label, s.key.spec));
                let key = generate_key(&token, s.key.spec, &s.key.label)?;
                rec.key(&s.token.label, &key, true);
                if let Some(p) = &s.public_key {
                    rec.write(p, "public-key", key.public_key_pem().as_bytes(), false)?;
                }
                if let (Some(out), Some(subject)) = (&s.csr, csr_subject) {
                    let signer = signer(&token, &s.key.label, s.key.scheme)?;
                    let req = x509csr::build_csr::<_, HsmSignature>(&subject, &[], &signer)
                        .map_err(x509_err)?;
                    let pem = x509csr::csr_to_pem(&req).map_err(x509_err)?;
                    x509csr::parse_and_verify_csr(pem.as_bytes()).map_err(x509_err)?;
                    rec.signed.push(TranscriptSigned {
                        kind: "csr",
                        name: pkix::name::name_to_string(&subject),
                        number: String::new(),
                        signed_with: s.key.label.clone(),
                        verified: true,
                    });
                    rec.write(&out.path, "csr", pem.as_bytes(), false)?;
                }
            }
            (CeremonySpec::SecretKey(s), Plan::SecretKey { pin }) => {
                let token = open(&module, &s.token.label, pin, progress)?;
                progress(&format!(
                    "generating secret key {} ({}) inside the token",
                    s.key.label,
                    s.key.spec.name()
                ));
                generate_sealing_key(&token, &s.key.label)?;
                progress("checked: sensitive, never extractable, encrypt and decrypt only");
                rec.keys.push(TranscriptKey {
                    token: s.token.label.clone(),
                    label: s.key.label.clone(),
                    spec: s.key.spec.name().to_owned(),
                    created: true,
                    spki_sha256: String::new(),
                });
            }
            (CeremonySpec::Cert(s), Plan::Cert { issuer, params }) => {
                let token = open(&module, &s.issuer.token.label, issuer.pin.clone(), progress)?;
                let ca_signer = issuer_signer(&token, &s.issuer, &issuer)?;
                rec.key(&s.issuer.token.label, ca_signer.key(), false);
                progress(&format!(
                    "signing the {} certificate",
                    params.profile.name()
                ));
                rec.sign_certificate(
                    &params,
                    &ca_signer,
                    Some(&issuer.certificate),
                    &s.issuer.key_label,
                    &s.certificate,
                )?;
            }
            (CeremonySpec::Crl(s), Plan::Crl { issuer, mut params }) => {
                if let Some(registry) = revocations {
                    let recorded = registry.revoked_under(&issuer.certificate).map_err(|e| {
                        bad(format!(
                            "reading the revocations the CA database records ({e}); \
                                 nothing was signed"
                        ))
                    })?;
                    match recorded {
                        Some(recorded) => {
                            let found = recorded.len();
                            let added = merge_recorded(&mut params.revoked, recorded)?;
                            progress(&format!(
                                "{found} certificate(s) of this root revoked in the CA \
                                 database, {added} of them not in the file: listed too"
                            ));
                            params.validate().map_err(x509_err)?;
                        }
                        None => progress(
                            "no CA database here: the ARL lists the ceremony file's \
                             revocations only",
                        ),
                    }
                }
                let token = open(&module, &s.issuer.token.label, issuer.pin.clone(), progress)?;
                let root_signer = issuer_signer(&token, &s.issuer, &issuer)?;
                rec.key(&s.issuer.token.label, root_signer.key(), false);
                progress(&format!("signing ARL number {}", params.crl_number));
                let crl = x509crl::build_crl::<_, HsmSignature>(&params, &root_signer)
                    .map_err(x509_err)?;
                verify::verify_crl_signed_by(&crl, &issuer.certificate)
                    .map_err(|e| Error::Verify(e.to_string()))?;
                rec.signed.push(TranscriptSigned {
                    kind: "crl",
                    name: pkix::name::name_to_string(&crl.tbs_cert_list.issuer),
                    number: params.crl_number.to_string(),
                    signed_with: s.issuer.key_label.clone(),
                    verified: true,
                });
                let pem = x509crl::crl_to_pem(&crl).map_err(x509_err)?;
                rec.write(&s.crl, "crl", pem.as_bytes(), false)?;
            }
            (CeremonySpec::RaAdministrators(s), Plan::RaAdministrators { pin }) => {
                let Some(registry) = registry else {
                    return Err(bad(
                        "a ra-administrators ceremony creates accounts in the RA's database: \
                         run it with `igc ceremony run`",
                    ));
                };
                // The custodians are present: their shares open the token.
                open(&module, &s.token.label, pin, progress)?;
                progress(&format!(
                    "creating {} RA administrators",
                    s.administrators.len()
                ));
                registry
                    .create_first_administrators(&s.administrators, &self.ceremony.sha256)
                    .map_err(|e| bad(format!("creating the RA administrators: {e}")))?;
                accounts = s.administrators.iter().map(|a| a.login.clone()).collect();
            }
            _ => return Err(bad("internal: plan does not match the ceremony type")),
        }
        let transcript = Transcript {
            format: "igc-ceremony-transcript/1",
            ceremony: spec.kind(),
            file: self.ceremony.path.display().to_string(),
            file_sha256: self.ceremony.sha256.clone(),
            description: common.description.to_owned(),
            operators: common.operators.to_vec(),
            module: module_path.display().to_string(),
            init_args: location.init_args.clone(),
            host: std::fs::read_to_string("/etc/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_default(),
            started_at: rfc3339(started),
            finished_at: rfc3339(OffsetDateTime::now_utc()),
            keys: rec.keys,
            signed: rec.signed,
            outputs: rec.outputs,
            accounts,
        };
        let json =
            serde_json::to_vec_pretty(&transcript).map_err(|e| Error::Encoding(e.to_string()))?;
        write_new_file(common.transcript, &json)?;
        progress(&format!(
            "transcript written to {}",
            common.transcript.display()
        ));
        Ok(transcript)
    }
}

fn pool() -> PoolOptions {
    PoolOptions {
        max_sessions: 2,
        ..PoolOptions::default()
    }
}

fn open(
    module: &Arc<Module>,
    label: &str,
    pin: AuthPin,
    progress: &mut dyn FnMut(&str),
) -> Result<Token> {
    progress(&format!("logging in to token {label:?}"));
    Token::open(module.clone(), label, pin, pool())
}

fn signer(token: &Token, label: &str, scheme: Option<SignatureScheme>) -> Result<HsmSigner> {
    match scheme {
        Some(s) => HsmSigner::with_scheme(token, label, s),
        None => HsmSigner::new(token, label),
    }
}

/// The issuer's signer, after checking that the key in the token is the one
/// the issuer certificate certifies.
fn issuer_signer(token: &Token, r: &IssuerRef, issuer: &LoadedIssuer) -> Result<HsmSigner> {
    let key = public_key(token, &r.key_label)?;
    if key.spki_der != issuer.spki.to_der()? {
        return Err(bad(format!(
            "key {:?} in token {:?} is not the key of {}",
            r.key_label,
            r.token.label,
            r.certificate.display()
        )));
    }
    signer(token, &r.key_label, r.scheme)
}

fn resolve_pin(t: &TokenRef) -> Result<AuthPin> {
    check_label("token.label", &t.label)?;
    match &t.pin {
        PinSource::Shares(files) => Ok(TokenSecret::from_share_files(&t.label, files)?.user_pin()),
        PinSource::File(path) => read_pin_file(path),
    }
}

fn load_issuer(r: &IssuerRef) -> Result<LoadedIssuer> {
    check_label("issuer.key_label", &r.key_label)?;
    let certificate = read_certificate(&r.certificate)?;
    let info = IssuerInfo::from_certificate(&certificate).map_err(x509_err)?;
    let spki = certificate.tbs_certificate.subject_public_key_info.clone();
    let now = OffsetDateTime::now_utc();
    let not_after = certificate
        .tbs_certificate
        .validity
        .not_after
        .to_unix_duration();
    if not_after.as_secs() <= u64::try_from(now.unix_timestamp()).unwrap_or(0) {
        return Err(bad(format!(
            "issuer certificate {} has expired",
            r.certificate.display()
        )));
    }
    Ok(LoadedIssuer {
        pin: resolve_pin(&r.token)?,
        certificate,
        info,
        spki,
    })
}

fn validity(
    field: &str,
    days: u32,
    issuer: Option<&Certificate>,
) -> Result<(OffsetDateTime, OffsetDateTime)> {
    if days == 0 || days > 36_600 {
        return Err(bad(format!("{field} must be 1..=36600")));
    }
    // Backdate a little so that relying parties with a slow clock accept it.
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or(OffsetDateTime::now_utc());
    let not_before = now - time::Duration::minutes(5);
    let not_after = now + time::Duration::days(i64::from(days));
    if let Some(issuer) = issuer {
        let limit = issuer
            .tbs_certificate
            .validity
            .not_after
            .to_unix_duration()
            .as_secs();
        if u64::try_from(not_after.unix_timestamp()).unwrap_or(u64::MAX) > limit {
            return Err(bad(format!(
                "{field}: {days} days would outlive the issuer certificate"
            )));
        }
    }
    Ok((not_before, not_after))
}

/// What the `intermediate` and `cert` ceremonies' certificates have in common: signed by
/// `issuer`, valid `validity_days` from now (within the issuer's validity), a random serial,
/// the certificatePolicies `policy_oids` and the AIA caIssuers URL. No CDP or OCSP URL: the
/// caller sets those its profile has, then validates the whole.
fn issued_params(
    issuer: &LoadedIssuer,
    profile: profiles::InfraProfile,
    subject: Name,
    subject_spki: SubjectPublicKeyInfoOwned,
    validity_days: u32,
    policy_oids: &[String],
    ca_issuers_url: &str,
) -> Result<profiles::InfraCertParams> {
    let (not_before, not_after) =
        validity("validity_days", validity_days, Some(&issuer.certificate))?;
    Ok(profiles::InfraCertParams {
        profile,
        subject,
        subject_spki,
        issuer: Some(issuer.info.clone()),
        not_before,
        not_after,
        serial: None,
        policy_oids: parse_oids(policy_oids)?,
        crl_url: None,
        ca_issuers_url: Some(ca_issuers_url.to_owned()),
        ocsp_url: None,
    })
}

fn parse_oids(list: &[String]) -> Result<Vec<der::asn1::ObjectIdentifier>> {
    list.iter()
        .map(|s| {
            der::asn1::ObjectIdentifier::new(s).map_err(|e| bad(format!("policy OID {s:?}: {e}")))
        })
        .collect()
}

fn parse_reason(s: &str) -> Result<CrlReason> {
    Ok(match s {
        "keyCompromise" => CrlReason::KeyCompromise,
        "cACompromise" => CrlReason::CaCompromise,
        "affiliationChanged" => CrlReason::AffiliationChanged,
        "superseded" => CrlReason::Superseded,
        "cessationOfOperation" => CrlReason::CessationOfOperation,
        "certificateHold" => CrlReason::CertificateHold,
        "privilegeWithdrawn" => CrlReason::PrivilegeWithdrawn,
        other => {
            return Err(bad(format!(
                "unknown revocation reason {other:?} (keyCompromise, cACompromise, \
                 affiliationChanged, superseded, cessationOfOperation, certificateHold, \
                 privilegeWithdrawn)"
            )))
        }
    })
}

fn check_label(field: &str, label: &str) -> Result<()> {
    if label.is_empty()
        || label.len() > 32
        || !label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(bad(format!(
            "{field} {label:?}: use 1 to 32 ASCII letters, digits, '-', '_' or '.'"
        )));
    }
    Ok(())
}

fn check_names(field: &str, names: &[String]) -> Result<()> {
    if names.is_empty() {
        return Err(bad(format!("{field} must name at least one person")));
    }
    for (i, n) in names.iter().enumerate() {
        check_label(field, n)?;
        if names[..i].contains(n) {
            return Err(bad(format!("{field}: {n:?} is listed twice")));
        }
    }
    Ok(())
}

fn read_input(path: &Path) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.len() > MAX_FILE {
        return Err(bad(format!("{} is larger than 1 MiB", path.display())));
    }
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

fn read_certificate(path: &Path) -> Result<Certificate> {
    let bytes = read_input(path)?;
    Certificate::from_pem(&bytes)
        .or_else(|_| Certificate::from_der(&bytes))
        .map_err(|e| bad(format!("{}: not a certificate: {e}", path.display())))
}

fn read_crl(path: &Path) -> Result<CertificateList> {
    let bytes = read_input(path)?;
    let der = match pem::parse(&bytes) {
        Ok(p) if p.tag() == "X509 CRL" => p.into_contents(),
        _ => bytes,
    };
    CertificateList::from_der(&der).map_err(|e| bad(format!("{}: not a CRL: {e}", path.display())))
}

fn crl_number(crl: &CertificateList) -> Result<u64> {
    let exts = crl.tbs_cert_list.crl_extensions.as_deref().unwrap_or(&[]);
    let ext = exts
        .iter()
        .find(|e| e.extn_id == const_oid::db::rfc5280::ID_CE_CRL_NUMBER)
        .ok_or_else(|| bad("previous CRL has no CRL number"))?;
    let n = der::asn1::Uint::from_der(ext.extn_value.as_bytes())?;
    let bytes = n.as_bytes();
    if bytes.len() > 8 {
        return Err(bad("previous CRL number is too large"));
    }
    Ok(bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
}

fn read_public_key(path: &Path) -> Result<SubjectPublicKeyInfoOwned> {
    let bytes = read_input(path)?;
    let der = match pem::parse(&bytes) {
        Ok(p) if p.tag() == "PUBLIC KEY" => p.into_contents(),
        Ok(p) => {
            return Err(bad(format!(
                "{}: expected a PUBLIC KEY, found {}",
                path.display(),
                p.tag()
            )))
        }
        Err(_) => bytes,
    };
    let spki = SubjectPublicKeyInfoOwned::from_der(&der)
        .map_err(|e| bad(format!("{}: not a public key: {e}", path.display())))?;
    // Refuse keys the profiles do not allow (weak RSA, unknown curves).
    crate::keys::spec_of_spki(&der)?;
    let _ = p256::PublicKey::from_public_key_der(&der);
    Ok(spki)
}

/// Writes a new file (never overwrites) and syncs it.
pub fn write_new_file(path: &Path, contents: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    f.write_all(contents).map_err(|e| Error::io(path, e))?;
    f.sync_all().map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use x509_cert::serial_number::SerialNumber;

    fn serial(n: u8) -> SerialNumber {
        SerialNumber::new(&[0x1e, n]).unwrap()
    }

    fn recorded(n: u8, at: OffsetDateTime, reason: Option<CrlReason>) -> RecordedRevocation {
        RecordedRevocation {
            serial: serial(n),
            subject: format!("CN=CA {n}"),
            revoked_at: at,
            reason,
        }
    }

    fn listed(n: u8, at: OffsetDateTime, reason: CrlReason) -> x509crl::RevokedEntry {
        x509crl::RevokedEntry {
            serial: serial(n),
            revocation_date: at,
            reason: Some(reason),
        }
    }

    #[test]
    fn recorded_revocations_join_the_files_once() {
        let at = time::macros::datetime!(2026-03-01 10:00:00.25 UTC);
        let mut entries = vec![listed(1, at, CrlReason::CaCompromise)];
        // The same revocation (the file to the second, as an ARL holds it), and a new one.
        let added = merge_recorded(
            &mut entries,
            vec![
                recorded(
                    1,
                    at + time::Duration::milliseconds(500),
                    Some(CrlReason::CaCompromise),
                ),
                recorded(2, at, None),
            ],
        )
        .unwrap();
        assert_eq!(added, 1);
        assert_eq!(entries.len(), 2);
        assert_eq!(
            (entries[1].serial.clone(), entries[1].reason),
            (serial(2), None)
        );
    }

    #[test]
    fn a_revocation_recorded_otherwise_than_the_file_says_is_refused() {
        let at = time::macros::datetime!(2026-03-01 10:00:00 UTC);
        for other in [
            recorded(1, at, Some(CrlReason::KeyCompromise)),
            recorded(1, at, None),
            recorded(
                1,
                at + time::Duration::seconds(1),
                Some(CrlReason::CaCompromise),
            ),
        ] {
            let mut entries = vec![listed(1, at, CrlReason::CaCompromise)];
            let e = merge_recorded(&mut entries, vec![other.clone()]).unwrap_err();
            let text = e.to_string();
            assert!(
                text.contains("1e01")
                    && text.contains("CN=CA 1")
                    && text.contains("nothing was signed"),
                "{text}"
            );
            assert!(text.contains(reason_name(other.reason)), "{text}");
            assert_eq!(entries.len(), 1, "nothing added");
        }
    }
}
