//! Credentials: argon2 passwords, RFC 6238 TOTP, random tokens, roles and permissions.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::Argon2;
use ca::domain::{Order, RegistrationAuthority};
use ca::storage::OperatorRole;
use hmac::{Hmac, Mac as _};
use rand::RngCore as _;
use sha2::Digest as _;

use crate::error::PortalError;

/// Authentication method recorded in the journal for the degraded mode.
pub const AUTH_PASSWORD_TOTP: &str = "password+totp";
/// Authentication method recorded in the journal for TLS client certificates.
pub const AUTH_CLIENT_CERT: &str = "tls-client-cert";

pub fn hash_password(password: &str) -> Result<String, PortalError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PortalError::Internal(format!("argon2: {e}")))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash nobody's password matches, verified for unknown logins so that they take as long
/// as known ones.
pub fn dummy_verify(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let h = DUMMY.get_or_init(|| hash_password("dummy-password-never-used").unwrap_or_default());
    let _ = verify_password(password, h);
}

/// `n` random bytes as lowercase hex.
pub fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

pub fn sha256_hex(s: &str) -> String {
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

/// A one-time password given to a new operator (readable: no 0/O, 1/l/I).
pub fn one_time_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut b = [0u8; 20];
    rand::thread_rng().fill_bytes(&mut b);
    let chars: String = b
        .iter()
        .map(|x| char::from(ALPHABET[usize::from(*x) % ALPHABET.len()]))
        .collect();
    format!(
        "{}-{}-{}-{}",
        &chars[0..5],
        &chars[5..10],
        &chars[10..15],
        &chars[15..20]
    )
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

// ----- TOTP (RFC 6238 over RFC 4226, HMAC-SHA-1, 6 digits, 30 s) -------------------------------

pub const TOTP_PERIOD: i64 = 30;
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

pub fn base32_encode(data: &[u8]) -> String {
    let mut out = String::new();
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &b in data {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(BASE32[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

pub fn base32_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for c in s.chars().filter(|c| *c != '=' && !c.is_whitespace()) {
        let v = BASE32
            .iter()
            .position(|&x| char::from(x) == c.to_ascii_uppercase())?;
        buffer = (buffer << 5) | u32::try_from(v).ok()?;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

/// A new TOTP secret (160 bits), base32.
pub fn new_totp_secret() -> String {
    let mut b = [0u8; 20];
    rand::thread_rng().fill_bytes(&mut b);
    base32_encode(&b)
}

/// The 6-digit code of `secret` for time step `step`.
pub fn totp_code(secret: &[u8], step: i64) -> String {
    let Ok(mut mac) = Hmac::<sha1::Sha1>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(&step.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let offset = usize::from(h[19] & 0x0f);
    let bin = (u32::from(h[offset] & 0x7f) << 24)
        | (u32::from(h[offset + 1]) << 16)
        | (u32::from(h[offset + 2]) << 8)
        | u32::from(h[offset + 3]);
    format!("{:06}", bin % 1_000_000)
}

pub fn current_step(unix: i64) -> i64 {
    unix.div_euclid(TOTP_PERIOD)
}

/// Checks `code` against the steps around `now` (±1 step for clock skew); returns the step
/// that matched.
pub fn check_totp(secret_b32: &str, code: &str, unix_now: i64) -> Option<i64> {
    let code = code.trim().replace(' ', "");
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secret = base32_decode(secret_b32)?;
    let now = current_step(unix_now);
    [now, now - 1, now + 1]
        .into_iter()
        .find(|s| constant_time_eq(totp_code(&secret, *s).as_bytes(), code.as_bytes()))
}

/// otpauth:// URI for authenticator apps.
pub fn otpauth_uri(issuer: &str, login: &str, secret: &str) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    format!(
        "otpauth://totp/{}:{}?secret={secret}&issuer={}&algorithm=SHA1&digits=6&period=30",
        enc(issuer),
        enc(login),
        enc(issuer)
    )
}

// ----- roles and permissions --------------------------------------------------------------------

/// What a route requires. Deny by default: a role has only the permissions listed in
/// [`role_allows`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// No session needed (login page, style sheet).
    Public,
    /// A session in the enrolment stage (first login).
    Enrolment,
    /// Any fully logged-in operator.
    Authenticated,
    /// Any session, even in the enrolment stage (logout).
    AnySession,
    /// Search and view professionals, their requests and certificates (in scope).
    ViewProfessionals,
    /// Register professionals (in scope).
    Register,
    /// File certificate requests and renewals (in scope).
    FileRequest,
    /// Approve or reject requests filed by someone else (in scope).
    Decide,
    /// Suspend, reinstate, revoke certificates (in scope).
    ManageCertificates,
    /// Read the whole journal.
    ReadJournal,
    /// Create, disable, reset operators.
    ManageOperators,
}

pub fn role_allows(role: OperatorRole, p: Permission) -> bool {
    use Permission as P;
    match p {
        P::Public | P::Authenticated | P::AnySession => true,
        P::Enrolment => false,
        P::ViewProfessionals | P::Register | P::FileRequest | P::ManageCertificates => matches!(
            role,
            OperatorRole::Clerk | OperatorRole::Approver | OperatorRole::RegistrationOffice
        ),
        P::Decide => matches!(
            role,
            OperatorRole::Approver | OperatorRole::RegistrationOffice
        ),
        P::ReadJournal => role == OperatorRole::Auditor,
        P::ManageOperators => role == OperatorRole::Administrator,
    }
}

/// Which professionals an operator acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Order(Order),
    RegistrationOffice,
    /// Auditors and administrators: no professional.
    Nobody,
}

pub fn scope_of(role: OperatorRole, order: Option<Order>) -> Scope {
    match (role, order) {
        (OperatorRole::Clerk | OperatorRole::Approver, Some(o)) => Scope::Order(o),
        (OperatorRole::RegistrationOffice, _) => Scope::RegistrationOffice,
        _ => Scope::Nobody,
    }
}

impl Scope {
    pub fn covers(self, authority: RegistrationAuthority) -> bool {
        match (self, authority) {
            (Scope::Order(a), RegistrationAuthority::Order(b)) => a == b,
            (Scope::RegistrationOffice, RegistrationAuthority::RegistrationOffice) => true,
            _ => false,
        }
    }

    pub fn label(self) -> String {
        match self {
            Scope::Order(o) => o.french_name().to_owned(),
            Scope::RegistrationOffice => "Bureau d'enregistrement (professions sans Ordre)".into(),
            Scope::Nobody => "—".into(),
        }
    }
}

pub fn role_label(role: OperatorRole) -> &'static str {
    match role {
        OperatorRole::Clerk => "Agent d'enregistrement",
        OperatorRole::Approver => "Approbateur",
        OperatorRole::RegistrationOffice => "Bureau d'enregistrement",
        OperatorRole::Auditor => "Auditeur",
        OperatorRole::Administrator => "Administrateur",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn rfc6238_sha1_vectors() {
        // RFC 6238 appendix B, SHA-1 seed, 8-digit values truncated to 6.
        let seed = b"12345678901234567890";
        assert_eq!(totp_code(seed, 59 / 30), "287082");
        assert_eq!(totp_code(seed, 1_111_111_109 / 30), "081804");
        assert_eq!(totp_code(seed, 1_234_567_890 / 30), "005924");
        assert_eq!(totp_code(seed, 2_000_000_000 / 30), "279037");
        let b32 = base32_encode(seed);
        assert_eq!(b32, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(base32_decode(&b32).unwrap(), seed);
        assert_eq!(check_totp(&b32, "287082", 59), Some(1));
        assert_eq!(check_totp(&b32, "287083", 59), None);
        assert_eq!(check_totp(&b32, "abc", 59), None);
    }

    #[test]
    fn passwords() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a hash"));
        let otp = one_time_password();
        assert_eq!(otp.len(), 23);
    }

    #[test]
    fn administrators_never_decide() {
        assert!(!role_allows(
            OperatorRole::Administrator,
            Permission::Decide
        ));
        assert!(!role_allows(OperatorRole::Clerk, Permission::Decide));
        assert!(!role_allows(OperatorRole::Auditor, Permission::Register));
    }
}
