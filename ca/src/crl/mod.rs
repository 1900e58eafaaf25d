//! CRL generation and publication.
//!
//! # Scopes and partitioning
//!
//! Every issuing CA publishes
//!
//! * a **full CRL**, `/crl/{ca}.crl`: every revoked or held certificate of the CA that has not
//!   been expired for longer than `crl.expired_retention_days`; no issuingDistributionPoint
//!   (its scope is the whole CA, so it also answers for certificates whose CDP names it, e.g.
//!   infrastructure certificates from ceremonies);
//! * **partition CRLs**, `/crl/{ca}-{n}.crl`, with a critical issuingDistributionPoint whose
//!   distributionPoint is exactly that URL (and onlyContainsUserCerts); every end-entity
//!   certificate's CDP names its partition.
//!
//! A certificate's partition is fixed at issuance from its **notAfter**: partition
//! `n = floor(notAfter / W)` where `W = crl.partition_days` days, counted from the Unix epoch
//! (temporal sharding, as Boulder does). A partition therefore only ever receives the
//! certificates issued during a window of `W` days (those that expire in its window), so its
//! size is bounded by the issuance rate × `W` — whatever the CA's age — and once the window
//! is `expired_retention_days` in the past, all its certificates have expired and it is
//! retired (no longer generated). Only the full CRL grows with the CA's live population,
//! which is inherent to a full CRL; relying parties use the partition in the CDP.
//!
//! The partitions published at a time `t` are `floor((t − retention) / W) ..=
//! floor(min(CA notAfter, t + longest configured validity) / W)` plus any later partition
//! that holds revocations; a partition file outside that set is generated on demand when
//! asked for ([`CrlPublisher::fetch`]) if it could still hold a valid certificate. `W` must
//! not change during the CA's life (the partition number is computed with it at issuance).
//!
//! # Numbers and freshness
//!
//! CRL numbers come from one sequence per CA shared by all its scopes
//! ([`Store::allocate_crl_numbers`](crate::storage::Store::allocate_crl_numbers)): every CRL
//! has a greater number than any CRL of the same CA generated before it, across restarts and
//! across instances sharing PostgreSQL. thisUpdate is taken before the storage walk, and only
//! revocations at or before it are listed; a revocation committed during the walk is listed
//! by the regeneration it triggers. Entries: serial, revocation date, reasonCode
//! (certificateHold while suspended; omitted for unspecified). CRL extensions: AKI and
//! cRLNumber (+ IDP for partitions).

mod publisher;

use std::fmt;

use bytes::Bytes;
use der::Decode as _;
use pkix::crl::{crl_extensions, CrlEncoder, IssuingDistributionPointParams, PendingCrl};
use pkix::{x509_time, X509Error};
use serde::Serialize;
use time::OffsetDateTime;
use x509_cert::crl::CertificateList;

pub use publisher::{CrlPublisher, PublishedCrl};

use crate::domain::CaName;
use crate::error::{Error, Result};
use crate::issuance::{CertificateAuthority, CrlPolicy};
use crate::storage::crl_store::{CrlWalk, FullCrlWalk, PackedPage};
use crate::storage::db_time;

/// CRLs up to this many entries are decoded back and checked against the CA certificate
/// after signing (larger ones: the signature is checked, the encoder is trusted).
const FULL_SELF_CHECK_MAX_ENTRIES: u64 = 20_000;

/// Which CRL of a CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CrlScope {
    /// The full CRL (no issuingDistributionPoint).
    Full,
    /// One partition (issuingDistributionPoint = its URL).
    Partition(u32),
}

impl CrlScope {
    pub fn partition(self) -> Option<u32> {
        match self {
            CrlScope::Full => None,
            CrlScope::Partition(p) => Some(p),
        }
    }
}

impl fmt::Display for CrlScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CrlScope::Full => f.write_str("full"),
            CrlScope::Partition(p) => write!(f, "partition {p}"),
        }
    }
}

/// A signed CRL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GeneratedCrl {
    pub ca: CaName,
    pub scope: CrlScope,
    pub number: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub this_update: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub next_update: OffsetDateTime,
    /// Number of revoked entries.
    pub entries: u64,
    /// File name under `/crl/`.
    pub file_name: String,
    /// Published URL (= the IDP of a partition CRL, = the CDP of its certificates).
    pub url: String,
    /// DER.
    #[serde(skip)]
    pub der: Bytes,
}

impl GeneratedCrl {
    /// PEM (`X509 CRL`).
    pub fn pem(&self) -> String {
        pem::encode(&pem::Pem::new("X509 CRL", self.der.to_vec()))
    }
}

/// The CRL partition of a certificate expiring at `not_after` under `policy`: the number of
/// the `partition_days`-wide notAfter window (counted from the Unix epoch) that contains it.
/// [`CertificateAuthority::partition_of`] says the same of what the CA issues; this is for the
/// certificates its key signed in ceremonies, recorded without the CA being opened.
pub fn partition_of(policy: &CrlPolicy, not_after: OffsetDateTime) -> Result<u32> {
    if policy.partition_days == 0 {
        return Err(Error::invalid("crl.partition_days", "must be at least 1"));
    }
    let width = i64::from(policy.partition_days) * 86_400;
    u32::try_from(not_after.unix_timestamp().div_euclid(width))
        .map_err(|_| Error::invalid("notAfter", "outside the partition range"))
}

/// An entry of the store the CRL encoder cannot read is an unreadable row.
fn stored_entry_error(e: X509Error) -> Error {
    match e {
        X509Error::InvalidCrlEntry(reason) => Error::CorruptRow {
            table: "certificates",
            reason,
        },
        e => Error::X509(e),
    }
}

/// Encodes the entries of a packed page (`serial,revoked_at,reason;…`).
fn push_packed(enc: &mut CrlEncoder, page: &PackedPage) -> Result<()> {
    let mut n = 0u64;
    for entry in page.entries.split(';') {
        let mut cols = entry.splitn(3, ',');
        match (cols.next(), cols.next(), cols.next()) {
            (Some(serial), Some(at), Some(reason)) => enc
                .push_stored(serial, at, reason)
                .map_err(stored_entry_error)?,
            _ => {
                return Err(Error::CorruptRow {
                    table: "certificates",
                    reason: format!("packed CRL entry {entry:?}"),
                })
            }
        }
        n += 1;
    }
    if n != page.count {
        return Err(Error::CorruptRow {
            table: "certificates",
            reason: format!("{} entries expected in a CRL page, {n} read", page.count),
        });
    }
    Ok(())
}

impl CertificateAuthority {
    /// Parses a CRL file name of this CA (`ca-personnes.crl`, `ca-personnes-20512.crl`).
    pub fn parse_crl_file_name(&self, file: &str) -> Option<CrlScope> {
        let stem = file.strip_suffix(".crl")?;
        let rest = stem.strip_prefix(self.url_name())?;
        if rest.is_empty() {
            return Some(CrlScope::Full);
        }
        let digits = rest.strip_prefix('-')?;
        if digits.is_empty()
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || (digits.len() > 1 && digits.starts_with('0'))
        {
            return None;
        }
        digits.parse().ok().map(CrlScope::Partition)
    }

    /// The partitions that may still hold a valid (or recently expired) certificate at `now`:
    /// the range that [`CrlPublisher::fetch`] generates on demand.
    pub fn possible_partitions(&self, now: OffsetDateTime) -> Result<(u32, u32)> {
        let retention = time::Duration::days(i64::from(self.policy().crl.expired_retention_days));
        let lo = self.partition_of(now - retention)?;
        let hi = self.partition_of(self.not_after())?;
        Ok((lo, hi.max(lo)))
    }

    /// The CRLs to publish at `now`: the full CRL and the live partitions (see the module
    /// documentation).
    pub async fn live_scopes(&self, now: OffsetDateTime) -> Result<Vec<CrlScope>> {
        let (lo, ca_hi) = self.possible_partitions(now)?;
        let longest = self
            .policy()
            .profiles
            .iter()
            .map(|(_, p)| p.validity_days)
            .max()
            .unwrap_or(0);
        let horizon = (now + time::Duration::days(i64::from(longest))).min(self.not_after());
        let hi = self.partition_of(horizon)?.clamp(lo, ca_hi);
        let mut parts: Vec<u32> = (lo..=hi).collect();
        for p in self.store().crl_partitions_in_use(self.name()).await? {
            if p > hi && p <= ca_hi {
                parts.push(p);
            }
        }
        let mut scopes = vec![CrlScope::Full];
        scopes.extend(parts.into_iter().map(CrlScope::Partition));
        Ok(scopes)
    }

    /// Generates and signs one CRL with the given (already allocated) number: walks the
    /// store page by page, encodes each entry as it comes, signs the TBSCertList with the CA
    /// key (on the blocking pool) and checks the signature.
    pub async fn generate_crl(&self, scope: CrlScope, number: u64) -> Result<GeneratedCrl> {
        let crl_policy = &self.policy().crl;
        let now = OffsetDateTime::now_utc();
        let this_update = now
            .replace_nanosecond(0)
            .map_err(|e| Error::invalid("time", e.to_string()))?;
        let next_update =
            this_update + time::Duration::hours(i64::from(crl_policy.next_update_hours));
        // Listed: revoked at or before now (hence at or before thisUpdate once truncated),
        // and not expired for longer than the retention.
        let revoked_until = db_time(now)?;
        let not_after_from = db_time(
            this_update - time::Duration::days(i64::from(crl_policy.expired_retention_days)),
        )?;

        let issuer = self.issuer_info();
        let mut enc = CrlEncoder::new(
            self.signer().algorithm(),
            &issuer.name,
            &x509_time(this_update)?,
            &x509_time(next_update)?,
            4096,
        )?;
        let page_size = crl_policy.page_size;
        let walk = CrlWalk {
            issuer: self.name().as_str(),
            revoked_until: &revoked_until,
            not_after_from: &not_after_from,
            limit: page_size,
        };
        let store = self.store();
        let partitions = match scope {
            CrlScope::Partition(p) => vec![p],
            CrlScope::Full => match store.plan_full_crl_walk(self.name()).await? {
                FullCrlWalk::ByPartition(parts) => parts,
                FullCrlWalk::TableScan => {
                    let mut after = 0i64;
                    while let Some(page) = store.crl_packed_scan_page(&walk, after).await? {
                        push_packed(&mut enc, &page)?;
                        if page.count < u64::from(page_size) {
                            break;
                        }
                        after = page.last.parse().map_err(|_| Error::CorruptRow {
                            table: "certificates",
                            reason: format!("rowid {:?}", page.last),
                        })?;
                    }
                    Vec::new()
                }
            },
        };
        for p in partitions {
            let mut after = String::new();
            while let Some(page) = store.crl_packed_page(&walk, p, &after).await? {
                push_packed(&mut enc, &page)?;
                if page.count < u64::from(page_size) {
                    break;
                }
                after = page.last;
            }
        }

        let url = self.crl_url(scope.partition());
        let idp = (scope != CrlScope::Full).then(|| IssuingDistributionPointParams {
            url: url.clone(),
            only_contains_user_certs: true,
            only_contains_ca_certs: false,
        });
        let exts_der = crl_extensions(&issuer.ski, number, idp.as_ref())?;
        let pending = enc.finish_tbs(&exts_der)?;
        let entries = pending.entries;
        let range = pending.tbs.clone();
        let (buf, signature) = self.signer().sign_range(pending.buf, range.clone()).await?;
        let der = PendingCrl {
            buf,
            tbs: range,
            entries,
        }
        .finish(self.signer().algorithm(), &signature)?;

        if entries <= FULL_SELF_CHECK_MAX_ENTRIES {
            let crl = CertificateList::from_der(&der).map_err(X509Error::from)?;
            pkix::verify::verify_crl_signed_by(&crl, self.certificate())
                .map_err(|e| Error::X509(X509Error::SelfCheck(e)))?;
            let listed = crl
                .tbs_cert_list
                .revoked_certificates
                .as_ref()
                .map_or(0, Vec::len);
            if listed as u64 != entries {
                return Err(Error::Task(format!(
                    "CRL self-check: {listed} entries decoded, {entries} encoded"
                )));
            }
        }
        Ok(GeneratedCrl {
            ca: self.name().clone(),
            scope,
            number,
            this_update,
            next_update,
            entries,
            file_name: self.crl_file_name(scope.partition()),
            url,
            der,
        })
    }
}
