//! The long-term steps of CAdES and PAdES signatures shared by `igc sign`, `igc extend` and
//! `igc archive renew`: a signature time-stamp (T), the validation data of the signer's and
//! the TSAs' chains (LT), archive time-stamps (LTA).
//!
//! Validation data is fetched over HTTP by `validation::evidence` (allow-listed hosts only):
//! for each certificate of the signer's chain and of each time-stamp's TSA chain, the OCSP
//! response (else the CRL), fetched now — after the time-stamp it must prove the status at.
//! An end-entity certificate's (signer, TSA unit) evidence must prove the status at that
//! time-stamp (an OCSP response produced after it, or a CRL whose validity period covers it);
//! a CA certificate's must be current (CA CRLs are issued rarely).

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use clap::ValueEnum;
use const_oid::db::rfc5912;
use der::Decode;
use time::OffsetDateTime;
use validation::evidence::fetch::{
    ca_issuers_url, parse_fetched_certificate, FetchPolicy, Fetcher,
};
use validation::evidence::{collect_evidence, Evidence};
use validation::{cades, ltv, sign};
use x509_cert::crl::CertificateList;
use x509_cert::Certificate;
use x509_ocsp::BasicOcspResponse;

/// CAdES baseline levels (ETSI EN 319 122-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum Level {
    /// Signed attributes only.
    #[value(name = "B", alias = "b")]
    B,
    /// With a signature time-stamp.
    #[value(name = "T", alias = "t")]
    T,
    /// With the validation data (certificates, OCSP responses or CRLs).
    #[value(name = "LT", alias = "lt")]
    Lt,
    /// With an archive time-stamp (v3) over all of it.
    #[value(name = "LTA", alias = "lta")]
    Lta,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::B => "CAdES-BASELINE-B",
            Level::T => "CAdES-BASELINE-T",
            Level::Lt => "CAdES-BASELINE-LT",
            Level::Lta => "CAdES-BASELINE-LTA",
        }
    }
}

/// The LT/LTA steps: a TSA, an evidence fetcher and the known CA certificates.
pub struct Augmenter {
    tsa_url: String,
    /// The TSA named by the user, whatever the allow-list of evidence hosts.
    tsa: Fetcher,
    fetcher: Fetcher,
    pool: Vec<Certificate>,
    rt: tokio::runtime::Runtime,
}

/// Validation data to embed.
#[derive(Default)]
pub struct Values {
    pub certs: Vec<Certificate>,
    pub crls: Vec<CertificateList>,
    pub ocsp: Vec<BasicOcspResponse>,
}

fn self_issued(c: &Certificate) -> bool {
    c.tbs_certificate.subject == c.tbs_certificate.issuer
}

fn subject(c: &Certificate) -> String {
    c.tbs_certificate.subject.to_string()
}

/// The token's TSTInfo genTime and its signer's certificate with the token's certificates.
pub fn token_facts(
    token: &cms::content_info::ContentInfo,
) -> Result<(OffsetDateTime, Certificate, Vec<Certificate>)> {
    let p =
        cades::parse_signed_data(&token.content).map_err(|e| anyhow!("time-stamp token: {e}"))?;
    let tst = tsa::asn1::TstInfo::from_der(p.attached.as_deref().unwrap_or_default())
        .map_err(|e| anyhow!("time-stamp token TSTInfo: {e}"))?;
    let cert = cades::find_signer_certificate(&p.signer, &p.certificates)
        .cloned()
        .ok_or_else(|| anyhow!("the time-stamp token does not carry its TSA certificate"))?;
    Ok((tst.gen_time.datetime(), cert, p.certificates))
}

impl Augmenter {
    pub fn new(tsa_url: &str, allow_hosts: &[String], pool: Vec<Certificate>) -> Result<Self> {
        Ok(Augmenter {
            tsa_url: tsa_url.to_owned(),
            tsa: Fetcher::for_url(tsa_url, Duration::from_secs(30), 1024 * 1024)
                .map_err(|e| anyhow!("--tsa-url: {e}"))?,
            fetcher: Fetcher::new(FetchPolicy {
                allow_hosts: allow_hosts.to_vec(),
                ..FetchPolicy::default()
            }),
            pool,
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?,
        })
    }

    /// The issuer of `c` among `extra` and the known certificates (the one whose key
    /// verifies it), else from its caIssuers URL.
    fn issuer_of(&self, c: &Certificate, extra: &[Certificate]) -> Result<Certificate> {
        let candidates = extra.iter().chain(self.pool.iter()).filter(|i| {
            i.tbs_certificate.subject == c.tbs_certificate.issuer
                && pkix::verify::verify_certificate_signed_by(c, i).is_ok()
        });
        if let Some(i) = candidates.into_iter().next() {
            return Ok(i.clone());
        }
        let url = ca_issuers_url(c).ok_or_else(|| {
            anyhow!(
                "the issuer of {} is unknown (give it with --ca) and the certificate has no caIssuers URL",
                subject(c)
            )
        })?;
        self.fetcher
            .check_url(&url)
            .map_err(|e| anyhow!("{url}: {e}"))?;
        let bytes = self
            .rt
            .block_on(self.fetcher.get(&url))
            .map_err(|e| anyhow!("fetching the issuer of {}: {e}", subject(c)))?;
        let i = parse_fetched_certificate(&bytes).map_err(|e| anyhow!("{url}: {e}"))?;
        pkix::verify::verify_certificate_signed_by(c, &i)
            .map_err(|e| anyhow!("{url} did not give the issuer of {}: {e}", subject(c)))?;
        Ok(i)
    }

    /// The chain of `leaf` (up to a self-issued root) and the evidence of each of its
    /// non-root certificates; the end entity's must be produced at or after `at`.
    fn chain_values(
        &self,
        leaf: &Certificate,
        extra: &[Certificate],
        at: OffsetDateTime,
        out: &mut Values,
    ) -> Result<()> {
        let now = OffsetDateTime::now_utc();
        let mut cur = leaf.clone();
        // Bounded: no real chain is longer.
        for depth in 0..8 {
            out.certs.push(cur.clone());
            if self_issued(&cur) {
                return Ok(());
            }
            let issuer = self.issuer_of(&cur, extra)?;
            let ev = self
                .rt
                .block_on(collect_evidence(&self.fetcher, &cur, &issuer))
                .map_err(|e| anyhow!("no revocation evidence for {}: {e}", subject(&cur)))?;
            let (when, next, ocsp) = match &ev {
                Evidence::Ocsp(o) => (o.this_update, o.next_update, true),
                Evidence::Crl {
                    this_update,
                    next_update,
                    ..
                } => (*this_update, *next_update, false),
            };
            // The end entity's evidence must prove its status at the time-stamp by the rule
            // the validator applies (EN 319 102-1 §5.2.5 freshness), or what is embedded would
            // not be accepted later.
            let fresh = validation::evidence::is_fresh(when, next, at);
            if depth == 0 && !fresh {
                bail!(
                    "the revocation evidence of {} ({}, {when}) does not prove the status at the time-stamp ({at}) — retry when the responder or CRL is newer",
                    subject(&cur),
                    if ocsp { "OCSP thisUpdate" } else { "CRL thisUpdate" }
                );
            }
            if next.is_some_and(|n| n < now) {
                bail!(
                    "the revocation evidence of {} expired at {}",
                    subject(&cur),
                    next.map(|n| n.to_string()).unwrap_or_default()
                );
            }
            match ev {
                Evidence::Ocsp(o) => out.ocsp.push(
                    BasicOcspResponse::from_der(&o.basic_der)
                        .map_err(|e| anyhow!("OCSP response: {e}"))?,
                ),
                Evidence::Crl { der, .. } => out
                    .crls
                    .push(CertificateList::from_der(&der).map_err(|e| anyhow!("CRL: {e}"))?),
            }
            cur = issuer;
        }
        bail!(
            "the chain of {} is longer than 8 certificates",
            subject(leaf)
        )
    }

    /// The TSA's reply to the DER TimeStampReq `req`.
    pub fn timestamp(&self, req: &[u8]) -> Result<Vec<u8>> {
        self.rt
            .block_on(
                self.tsa
                    .post(&self.tsa_url, "application/timestamp-query", req),
            )
            .map_err(|e| anyhow!("the TSA: {e}"))
    }

    /// B → T (nothing when a signature time-stamp is there).
    pub fn to_t(&self, cms: &[u8]) -> Result<Vec<u8>> {
        let parsed = cades::parse_cms(cms).map_err(|e| anyhow!(e))?;
        if !cades::timestamp_tokens(&parsed.signer).is_empty() {
            return Ok(cms.to_vec());
        }
        sign::add_signature_timestamp(cms, |req| self.timestamp(req))
            .context("time-stamping the signature")
    }

    /// T → LT: the signer's chain and each signature time-stamp's TSA chain, with evidence.
    pub fn to_lt(&self, cms: &[u8]) -> Result<Vec<u8>> {
        let parsed = cades::parse_cms(cms).map_err(|e| anyhow!(e))?;
        if cades::timestamp_tokens(&parsed.signer).is_empty() {
            bail!("the signature has no signature time-stamp (extend it to T first)");
        }
        let mut values = Values::default();
        self.signature_values(cms, &mut values)?;
        Ok(ltv::add_validation_values(
            cms,
            &values.certs,
            &values.crls,
            &values.ocsp,
        )?)
    }

    /// The validation data of the CMS signature `cms`: the signer's chain and each signature
    /// time-stamp's TSA chain, with evidence at the first time-stamp (now when there is
    /// none, as for a PAdES signature whose document time-stamp follows).
    pub fn signature_values(&self, cms: &[u8], values: &mut Values) -> Result<()> {
        let parsed = cades::parse_cms(cms).map_err(|e| anyhow!(e))?;
        let tokens = cades::timestamp_tokens(&parsed.signer);
        let mut first_ts = None::<OffsetDateTime>;
        for t in tokens {
            let token: cms::content_info::ContentInfo = t
                .decode_as()
                .map_err(|e| anyhow!("signature time-stamp: {e}"))?;
            let (at, tsa_cert, certs) = token_facts(&token)?;
            first_ts = Some(first_ts.map_or(at, |f| f.min(at)));
            self.chain_values(&tsa_cert, &certs, at, values)
                .with_context(|| format!("the TSA chain of the signature time-stamp of {at}"))?;
        }
        let at = first_ts.unwrap_or_else(OffsetDateTime::now_utc);
        let signer = cades::find_signer_certificate(
            &parsed.signer,
            parsed.certificates.iter().chain(self.pool.iter()),
        )
        .cloned()
        .ok_or_else(|| {
            anyhow!("the signer's certificate is neither in the signature nor given with --ca")
        })?;
        self.chain_values(&signer, &parsed.certificates, at, values)
            .context("the signer's chain")
    }

    /// The validation data of a time-stamp token (DER ContentInfo): its TSA's chain with
    /// evidence at its time.
    pub fn token_values(&self, token_der: &[u8], values: &mut Values) -> Result<()> {
        let token = cms::content_info::ContentInfo::from_der(token_der)
            .map_err(|e| anyhow!("time-stamp token: {e}"))?;
        let (at, tsa_cert, certs) = token_facts(&token)?;
        self.chain_values(&tsa_cert, &certs, at, values)
            .with_context(|| format!("the TSA chain of the time-stamp of {at}"))
    }

    /// LT → LTA, or a renewal: a new archive-time-stamp-v3, then its TSA's chain and evidence
    /// inside that token.
    pub fn add_archive(&self, cms: &[u8], content: Option<&[u8]>) -> Result<Vec<u8>> {
        let (req, nonce, index) =
            ltv::archive_timestamp_request(cms, content, rfc5912::ID_SHA_256)?;
        let reply = self.timestamp(&req).context("archive time-stamp")?;
        let with = ltv::attach_archive_timestamp(cms, content, &reply, &nonce, &index)?;
        let (_, si) = one_signer(&with)?;
        let ats = ltv::archive_timestamps(&si).map_err(|e| anyhow!(e))?;
        let newest = ats
            .iter()
            .max_by_key(|t| t.gen_time)
            .ok_or_else(|| anyhow!("the archive time-stamp was not added"))?;
        let (at, tsa_cert, certs) = token_facts(&newest.token)?;
        let mut values = Values::default();
        self.chain_values(&tsa_cert, &certs, at, &mut values)
            .context("the TSA chain of the archive time-stamp")?;
        Ok(ltv::add_token_validation_values(
            &with,
            &values.certs,
            &values.crls,
            &values.ocsp,
        )?)
    }

    /// `cms` extended to `to`.
    pub fn extend(&self, cms: &[u8], content: Option<&[u8]>, to: Level) -> Result<Vec<u8>> {
        let mut cms = cms.to_vec();
        if to >= Level::T {
            cms = self.to_t(&cms)?;
        }
        if to >= Level::Lt {
            cms = self.to_lt(&cms)?;
        }
        if to >= Level::Lta {
            cms = self.add_archive(&cms, content)?;
        }
        Ok(cms)
    }
}

fn one_signer(cms: &[u8]) -> Result<(cms::signed_data::SignedData, cms::signed_data::SignerInfo)> {
    let p = cades::parse_cms(cms).map_err(|e| anyhow!(e))?;
    Ok((p.signed_data, p.signer))
}
