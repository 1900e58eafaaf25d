//! Operator credentials: argon2 password hashes and RFC 6238 TOTP codes. Shared by every
//! place an operator authenticates (the RA portal, its API, the `igc` command line), so that
//! one set of rules decides who is who.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::Argon2;
use hmac::{Hmac, Mac as _};
use rand::RngCore as _;

use crate::error::{Error, Result};

/// Hashes a password (argon2id, random salt) for storage.
pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::invalid("password", format!("argon2: {e}")))
}

/// Whether `password` matches the stored argon2 `hash` (false for a malformed hash).
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

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

// ----- revocation codes of lost or stolen cards -------------------------------------------------

/// Letters and digits that cannot be mistaken for one another when read aloud or copied (no
/// 0/O, 1/I/L).
const CODE_ALPHABET: &[u8; 31] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
/// Symbols in a code (over 79 bits).
const CODE_SYMBOLS: usize = 16;

/// The code a professional receives when a certificate is issued, to suspend their
/// certificates alone if the card is lost or stolen. Shown once; stored only as an argon2id
/// hash. Its `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct RevocationCode(String);

impl RevocationCode {
    /// A new random code, `XXXX-XXXX-XXXX-XXXX`.
    pub fn generate() -> Self {
        let alphabet = CODE_ALPHABET.len();
        // Bytes at or above the last multiple of the alphabet's size are drawn again, so that
        // every symbol is equally likely.
        let limit = 256 - 256 % alphabet;
        let mut rng = rand::thread_rng();
        let mut symbols = Vec::with_capacity(CODE_SYMBOLS);
        while symbols.len() < CODE_SYMBOLS {
            let b = usize::from(rand::Rng::gen::<u8>(&mut rng));
            if b < limit {
                symbols.push(CODE_ALPHABET[b % alphabet]);
            }
        }
        RevocationCode(group(&symbols))
    }

    /// The code, to show to its holder once.
    pub fn reveal(&self) -> &str {
        &self.0
    }

    /// Its argon2id hash, for storage.
    pub fn hash(&self) -> Result<String> {
        hash_password(&self.0)
    }
}

impl std::fmt::Debug for RevocationCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RevocationCode(…)")
    }
}

fn group(symbols: &[u8]) -> String {
    symbols
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

/// A code as typed, in the form it was hashed in: upper case, spaces and dashes ignored,
/// regrouped by four; `None` when it cannot be a code (wrong length or symbols).
pub fn normalize_revocation_code(typed: &str) -> Option<String> {
    let symbols: Vec<u8> = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .take(CODE_SYMBOLS + 1)
        .map(|c| c.to_ascii_uppercase())
        .filter_map(|c| u8::try_from(c).ok())
        .collect();
    (symbols.len() == CODE_SYMBOLS && symbols.iter().all(|b| CODE_ALPHABET.contains(b)))
        .then(|| group(&symbols))
}

/// Whether `typed` is the code of one of `hashes`. Always costs one argon2 verification at
/// least (a dummy one when there is no hash or the input cannot be a code), so that the time
/// of an answer tells nothing.
pub fn check_revocation_code(typed: &str, hashes: &[String]) -> bool {
    let Some(code) = normalize_revocation_code(typed) else {
        dummy_verify(typed);
        return false;
    };
    if hashes.is_empty() {
        dummy_verify(&code);
        return false;
    }
    hashes.iter().any(|h| verify_password(&code, h))
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn revocation_codes_are_read_as_typed_and_never_shown_by_debug() {
        let code = RevocationCode::generate();
        let shown = code.reveal();
        assert_eq!(shown.len(), 19, "{shown}");
        assert_eq!(normalize_revocation_code(shown).as_deref(), Some(shown));
        let typed = shown.replace('-', " ").to_lowercase();
        assert_eq!(normalize_revocation_code(&typed).as_deref(), Some(shown));
        assert!(!format!("{code:?}").contains(&shown[..4]));
        assert_ne!(RevocationCode::generate(), code);
        let hashes = vec![code.hash().unwrap()];
        assert!(check_revocation_code(&typed, &hashes));
        assert!(!check_revocation_code(
            RevocationCode::generate().reveal(),
            &hashes
        ));
        for bad in ["", "ABCD", "0000-0000-0000-0000", &format!("{shown}A"), "É"] {
            assert_eq!(normalize_revocation_code(bad), None, "{bad}");
            assert!(!check_revocation_code(bad, &hashes));
        }
    }

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
    }
}
