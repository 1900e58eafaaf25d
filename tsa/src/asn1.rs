//! The ASN.1 types of RFC 3161 / RFC 5816 that `x509-tsp` 0.1 cannot express.
//!
//! From `x509-tsp` we use `TimeStampReq`, `MessageImprint`, `Accuracy` and
//! `TspVersion` as they are. Three things had to be written here:
//!
//! - [`GenTime`]: `der` 0.7's `GeneralizedTime` has no fractional seconds,
//!   so `x509_tsp::TstInfo` cannot carry a sub-second `genTime`; [`TstInfo`]
//!   is the same SEQUENCE with a `GenTime` field.
//! - [`PkiStatusInfo`] / [`FailureInfoBits`]: `x509_tsp::TimeStampResp` uses
//!   `cmpv2` 0.2.0's `PkiFailureInfo`, a `FlagSet` whose variants are bit
//!   *positions* written where `flagset` expects bit *masks* (`BadAlg = 0`
//!   encodes no bit at all, `TimeNotAvailable = 14` sets bits 1–3, and
//!   `SystemFailure = 25` does not fit). Encoding a failure with it would
//!   send the wrong failInfo, so [`TimeStampResp`] is defined here.
//! - [`SigningCertificateV2`] (RFC 5035 ESSCertIDv2), which no crate of the
//!   der 0.7 family provides.

use const_oid::ObjectIdentifier;
use der::asn1::{BitStringRef, Int, OctetString};
use der::{
    DecodeValue, Encode, EncodeValue, Enumerated, FixedTag, Header, Length, Reader, Sequence, Tag,
    Writer,
};
use spki::AlgorithmIdentifierOwned;
use time::OffsetDateTime;
use x509_cert::ext::pkix::certpolicy::PolicyInformation;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::Extensions;
use x509_cert::serial_number::SerialNumber;

pub use x509_tsp::{Accuracy, MessageImprint, TimeStampReq, TspVersion};

// ------------------------------------------------------------------ genTime

/// Largest number of fraction digits [`GenTime`] encodes or accepts.
pub const MAX_FRACTION_DIGITS: u8 = 9;

/// `genTime`: a GeneralizedTime in UTC with optional fractional seconds,
/// encoded as RFC 3161 §2.4.2 requires: `YYYYMMDDhhmmss[.s…]Z`, the
/// fraction without trailing zeros and omitted entirely (with its dot) when
/// zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GenTime(OffsetDateTime);

impl GenTime {
    /// `t` truncated (never rounded: a token must not claim a later time
    /// than the clock read) to `digits` decimal digits of a second.
    pub fn truncated(t: OffsetDateTime, digits: u8) -> Result<Self, der::Error> {
        if digits > MAX_FRACTION_DIGITS {
            return Err(Tag::GeneralizedTime.value_error());
        }
        let t = t.to_offset(time::UtcOffset::UTC);
        if !(0..=9999).contains(&t.year()) {
            return Err(Tag::GeneralizedTime.value_error());
        }
        let unit = 10u32.pow(u32::from(MAX_FRACTION_DIGITS - digits));
        let nanos = t.nanosecond() / unit * unit;
        let t = t
            .replace_nanosecond(nanos)
            .map_err(|_| Tag::GeneralizedTime.value_error())?;
        Ok(GenTime(t))
    }

    /// The instant, in UTC.
    pub fn datetime(&self) -> OffsetDateTime {
        self.0
    }

    /// Formats into a fixed buffer; returns the buffer and the used length.
    fn format(&self) -> ([u8; 25], usize) {
        fn put(buf: &mut [u8; 25], n: &mut usize, value: u32, width: usize) {
            let mut v = value;
            for i in (0..width).rev() {
                buf[*n + i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
            *n += width;
        }
        let t = self.0;
        let mut buf = [0u8; 25];
        let mut n = 0;
        // The year is 0..=9999, checked at construction.
        put(&mut buf, &mut n, t.year().unsigned_abs(), 4);
        put(&mut buf, &mut n, u32::from(u8::from(t.month())), 2);
        put(&mut buf, &mut n, u32::from(t.day()), 2);
        put(&mut buf, &mut n, u32::from(t.hour()), 2);
        put(&mut buf, &mut n, u32::from(t.minute()), 2);
        put(&mut buf, &mut n, u32::from(t.second()), 2);
        let mut frac = t.nanosecond();
        if frac != 0 {
            let mut digits = 9usize;
            while frac.is_multiple_of(10) {
                frac /= 10;
                digits -= 1;
            }
            buf[n] = b'.';
            n += 1;
            put(&mut buf, &mut n, frac, digits);
        }
        buf[n] = b'Z';
        (buf, n + 1)
    }

    /// Strict DER parse of the value octets.
    pub fn parse(bytes: &[u8]) -> Result<Self, der::Error> {
        let bad = || Tag::GeneralizedTime.value_error();
        let (body, z) = bytes.split_at(bytes.len().checked_sub(1).ok_or_else(bad)?);
        if z != b"Z" || body.len() < 14 {
            return Err(bad());
        }
        let (whole, frac) = body.split_at(14);
        let num = |s: &[u8]| -> Result<u32, der::Error> {
            if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
                return Err(bad());
            }
            Ok(s.iter().fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0')))
        };
        let year = i32::try_from(num(&whole[0..4])?).map_err(|_| bad())?;
        let month = u8::try_from(num(&whole[4..6])?).map_err(|_| bad())?;
        let day = u8::try_from(num(&whole[6..8])?).map_err(|_| bad())?;
        let hour = u8::try_from(num(&whole[8..10])?).map_err(|_| bad())?;
        let minute = u8::try_from(num(&whole[10..12])?).map_err(|_| bad())?;
        let second = u8::try_from(num(&whole[12..14])?).map_err(|_| bad())?;
        let nanos = match frac {
            [] => 0,
            [b'.', digits @ ..] => {
                if digits.is_empty()
                    || digits.len() > usize::from(MAX_FRACTION_DIGITS)
                    || digits.last() == Some(&b'0')
                {
                    return Err(bad());
                }
                let v = num(digits)?;
                v * 10u32.pow(u32::from(MAX_FRACTION_DIGITS) - digits.len() as u32)
            }
            _ => return Err(bad()),
        };
        let month = time::Month::try_from(month).map_err(|_| bad())?;
        let date = time::Date::from_calendar_date(year, month, day).map_err(|_| bad())?;
        let tod = time::Time::from_hms_nano(hour, minute, second, nanos).map_err(|_| bad())?;
        Ok(GenTime(date.with_time(tod).assume_utc()))
    }
}

impl std::fmt::Display for GenTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (buf, n) = self.format();
        // Only ASCII digits, '.' and 'Z' are ever written.
        f.write_str(std::str::from_utf8(&buf[..n]).map_err(|_| std::fmt::Error)?)
    }
}

impl FixedTag for GenTime {
    const TAG: Tag = Tag::GeneralizedTime;
}

impl EncodeValue for GenTime {
    fn value_len(&self) -> der::Result<Length> {
        Length::try_from(self.format().1)
    }

    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        let (buf, n) = self.format();
        writer.write(&buf[..n])
    }
}

impl<'a> DecodeValue<'a> for GenTime {
    fn decode_value<R: Reader<'a>>(reader: &mut R, header: Header) -> der::Result<Self> {
        let bytes = reader.read_vec(header.length)?;
        GenTime::parse(&bytes)
    }
}

// ------------------------------------------------------------------ TSTInfo

/// `TSTInfo` (RFC 3161 §2.4.2), identical to `x509_tsp::TstInfo` except that
/// `genTime` keeps its fractional seconds.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct TstInfo {
    /// v1.
    pub version: TspVersion,
    /// The TSA policy under which the token was issued.
    pub policy: ObjectIdentifier,
    /// Copied from the request.
    pub message_imprint: MessageImprint,
    /// Unique per token, across every instance of the TSA.
    pub serial_number: Int,
    /// The time of issue.
    pub gen_time: GenTime,
    /// The declared accuracy around `gen_time`.
    #[asn1(optional = "true")]
    pub accuracy: Option<Accuracy>,
    /// Always false here: no ordering guarantee between tokens.
    #[asn1(default = "Default::default")]
    pub ordering: bool,
    /// Copied from the request.
    #[asn1(optional = "true")]
    pub nonce: Option<Int>,
    /// The TSA's name (its certificate subject), when configured.
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub tsa: Option<GeneralName>,
    /// Never set by this TSA.
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    pub extensions: Option<Extensions>,
}

// ------------------------------------------------------------------ status

/// `PKIStatus` values RFC 3161 uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enumerated)]
#[asn1(type = "INTEGER")]
#[repr(u8)]
pub enum PkiStatus {
    /// A token is included.
    Granted = 0,
    /// A token is included, with modifications.
    GrantedWithMods = 1,
    /// No token; see failInfo.
    Rejection = 2,
    /// Not used by RFC 3161 servers.
    Waiting = 3,
    /// Revocation of the TSA certificate is imminent.
    RevocationWarning = 4,
    /// The TSA certificate was revoked.
    RevocationNotification = 5,
}

/// The `PKIFailureInfo` bits RFC 3161 §2.4.2 defines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[repr(u8)]
pub enum FailureInfo {
    /// Unrecognized or unsupported algorithm identifier.
    BadAlg = 0,
    /// Transaction not permitted or supported.
    BadRequest = 2,
    /// The data submitted has the wrong format.
    BadDataFormat = 5,
    /// The TSA's time source is not available.
    TimeNotAvailable = 14,
    /// The requested TSA policy is not supported by the TSA.
    UnacceptedPolicy = 15,
    /// The requested extension is not supported by the TSA.
    UnacceptedExtension = 16,
    /// The additional information requested could not be understood.
    AddInfoNotAvailable = 17,
    /// The request cannot be handled due to system failure.
    SystemFailure = 25,
}

impl FailureInfo {
    /// Every value, in bit order.
    pub const ALL: [FailureInfo; 8] = [
        FailureInfo::BadAlg,
        FailureInfo::BadRequest,
        FailureInfo::BadDataFormat,
        FailureInfo::TimeNotAvailable,
        FailureInfo::UnacceptedPolicy,
        FailureInfo::UnacceptedExtension,
        FailureInfo::AddInfoNotAvailable,
        FailureInfo::SystemFailure,
    ];

    /// The bit position in the BIT STRING.
    pub const fn bit(self) -> u8 {
        self as u8
    }

    /// The RFC name (`badAlg`, `timeNotAvailable`, …), also the metric label.
    pub const fn name(self) -> &'static str {
        match self {
            FailureInfo::BadAlg => "badAlg",
            FailureInfo::BadRequest => "badRequest",
            FailureInfo::BadDataFormat => "badDataFormat",
            FailureInfo::TimeNotAvailable => "timeNotAvailable",
            FailureInfo::UnacceptedPolicy => "unacceptedPolicy",
            FailureInfo::UnacceptedExtension => "unacceptedExtension",
            FailureInfo::AddInfoNotAvailable => "addInfoNotAvailable",
            FailureInfo::SystemFailure => "systemFailure",
        }
    }
}

impl std::fmt::Display for FailureInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A `PKIFailureInfo` value: a set of bits 0..32, encoded with the DER rule
/// for named bit lists (X.690 §11.2.2: no trailing zero bits).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FailureInfoBits(u32);

impl FailureInfoBits {
    /// The raw bit set (bit `i` of the BIT STRING is `1 << i`).
    pub const fn raw(self) -> u32 {
        self.0
    }

    /// Whether `f` is set.
    pub const fn contains(self, f: FailureInfo) -> bool {
        self.0 & (1 << f.bit()) != 0
    }

    /// The single RFC 3161 failure this set holds, if it holds exactly one.
    pub fn single(self) -> Option<FailureInfo> {
        FailureInfo::ALL
            .into_iter()
            .find(|f| self.0 == 1 << f.bit())
    }

    fn encoded(self) -> (u8, [u8; 4], usize) {
        let mut bytes = [0u8; 4];
        if self.0 == 0 {
            return (0, bytes, 0);
        }
        let highest = 31 - self.0.leading_zeros() as usize;
        for i in 0..=highest {
            if self.0 & (1 << i) != 0 {
                bytes[i / 8] |= 0x80 >> (i % 8);
            }
        }
        ((7 - highest % 8) as u8, bytes, highest / 8 + 1)
    }
}

impl From<FailureInfo> for FailureInfoBits {
    fn from(f: FailureInfo) -> Self {
        FailureInfoBits(1 << f.bit())
    }
}

impl FixedTag for FailureInfoBits {
    const TAG: Tag = Tag::BitString;
}

impl EncodeValue for FailureInfoBits {
    fn value_len(&self) -> der::Result<Length> {
        let (unused, bytes, n) = self.encoded();
        BitStringRef::new(unused, &bytes[..n])?.value_len()
    }

    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        let (unused, bytes, n) = self.encoded();
        BitStringRef::new(unused, &bytes[..n])?.encode_value(writer)
    }
}

impl<'a> DecodeValue<'a> for FailureInfoBits {
    fn decode_value<R: Reader<'a>>(reader: &mut R, header: Header) -> der::Result<Self> {
        let bits = BitStringRef::decode_value(reader, header)?;
        let mut value = 0u32;
        let mut last = false;
        for (i, bit) in bits.bits().enumerate() {
            last = bit;
            if bit {
                if i >= 32 {
                    return Err(Tag::BitString.value_error());
                }
                value |= 1 << i;
            }
        }
        // DER named bit list: trailing zero bits are removed.
        if bits.bit_len() > 0 && !last {
            return Err(Tag::BitString.non_canonical_error());
        }
        Ok(FailureInfoBits(value))
    }
}

/// `PKIStatusInfo` (RFC 3161 §2.4.2, from RFC 4210).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct PkiStatusInfo {
    /// granted or rejection.
    pub status: PkiStatus,
    /// `PKIFreeText`: human-readable explanations (UTF8String).
    #[asn1(optional = "true")]
    pub status_string: Option<Vec<String>>,
    /// Why the request was rejected.
    #[asn1(optional = "true")]
    pub fail_info: Option<FailureInfoBits>,
}

/// `TimeStampResp` (RFC 3161 §2.4.2).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct TimeStampResp {
    /// The outcome.
    pub status: PkiStatusInfo,
    /// The token (a CMS ContentInfo of SignedData) when granted.
    #[asn1(optional = "true")]
    pub time_stamp_token: Option<cms::content_info::ContentInfo>,
}

impl TimeStampResp {
    /// A rejection with one failure bit and an explanation.
    pub fn rejection(failure: FailureInfo, text: &str) -> Self {
        TimeStampResp {
            status: PkiStatusInfo {
                status: PkiStatus::Rejection,
                status_string: Some(vec![text.to_owned()]),
                fail_info: Some(failure.into()),
            },
            time_stamp_token: None,
        }
    }
}

/// DER of a rejection reply. Falls back to a constant, hand-checked
/// encoding of `systemFailure` if encoding the text fails (it cannot for
/// UTF-8 strings under the size limits used here, but a reply must always
/// be produced).
pub fn rejection_der(failure: FailureInfo, text: &str) -> Vec<u8> {
    match TimeStampResp::rejection(failure, text).to_der() {
        Ok(der) => der,
        Err(_) => SYSTEM_FAILURE_REPLY.to_vec(),
    }
}

/// `SEQUENCE { SEQUENCE { INTEGER 2, BIT STRING (systemFailure) } }`.
const SYSTEM_FAILURE_REPLY: [u8; 14] = [
    0x30, 0x0c, 0x30, 0x0a, 0x02, 0x01, 0x02, 0x03, 0x05, 0x06, 0x00, 0x00, 0x00, 0x40,
];

// ------------------------------------------------------------------ ESS

/// `IssuerSerial` (RFC 5035).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct IssuerSerial {
    /// The issuer of the certificate, as a directoryName.
    pub issuer: Vec<GeneralName>,
    /// The certificate serial number.
    pub serial_number: SerialNumber,
}

/// `ESSCertIDv2` (RFC 5035). `hash_algorithm` absent means SHA-256 (the
/// DEFAULT, which DER requires to be omitted).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct EssCertIdV2 {
    /// Hash algorithm; `None` = id-sha256.
    #[asn1(optional = "true")]
    pub hash_algorithm: Option<AlgorithmIdentifierOwned>,
    /// Hash of the whole DER certificate.
    pub cert_hash: OctetString,
    /// Issuer and serial number of the certificate.
    #[asn1(optional = "true")]
    pub issuer_serial: Option<IssuerSerial>,
}

/// `SigningCertificateV2` (RFC 5035), the signed attribute RFC 5816 requires.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct SigningCertificateV2 {
    /// The signing certificate first.
    pub certs: Vec<EssCertIdV2>,
    /// Not used here.
    #[asn1(optional = "true")]
    pub policies: Option<Vec<PolicyInformation>>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use der::Decode;
    use time::macros::datetime;

    #[test]
    fn gen_time_trailing_zeros_and_truncation() {
        let cases = [
            (
                datetime!(2026-03-04 05:06:07.120_000_000 UTC),
                3,
                "20260304050607.12Z",
            ),
            (
                datetime!(2026-03-04 05:06:07.000_000_000 UTC),
                3,
                "20260304050607Z",
            ),
            (
                datetime!(2026-03-04 05:06:07.000_400_000 UTC),
                3,
                "20260304050607Z",
            ),
            (
                datetime!(2026-03-04 05:06:07.999_999_999 UTC),
                3,
                "20260304050607.999Z",
            ),
            (
                datetime!(2026-03-04 05:06:07.999_999_999 UTC),
                6,
                "20260304050607.999999Z",
            ),
            (
                datetime!(2026-03-04 05:06:07.100_000_000 UTC),
                1,
                "20260304050607.1Z",
            ),
            (datetime!(1999-12-31 23:59:59.5 UTC), 0, "19991231235959Z"),
        ];
        for (t, digits, text) in cases {
            let g = GenTime::truncated(t, digits).unwrap();
            assert_eq!(g.to_string(), text);
            let der = g.to_der().unwrap();
            assert_eq!(der[0], 0x18);
            assert_eq!(&der[2..], text.as_bytes());
            assert_eq!(GenTime::from_der(&der).unwrap(), g);
        }
        assert!(GenTime::truncated(datetime!(2026-01-01 0:00 UTC), 10).is_err());
    }

    #[test]
    fn gen_time_parse_is_strict() {
        for bad in [
            "20260304050607.120Z",
            "20260304050607.Z",
            "20260304050607",
            "20260304050607+0100",
            "2026030405060Z",
            "20261304050607Z",
            "20260230050607Z",
            "20260304250607Z",
            "20260304050660Z",
            "20260304050607,1Z",
            "2026030405060a.1Z",
            "20260304050607.1234567891Z",
            "",
            "Z",
        ] {
            assert!(GenTime::parse(bad.as_bytes()).is_err(), "{bad} accepted");
        }
        let g = GenTime::parse(b"20260304050607.000001Z").unwrap();
        assert_eq!(g.datetime().nanosecond(), 1_000);
    }

    #[test]
    fn failure_info_named_bit_encoding() {
        // X.690 §11.2.2: no trailing zero bits; the unused-bits octet says
        // how many bits of the last octet are padding.
        let expect: [(FailureInfo, &[u8]); 8] = [
            (FailureInfo::BadAlg, &[0x03, 0x02, 0x07, 0x80]),
            (FailureInfo::BadRequest, &[0x03, 0x02, 0x05, 0x20]),
            (FailureInfo::BadDataFormat, &[0x03, 0x02, 0x02, 0x04]),
            (
                FailureInfo::TimeNotAvailable,
                &[0x03, 0x03, 0x01, 0x00, 0x02],
            ),
            (
                FailureInfo::UnacceptedPolicy,
                &[0x03, 0x03, 0x00, 0x00, 0x01],
            ),
            (
                FailureInfo::UnacceptedExtension,
                &[0x03, 0x04, 0x07, 0x00, 0x00, 0x80],
            ),
            (
                FailureInfo::AddInfoNotAvailable,
                &[0x03, 0x04, 0x06, 0x00, 0x00, 0x40],
            ),
            (
                FailureInfo::SystemFailure,
                &[0x03, 0x05, 0x06, 0x00, 0x00, 0x00, 0x40],
            ),
        ];
        for (f, der) in expect {
            let bits = FailureInfoBits::from(f);
            assert_eq!(bits.to_der().unwrap(), der, "{f}");
            let back = FailureInfoBits::from_der(der).unwrap();
            assert_eq!(back.single(), Some(f));
        }
        // Trailing zero bit: not DER.
        assert!(FailureInfoBits::from_der(&[0x03, 0x02, 0x06, 0x80]).is_err());
    }

    #[test]
    fn fallback_rejection_is_system_failure() {
        let resp = TimeStampResp::from_der(&SYSTEM_FAILURE_REPLY).unwrap();
        assert_eq!(resp.status.status, PkiStatus::Rejection);
        assert_eq!(
            resp.status.fail_info.and_then(FailureInfoBits::single),
            Some(FailureInfo::SystemFailure)
        );
        let der = rejection_der(FailureInfo::BadAlg, "SHA-1");
        let resp = TimeStampResp::from_der(&der).unwrap();
        assert_eq!(resp.status.status_string, Some(vec!["SHA-1".to_owned()]));
    }
}
