//! Serial numbers of certificates. (The certificate vocabulary — profiles, states, revocation
//! reasons — is in [`crate::vocabulary`]; building and signing X.509 structures is the issuance
//! module's job.)

use std::str::FromStr;

use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

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
}

string_newtype!(Serial);

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
}
