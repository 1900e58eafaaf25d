//! The ceremony file format: one reviewable YAML document per ceremony.
//!
//! Parsing is strict: every struct denies unknown fields, so a typo is an
//! error rather than a silently ignored setting. Paths are relative to the
//! directory the ceremony runs from.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::keys::KeySpec;
use crate::signer::SignatureScheme;

/// One ceremony, tagged by its `ceremony:` field.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "ceremony", rename_all = "kebab-case")]
pub enum CeremonySpec {
    /// Initialise a token; its PINs come from a secret split among custodians.
    InitToken(InitTokenSpec),
    /// New key and self-signed root certificate.
    Root(RootSpec),
    /// New key in the online token and a sub-CA certificate signed by the root.
    Intermediate(IntermediateSpec),
    /// New key (OCSP signer, TSA unit, …): public key and/or CSR out.
    Key(KeySpecCeremony),
    /// New secret key that never leaves the token (the RA's TOTP sealing key).
    SecretKey(SecretKeyCeremony),
    /// Infrastructure certificate for an existing public key, signed by a sub-CA.
    Cert(CertSpec),
    /// The root's CRL (ARL) covering its sub-CAs.
    Crl(CrlSpec),
    /// The first RA portal administrators, vouched for by the custodians of a token.
    RaAdministrators(RaAdministratorsSpec),
}

impl CeremonySpec {
    /// The ceremony type as written in the file.
    pub fn kind(&self) -> &'static str {
        match self {
            CeremonySpec::InitToken(_) => "init-token",
            CeremonySpec::Root(_) => "root",
            CeremonySpec::Intermediate(_) => "intermediate",
            CeremonySpec::Key(_) => "key",
            CeremonySpec::SecretKey(_) => "secret-key",
            CeremonySpec::Cert(_) => "cert",
            CeremonySpec::Crl(_) => "crl",
            CeremonySpec::RaAdministrators(_) => "ra-administrators",
        }
    }

    /// Fields every ceremony has.
    pub fn common(&self) -> Common<'_> {
        match self {
            CeremonySpec::InitToken(s) => s.common(),
            CeremonySpec::Root(s) => s.common(),
            CeremonySpec::Intermediate(s) => s.common(),
            CeremonySpec::Key(s) => s.common(),
            CeremonySpec::SecretKey(s) => s.common(),
            CeremonySpec::Cert(s) => s.common(),
            CeremonySpec::Crl(s) => s.common(),
            CeremonySpec::RaAdministrators(s) => s.common(),
        }
    }
}

/// Fields shared by every ceremony, borrowed from its spec.
#[derive(Debug, Clone, Copy)]
pub struct Common<'a> {
    /// What this ceremony is for, in a sentence.
    pub description: &'a str,
    /// People present (administrators, custodians, witnesses).
    pub operators: &'a [String],
    /// Where the JSON transcript goes (never overwritten).
    pub transcript: &'a Path,
    /// PKCS#11 module, when the file names one.
    pub module: Option<&'a Path>,
    /// The module's `C_Initialize` string, when the file gives one.
    pub init_args: Option<&'a str>,
}

/// Defines a ceremony struct with the common fields at its top level
/// (serde's `flatten` would disable `deny_unknown_fields`).
macro_rules! ceremony_struct {
    ($(#[$meta:meta])* pub struct $name:ident { $($body:tt)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            /// What this ceremony is for, in a sentence.
            pub description: String,
            /// People present (administrators, custodians, witnesses).
            pub operators: Vec<String>,
            /// Where the JSON transcript goes (never overwritten).
            pub transcript: PathBuf,
            /// PKCS#11 module; default: the configuration's, or SoftHSM2.
            #[serde(default)]
            pub module: Option<PathBuf>,
            /// The module's `C_Initialize` string (`pReserved`: NSS softoken's parameters,
            /// kryoptic's configuration); default: the configuration's when `module` is not
            /// given either.
            #[serde(default)]
            pub init_args: Option<String>,
            $($body)*
        }

        impl $name {
            /// The common fields.
            pub fn common(&self) -> Common<'_> {
                Common {
                    description: &self.description,
                    operators: &self.operators,
                    transcript: &self.transcript,
                    module: self.module.as_deref(),
                    init_args: self.init_args.as_deref(),
                }
            }
        }
    };
}

/// How a token is logged in to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRef {
    /// Token label.
    pub label: String,
    /// Where the user PIN comes from.
    pub pin: PinSource,
}

/// A PIN source. Never a literal PIN: PINs do not belong in reviewed files.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum PinSource {
    /// Custodian share files (at least the threshold of them).
    Shares(Vec<PathBuf>),
    /// A PIN file (mode 0600), for the online token.
    File(PathBuf),
}

/// A key to create.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    /// Label of the key pair in the token (must be new).
    pub label: String,
    /// Key type and size.
    pub spec: KeySpec,
    /// Signature scheme when this key signs (defaults to the key's usual one).
    #[serde(default)]
    pub scheme: Option<SignatureScheme>,
}

/// A signing CA: its token, key and certificate.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerRef {
    /// Token holding the issuer key.
    pub token: TokenRef,
    /// Label of the issuer key.
    pub key_label: String,
    /// The issuer's certificate (PEM); its public key must match the key.
    pub certificate: PathBuf,
    /// Signature scheme (defaults to the key's usual one).
    #[serde(default)]
    pub scheme: Option<SignatureScheme>,
}

ceremony_struct! {
    /// `ceremony: init-token`.
    pub struct InitTokenSpec {
        /// Label of the new token.
        pub token_label: String,
        /// M-of-N split of the token secret.
        pub shares: ShareSplit,
        /// Also write the user PIN to this file (mode 0600), for a token used
        /// unattended by `igc serve`. Omit it for the root token.
        #[serde(default)]
        pub user_pin_file: Option<PathBuf>,
        /// The token exists already, initialised by the HSM's own tool (a network HSM's
        /// partition, an NSS database): instead of `C_InitToken`, the ceremony changes its
        /// user PIN to the new one. Its SO PIN stays the vendor tool's business.
        #[serde(default)]
        pub existing_token: Option<ExistingToken>,
    }
}

/// A token initialised outside the ceremony, and the PIN it was given there.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExistingToken {
    /// File (mode 0600) holding the user PIN the token was initialised with; useless once
    /// the ceremony has replaced that PIN.
    pub initial_pin_file: PathBuf,
}

/// How the token secret is split.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareSplit {
    /// Shares needed (M).
    pub threshold: u8,
    /// One share per custodian (N = their number).
    pub custodians: Vec<String>,
    /// Directory for the share files.
    pub output_dir: PathBuf,
}

ceremony_struct! {
    /// `ceremony: root`.
    pub struct RootSpec {
        /// The root token (PIN from custodian shares).
        pub token: TokenRef,
        /// The root key to create.
        pub key: NewKey,
        /// Subject DN, e.g. `C=FR, O=…, CN=…`.
        pub subject: String,
        /// Validity in days from now.
        pub validity_days: u32,
        /// Output certificate (PEM).
        pub certificate: PathBuf,
    }
}

ceremony_struct! {
    /// `ceremony: intermediate`.
    pub struct IntermediateSpec {
        /// The root that signs.
        pub issuer: IssuerRef,
        /// The online token where the sub-CA key is created.
        pub token: TokenRef,
        /// The sub-CA key to create.
        pub key: NewKey,
        /// Subject DN.
        pub subject: String,
        /// Validity in days from now (must end before the root's).
        pub validity_days: u32,
        /// certificatePolicies OIDs.
        pub policy_oids: Vec<String>,
        /// HTTP URL of the root's ARL.
        pub crl_url: String,
        /// HTTP URL of the root certificate.
        pub ca_issuers_url: String,
        /// Output certificate (PEM).
        pub certificate: PathBuf,
    }
}

ceremony_struct! {
    /// `ceremony: key`.
    pub struct KeySpecCeremony {
        /// Token where the key is created.
        pub token: TokenRef,
        /// The key to create.
        pub key: NewKey,
        /// Output public key (PEM SubjectPublicKeyInfo).
        #[serde(default)]
        pub public_key: Option<PathBuf>,
        /// Output CSR signed by the new key (proof of possession).
        #[serde(default)]
        pub csr: Option<CsrOut>,
    }
}

ceremony_struct! {
    /// `ceremony: secret-key`.
    pub struct SecretKeyCeremony {
        /// Token where the key is created.
        pub token: TokenRef,
        /// The key to create.
        pub key: NewSecretKey,
    }
}

/// A secret key to create.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSecretKey {
    /// Label of the key in the token (must be new).
    pub label: String,
    /// Key type and size.
    pub spec: SecretKeyType,
}

/// Secret key types a `secret-key` ceremony creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SecretKeyType {
    /// AES-256, used with AES-GCM (sealing).
    #[serde(rename = "aes-256")]
    Aes256,
}

impl SecretKeyType {
    /// The name as written in ceremony files.
    pub fn name(self) -> &'static str {
        match self {
            SecretKeyType::Aes256 => "aes-256",
        }
    }
}

/// A CSR to produce.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsrOut {
    /// Subject DN of the request.
    pub subject: String,
    /// Output path (PEM).
    pub path: PathBuf,
}

ceremony_struct! {
    /// `ceremony: cert`.
    pub struct CertSpec {
        /// The sub-CA that signs.
        pub issuer: IssuerRef,
        /// `ocsp-signer`, `tsa-unit` or `ra-operator`.
        pub profile: CertProfile,
        /// Subject DN.
        pub subject: String,
        /// Subject public key: a PEM public key file …
        #[serde(default)]
        pub public_key: Option<PathBuf>,
        /// … or a CSR whose signature proves possession.
        #[serde(default)]
        pub csr: Option<PathBuf>,
        /// Validity in days from now (must end before the issuer's).
        pub validity_days: u32,
        /// certificatePolicies OIDs.
        pub policy_oids: Vec<String>,
        /// CRL distribution point URL (not for OCSP signers).
        #[serde(default)]
        pub crl_url: Option<String>,
        /// AIA caIssuers URL.
        pub ca_issuers_url: String,
        /// AIA OCSP URL (TSA unit and RA operator).
        #[serde(default)]
        pub ocsp_url: Option<String>,
        /// Output certificate (PEM).
        pub certificate: PathBuf,
    }
}

/// Infrastructure profiles a `cert` ceremony issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CertProfile {
    /// Delegated OCSP responder.
    OcspSigner,
    /// RFC 3161 TSA unit.
    TsaUnit,
    /// RA operator (clerk) client certificate.
    RaOperator,
}

ceremony_struct! {
    /// `ceremony: crl`.
    pub struct CrlSpec {
        /// The root that signs.
        pub issuer: IssuerRef,
        /// cRLNumber; must exceed the previous ARL's.
        pub crl_number: u64,
        /// The previous ARL, if any (its number must be lower).
        #[serde(default)]
        pub previous_crl: Option<PathBuf>,
        /// nextUpdate, in days from now.
        pub next_update_days: u32,
        /// Revoked sub-CA certificates. Run by `igc ceremony run` where the configuration
        /// is, the ARL also lists those the CA database records as revoked; one listed in both
        /// must say the same (reason, time to the second) or the ceremony stops.
        #[serde(default)]
        pub revoked: Vec<RevokedSpec>,
        /// HTTP URL where the ARL is published, written as an
        /// issuingDistributionPoint with onlyContainsCACerts. Leave it out
        /// for relying parties that check the root itself against the ARL
        /// (`openssl verify -crl_check_all` refuses a scoped ARL there: the
        /// root has no CDP to match the scope).
        #[serde(default)]
        pub distribution_point: Option<String>,
        /// Output CRL (PEM).
        pub crl: PathBuf,
    }
}

/// One revoked certificate of an ARL.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokedSpec {
    /// The revoked certificate (PEM).
    pub certificate: PathBuf,
    /// RFC 5280 reason: keyCompromise, cACompromise, affiliationChanged,
    /// superseded, cessationOfOperation, certificateHold, privilegeWithdrawn.
    pub reason: String,
    /// Revocation time (RFC 3339).
    pub revoked_at: String,
}

ceremony_struct! {
    /// The first administrators of the RA portal, at least two. Nobody becomes the first
    /// administrator by logging in first: the custodians of `token` prove they are present
    /// (their shares rebuild its PIN, and the token accepts it), and each administrator gets a
    /// one-time password in front of them. Later accounts are created by one administrator
    /// and confirmed by another.
    pub struct RaAdministratorsSpec {
        /// The token whose custodians witness the ceremony (its PIN from shares only).
        pub token: TokenRef,
        /// The administrators to create.
        pub administrators: Vec<RaAdministrator>,
    }
}

/// One administrator of a `ra-administrators` ceremony.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RaAdministrator {
    /// Portal login: 3 to 32 characters among lowercase letters, digits, '.', '-' and '_'.
    pub login: String,
    /// Name shown in the portal and the journal.
    pub name: String,
}
