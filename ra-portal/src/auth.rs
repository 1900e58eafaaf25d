//! Credentials: argon2 passwords, RFC 6238 TOTP, random tokens, roles and permissions.

use ca::storage::OperatorRole;
use ca::workflow::{role_may, Duty};
use rand::RngCore as _;
use sha2::Digest as _;

use crate::error::PortalError;

/// Authentication method recorded in the journal for the degraded mode.
pub const AUTH_PASSWORD_TOTP: &str = "password+totp";
/// Authentication method recorded in the journal for TLS client certificates.
pub const AUTH_CLIENT_CERT: &str = "tls-client-cert";

pub use ca::credentials::{
    base32_decode, check_totp, constant_time_eq, current_step, dummy_verify, new_totp_secret,
    totp_code, verify_password,
};
pub use ca::workflow::{scope_of, Scope};

pub fn hash_password(password: &str) -> Result<String, PortalError> {
    ca::credentials::hash_password(password)
        .map_err(|e| PortalError::Internal(format!("argon2: {e}")))
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
        // The workflow's rules, shared with the API and the CLI.
        P::ViewProfessionals => role_may(role, Duty::View),
        P::Register => role_may(role, Duty::Register),
        P::ManageCertificates => role_may(role, Duty::ManageCertificates),
        P::FileRequest => role_may(role, Duty::File),
        P::Decide => role_may(role, Duty::Decide),
        P::ReadJournal => role_may(role, Duty::ReadJournal),
        P::ManageOperators => role_may(role, Duty::ManageOperators),
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
