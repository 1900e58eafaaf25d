//! Qualification of a PKCS#11 module against what `igc` needs (`igc hsm check`).
//!
//! The module is loaded here, on its own, so that any library can be examined
//! without the session pool and its recovery logic getting in the way. Every
//! finding is one [`CheckRow`]; a row that is required and not `ok` makes the
//! whole check fail. A module that cannot be loaded, or a token that cannot be
//! found, ends the check early with one failed row saying why: never a crash.
//!
//! With a user PIN, a live test creates short-lived objects (session objects
//! when the token accepts them), reads back their attributes, signs and seals
//! with them, and destroys them.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use cryptoki::context::Pkcs11;
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::{Mechanism, MechanismInfo, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::{Limit, Slot};
use cryptoki::types::AuthPin;
use der::asn1::OctetString;
use der::{Decode, Encode};
use serde::Serialize;

use crate::error::Error;
use crate::token::Module;

/// Families of keys the configuration uses; each brings its mechanisms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Needs {
    /// EC P-256 and P-384 keys (CA, OCSP and TSA keys of the default profiles).
    pub ec: bool,
    /// RSA keys (PKCS#1 v1.5 and PSS signatures).
    pub rsa: bool,
    /// The AES-256-GCM key that seals the RA operators' TOTP secrets.
    pub aes: bool,
}

impl Needs {
    /// Everything the configuration can use.
    pub const ALL: Needs = Needs {
        ec: true,
        rsa: true,
        aes: true,
    };

    /// Parses a comma-separated list of `ec`, `rsa`, `aes`.
    pub fn parse(list: &str) -> Result<Needs, String> {
        let mut needs = Needs {
            ec: false,
            rsa: false,
            aes: false,
        };
        for word in list.split(',').map(str::trim) {
            match word {
                "ec" => needs.ec = true,
                "rsa" => needs.rsa = true,
                "aes" => needs.aes = true,
                other => return Err(format!("unknown need {other:?}: expected ec, rsa or aes")),
            }
        }
        Ok(needs)
    }
}

/// What to examine and how.
#[derive(Debug)]
pub struct CheckOptions {
    /// Path of the PKCS#11 module.
    pub module: PathBuf,
    /// Label of the token to qualify.
    pub token_label: String,
    /// String passed to `C_Initialize` in `pReserved` (NSS softoken needs one).
    pub init_string: Option<String>,
    /// User PIN: with it the live test runs, without it it is skipped.
    pub pin: Option<AuthPin>,
    /// Sessions the pool will open at once (`hsm.max_sessions`).
    pub pool_size: usize,
    /// Key families the configuration uses.
    pub needs: Needs,
}

/// Result of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Present and working.
    Ok,
    /// An optional feature is absent, or the token behaves in a way worth knowing.
    Warning,
    /// The token does not offer it.
    Missing,
    /// The check ran and failed.
    Failed,
    /// Not run (no PIN for the live test).
    Skipped,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Ok => "ok",
            Outcome::Warning => "warning",
            Outcome::Missing => "missing",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
        })
    }
}

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct CheckRow {
    /// What was checked.
    pub check: String,
    /// How it went.
    pub result: Outcome,
    /// Whether the configuration cannot work without it.
    pub required: bool,
    /// Short explanation: values read, or why it failed.
    pub detail: String,
}

/// Everything found about one module and token.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Path of the module examined.
    pub module: PathBuf,
    /// Label of the token examined.
    pub token: String,
    /// True when every required row is `ok`.
    pub passed: bool,
    /// The rows, in the order they were checked.
    pub rows: Vec<CheckRow>,
}

impl Report {
    /// The required rows that are not `ok`: why the check failed.
    pub fn blocking(&self) -> impl Iterator<Item = &CheckRow> {
        self.rows
            .iter()
            .filter(|r| r.required && r.result != Outcome::Ok)
    }
}

impl fmt::Display for Report {
    /// An aligned table: check, result, detail.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let check_width = self
            .rows
            .iter()
            .map(|r| r.check.chars().count())
            .chain(std::iter::once("check".len()))
            .max()
            .unwrap_or(0);
        let result_width = "warning".len();
        writeln!(
            f,
            "{:<check_width$}  {:<result_width$}  detail",
            "check", "result"
        )?;
        writeln!(
            f,
            "{}  {}  {}",
            "-".repeat(check_width),
            "-".repeat(result_width),
            "-".repeat("detail".len())
        )?;
        for row in &self.rows {
            let optional = if row.required || row.result == Outcome::Ok {
                ""
            } else {
                " (optional)"
            };
            writeln!(
                f,
                "{:<check_width$}  {:<result_width$}  {}{optional}",
                row.check,
                row.result.to_string(),
                row.detail
            )?;
        }
        Ok(())
    }
}

struct Rows(Vec<CheckRow>);

impl Rows {
    fn push(&mut self, check: &str, result: Outcome, required: bool, detail: impl Into<String>) {
        self.0.push(CheckRow {
            check: check.to_owned(),
            result,
            required,
            detail: detail.into(),
        });
    }
    fn ok(&mut self, check: &str, detail: impl Into<String>) {
        self.push(check, Outcome::Ok, true, detail);
    }
    fn optional_ok(&mut self, check: &str, detail: impl Into<String>) {
        self.push(check, Outcome::Ok, false, detail);
    }
    fn failed(&mut self, check: &str, detail: impl Into<String>) {
        self.push(check, Outcome::Failed, true, detail);
    }
}

/// Runs every check. Never panics on a misbehaving module: each failure
/// becomes a row.
pub fn run(opts: &CheckOptions) -> Report {
    let mut rows = Rows(Vec::new());
    run_into(opts, &mut rows);
    let passed = rows
        .0
        .iter()
        .all(|r| !r.required || r.result == Outcome::Ok);
    Report {
        module: opts.module.clone(),
        token: opts.token_label.clone(),
        passed,
        rows: rows.0,
    }
}

fn run_into(opts: &CheckOptions, rows: &mut Rows) {
    let Some(module) = load(opts, rows) else {
        return;
    };
    let lib = module.pkcs11();
    match examine_token(lib, opts, rows) {
        Found::Token(slot) => {
            check_mechanisms(lib, slot, opts.needs, rows);
            match &opts.pin {
            Some(pin) => live_test(&module, slot, pin, opts.needs, rows),
            None => rows.push(
                "live test",
                Outcome::Skipped,
                false,
                "no PIN given (--pin-file or --pin-fd): attributes, signing and sealing not tried",
            ),
            }
        }
        // What else the token lacks is worth knowing even though it cannot be used.
        Found::Unreadable(slot) => check_mechanisms(lib, slot, opts.needs, rows),
        Found::Nothing => {}
    }
}

/// Loads and initialises the module the way `igc serve` does (same
/// `C_Initialize`, same init string); one row either way.
fn load(opts: &CheckOptions, rows: &mut Rows) -> Option<Arc<Module>> {
    const CHECK: &str = "module";
    if !opts.module.exists() {
        rows.failed(CHECK, format!("{} does not exist", opts.module.display()));
        return None;
    }
    let module = match Module::load_with(&opts.module, opts.init_string.as_deref()) {
        Ok(m) => m,
        Err(Error::Module { reason, .. }) => {
            rows.failed(
                CHECK,
                format!(
                    "{} cannot be loaded as a PKCS#11 module: {reason}",
                    opts.module.display()
                ),
            );
            return None;
        }
        Err(e) => {
            rows.failed(CHECK, e.to_string());
            return None;
        }
    };
    match module.pkcs11().get_library_info() {
        Ok(info) => rows.ok(
            CHECK,
            format!(
                "{} {} (library {}, Cryptoki {})",
                info.manufacturer_id().trim_end(),
                info.library_description().trim_end(),
                info.library_version(),
                info.cryptoki_version()
            ),
        ),
        Err(e) => rows.failed(CHECK, format!("C_GetInfo failed: {e}")),
    }
    Some(module)
}

/// What [`examine_token`] found.
enum Found {
    /// The token with the label.
    Token(Slot),
    /// No label matched, and the only other token's information could not be
    /// read: its mechanisms are still listed.
    Unreadable(Slot),
    Nothing,
}

/// Finds the token by label and reports its identity, flags and session limits.
fn examine_token(lib: &Pkcs11, opts: &CheckOptions, rows: &mut Rows) -> Found {
    const CHECK: &str = "token";
    let slots = match lib.get_slots_with_token() {
        Ok(s) => s,
        Err(e) => {
            rows.failed(CHECK, format!("C_GetSlotList failed: {e}"));
            return Found::Nothing;
        }
    };
    let mut seen = Vec::new();
    let mut unreadable = Vec::new();
    let mut found = None;
    for slot in slots {
        match lib.get_token_info(slot) {
            Ok(info) if info.label().trim_end() == opts.token_label => {
                found = Some((slot, info));
                break;
            }
            Ok(info) => seen.push(format!("{:?}", info.label().trim_end())),
            // igc finds tokens by label through the same call: a token whose
            // information cannot be read cannot be used.
            Err(e) => {
                seen.push(format!(
                    "slot {slot} whose C_GetTokenInfo answer cannot be read ({e})"
                ));
                unreadable.push(slot);
            }
        }
    }
    let Some((slot, info)) = found else {
        let present = if seen.is_empty() {
            "no token present".to_owned()
        } else {
            format!("tokens present: {}", seen.join(", "))
        };
        rows.failed(
            CHECK,
            format!("no token labelled {:?}; {present}", opts.token_label),
        );
        return match unreadable.as_slice() {
            [only] if seen.len() == 1 => Found::Unreadable(*only),
            _ => Found::Nothing,
        };
    };
    rows.ok(
        CHECK,
        format!(
            "{:?} in slot {slot}: {} {} serial {}, firmware {}, hardware {}",
            opts.token_label,
            info.manufacturer_id().trim_end(),
            info.model().trim_end(),
            info.serial_number().trim_end(),
            info.firmware_version(),
            info.hardware_version()
        ),
    );

    if !info.token_initialized() {
        rows.failed("token initialised", "CKF_TOKEN_INITIALIZED is not set");
    } else if !info.user_pin_initialized() {
        rows.failed("token initialised", "the user PIN is not initialised");
    } else if info.user_pin_locked() {
        rows.failed("token initialised", "the user PIN is locked");
    } else if info.write_protected() {
        rows.failed(
            "token initialised",
            "write-protected: keys cannot be generated",
        );
    } else {
        let mut notes = vec!["user PIN set".to_owned()];
        if info.login_required() {
            notes.push("login required".into());
        }
        if info.user_pin_count_low() || info.user_pin_final_try() {
            notes.push("PIN retry counter low".into());
        }
        rows.ok("token initialised", notes.join(", "));
    }
    if info.rng() {
        rows.optional_ok("random generator", "CKF_RNG set");
    } else {
        rows.push(
            "random generator",
            Outcome::Warning,
            false,
            "no RNG on the token: key generation relies on the module's own source",
        );
    }

    check_sessions(&info, opts.pool_size, rows);
    Found::Token(slot)
}

fn check_sessions(info: &cryptoki::slot::TokenInfo, pool: usize, rows: &mut Rows) {
    let pool = u64::try_from(pool).unwrap_or(u64::MAX);
    let describe = |limit: Limit| match limit {
        Limit::Max(n) => n.to_string(),
        Limit::Infinite => "unlimited".to_owned(),
        Limit::Unavailable => "not reported".to_owned(),
    };
    let all = info.max_session_count();
    let rw = info.max_rw_session_count();
    let detail = format!(
        "max sessions {}, read-write {}, pool size {pool}",
        describe(all),
        describe(rw)
    );
    // The pool opens read-write sessions only.
    let too_small = [all, rw]
        .into_iter()
        .any(|l| matches!(l, Limit::Max(n) if n < pool));
    if too_small {
        rows.failed(
            "session limits",
            format!("{detail}: lower hsm.max_sessions"),
        );
    } else {
        rows.ok("session limits", detail);
    }
}

/// One row per mechanism the needs bring. Each mechanism is asked for by
/// `C_GetMechanismInfo` rather than read from the whole list, so that vendor
/// mechanisms unknown to cryptoki never get in the way.
fn check_mechanisms(lib: &Pkcs11, slot: Slot, needs: Needs, rows: &mut Rows) {
    let info = |m: MechanismType| -> Option<MechanismInfo> {
        match lib.get_mechanism_info(slot, m) {
            Ok(i) => Some(i),
            Err(e) => {
                tracing::debug!(mechanism = %m, error = %e, "mechanism not offered");
                None
            }
        }
    };
    let has = |m: MechanismType| info(m).is_some();
    if needs.ec {
        match info(MechanismType::ECC_KEY_PAIR_GEN) {
            None => rows.push(
                "EC key generation",
                Outcome::Missing,
                true,
                "CKM_EC_KEY_PAIR_GEN not offered",
            ),
            Some(mech) => {
                let (min, max) = (mech.min_key_size(), mech.max_key_size());
                // Some modules report 0 for "not stated"; only a stated
                // range that excludes a curve is a refusal.
                if max != 0 && (min > 256 || max < 384) {
                    rows.push(
                        "EC key generation",
                        Outcome::Missing,
                        true,
                        format!(
                            "CKM_EC_KEY_PAIR_GEN covers {min}..{max} bits, not P-256 and P-384"
                        ),
                    );
                } else {
                    rows.ok(
                        "EC key generation",
                        format!("CKM_EC_KEY_PAIR_GEN, {min}..{max} bits (P-256, P-384)"),
                    );
                }
            }
        }
        required_mechanism(
            rows,
            "ECDSA signing",
            has(MechanismType::ECDSA),
            MechanismType::ECDSA,
            "CKM_ECDSA (hash in software)",
        );
        for (name, m) in [
            ("ECDSA with SHA-256", MechanismType::ECDSA_SHA256),
            ("ECDSA with SHA-384", MechanismType::ECDSA_SHA384),
        ] {
            if has(m) {
                rows.optional_ok(name, format!("{m} offered: used when present"));
            } else {
                rows.push(
                    name,
                    Outcome::Warning,
                    false,
                    format!("{m} not offered: software hash + CKM_ECDSA"),
                );
            }
        }
    }
    if needs.rsa {
        match info(MechanismType::RSA_PKCS_KEY_PAIR_GEN) {
            None => rows.push(
                "RSA key generation",
                Outcome::Missing,
                true,
                "CKM_RSA_PKCS_KEY_PAIR_GEN not offered",
            ),
            Some(mech) => {
                let (min, max) = (mech.min_key_size(), mech.max_key_size());
                if max != 0 && (min > 2048 || max < 2048) {
                    rows.push(
                        "RSA key generation",
                        Outcome::Missing,
                        true,
                        format!("CKM_RSA_PKCS_KEY_PAIR_GEN covers {min}..{max} bits, not 2048"),
                    );
                } else {
                    rows.ok(
                        "RSA key generation",
                        format!("CKM_RSA_PKCS_KEY_PAIR_GEN, {min}..{max} bits"),
                    );
                }
            }
        }
        if has(MechanismType::SHA256_RSA_PKCS) {
            rows.ok("RSA PKCS#1 v1.5 SHA-256", "CKM_SHA256_RSA_PKCS");
        } else if has(MechanismType::RSA_PKCS) {
            rows.ok(
                "RSA PKCS#1 v1.5 SHA-256",
                "CKM_SHA256_RSA_PKCS not offered: software hash + CKM_RSA_PKCS",
            );
        } else {
            rows.push(
                "RSA PKCS#1 v1.5 SHA-256",
                Outcome::Missing,
                true,
                "neither CKM_SHA256_RSA_PKCS nor CKM_RSA_PKCS offered",
            );
        }
        if has(MechanismType::SHA256_RSA_PKCS_PSS) {
            rows.optional_ok("RSA-PSS SHA-256", "CKM_SHA256_RSA_PKCS_PSS");
        } else if has(MechanismType::RSA_PKCS_PSS) {
            rows.optional_ok(
                "RSA-PSS SHA-256",
                "CKM_SHA256_RSA_PKCS_PSS not offered: software hash + CKM_RSA_PKCS_PSS",
            );
        } else {
            rows.push(
                "RSA-PSS SHA-256",
                Outcome::Warning,
                false,
                "neither CKM_SHA256_RSA_PKCS_PSS nor CKM_RSA_PKCS_PSS offered: RSA keys sign with PKCS#1 v1.5 only",
            );
        }
    }
    if needs.aes {
        match info(MechanismType::AES_KEY_GEN) {
            None => rows.push(
                "AES key generation",
                Outcome::Missing,
                true,
                "CKM_AES_KEY_GEN not offered",
            ),
            // AES key sizes are stated in bytes.
            Some(i) if i.max_key_size() != 0 && i.max_key_size() < 32 => rows.push(
                "AES key generation",
                Outcome::Missing,
                true,
                format!(
                    "CKM_AES_KEY_GEN up to {} bytes, not AES-256",
                    i.max_key_size()
                ),
            ),
            Some(_) => rows.ok("AES key generation", "CKM_AES_KEY_GEN (AES-256)"),
        }
        required_mechanism(
            rows,
            "AES-GCM sealing",
            has(MechanismType::AES_GCM),
            MechanismType::AES_GCM,
            "CKM_AES_GCM (TOTP sealing key)",
        );
    }
}

fn required_mechanism(
    rows: &mut Rows,
    check: &str,
    present: bool,
    m: MechanismType,
    ok_detail: &str,
) {
    if present {
        rows.ok(check, ok_detail);
    } else {
        rows.push(check, Outcome::Missing, true, format!("{m} not offered"));
    }
}

/// Objects created by the live test, destroyed at the end whatever happened.
struct Created<'s> {
    session: &'s Session,
    handles: Vec<ObjectHandle>,
}

impl Created<'_> {
    fn destroy_all(&mut self) -> Result<usize, String> {
        let mut failures = Vec::new();
        let count = self.handles.len();
        for h in self.handles.drain(..) {
            if let Err(e) = self.session.destroy_object(h) {
                failures.push(e.to_string());
            }
        }
        if failures.is_empty() {
            Ok(count)
        } else {
            Err(failures.join("; "))
        }
    }
}

fn live_test(module: &Module, slot: Slot, pin: &AuthPin, needs: Needs, rows: &mut Rows) {
    let session = match module.pkcs11().open_rw_session(slot) {
        Ok(s) => s,
        Err(e) => {
            rows.failed("login", format!("C_OpenSession (read-write) failed: {e}"));
            return;
        }
    };
    if let Err(e) = session.login(UserType::User, Some(pin)) {
        rows.failed("login", format!("C_Login (user) failed: {e}"));
        return;
    }
    rows.ok("login", "user PIN accepted");
    let mut created = Created {
        session: &session,
        handles: Vec::new(),
    };
    let tag = random_tag();
    if needs.ec {
        ec_live_test(&mut created, &tag, rows);
    }
    if needs.aes {
        aes_live_test(module, &mut created, rows);
    }
    match created.destroy_all() {
        Ok(n) => rows.ok("cleanup", format!("{n} test objects destroyed")),
        Err(e) => rows.failed(
            "cleanup",
            format!("could not destroy test objects labelled igc-hsm-check-{tag}: {e}"),
        ),
    }
    if let Err(e) = session.logout() {
        tracing::debug!(error = %e, "C_Logout failed");
    }
}

fn random_tag() -> String {
    let mut bytes = [0u8; 6];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    hex::encode(bytes)
}

/// The attributes read back from a private key.
#[derive(Debug, Default)]
struct KeyFlags {
    sensitive: Option<bool>,
    extractable: Option<bool>,
    private: Option<bool>,
    token: Option<bool>,
    always_sensitive: Option<bool>,
    never_extractable: Option<bool>,
    id: Option<Vec<u8>>,
}

impl KeyFlags {
    fn read(session: &Session, key: ObjectHandle) -> Result<KeyFlags, CkError> {
        let mut flags = KeyFlags::default();
        for a in session.get_attributes(
            key,
            &[
                AttributeType::Sensitive,
                AttributeType::Extractable,
                AttributeType::Private,
                AttributeType::Token,
                AttributeType::AlwaysSensitive,
                AttributeType::NeverExtractable,
                AttributeType::Id,
            ],
        )? {
            match a {
                Attribute::Sensitive(b) => flags.sensitive = Some(b),
                Attribute::Extractable(b) => flags.extractable = Some(b),
                Attribute::Private(b) => flags.private = Some(b),
                Attribute::Token(b) => flags.token = Some(b),
                Attribute::AlwaysSensitive(b) => flags.always_sensitive = Some(b),
                Attribute::NeverExtractable(b) => flags.never_extractable = Some(b),
                Attribute::Id(v) => flags.id = Some(v),
                _ => {}
            }
        }
        Ok(flags)
    }

    fn describe(&self) -> String {
        let show = |v: Option<bool>| match v {
            Some(b) => b.to_string(),
            None => "absent".to_owned(),
        };
        let id = match &self.id {
            Some(v) if v.is_empty() => "empty".to_owned(),
            Some(_) => "present".to_owned(),
            None => "absent".to_owned(),
        };
        format!(
            "CKA_SENSITIVE={} CKA_EXTRACTABLE={} CKA_PRIVATE={} CKA_TOKEN={} CKA_ID {id}",
            show(self.sensitive),
            show(self.extractable),
            show(self.private),
            show(self.token)
        )
    }
}

fn p256_params() -> Result<Vec<u8>, String> {
    const_oid::db::rfc5912::SECP_256_R_1
        .to_der()
        .map_err(|e| e.to_string())
}

/// Generates a P-256 key pair, as a session object when the token allows it.
/// `explicit`: the attributes `igc` always sets; otherwise only what
/// PKCS#11 cannot do without, to see the token's defaults.
fn generate_p256(
    created: &mut Created<'_>,
    label: &str,
    explicit: bool,
) -> Result<(ObjectHandle, ObjectHandle, bool), String> {
    let params = p256_params()?;
    let mut last_error = String::new();
    for on_token in [false, true] {
        let mut public = vec![
            Attribute::Token(on_token),
            Attribute::Verify(true),
            Attribute::EcParams(params.clone()),
            Attribute::Label(label.as_bytes().to_vec()),
        ];
        let mut private = vec![
            Attribute::Token(on_token),
            Attribute::Sign(true),
            Attribute::Label(label.as_bytes().to_vec()),
        ];
        if explicit {
            let id = label.as_bytes().to_vec();
            public.push(Attribute::Id(id.clone()));
            private.extend([
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Id(id),
            ]);
        }
        match created
            .session
            .generate_key_pair(&Mechanism::EccKeyPairGen, &public, &private)
        {
            Ok((public, private)) => {
                created.handles.extend([public, private]);
                return Ok((public, private, on_token));
            }
            Err(e) => last_error = e.to_string(),
        }
    }
    Err(last_error)
}

fn ec_live_test(created: &mut Created<'_>, tag: &str, rows: &mut Rows) {
    let label = format!("igc-hsm-check-{tag}");
    let (public, private, on_token) = match generate_p256(created, &label, true) {
        Ok(k) => k,
        Err(e) => {
            rows.failed(
                "EC P-256 key pair",
                format!("C_GenerateKeyPair failed: {e}"),
            );
            return;
        }
    };
    rows.ok(
        "EC P-256 key pair",
        if on_token {
            "generated as a token object (session objects refused); destroyed after the test"
        } else {
            "generated as a session object"
        },
    );

    match KeyFlags::read(created.session, private) {
        Ok(flags) => {
            let mut wrong = Vec::new();
            if flags.sensitive != Some(true) {
                wrong.push("CKA_SENSITIVE not true");
            }
            if flags.extractable != Some(false) {
                wrong.push("CKA_EXTRACTABLE not false");
            }
            if flags.private != Some(true) {
                wrong.push("CKA_PRIVATE not true");
            }
            if flags.token != Some(on_token) {
                wrong.push("CKA_TOKEN not as requested");
            }
            if flags.id.is_none() {
                wrong.push("CKA_ID not kept");
            }
            if flags.always_sensitive == Some(false) || flags.never_extractable == Some(false) {
                wrong.push("CKA_ALWAYS_SENSITIVE/CKA_NEVER_EXTRACTABLE false");
            }
            if wrong.is_empty() {
                rows.ok("explicit key attributes", flags.describe());
            } else {
                rows.failed(
                    "explicit key attributes",
                    format!("{} ({})", wrong.join(", "), flags.describe()),
                );
            }
        }
        Err(e) => rows.failed(
            "explicit key attributes",
            format!("C_GetAttributeValue failed: {e}"),
        ),
    }

    // The token's defaults matter for keys made by other tools: report them.
    match generate_p256(created, &format!("{label}-defaults"), false).and_then(|(_, private, _)| {
        KeyFlags::read(created.session, private).map_err(|e| e.to_string())
    }) {
        Ok(flags) => {
            let unsafe_default = flags.sensitive != Some(true) || flags.extractable != Some(false);
            if unsafe_default {
                rows.push(
                    "default key attributes",
                    Outcome::Warning,
                    false,
                    format!(
                        "when not told: {}; igc always sets them explicitly",
                        flags.describe()
                    ),
                );
            } else {
                rows.optional_ok(
                    "default key attributes",
                    format!("when not told: {}", flags.describe()),
                );
            }
        }
        Err(e) => rows.push(
            "default key attributes",
            Outcome::Warning,
            false,
            format!("a key pair without explicit attributes was refused: {e}"),
        ),
    }

    match sign_and_verify(created.session, public, private) {
        Ok(detail) => rows.ok("ECDSA sign/verify", detail),
        Err(e) => rows.failed("ECDSA sign/verify", e),
    }
}

/// Signs with the token, verifies in software with the public point read back.
fn sign_and_verify(
    session: &Session,
    public: ObjectHandle,
    private: ObjectHandle,
) -> Result<String, String> {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    use p256::ecdsa::signature::Verifier;
    use sha2::Digest;

    let point = session
        .get_attributes(public, &[AttributeType::EcPoint])
        .map_err(|e| format!("reading CKA_EC_POINT: {e}"))?
        .into_iter()
        .find_map(|a| match a {
            Attribute::EcPoint(p) => Some(p),
            _ => None,
        })
        .ok_or("the public key has no CKA_EC_POINT")?;
    // CKA_EC_POINT is a DER OCTET STRING; some modules return the raw point.
    let raw = match OctetString::from_der(&point) {
        Ok(os) => os.as_bytes().to_vec(),
        Err(_) => point,
    };
    let verifying_key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&raw)
        .map_err(|e| format!("CKA_EC_POINT is not a P-256 point: {e}"))?;

    let message = format!("igc hsm check {}", random_tag());
    let digest = sha2::Sha256::digest(message.as_bytes());
    let raw_sig = session
        .sign(&Mechanism::Ecdsa, private, &digest)
        .map_err(|e| format!("C_Sign (CKM_ECDSA) failed: {e}"))?;
    let sig = p256::ecdsa::Signature::from_slice(&raw_sig)
        .map_err(|e| format!("CKM_ECDSA returned {} bytes, not r||s: {e}", raw_sig.len()))?;
    verifying_key
        .verify_prehash(&digest, &sig)
        .map_err(|_| "the CKM_ECDSA signature does not verify in software".to_owned())?;

    let mut used = vec!["CKM_ECDSA"];
    // When the token hashes itself, the mechanism igc prefers must work too.
    match session.sign(&Mechanism::EcdsaSha256, private, message.as_bytes()) {
        Ok(raw_sig) => {
            let sig = p256::ecdsa::Signature::from_slice(&raw_sig)
                .map_err(|e| format!("CKM_ECDSA_SHA256 returned {} bytes: {e}", raw_sig.len()))?;
            verifying_key
                .verify(message.as_bytes(), &sig)
                .map_err(|_| {
                    "the CKM_ECDSA_SHA256 signature does not verify in software".to_owned()
                })?;
            used.push("CKM_ECDSA_SHA256");
        }
        Err(CkError::Pkcs11(RvError::MechanismInvalid, _)) => {}
        Err(e) => return Err(format!("C_Sign (CKM_ECDSA_SHA256) failed: {e}")),
    }
    Ok(format!(
        "{} signature(s) verified with p256",
        used.join(" and ")
    ))
}

fn aes_live_test(module: &Module, created: &mut Created<'_>, rows: &mut Rows) {
    const CHECK: &str = "AES-GCM seal/open";
    let template = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::ValueLen(32.into()),
        Attribute::Token(false),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
    ];
    let key = match created
        .session
        .generate_key(&Mechanism::AesKeyGen, &template)
    {
        Ok(k) => k,
        Err(e) => {
            rows.failed(CHECK, format!("C_GenerateKey (AES-256) failed: {e}"));
            return;
        }
    };
    created.handles.push(key);
    match seal_and_open(module, created.session, key) {
        Ok(detail) => rows.ok(CHECK, detail),
        Err(e) => rows.failed(CHECK, e),
    }
}

fn seal_and_open(module: &Module, session: &Session, key: ObjectHandle) -> Result<String, String> {
    const TAG_BYTES: usize = 16;
    let plaintext = b"igc hsm check: TOTP secret stand-in";
    let aad = b"igc hsm check aad";
    let mut iv = [0u8; 12];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut iv);

    let mut seal_iv = iv;
    let params = GcmParams::new(&mut seal_iv, aad, 128.into()).map_err(|e| e.to_string())?;
    // As the sealer does: no length query (NSS softoken's omits the tag).
    let sealed = session
        .encrypt_init(&Mechanism::AesGcm(params), key)
        .and_then(|()| module.encrypt_into(session, plaintext, plaintext.len() + TAG_BYTES))
        .map_err(|e| format!("C_Encrypt (CKM_AES_GCM) failed: {e}"))?;
    if sealed.len() != plaintext.len() + TAG_BYTES {
        return Err(format!(
            "C_Encrypt returned {} bytes for {} and a {TAG_BYTES}-byte tag",
            sealed.len(),
            plaintext.len()
        ));
    }
    let mut open_iv = iv;
    let params = GcmParams::new(&mut open_iv, aad, 128.into()).map_err(|e| e.to_string())?;
    let opened = session
        .decrypt(&Mechanism::AesGcm(params), key, &sealed)
        .map_err(|e| format!("C_Decrypt (CKM_AES_GCM) failed: {e}"))?;
    if opened != plaintext {
        return Err("C_Decrypt returned other bytes than were sealed".into());
    }
    let mut tampered = sealed;
    if let Some(last) = tampered.last_mut() {
        *last ^= 1;
    }
    let mut tamper_iv = iv;
    let params = GcmParams::new(&mut tamper_iv, aad, 128.into()).map_err(|e| e.to_string())?;
    if session
        .decrypt(&Mechanism::AesGcm(params), key, &tampered)
        .is_ok()
    {
        return Err("a tampered ciphertext was opened: the tag is not checked".into());
    }
    Ok("AES-256 session key: sealed, opened, tampered copy refused".into())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn needs_parse_lists_and_refuses_unknown_words() {
        assert_eq!(Needs::parse("ec,rsa,aes").unwrap(), Needs::ALL);
        let ec = Needs::parse("ec").unwrap();
        assert!(ec.ec && !ec.rsa && !ec.aes);
        assert!(Needs::parse("ec,dsa").unwrap_err().contains("dsa"));
    }

    #[test]
    fn a_missing_module_is_one_failed_row() {
        let report = run(&CheckOptions {
            module: "/nonexistent/libnothing.so".into(),
            token_label: "x".into(),
            init_string: None,
            pin: None,
            pool_size: 8,
            needs: Needs::ALL,
        });
        assert!(!report.passed);
        assert_eq!(report.rows.len(), 1);
        assert_eq!(report.rows[0].result, Outcome::Failed);
        assert!(report.to_string().contains("does not exist"));
    }
}
