//! Certificate-level vocabulary: profiles, serial numbers, request and certificate states,
//! revocation reasons. (Building and signing X.509 structures is the issuance module's job.)

use std::fmt;
use std::str::FromStr;

use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Generates `as_str` / `FromStr` / `Display` for a fieldless enum with fixed spellings.
macro_rules! spelled_enum {
    ($t:ident, $what:literal, { $($v:ident => $s:literal),+ $(,)? }) => {
        impl $t {
            pub const ALL: &'static [$t] = &[$($t::$v),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($t::$v => $s),+
                }
            }
        }

        impl FromStr for $t {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                match s {
                    $($s => Ok($t::$v),)+
                    _ => Err(Error::invalid($what, format!("unknown value {s:?}"))),
                }
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// Certificate profile (DESIGN.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    /// Professional authentication (CPS AUTH).
    Auth,
    /// Professional signature, non-repudiation (CPS SIGN).
    Sign,
    /// Professional encryption (CPS CONF).
    Conf,
    /// Establishment server (TLS).
    Server,
    /// RA operator (clerk) client certificate.
    RaOperator,
    /// Delegated OCSP responder (infrastructure, no request).
    OcspSigner,
    /// Time-stamping unit (infrastructure, no request).
    TsaUnit,
}

spelled_enum!(Profile, "certificate profile", {
    Auth => "auth",
    Sign => "sign",
    Conf => "conf",
    Server => "server",
    RaOperator => "ra-operator",
    OcspSigner => "ocsp-signer",
    TsaUnit => "tsa-unit",
});

/// What a certificate of a profile is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubjectKind {
    Professional,
    Structure,
    Operator,
    /// CA infrastructure (OCSP responder, TSA unit): issued by ceremony, not by request.
    Infrastructure,
}

impl Profile {
    pub fn subject_kind(self) -> SubjectKind {
        match self {
            Profile::Auth | Profile::Sign | Profile::Conf => SubjectKind::Professional,
            Profile::Server => SubjectKind::Structure,
            Profile::RaOperator => SubjectKind::Operator,
            Profile::OcspSigner | Profile::TsaUnit => SubjectKind::Infrastructure,
        }
    }

    /// Whether certificates of this profile go through the RA request workflow.
    pub fn is_requestable(self) -> bool {
        self.subject_kind() != SubjectKind::Infrastructure
    }
}

/// State of a certificate request: filed → approved → issued, or filed → rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RequestStatus {
    Filed,
    Approved,
    Rejected,
    Issued,
}

spelled_enum!(RequestStatus, "request status", {
    Filed => "filed",
    Approved => "approved",
    Rejected => "rejected",
    Issued => "issued",
});

/// Revocation state of a certificate as stored (`hold` = suspended by certificateHold).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CertStatus {
    Good,
    Revoked,
    Hold,
}

spelled_enum!(CertStatus, "certificate status", {
    Good => "good",
    Revoked => "revoked",
    Hold => "hold",
});

/// RFC 5280 CRLReason values that a certificate can be revoked with. `removeFromCRL` (8) is a
/// CRL-entry artefact of delta CRLs, not a state, and is not listed; `certificateHold` puts the
/// certificate on hold (reversible) instead of revoking it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RevocationReason {
    #[serde(rename = "unspecified")]
    Unspecified,
    #[serde(rename = "keyCompromise")]
    KeyCompromise,
    #[serde(rename = "cACompromise")]
    CaCompromise,
    #[serde(rename = "affiliationChanged")]
    AffiliationChanged,
    #[serde(rename = "superseded")]
    Superseded,
    #[serde(rename = "cessationOfOperation")]
    CessationOfOperation,
    #[serde(rename = "certificateHold")]
    CertificateHold,
    #[serde(rename = "privilegeWithdrawn")]
    PrivilegeWithdrawn,
    #[serde(rename = "aACompromise")]
    AaCompromise,
}

spelled_enum!(RevocationReason, "revocation reason", {
    Unspecified => "unspecified",
    KeyCompromise => "keyCompromise",
    CaCompromise => "cACompromise",
    AffiliationChanged => "affiliationChanged",
    Superseded => "superseded",
    CessationOfOperation => "cessationOfOperation",
    CertificateHold => "certificateHold",
    PrivilegeWithdrawn => "privilegeWithdrawn",
    AaCompromise => "aACompromise",
});

impl RevocationReason {
    /// The RFC 5280 CRLReason code.
    pub fn code(self) -> u8 {
        match self {
            RevocationReason::Unspecified => 0,
            RevocationReason::KeyCompromise => 1,
            RevocationReason::CaCompromise => 2,
            RevocationReason::AffiliationChanged => 3,
            RevocationReason::Superseded => 4,
            RevocationReason::CessationOfOperation => 5,
            RevocationReason::CertificateHold => 6,
            RevocationReason::PrivilegeWithdrawn => 9,
            RevocationReason::AaCompromise => 10,
        }
    }

    pub fn from_code(code: u8) -> Option<Self> {
        RevocationReason::ALL
            .iter()
            .copied()
            .find(|r| r.code() == code)
    }
}

/// A certificate serial number: a positive integer whose DER encoding fits in 20 octets
/// (RFC 5280 §4.1.2.2). Canonical text form: lowercase hex of the big-endian magnitude
/// without leading zero octets (`0a1b…`), which is what the database stores and indexes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Serial(String);

impl Serial {
    /// From the big-endian magnitude (leading zero octets are dropped, as in a DER INTEGER
    /// whose sign octet was stripped).
    pub fn from_be_bytes(bytes: &[u8]) -> Result<Self> {
        let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
        let magnitude = &bytes[start..];
        let Some(&first) = magnitude.first() else {
            return Err(Error::invalid(
                "serial number",
                "zero is not a valid serial",
            ));
        };
        // DER adds a 0x00 octet when the top bit is set; the encoding must stay ≤ 20 octets.
        let der_len = magnitude.len() + usize::from(first & 0x80 != 0);
        if der_len > 20 {
            return Err(Error::invalid(
                "serial number",
                format!("{der_len} octets once DER-encoded, at most 20"),
            ));
        }
        Ok(Serial(hex::encode(magnitude)))
    }

    /// A fresh random serial: 16 octets from the OS generator with the top bit cleared
    /// (127 bits of entropy, always positive, never zero in practice — retried if it is).
    pub fn random() -> Self {
        let mut rng = rand::rngs::OsRng;
        loop {
            let mut b = [0u8; 16];
            rng.fill_bytes(&mut b);
            b[0] &= 0x7f;
            if let Ok(s) = Serial::from_be_bytes(&b) {
                return s;
            }
        }
    }

    /// The big-endian magnitude.
    pub fn to_be_bytes(&self) -> Vec<u8> {
        // The canonical form is always valid hex; an empty vector cannot happen.
        hex::decode(&self.0).unwrap_or_default()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Serial {
    type Err = Error;
    /// Accepts hex (either case, optionally with `:` separators as printed by OpenSSL).
    fn from_str(s: &str) -> Result<Self> {
        let mut h: String = s.trim().chars().filter(|&c| c != ':').collect();
        if h.len() % 2 == 1 {
            h.insert(0, '0');
        }
        let bytes = hex::decode(&h)
            .map_err(|e| Error::invalid("serial number", format!("not hex: {e}")))?;
        Serial::from_be_bytes(&bytes)
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Serial {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<Serial> for String {
    fn from(v: Serial) -> String {
        v.0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn serials() {
        assert_eq!("0A:1B".parse::<Serial>().unwrap().as_str(), "0a1b");
        assert_eq!("00a1b".parse::<Serial>().unwrap().as_str(), "0a1b");
        assert_eq!("abc".parse::<Serial>().unwrap().as_str(), "0abc");
        assert_eq!(Serial::from_be_bytes(&[0, 0, 1]).unwrap().as_str(), "01");
        assert!("00".parse::<Serial>().is_err());
        assert!("".parse::<Serial>().is_err());
        assert!("xyz".parse::<Serial>().is_err());
        // 20 octets with the top bit clear fit; with it set, DER needs 21.
        assert!(Serial::from_be_bytes(&[0x7f; 20]).is_ok());
        assert!(Serial::from_be_bytes(&[0x80; 20]).is_err());
        assert!(Serial::from_be_bytes(&[0x80; 19]).is_ok());
        let r = Serial::random();
        assert!(r.to_be_bytes().len() <= 16);
        assert_ne!(Serial::random(), r);
        assert_eq!(Serial::from_be_bytes(&r.to_be_bytes()).unwrap(), r);
    }

    #[test]
    fn reasons() {
        for &r in RevocationReason::ALL {
            assert_eq!(RevocationReason::from_code(r.code()), Some(r));
            assert_eq!(r.as_str().parse::<RevocationReason>().unwrap(), r);
            assert_eq!(
                serde_json::to_string(&r).unwrap(),
                format!("\"{}\"", r.as_str())
            );
        }
        assert_eq!(RevocationReason::from_code(8), None);
        assert_eq!(RevocationReason::from_code(7), None);
    }

    #[test]
    fn profiles() {
        for &p in Profile::ALL {
            assert_eq!(p.as_str().parse::<Profile>().unwrap(), p);
            assert_eq!(
                serde_json::to_string(&p).unwrap(),
                format!("\"{}\"", p.as_str())
            );
        }
        assert!(Profile::RaOperator.is_requestable());
        assert!(!Profile::TsaUnit.is_requestable());
    }
}
