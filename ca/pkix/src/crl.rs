//! Version 2 CRLs (RFC 5280 §5): the one CRL encoder of the workspace.
//!
//! x509-cert 0.2 has no CRL builder, and a CA's full CRL can list millions of entries: the
//! TBSCertList is written here by a streaming DER encoder, [`CrlEncoder`]. Revoked entries are
//! appended to one buffer as they come — typed ([`CrlEncoder::push`]) or straight from the
//! text columns of a store ([`CrlEncoder::push_stored`]: hex serial, fixed-width time,
//! reason name), each written directly as DER: no per-entry structure, no second copy. The
//! buffer starts with a gap reserved for everything whose length is only known at the end
//! (the outer and TBS headers, the fixed TBS fields, the revokedCertificates header); at the
//! end those are written right-aligned into the gap, so the TBSCertList is one contiguous
//! slice of the buffer (what gets signed), and the final CRL is another slice of the same
//! buffer.
//!
//! ```text
//! [ gap ............ | entry | entry | … | crlExtensions ] → after finish:
//! [ unused | 30 len | 30 len | version alg issuer thisUpdate nextUpdate | 30 len | entries … | a0 … | alg | sig ]
//!           ^outer    ^TBS start                                                       TBS end^
//! ```
//!
//! Two users: the CA's CRL publisher (`ca::crl`, entries streamed from the store, signed on
//! the blocking pool) and [`build_crl`] (typed [`CrlParams`], signed with a RustCrypto signer:
//! the root's ARL in ceremonies). Both take their CRL extensions from [`crl_extensions`].

use std::ops::Range;

use bytes::Bytes;
use const_oid::db::rfc5280::{
    ID_CE_AUTHORITY_KEY_IDENTIFIER, ID_CE_CRL_NUMBER, ID_CE_CRL_REASONS,
    ID_CE_ISSUING_DISTRIBUTION_POINT,
};
use der::asn1::{OctetString, Uint};
use der::{Decode, Encode};

use spki::{AlgorithmIdentifierOwned, SignatureBitStringEncoding};
use time::OffsetDateTime;
use x509_cert::crl::CertificateList;
use x509_cert::ext::pkix::crl::dp::IssuingDistributionPoint;
use x509_cert::ext::pkix::name::DistributionPointName;
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, CrlReason};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Time;

use super::profiles::{subject_key_identifier, uri};
use super::{
    check_http_url, extension, key_id_hex, sign_and_check, signer_algorithm, x509_time, IssuerInfo,
    X509Error, X509Signer,
};

/// One revoked certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedEntry {
    /// Serial number of the revoked certificate.
    pub serial: SerialNumber,
    /// When it was revoked (not after the CRL's thisUpdate).
    pub revocation_date: OffsetDateTime,
    /// reasonCode entry extension; `None` omits it. `Unspecified` is refused (RFC 5280
    /// §5.3.1: omit the extension instead) and so is `RemoveFromCRL` (delta CRLs only).
    pub reason: Option<CrlReason>,
}

/// issuingDistributionPoint (critical): scope of a partitioned CRL or of an ARL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuingDistributionPointParams {
    /// HTTP URL where this CRL is published (the distributionPoint fullName): must be the URL
    /// in the CDP of the certificates it covers.
    ///
    /// Note: with a distribution point name, the CRL is out of scope for certificates without
    /// a CDP, the root included; `openssl verify -crl_check_all` also checks the trust anchor
    /// and then fails with "different CRL scope". Relying parties that do so need a root ARL
    /// without issuingDistributionPoint (`CrlParams::issuing_distribution_point = None`).
    pub url: String,
    /// Only end-entity certificates are covered.
    pub only_contains_user_certs: bool,
    /// Only CA certificates are covered (an ARL).
    pub only_contains_ca_certs: bool,
}

/// Inputs of [`build_crl`].
#[derive(Debug, Clone)]
pub struct CrlParams {
    /// The CRL issuer (the CA whose key signs the CRL).
    pub issuer: IssuerInfo,
    /// thisUpdate.
    pub this_update: OffsetDateTime,
    /// nextUpdate (always present, after thisUpdate).
    pub next_update: OffsetDateTime,
    /// cRLNumber (monotonically increasing per issuer and scope).
    pub crl_number: u64,
    /// Revoked certificates (may be empty).
    pub revoked: Vec<RevokedEntry>,
    /// Optional issuingDistributionPoint.
    pub issuing_distribution_point: Option<IssuingDistributionPointParams>,
}

impl CrlParams {
    /// Checks the parameters without signing anything.
    pub fn validate(&self) -> Result<(), X509Error> {
        self.issuer.validate()?;
        if self.next_update <= self.this_update {
            return Err(X509Error::InvalidValidity(
                "next_update must be later than this_update",
            ));
        }
        let this_update = x509_time(self.this_update)?;
        let next_update = x509_time(self.next_update)?;
        if next_update.to_unix_duration() <= this_update.to_unix_duration() {
            return Err(X509Error::InvalidValidity(
                "next_update must be at least one second after this_update",
            ));
        }
        for (i, entry) in self.revoked.iter().enumerate() {
            let bytes = entry.serial.as_bytes();
            match bytes.first() {
                Some(b) if b & 0x80 == 0 && bytes.iter().any(|b| *b != 0) => {}
                _ => {
                    return Err(X509Error::InvalidCrl(format!(
                        "revoked serial {} is not a positive integer",
                        entry.serial
                    )))
                }
            }
            if self.revoked[..i].iter().any(|e| e.serial == entry.serial) {
                return Err(X509Error::InvalidCrl(format!(
                    "serial {} is listed twice",
                    entry.serial
                )));
            }
            if entry.revocation_date > self.this_update {
                return Err(X509Error::InvalidCrl(format!(
                    "serial {} has a revocation date after this_update",
                    entry.serial
                )));
            }
            x509_time(entry.revocation_date)?;
            match entry.reason {
                Some(CrlReason::Unspecified) => {
                    return Err(X509Error::InvalidCrl(
                        "reason unspecified must not be encoded; use None".into(),
                    ))
                }
                Some(CrlReason::RemoveFromCRL) => {
                    return Err(X509Error::InvalidCrl(
                        "removeFromCRL is only for delta CRLs".into(),
                    ))
                }
                _ => {}
            }
        }
        if let Some(idp) = &self.issuing_distribution_point {
            check_http_url("issuing_distribution_point.url", &idp.url)?;
            if idp.only_contains_ca_certs && idp.only_contains_user_certs {
                return Err(X509Error::InvalidCrl(
                    "onlyContainsUserCerts and onlyContainsCACerts are exclusive".into(),
                ));
            }
        }
        Ok(())
    }
}

/// Builds and signs a v2 CRL: issuer, thisUpdate, nextUpdate, revoked entries (with optional
/// reasonCode), CRL extensions AKI + cRLNumber (+ issuingDistributionPoint, critical).
///
/// The signer's key must match the issuer SKI (RFC 5280 method 1); the signature is verified
/// with the signer's public key before the CRL is returned.
pub fn build_crl<S, Sig>(params: &CrlParams, signer: &S) -> Result<CertificateList, X509Error>
where
    S: X509Signer<Sig>,
    Sig: SignatureBitStringEncoding,
{
    params.validate()?;
    let (alg, signer_spki) = signer_algorithm(signer)?;
    if subject_key_identifier(&signer_spki) != params.issuer.ski {
        return Err(X509Error::IssuerKeyMismatch {
            expected: hex::encode(&params.issuer.ski),
            actual: key_id_hex(&signer_spki),
        });
    }

    let mut enc = CrlEncoder::new(
        &alg,
        &params.issuer.name,
        &x509_time(params.this_update)?,
        &x509_time(params.next_update)?,
        params.revoked.len() * 48,
    )?;
    for entry in &params.revoked {
        enc.push(entry)?;
    }
    let exts = crl_extensions(
        &params.issuer.ski,
        params.crl_number,
        params.issuing_distribution_point.as_ref(),
    )?;
    let pending = enc.finish_tbs(&exts)?;
    let tbs_der = pending
        .buf
        .get(pending.tbs.clone())
        .ok_or(X509Error::InvalidCrl(
            "CRL encoder: TBS outside the buffer".into(),
        ))?;
    let signature = sign_and_check(signer, &signer_spki, &alg, tbs_der)?;
    let der = pending.finish(&alg, signature.raw_bytes())?;
    Ok(CertificateList::from_der(&der)?)
}

/// The crlExtensions of a CRL (the DER `SEQUENCE OF Extension`): authorityKeyIdentifier (the
/// issuer's SKI), cRLNumber and, when given, a critical issuingDistributionPoint.
///
/// The IDP URL is written as given; [`CrlParams::validate`] checks it for [`build_crl`].
pub fn crl_extensions(
    issuer_ski: &[u8],
    crl_number: u64,
    idp: Option<&IssuingDistributionPointParams>,
) -> Result<Vec<u8>, X509Error> {
    let mut exts = vec![
        extension(
            ID_CE_AUTHORITY_KEY_IDENTIFIER,
            false,
            &AuthorityKeyIdentifier {
                key_identifier: Some(OctetString::new(issuer_ski)?),
                authority_cert_issuer: None,
                authority_cert_serial_number: None,
            },
        )?,
        extension(
            ID_CE_CRL_NUMBER,
            false,
            &Uint::new(&crl_number.to_be_bytes())?,
        )?,
    ];
    if let Some(idp) = idp {
        // x509-cert 0.2's `IssuingDistributionPoint` type declares a wrong associated OID, so
        // the OID is given explicitly.
        exts.push(extension(
            ID_CE_ISSUING_DISTRIBUTION_POINT,
            true,
            &IssuingDistributionPoint {
                distribution_point: Some(DistributionPointName::FullName(vec![uri(&idp.url)?])),
                only_contains_user_certs: idp.only_contains_user_certs,
                only_contains_ca_certs: idp.only_contains_ca_certs,
                only_some_reasons: None,
                indirect_crl: false,
                only_contains_attribute_certs: false,
            },
        )?);
    }
    Ok(exts.to_der()?)
}

/// PEM encoding of a CRL (`X509 CRL`).
pub fn crl_to_pem(crl: &CertificateList) -> Result<String, X509Error> {
    Ok(pem::encode(&pem::Pem::new("X509 CRL", crl.to_der()?)))
}

/// Room for the three headers whose length is only known at the end (outer, TBS,
/// revokedCertificates): each at most 1 + 1 + 4 octets.
const HEADER_ROOM: usize = 3 * 6;

/// id-ce-cRLReasons extension up to the ENUMERATED value:
/// `30 0a 06 03 55 1d 15 04 03 0a 01` + reason code.
const REASON_PREFIX: [u8; 11] = [
    0x30, 0x0a, 0x06, 0x03, 0x55, 0x1d, 0x15, 0x04, 0x03, 0x0a, 0x01,
];

/// A stored entry that cannot be encoded (see [`CrlEncoder::push_stored`]).
fn corrupt(reason: String) -> X509Error {
    X509Error::InvalidCrlEntry(reason)
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

/// Octets of a DER length.
fn len_len(len: usize) -> usize {
    if len < 0x80 {
        1
    } else {
        1 + (usize::BITS - len.leading_zeros()).div_ceil(8) as usize
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
fn reason_code(name: &str) -> Result<Option<u8>, X509Error> {
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

/// The value of an ASCII hex digit (either case).
fn hex_val(c: u8) -> Option<u8> {
    char::from(c)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
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
pub(crate) fn push_db_time(out: &mut Vec<u8>, t: &str) -> Result<(), X509Error> {
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
pub struct CrlEncoder {
    buf: Vec<u8>,
    gap: usize,
    /// version, signature, issuer, thisUpdate, nextUpdate (DER).
    prefix: Vec<u8>,
    entries: u64,
}

/// A CRL whose TBSCertList is complete and waits for its signature.
#[derive(Debug)]
pub struct PendingCrl {
    /// The CRL being written.
    pub buf: Vec<u8>,
    /// The TBSCertList inside `buf` (what gets signed).
    pub tbs: Range<usize>,
    /// Number of revoked entries.
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
    ) -> Result<Self, X509Error> {
        let mut prefix = vec![0x02, 0x01, 0x01]; // version v2
        algorithm.encode_to_vec(&mut prefix)?;
        issuer.encode_to_vec(&mut prefix)?;
        this_update.encode_to_vec(&mut prefix)?;
        next_update.encode_to_vec(&mut prefix)?;
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

    /// Appends one revoked certificate: its serial, revocation date and reasonCode entry
    /// extension (if any) as DER. Whether the entry is acceptable (positive serial, no
    /// duplicate, date not after thisUpdate, …) is the caller's business
    /// ([`CrlParams::validate`]).
    pub fn push(&mut self, entry: &RevokedEntry) -> Result<(), X509Error> {
        let serial = entry.serial.to_der()?;
        let date = x509_time(entry.revocation_date)?.to_der()?;
        let reason = match entry.reason {
            Some(reason) => Some(extension(ID_CE_CRL_REASONS, false, &reason)?.to_der()?),
            None => None,
        };
        self.push_entry(&serial, &date, reason.as_deref());
        Ok(())
    }

    /// Appends one revoked certificate from the text columns a store keeps: the serial as
    /// hex of its magnitude, the revocation time as `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC,
    /// truncated to the second), the RFC 5280 name of the reason (`unspecified` omits the
    /// reasonCode). A value that does not parse is an [`X509Error::InvalidCrlEntry`], and
    /// nothing of it is written. Written straight into the buffer: this is the path of CRLs
    /// with millions of entries.
    #[inline]
    pub fn push_stored(
        &mut self,
        serial_hex: &str,
        revoked_at: &str,
        reason: &str,
    ) -> Result<(), X509Error> {
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
        if let Err(e) = push_db_time(&mut self.buf, revoked_at) {
            self.buf.truncate(before);
            return Err(e);
        }
        if let Some(code) = code {
            self.buf.extend_from_slice(&[0x30, 0x0c]);
            self.buf.extend_from_slice(&REASON_PREFIX);
            self.buf.push(code);
        }
        if self.buf.len() - before != body + 2 {
            self.buf.truncate(before);
            return Err(corrupt(format!("time {revoked_at:?}")));
        }
        self.entries += 1;
        Ok(())
    }

    /// Appends `SEQUENCE { serial, date, [SEQUENCE OF { reason }] }` from the DER of its
    /// parts.
    fn push_entry(&mut self, serial: &[u8], date: &[u8], reason: Option<&[u8]>) {
        let exts = reason.map_or(0, |r| 1 + len_len(r.len()) + r.len());
        let body = serial.len() + date.len() + exts;
        self.buf.push(0x30);
        push_len(&mut self.buf, body);
        self.buf.extend_from_slice(serial);
        self.buf.extend_from_slice(date);
        if let Some(r) = reason {
            self.buf.push(0x30);
            push_len(&mut self.buf, r.len());
            self.buf.extend_from_slice(r);
        }
        self.entries += 1;
    }

    /// Closes the TBSCertList with `crl_extensions` (the DER `SEQUENCE OF Extension`, see
    /// [`crl_extensions`]).
    pub fn finish_tbs(mut self, crl_extensions: &[u8]) -> Result<PendingCrl, X509Error> {
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
            return Err(X509Error::InvalidCrl(
                "CRL encoder: header room exhausted".into(),
            ));
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
    ) -> Result<Bytes, X509Error> {
        let alg = algorithm.to_der()?;
        self.buf.extend_from_slice(&alg);
        let bits = header(0x03, signature.len() + 1);
        self.buf.extend_from_slice(&bits);
        self.buf.push(0); // no unused bits
        self.buf.extend_from_slice(signature);
        let content = self.buf.len() - self.tbs.start;
        let outer = header(0x30, content);
        let Some(start) = self.tbs.start.checked_sub(outer.len()) else {
            return Err(X509Error::InvalidCrl(
                "CRL encoder: header room exhausted".into(),
            ));
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
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use spki::EncodePublicKey as _;

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

    #[test]
    fn length_octets() {
        for n in [0usize, 1, 127, 128, 255, 256, 65_535, 65_536, 70_000_000] {
            let mut v = Vec::new();
            push_len(&mut v, n);
            assert_eq!(len_len(n), v.len(), "{n}");
        }
    }

    // ----- the encoder against x509-cert's own encoding of the same TBSCertList ---------

    use const_oid::db::rfc5912::ECDSA_WITH_SHA_256;
    use time::macros::datetime;
    use x509_cert::crl::{RevokedCert, TbsCertList};
    use x509_cert::Version;

    use crate::name::parse_dn;
    use crate::profiles::{build_certificate, InfraCertParams, InfraProfile};

    const SKI: [u8; 20] = [7; 20];

    fn algorithm() -> AlgorithmIdentifierOwned {
        AlgorithmIdentifierOwned {
            oid: ECDSA_WITH_SHA_256,
            parameters: None,
        }
    }

    fn issuer() -> Name {
        parse_dn("C=FR, O=IGC Santé DEV, CN=IGC Santé Root CA DEV").unwrap()
    }

    /// Serials (magnitude, as a store keeps them in hex) with and without the high bit, short
    /// and 20 octets long; dates in the UTCTime and GeneralizedTime ranges; every reason.
    fn entries() -> Vec<(RevokedEntry, String, String, &'static str)> {
        let rows: [(&str, OffsetDateTime, Option<CrlReason>, &str); 6] = [
            (
                "01",
                datetime!(2026-07-01 10:34:56 UTC),
                None,
                "unspecified",
            ),
            (
                "80",
                datetime!(2049-12-31 23:59:59 UTC),
                Some(CrlReason::KeyCompromise),
                "keyCompromise",
            ),
            (
                "7fffffffffffffffffffffffffffffffffffffff",
                datetime!(2050-01-01 00:00:00 UTC),
                Some(CrlReason::CertificateHold),
                "certificateHold",
            ),
            (
                "00ff",
                datetime!(1999-03-04 05:06:07 UTC),
                Some(CrlReason::PrivilegeWithdrawn),
                "privilegeWithdrawn",
            ),
            (
                "0123456789abcdef",
                datetime!(2030-01-01 00:00:00 UTC),
                Some(CrlReason::AaCompromise),
                "aACompromise",
            ),
            (
                "c0ffee",
                datetime!(2027-02-03 04:05:06 UTC),
                Some(CrlReason::CessationOfOperation),
                "cessationOfOperation",
            ),
        ];
        rows.into_iter()
            .map(|(hex, at, reason, name)| {
                let mut magnitude = hex::decode(hex).unwrap();
                while magnitude.len() > 1 && magnitude[0] == 0 {
                    magnitude.remove(0);
                }
                let entry = RevokedEntry {
                    serial: SerialNumber::new(&magnitude).unwrap(),
                    revocation_date: at,
                    reason,
                };
                let stored = at
                    .format(time::macros::format_description!(
                        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
                    ))
                    .unwrap();
                (entry, hex.to_owned(), stored, name)
            })
            .collect()
    }

    /// x509-cert's encoding of the TBSCertList the encoder should have produced.
    fn reference_tbs(
        revoked: &[RevokedEntry],
        idp: Option<&IssuingDistributionPointParams>,
    ) -> Vec<u8> {
        let revoked: Vec<RevokedCert> = revoked
            .iter()
            .map(|e| RevokedCert {
                serial_number: e.serial.clone(),
                revocation_date: x509_time(e.revocation_date).unwrap(),
                crl_entry_extensions: e
                    .reason
                    .map(|r| vec![extension(ID_CE_CRL_REASONS, false, &r).unwrap()]),
            })
            .collect();
        let exts = crl_extensions(&SKI, 42, idp).unwrap();
        TbsCertList {
            version: Version::V2,
            signature: algorithm(),
            issuer: issuer(),
            this_update: x509_time(datetime!(2050-06-01 00:00:00 UTC)).unwrap(),
            next_update: Some(x509_time(datetime!(2050-06-02 00:00:00 UTC)).unwrap()),
            revoked_certificates: (!revoked.is_empty()).then_some(revoked),
            crl_extensions: Some(x509_cert::ext::Extensions::from_der(&exts).unwrap()),
        }
        .to_der()
        .unwrap()
    }

    fn encoder() -> CrlEncoder {
        CrlEncoder::new(
            &algorithm(),
            &issuer(),
            &x509_time(datetime!(2050-06-01 00:00:00 UTC)).unwrap(),
            &x509_time(datetime!(2050-06-02 00:00:00 UTC)).unwrap(),
            0,
        )
        .unwrap()
    }

    fn tbs_of(pending: &PendingCrl) -> Vec<u8> {
        pending.buf[pending.tbs.clone()].to_vec()
    }

    #[test]
    fn typed_and_stored_entries_encode_as_x509_cert_does() {
        let idp = IssuingDistributionPointParams {
            url: "http://pki.igc-sante.example/crl/ca-personnes-20512.crl".into(),
            only_contains_user_certs: true,
            only_contains_ca_certs: false,
        };
        let all = entries();
        let typed: Vec<RevokedEntry> = all.iter().map(|(e, ..)| e.clone()).collect();
        for n in [0, 1, all.len()] {
            for idp in [None, Some(&idp)] {
                let exts = crl_extensions(&SKI, 42, idp).unwrap();
                let reference = reference_tbs(&typed[..n], idp);

                let mut enc = encoder();
                for e in &typed[..n] {
                    enc.push(e).unwrap();
                }
                let pending = enc.finish_tbs(&exts).unwrap();
                assert_eq!(pending.entries, n as u64);
                assert_eq!(tbs_of(&pending), reference, "typed, {n} entries, {idp:?}");

                let mut enc = encoder();
                for (_, hex, at, reason) in &all[..n] {
                    enc.push_stored(hex, at, reason).unwrap();
                }
                let pending = enc.finish_tbs(&exts).unwrap();
                assert_eq!(tbs_of(&pending), reference, "stored, {n} entries, {idp:?}");

                // The outer structure: what x509-cert decodes and re-encodes to the same bytes.
                let der = pending.finish(&algorithm(), &[0x30, 0x00]).unwrap();
                let crl = CertificateList::from_der(&der).unwrap();
                assert_eq!(crl.to_der().unwrap(), der.to_vec());
                assert_eq!(crl.tbs_cert_list.to_der().unwrap(), reference);
            }
        }
    }

    #[test]
    fn long_lists_take_long_form_lengths() {
        let all = entries();
        let mut enc = encoder();
        let mut typed = Vec::new();
        for i in 0..2_000u32 {
            let (e, ..) = &all[i as usize % all.len()];
            let mut e = e.clone();
            e.serial = SerialNumber::new(&(0x0100_0000 + i).to_be_bytes()).unwrap();
            enc.push(&e).unwrap();
            typed.push(e);
        }
        let exts = crl_extensions(&SKI, 42, None).unwrap();
        let pending = enc.finish_tbs(&exts).unwrap();
        assert_eq!(tbs_of(&pending), reference_tbs(&typed, None));
    }

    #[test]
    fn stored_entries_that_do_not_parse_are_named() {
        let mut enc = encoder();
        for (serial, at, reason, why) in [
            (
                "",
                "2026-07-01T10:34:56.123456Z",
                "superseded",
                "serial \"\"",
            ),
            (
                "0",
                "2026-07-01T10:34:56.123456Z",
                "superseded",
                "serial \"0\"",
            ),
            ("00", "2026-07-01T10:34:56.123456Z", "superseded", "is zero"),
            (
                "zz",
                "2026-07-01T10:34:56.123456Z",
                "superseded",
                "serial \"zz\"",
            ),
            ("01", "2026-07-01 10:34:56", "superseded", "time"),
            (
                "01",
                "2026-07-01T10:34:56.123456Z",
                "removeFromCRL",
                "unknown revocation",
            ),
        ] {
            match enc.push_stored(serial, at, reason) {
                Err(X509Error::InvalidCrlEntry(reason)) => {
                    assert!(reason.contains(why), "{reason} / {why}")
                }
                other => panic!("{serial} {at} {reason}: {other:?}"),
            }
        }
        let long = "01".repeat(21);
        assert!(matches!(
            enc.push_stored(&long, "2026-07-01T10:34:56.123456Z", "superseded"),
            Err(X509Error::InvalidCrlEntry(_))
        ));
        // Nothing half-written: the encoder still produces an empty CRL.
        let pending = enc
            .finish_tbs(&crl_extensions(&SKI, 42, None).unwrap())
            .unwrap();
        assert_eq!(pending.entries, 0);
        assert_eq!(tbs_of(&pending), reference_tbs(&[], None));
    }

    #[test]
    fn build_crl_signs_what_it_encodes() {
        let key = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
        let spki = spki::SubjectPublicKeyInfoOwned::from_der(
            key.verifying_key().to_public_key_der().unwrap().as_bytes(),
        )
        .unwrap();
        let now = OffsetDateTime::now_utc();
        let root = build_certificate::<_, p256::ecdsa::DerSignature>(
            &InfraCertParams {
                profile: InfraProfile::Root,
                subject: issuer(),
                subject_spki: spki,
                issuer: None,
                not_before: now - time::Duration::hours(1),
                not_after: now + time::Duration::days(365),
                serial: None,
                policy_oids: Vec::new(),
                crl_url: None,
                ca_issuers_url: None,
                ocsp_url: None,
            },
            &key,
        )
        .unwrap();
        let revoked: Vec<RevokedEntry> = entries()
            .into_iter()
            .map(|(mut e, ..)| {
                e.revocation_date = e.revocation_date.min(now);
                e
            })
            .collect();
        let params = CrlParams {
            issuer: IssuerInfo::from_certificate(&root).unwrap(),
            this_update: now,
            next_update: now + time::Duration::days(1),
            crl_number: 7,
            revoked: revoked.clone(),
            issuing_distribution_point: None,
        };
        let crl = build_crl::<_, p256::ecdsa::DerSignature>(&params, &key).unwrap();
        crate::verify::verify_crl_signed_by(&crl, &root).unwrap();
        let listed = crl.tbs_cert_list.revoked_certificates.as_ref().unwrap();
        assert_eq!(listed.len(), revoked.len());
        for (l, e) in listed.iter().zip(&revoked) {
            assert_eq!(l.serial_number, e.serial);
        }
        let der = crl.to_der().unwrap();
        assert_eq!(CertificateList::from_der(&der).unwrap(), crl);
    }
}
