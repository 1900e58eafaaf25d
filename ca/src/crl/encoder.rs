//! Streaming DER encoder of a v2 CRL.
//!
//! Revoked entries are appended to one buffer as they come out of the storage walk, each
//! written directly as DER from the stored text columns (hex serial, fixed-width time, reason
//! name): no per-entry structure, no second copy. The buffer starts with a gap reserved for
//! everything whose length is only known at the end (the outer and TBS headers, the fixed
//! TBS fields, the revokedCertificates header); at the end those are written right-aligned
//! into the gap, so the TBSCertList is one contiguous slice of the buffer (what gets signed),
//! and the final CRL is another slice of the same buffer.
//!
//! ```text
//! [ gap ............ | entry | entry | … | crlExtensions ] → after finish:
//! [ unused | 30 len | 30 len | version alg issuer thisUpdate nextUpdate | 30 len | entries … | a0 … | alg | sig ]
//!           ^outer    ^TBS start                                                       TBS end^
//! ```

use std::ops::Range;

use bytes::Bytes;
use der::Encode;
use pkix::X509Error;
use spki::AlgorithmIdentifierOwned;
use x509_cert::name::Name;
use x509_cert::time::Time;

use crate::error::{Error, Result};

/// Room for the three headers whose length is only known at the end (outer, TBS,
/// revokedCertificates): each at most 1 + 1 + 4 octets.
const HEADER_ROOM: usize = 3 * 6;

/// id-ce-cRLReasons extension up to the ENUMERATED value:
/// `30 0a 06 03 55 1d 15 04 03 0a 01` + reason code.
const REASON_PREFIX: [u8; 11] = [
    0x30, 0x0a, 0x06, 0x03, 0x55, 0x1d, 0x15, 0x04, 0x03, 0x0a, 0x01,
];

fn corrupt(reason: String) -> Error {
    Error::CorruptRow {
        table: "certificates",
        reason,
    }
}

/// Appends a DER length.
pub(crate) fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        // < 0x80: fits in one octet.
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let n = bytes.len() - skip;
        // n ≤ 8.
        out.push(0x80 | n as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

fn header(tag: u8, len: usize) -> Vec<u8> {
    let mut h = Vec::with_capacity(6);
    h.push(tag);
    push_len(&mut h, len);
    h
}

/// RFC 5280 CRLReason code of a stored reason name; `None` for `unspecified` (whose
/// reasonCode extension is omitted, RFC 5280 §5.3.1).
fn reason_code(name: &str) -> Result<Option<u8>> {
    Ok(match name {
        "unspecified" => None,
        "keyCompromise" => Some(1),
        "cACompromise" => Some(2),
        "affiliationChanged" => Some(3),
        "superseded" => Some(4),
        "cessationOfOperation" => Some(5),
        "certificateHold" => Some(6),
        "privilegeWithdrawn" => Some(9),
        "aACompromise" => Some(10),
        other => return Err(corrupt(format!("unknown revocation reason {other:?}"))),
    })
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Whether a stored time's year (its first four digits) is in 1950..=2049, the UTCTime range.
fn is_utc_time_year(b: &[u8]) -> bool {
    match b {
        [b'1', b'9', d, ..] => *d >= b'5',
        [b'2', b'0', d, ..] => *d < b'5',
        _ => false,
    }
}

/// Writes the DER Time of a stored time (`YYYY-MM-DDTHH:MM:SS.ffffffZ`, UTC): UTCTime for
/// 1950–2049, GeneralizedTime otherwise (RFC 5280 §5.1.2.6), seconds precision.
pub(crate) fn push_db_time(out: &mut Vec<u8>, t: &str) -> Result<()> {
    let b = t.as_bytes();
    let well_formed = b.len() == 27
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'.'
        && b[26] == b'Z'
        && [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
            .iter()
            .all(|&i| b[i].is_ascii_digit());
    if !well_formed {
        return Err(corrupt(format!("time {t:?}")));
    }
    if is_utc_time_year(b) {
        out.extend_from_slice(&[0x17, 13]);
        out.extend_from_slice(&b[2..4]);
    } else {
        out.extend_from_slice(&[0x18, 15]);
        out.extend_from_slice(&b[0..4]);
    }
    for r in [5..7, 8..10, 11..13, 14..16, 17..19] {
        out.extend_from_slice(&b[r]);
    }
    out.push(b'Z');
    Ok(())
}

/// The streaming encoder; see the module documentation.
#[derive(Debug)]
pub(crate) struct CrlEncoder {
    buf: Vec<u8>,
    gap: usize,
    /// version, signature, issuer, thisUpdate, nextUpdate (DER).
    prefix: Vec<u8>,
    entries: u64,
}

/// A CRL whose TBSCertList is complete and waits for its signature.
#[derive(Debug)]
pub(crate) struct PendingCrl {
    pub buf: Vec<u8>,
    /// The TBSCertList inside `buf`.
    pub tbs: Range<usize>,
    pub entries: u64,
}

impl CrlEncoder {
    /// Starts a CRL; `capacity` is a hint for the entries' total size.
    pub fn new(
        algorithm: &AlgorithmIdentifierOwned,
        issuer: &Name,
        this_update: &Time,
        next_update: &Time,
        capacity: usize,
    ) -> Result<Self> {
        let x = |e: der::Error| Error::X509(X509Error::Der(e));
        let mut prefix = vec![0x02, 0x01, 0x01]; // version v2
        algorithm.encode_to_vec(&mut prefix).map_err(x)?;
        issuer.encode_to_vec(&mut prefix).map_err(x)?;
        this_update.encode_to_vec(&mut prefix).map_err(x)?;
        next_update.encode_to_vec(&mut prefix).map_err(x)?;
        let gap = prefix.len() + HEADER_ROOM;
        let mut buf = Vec::with_capacity(gap + capacity);
        buf.resize(gap, 0);
        Ok(CrlEncoder {
            buf,
            gap,
            prefix,
            entries: 0,
        })
    }

    /// Appends one revoked certificate from its stored columns.
    pub fn push(&mut self, serial_hex: &str, revoked_at: &str, reason: &str) -> Result<()> {
        // Serial: canonical lowercase hex of the magnitude, ≤ 20 octets once DER-encoded.
        let hex = serial_hex.as_bytes();
        if hex.is_empty() || !hex.len().is_multiple_of(2) || hex.len() > 40 {
            return Err(corrupt(format!("serial {serial_hex:?}")));
        }
        let mut serial = [0u8; 21];
        let n = hex.len() / 2;
        let pad = 1; // room for a sign octet
        for i in 0..n {
            match (hex_val(hex[2 * i]), hex_val(hex[2 * i + 1])) {
                (Some(h), Some(l)) => serial[pad + i] = (h << 4) | l,
                _ => return Err(corrupt(format!("serial {serial_hex:?}"))),
            }
        }
        let mut start = pad;
        while start < pad + n - 1 && serial[start] == 0 {
            start += 1;
        }
        if serial[start] == 0 {
            return Err(corrupt(format!("serial {serial_hex:?} is zero")));
        }
        if serial[start] & 0x80 != 0 {
            start -= 1; // serial[start] is 0: the sign octet
        }
        let int = &serial[start..pad + n];
        if int.len() > 20 {
            return Err(corrupt(format!(
                "serial {serial_hex:?} longer than 20 octets"
            )));
        }
        let code = reason_code(reason)?;

        let time_len = if is_utc_time_year(revoked_at.as_bytes()) {
            15
        } else {
            17
        };
        let body = 2 + int.len() + time_len + if code.is_some() { 14 } else { 0 };
        let before = self.buf.len();
        self.buf.push(0x30);
        // body ≤ 2 + 20 + 17 + 14 < 128.
        self.buf.push(body as u8);
        self.buf.push(0x02);
        self.buf.push(int.len() as u8);
        self.buf.extend_from_slice(int);
        push_db_time(&mut self.buf, revoked_at)?;
        if let Some(code) = code {
            self.buf.extend_from_slice(&[0x30, 0x0c]);
            self.buf.extend_from_slice(&REASON_PREFIX);
            self.buf.push(code);
        }
        if self.buf.len() - before != body + 2 {
            return Err(corrupt(format!("time {revoked_at:?}")));
        }
        self.entries += 1;
        Ok(())
    }

    /// Closes the TBSCertList with `crl_extensions` (the DER `SEQUENCE OF Extension`).
    pub fn finish_tbs(mut self, crl_extensions: &[u8]) -> Result<PendingCrl> {
        let entries_len = self.buf.len() - self.gap;
        // crlExtensions [0] EXPLICIT
        let ext_header = header(0xa0, crl_extensions.len());
        self.buf.extend_from_slice(&ext_header);
        self.buf.extend_from_slice(crl_extensions);

        let mut head = self.prefix;
        if self.entries > 0 {
            // RFC 5280 §5.1.2.6: revokedCertificates is absent when there are none.
            head.extend_from_slice(&header(0x30, entries_len));
        }
        let tbs_len = head.len() + entries_len + ext_header.len() + crl_extensions.len();
        let mut front = header(0x30, tbs_len);
        front.extend_from_slice(&head);
        // front ≤ gap - 6 by construction (prefix + two headers ≤ 6 each); keep room for the
        // outer header.
        let Some(tbs_start) = self.gap.checked_sub(front.len()).filter(|s| *s >= 6) else {
            return Err(Error::Task("CRL encoder: header room exhausted".into()));
        };
        self.buf[tbs_start..self.gap].copy_from_slice(&front);
        let end = self.buf.len();
        Ok(PendingCrl {
            buf: self.buf,
            tbs: tbs_start..end,
            entries: self.entries,
        })
    }
}

impl PendingCrl {
    /// Appends signatureAlgorithm and the signature, writes the outer header; the DER of the
    /// complete CRL, without copying the entries.
    pub fn finish(
        mut self,
        algorithm: &AlgorithmIdentifierOwned,
        signature: &[u8],
    ) -> Result<Bytes> {
        let alg = algorithm
            .to_der()
            .map_err(|e| Error::X509(X509Error::Der(e)))?;
        self.buf.extend_from_slice(&alg);
        let bits = header(0x03, signature.len() + 1);
        self.buf.extend_from_slice(&bits);
        self.buf.push(0); // no unused bits
        self.buf.extend_from_slice(signature);
        let content = self.buf.len() - self.tbs.start;
        let outer = header(0x30, content);
        let Some(start) = self.tbs.start.checked_sub(outer.len()) else {
            return Err(Error::Task("CRL encoder: header room exhausted".into()));
        };
        self.buf[start..self.tbs.start].copy_from_slice(&outer);
        if self.buf.capacity() - self.buf.len() > self.buf.len() / 8 {
            self.buf.shrink_to_fit();
        }
        Ok(Bytes::from(self.buf).slice(start..))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn lengths() {
        for (n, want) in [
            (0usize, vec![0u8]),
            (127, vec![127]),
            (128, vec![0x81, 0x80]),
            (256, vec![0x82, 1, 0]),
            (70_000_000, vec![0x84, 0x04, 0x2c, 0x1d, 0x80]),
        ] {
            let mut v = Vec::new();
            push_len(&mut v, n);
            assert_eq!(v, want, "{n}");
        }
    }

    #[test]
    fn times() {
        let mut v = Vec::new();
        push_db_time(&mut v, "2026-07-01T10:34:56.123456Z").unwrap();
        assert_eq!(v, b"\x17\x0d260701103456Z");
        let mut v = Vec::new();
        push_db_time(&mut v, "2050-01-01T00:00:00.000000Z").unwrap();
        assert_eq!(v, b"\x18\x0f20500101000000Z");
        let mut v = Vec::new();
        push_db_time(&mut v, "1949-12-31T23:59:59.000000Z").unwrap();
        assert_eq!(v, b"\x18\x0f19491231235959Z");
        assert!(push_db_time(&mut v, "2026-07-01 10:34:56").is_err());
        assert!(push_db_time(&mut v, "2026-07-01T10:34:5x.123456Z").is_err());
    }
}
