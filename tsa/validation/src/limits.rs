//! What one validation may cost (issue 20): the `[validation]` section of `igc.toml`, the
//! pre-scan that refuses oversized CMS structures before they are decoded, and the per-request
//! [`Budget`] of verification work and wall-clock time.
//!
//! Why a pre-scan: the `der` crate sorts every SET OF it decodes with an insertion sort, and
//! `cms` compares two `CertificateChoices` by re-encoding both; a SignedData carrying thousands
//! of certificates in reverse order costs a quadratic number of encodings inside
//! `SignedData::from_der`, before any check of ours could run. The pre-scan walks the DER
//! headers only (linear in the input), counts the certificates of every SignedData (the
//! signature's and its time-stamp tokens') and the elements of every SET, and measures each
//! certificate.
//!
//! How other validators bound the same work: OpenSSL stops path building at a depth
//! (`X509_VERIFY_PARAM_set_depth`, 100 by default); EU DSS bounds its inputs by size. Here the
//! depth is fixed (a chain of this PKI has three certificates), and the candidates per level,
//! the total work and the wall-clock time are bounded per request.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::Error;

/// `[validation]`: limits of `POST /api/v1/verify` and `/api/v1/verify/certificate`.
/// Every key is optional: a missing one takes its value from [`Default`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ValidationLimits {
    /// Largest request body, in bytes (JSON with the base64 signature and, for a detached
    /// signature, the base64 document). Default 4 MiB: a signed prescription or medical
    /// certificate is a PDF of a few hundred kilobytes at most, and base64 adds a third.
    pub max_body_bytes: usize,
    /// Certificates carried by one signature, its time-stamp tokens' included. Default 32: a
    /// CAdES-T carries the signer's chain and the TSA's, fewer than ten certificates.
    pub max_certificates: usize,
    /// Largest certificate (DER), in bytes. Default 16 KiB: certificates of this PKI are
    /// under 2 KiB.
    pub max_certificate_bytes: usize,
    /// Candidate issuers (same subject as the issuer sought) tried at one level of a path.
    /// Default 8: a re-keyed CA has two certificates under one name.
    pub max_candidates_per_level: usize,
    /// Verification work of one request: one unit per candidate issuer examined and one per
    /// signature verified (the signature, the time-stamp token, each certificate link).
    /// Default 64: a CAdES-T of this PKI needs about a dozen.
    pub max_work: u32,
    /// Wall-clock time of one validation, waiting for a slot included, in milliseconds.
    /// Default 5000.
    pub deadline_ms: u64,
    /// Validations running at once on the blocking pool. Unset: one per CPU.
    pub max_concurrent: Option<usize>,
    /// How long a request waits for a free slot before it is refused (503), in milliseconds.
    /// Default 250.
    pub queue_wait_ms: u64,
}

impl Default for ValidationLimits {
    fn default() -> Self {
        ValidationLimits {
            max_body_bytes: 4 * 1024 * 1024,
            max_certificates: 32,
            max_certificate_bytes: 16 * 1024,
            max_candidates_per_level: 8,
            max_work: 64,
            deadline_ms: 5_000,
            max_concurrent: None,
            queue_wait_ms: 250,
        }
    }
}

/// Ranges accepted by [`ValidationLimits::validate`].
pub mod ranges {
    use std::ops::RangeInclusive;
    /// `max_body_bytes`: 64 KiB ..= 64 MiB.
    pub const MAX_BODY_BYTES: RangeInclusive<usize> = 64 * 1024..=64 * 1024 * 1024;
    /// `max_certificates`: the decoder's sort is quadratic in this number, hence the cap.
    pub const MAX_CERTIFICATES: RangeInclusive<usize> = 1..=128;
    /// `max_certificate_bytes`: 1 KiB ..= 64 KiB.
    pub const MAX_CERTIFICATE_BYTES: RangeInclusive<usize> = 1024..=64 * 1024;
    /// `max_candidates_per_level`.
    pub const MAX_CANDIDATES_PER_LEVEL: RangeInclusive<usize> = 1..=64;
    /// `max_work`: below 16 a CAdES-T of this PKI could not be validated.
    pub const MAX_WORK: RangeInclusive<u32> = 16..=4096;
    /// `deadline_ms`: 100 ms ..= 60 s.
    pub const DEADLINE_MS: RangeInclusive<u64> = 100..=60_000;
    /// `max_concurrent`.
    pub const MAX_CONCURRENT: RangeInclusive<usize> = 1..=256;
    /// `queue_wait_ms`: at most 10 s, and below `deadline_ms`.
    pub const QUEUE_WAIT_MS: RangeInclusive<u64> = 0..=10_000;
}

fn in_range<T: PartialOrd + std::fmt::Display>(
    key: &str,
    value: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<(), Error> {
    if range.contains(&value) {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "validation.{key} = {value} is out of range {}..={}",
            range.start(),
            range.end()
        )))
    }
}

impl ValidationLimits {
    /// Refuses values out of [`ranges`].
    pub fn validate(&self) -> Result<(), Error> {
        in_range(
            "max_body_bytes",
            self.max_body_bytes,
            ranges::MAX_BODY_BYTES,
        )?;
        in_range(
            "max_certificates",
            self.max_certificates,
            ranges::MAX_CERTIFICATES,
        )?;
        in_range(
            "max_certificate_bytes",
            self.max_certificate_bytes,
            ranges::MAX_CERTIFICATE_BYTES,
        )?;
        in_range(
            "max_candidates_per_level",
            self.max_candidates_per_level,
            ranges::MAX_CANDIDATES_PER_LEVEL,
        )?;
        in_range("max_work", self.max_work, ranges::MAX_WORK)?;
        in_range("deadline_ms", self.deadline_ms, ranges::DEADLINE_MS)?;
        if let Some(n) = self.max_concurrent {
            in_range("max_concurrent", n, ranges::MAX_CONCURRENT)?;
        }
        in_range("queue_wait_ms", self.queue_wait_ms, ranges::QUEUE_WAIT_MS)?;
        if self.queue_wait_ms >= self.deadline_ms {
            return Err(Error::Config(format!(
                "validation.queue_wait_ms ({}) must be below validation.deadline_ms ({})",
                self.queue_wait_ms, self.deadline_ms
            )));
        }
        Ok(())
    }

    /// Validations at once: `max_concurrent`, else one per CPU.
    pub fn concurrency(&self) -> usize {
        self.max_concurrent.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        })
    }

    /// `deadline_ms`.
    pub fn deadline(&self) -> Duration {
        Duration::from_millis(self.deadline_ms)
    }

    /// `queue_wait_ms`.
    pub fn queue_wait(&self) -> Duration {
        Duration::from_millis(self.queue_wait_ms)
    }

    /// Elements of a DER SET (or implicitly tagged SET) accepted by the pre-scan: the
    /// certificate sets are bounded by `max_certificates`, the others (attributes, digest
    /// algorithms, RDNs) hold a handful of elements.
    fn max_set_elements(&self) -> usize {
        self.max_certificates.max(MIN_SET_ELEMENTS)
    }
}

/// Floor of [`ValidationLimits::max_set_elements`].
const MIN_SET_ELEMENTS: usize = 64;

/// Nesting of DER elements accepted by the pre-scan: a CAdES-T with its token nests about 20
/// deep.
pub const MAX_DER_DEPTH: usize = 48;

/// A limit that refused a validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitExceeded {
    /// More certificates than `max_certificates`.
    #[error("the signature carries {found} or more certificates (its time-stamp tokens' included); at most {max} are accepted")]
    Certificates {
        /// Counted so far (the count stops at the first one over).
        found: usize,
        /// The limit.
        max: usize,
    },
    /// A certificate larger than `max_certificate_bytes`.
    #[error("a certificate of {size} bytes exceeds the limit of {max} bytes")]
    CertificateSize {
        /// Its DER size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// A SET (attributes, algorithms, names) with too many elements.
    #[error("a DER SET of {found} or more elements exceeds the limit of {max}")]
    SetElements {
        /// Counted so far.
        found: usize,
        /// The limit.
        max: usize,
    },
    /// DER nested too deep.
    #[error("the DER structure nests deeper than {max} levels")]
    Nesting {
        /// The limit.
        max: usize,
    },
    /// More candidate issuers at one level than `max_candidates_per_level`.
    #[error("more than {max} candidate issuer certificates named {issuer} were found for one level of the certification path")]
    Candidates {
        /// The issuer name sought.
        issuer: String,
        /// The limit.
        max: usize,
    },
    /// The verification work exceeded `max_work`.
    #[error("the validation needs more than {max} units of verification work (candidate issuers examined and signatures verified)")]
    Work {
        /// The limit.
        max: u32,
    },
    /// The wall-clock deadline passed.
    #[error("the validation did not finish within {ms} ms")]
    Deadline {
        /// The limit.
        ms: u64,
    },
}

impl LimitExceeded {
    /// The configuration key (or, for the structure limits without one, a name) of the limit.
    pub fn limit(&self) -> &'static str {
        match self {
            LimitExceeded::Certificates { .. } => "max_certificates",
            LimitExceeded::CertificateSize { .. } => "max_certificate_bytes",
            LimitExceeded::SetElements { .. } => "der_set_elements",
            LimitExceeded::Nesting { .. } => "der_nesting",
            LimitExceeded::Candidates { .. } => "max_candidates_per_level",
            LimitExceeded::Work { .. } => "max_work",
            LimitExceeded::Deadline { .. } => "deadline_ms",
        }
    }

    /// Whether it is the deadline (the service is loaded: try later) rather than the input.
    pub fn is_deadline(&self) -> bool {
        matches!(self, LimitExceeded::Deadline { .. })
    }

    /// Reason of the `igc_http_refused_total` counter.
    pub fn reason(&self) -> &'static str {
        match self {
            LimitExceeded::Certificates { .. }
            | LimitExceeded::CertificateSize { .. }
            | LimitExceeded::SetElements { .. }
            | LimitExceeded::Nesting { .. } => "validation_too_large",
            LimitExceeded::Candidates { .. } | LimitExceeded::Work { .. } => {
                "validation_too_complex"
            }
            LimitExceeded::Deadline { .. } => "validation_deadline",
        }
    }
}

// ------------------------------------------------------------------------- budget

/// The work and time one validation may still spend. Shared by reference through the checks;
/// the first limit exceeded is remembered, and every later [`Budget::spend`] fails at once so
/// that the validation unwinds quickly.
#[derive(Debug)]
pub struct Budget {
    max_work: u32,
    max_candidates: usize,
    deadline: Option<(Instant, u64)>,
    used: AtomicU32,
    exceeded: OnceLock<LimitExceeded>,
}

impl Budget {
    /// A budget of `limits` whose deadline is `deadline_ms` after `start`.
    pub fn new(limits: &ValidationLimits, start: Instant) -> Self {
        Budget {
            max_work: limits.max_work,
            max_candidates: limits.max_candidates_per_level,
            deadline: Some((start + limits.deadline(), limits.deadline_ms)),
            used: AtomicU32::new(0),
            exceeded: OnceLock::new(),
        }
    }

    /// No limit (the time-stamps of the audit journal, checked by the operator's tools).
    pub fn unlimited() -> Self {
        Budget {
            max_work: u32::MAX,
            max_candidates: usize::MAX,
            deadline: None,
            used: AtomicU32::new(0),
            exceeded: OnceLock::new(),
        }
    }

    /// Records `e` (unless a limit was already exceeded) and returns the first one.
    pub fn exceed(&self, e: LimitExceeded) -> LimitExceeded {
        self.exceeded.get_or_init(|| e).clone()
    }

    /// The first limit exceeded, if any.
    pub fn exceeded(&self) -> Option<LimitExceeded> {
        self.exceeded.get().cloned()
    }

    /// Spends `units` of work; fails when a limit was exceeded before, the deadline passed, or
    /// the work would exceed `max_work`.
    pub fn spend(&self, units: u32) -> Result<(), LimitExceeded> {
        if let Some(e) = self.exceeded.get() {
            return Err(e.clone());
        }
        if let Some((at, ms)) = self.deadline {
            if Instant::now() >= at {
                return Err(self.exceed(LimitExceeded::Deadline { ms }));
            }
        }
        let used = self
            .used
            .fetch_add(units, Ordering::Relaxed)
            .saturating_add(units);
        if used > self.max_work {
            return Err(self.exceed(LimitExceeded::Work { max: self.max_work }));
        }
        Ok(())
    }

    /// Work spent so far.
    pub fn used(&self) -> u32 {
        self.used.load(Ordering::Relaxed)
    }

    /// Candidate issuers accepted at one level of a path.
    pub fn max_candidates(&self) -> usize {
        self.max_candidates
    }

    /// The deadline, when there is one.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline.map(|(at, _)| at)
    }
}

// ------------------------------------------------------------------------- pre-scan

/// DER value of the OID id-signedData (1.2.840.113549.1.7.2).
const SIGNED_DATA_OID: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];

/// One DER element: identifier octets, value, and the whole element's size.
#[derive(Debug, Clone, Copy)]
struct Tlv<'a> {
    /// First identifier octet (class, constructed bit, low tag number).
    first: u8,
    /// The contents octets.
    value: &'a [u8],
    size: usize,
}

impl Tlv<'_> {
    fn constructed(&self) -> bool {
        self.first & 0x20 != 0
    }
    fn is_set(&self) -> bool {
        // A universal SET, or a constructed context-specific element (CMS tags its SETs
        // implicitly: certificates [0], crls [1], signedAttrs [0], unsignedAttrs [1]).
        self.first == 0x31 || self.first & 0xe0 == 0xa0
    }
}

/// Reads the element at the start of `input`; `None` when it is not well-formed DER (the
/// decoder reports it then).
fn tlv(input: &[u8]) -> Option<Tlv<'_>> {
    let first = *input.first()?;
    let mut pos = 1;
    if first & 0x1f == 0x1f {
        // High tag number: base-128 octets, the last without the top bit.
        loop {
            let b = *input.get(pos)?;
            pos += 1;
            if b & 0x80 == 0 {
                break;
            }
            if pos > 5 {
                return None;
            }
        }
    }
    let l = *input.get(pos)?;
    pos += 1;
    let len = if l < 0x80 {
        usize::from(l)
    } else {
        let n = usize::from(l & 0x7f);
        if n == 0 || n > 4 {
            return None; // indefinite length (BER) or absurd size
        }
        let mut len = 0usize;
        for _ in 0..n {
            len = (len << 8) | usize::from(*input.get(pos)?);
            pos += 1;
        }
        len
    };
    let end = pos.checked_add(len)?;
    let value = input.get(pos..end)?;
    Some(Tlv {
        first,
        value,
        size: end,
    })
}

/// The elements of a constructed value, in order, stopping at the first malformed one.
fn children(value: &[u8]) -> impl Iterator<Item = Tlv<'_>> {
    let mut rest = value;
    std::iter::from_fn(move || {
        let t = tlv(rest)?;
        rest = rest.get(t.size..)?;
        Some(t)
    })
}

struct Scan<'l> {
    limits: &'l ValidationLimits,
    certificates: usize,
}

impl Scan<'_> {
    fn node(&mut self, t: Tlv<'_>, depth: usize) -> Result<(), LimitExceeded> {
        if !t.constructed() {
            return Ok(());
        }
        if depth >= MAX_DER_DEPTH {
            return Err(LimitExceeded::Nesting { max: MAX_DER_DEPTH });
        }
        if t.first == 0x30 {
            self.signed_data(t)?;
        }
        let max_set = self.limits.max_set_elements();
        for (i, child) in children(t.value).enumerate() {
            if t.is_set() && i >= max_set {
                return Err(LimitExceeded::SetElements {
                    found: i + 1,
                    max: max_set,
                });
            }
            self.node(child, depth + 1)?;
        }
        Ok(())
    }

    /// When `t` is a ContentInfo of id-signedData, counts and measures the certificates of its
    /// SignedData.
    fn signed_data(&mut self, t: Tlv<'_>) -> Result<(), LimitExceeded> {
        let mut it = children(t.value);
        let (Some(oid), Some(content)) = (it.next(), it.next()) else {
            return Ok(());
        };
        if oid.first != 0x06 || oid.value != SIGNED_DATA_OID || content.first != 0xa0 {
            return Ok(());
        }
        let Some(sd) = children(content.value).next().filter(|s| s.first == 0x30) else {
            return Ok(());
        };
        // SignedData: version, digestAlgorithms, encapContentInfo, [0] certificates, …
        let Some(certs) = children(sd.value).find(|c| c.first == 0xa0) else {
            return Ok(());
        };
        for c in children(certs.value) {
            self.certificates += 1;
            if self.certificates > self.limits.max_certificates {
                return Err(LimitExceeded::Certificates {
                    found: self.certificates,
                    max: self.limits.max_certificates,
                });
            }
            if c.size > self.limits.max_certificate_bytes {
                return Err(LimitExceeded::CertificateSize {
                    size: c.size,
                    max: self.limits.max_certificate_bytes,
                });
            }
        }
        Ok(())
    }
}

/// Refuses a DER CMS whose decoding would be too costly: more certificates than
/// `max_certificates` (the signature's and its tokens' together), a certificate larger than
/// `max_certificate_bytes`, a SET of too many elements, too deep a nesting. Linear in the
/// input; malformed DER is left to the decoder.
pub fn prescan(der: &[u8], limits: &ValidationLimits) -> Result<(), LimitExceeded> {
    let mut scan = Scan {
        limits,
        certificates: 0,
    };
    for t in children(der) {
        scan.node(t, 0)?;
    }
    Ok(())
}

/// Refuses a single certificate (`/api/v1/verify/certificate`) larger than
/// `max_certificate_bytes`.
pub fn check_certificate_size(
    der_len: usize,
    limits: &ValidationLimits,
) -> Result<(), LimitExceeded> {
    if der_len > limits.max_certificate_bytes {
        return Err(LimitExceeded::CertificateSize {
            size: der_len,
            max: limits.max_certificate_bytes,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn tlv_bytes(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let n = content.len();
        if n < 0x80 {
            out.push(n as u8);
        } else {
            let bytes = n.to_be_bytes();
            let skip = bytes.iter().take_while(|b| **b == 0).count();
            out.push(0x80 | (bytes.len() - skip) as u8);
            out.extend_from_slice(&bytes[skip..]);
        }
        out.extend_from_slice(content);
        out
    }

    /// ContentInfo { signedData, [0] { SignedData { version, set, seq, [0] certs } } }.
    fn cms_with(certs: &[Vec<u8>]) -> Vec<u8> {
        let mut sd = tlv_bytes(0x02, &[1]);
        sd.extend(tlv_bytes(0x31, &[]));
        sd.extend(tlv_bytes(0x30, &tlv_bytes(0x06, &[0x2a, 3])));
        sd.extend(tlv_bytes(0xa0, &certs.concat()));
        sd.extend(tlv_bytes(0x31, &[]));
        let mut ci = tlv_bytes(0x06, SIGNED_DATA_OID);
        ci.extend(tlv_bytes(0xa0, &tlv_bytes(0x30, &sd)));
        tlv_bytes(0x30, &ci)
    }

    fn fake_cert(n: usize) -> Vec<u8> {
        tlv_bytes(0x30, &tlv_bytes(0x04, &vec![7u8; n]))
    }

    #[test]
    fn defaults_validate_and_ranges_refuse() {
        let d = ValidationLimits::default();
        d.validate().unwrap();
        for bad in [
            ValidationLimits {
                max_body_bytes: 1000,
                ..d.clone()
            },
            ValidationLimits {
                max_certificates: 0,
                ..d.clone()
            },
            ValidationLimits {
                max_certificates: 129,
                ..d.clone()
            },
            ValidationLimits {
                max_work: 1,
                ..d.clone()
            },
            ValidationLimits {
                max_concurrent: Some(0),
                ..d.clone()
            },
            ValidationLimits {
                queue_wait_ms: 5_000,
                ..d.clone()
            },
        ] {
            let e = bad.validate().unwrap_err().to_string();
            assert!(e.contains("validation."), "{e}");
        }
    }

    #[test]
    fn prescan_counts_certificates_and_measures_them() {
        let l = ValidationLimits {
            max_certificates: 3,
            max_certificate_bytes: 1024,
            ..ValidationLimits::default()
        };
        let at_limit: Vec<_> = (0..3).map(|_| fake_cert(1000)).collect();
        prescan(&cms_with(&at_limit), &l).unwrap();
        let over: Vec<_> = (0..4).map(|_| fake_cert(10)).collect();
        assert_eq!(
            prescan(&cms_with(&over), &l),
            Err(LimitExceeded::Certificates { found: 4, max: 3 })
        );
        // 1024 bytes in all: at the limit; one more is over.
        prescan(&cms_with(&[fake_cert(1024 - 8)]), &l).unwrap();
        assert!(matches!(
            prescan(&cms_with(&[fake_cert(1024 - 7)]), &l),
            Err(LimitExceeded::CertificateSize { size: 1025, .. })
        ));
        // A token nested in the first one counts too.
        let inner = cms_with(&[fake_cert(10), fake_cert(10)]);
        let outer = cms_with(&[fake_cert(10), tlv_bytes(0x30, &inner)]);
        assert!(matches!(
            prescan(&outer, &l),
            Err(LimitExceeded::Certificates { found: 4, .. })
        ));
    }

    #[test]
    fn prescan_bounds_sets_and_nesting_and_ignores_garbage() {
        let l = ValidationLimits::default();
        let set = |n: usize| tlv_bytes(0x31, &[0x05, 0x00].repeat(n));
        prescan(&set(64), &l).unwrap();
        assert!(matches!(
            prescan(&set(65), &l),
            Err(LimitExceeded::SetElements { max: 64, .. })
        ));
        let mut deep = vec![];
        for _ in 0..MAX_DER_DEPTH + 1 {
            deep = tlv_bytes(0x30, &deep);
        }
        assert_eq!(
            prescan(&deep, &l),
            Err(LimitExceeded::Nesting { max: MAX_DER_DEPTH })
        );
        for garbage in [
            &b""[..],
            b"\xff",
            b"\x30\x80\x00\x00",
            b"\x30\x84\xff\xff\xff\xff",
        ] {
            prescan(garbage, &l).unwrap();
        }
    }

    #[test]
    fn budget_counts_work_and_remembers_the_first_limit() {
        let l = ValidationLimits {
            max_work: 16,
            ..ValidationLimits::default()
        };
        let b = Budget::new(&l, Instant::now());
        for _ in 0..16 {
            b.spend(1).unwrap();
        }
        assert_eq!(b.spend(1), Err(LimitExceeded::Work { max: 16 }));
        assert_eq!(b.exceeded(), Some(LimitExceeded::Work { max: 16 }));
        let late = Budget::new(&l, Instant::now() - Duration::from_secs(60));
        assert!(matches!(late.spend(1), Err(LimitExceeded::Deadline { .. })));
        assert!(Budget::unlimited().spend(1_000_000).is_ok());
    }
}
