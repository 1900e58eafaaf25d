//! PAdES from the command line (ETSI EN 319 142-1): `igc sign --format pades` and the PDF
//! paths of `igc extend` and `igc archive renew`.
//!
//! - B: an incremental update adds a signature field whose CMS (no signing-time attribute,
//!   the claimed time in /M) signs the /ByteRange, hashed in place.
//! - T: the CMS carries a signature time-stamp (a PDF signed earlier is raised to T with a
//!   document time-stamp instead: its CMS cannot change).
//! - LT: a DSS update with the certificates and OCSP responses or CRLs of every signature's
//!   chain and of their time-stamps' TSA chains (fetched from the allowed hosts).
//! - LTA: a document time-stamp over all of it, then a DSS update with its TSA's validation
//!   data (that data is protected by the next document time-stamp, at renewal).

use anyhow::{anyhow, bail, Context, Result};
use der::{Decode, Encode};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use validation::pdf::{self, DssContent, PdfFile, PdfLimits, SigKind, SignatureRequest};
use validation::{cades, sign};
use x509_cert::Certificate;

use crate::augment::{Augmenter, Level, Values};

/// Bytes reserved in /Contents for a signature's CMS with its chain and a time-stamp token.
pub const SIGNATURE_CAPACITY: usize = 24 * 1024;
/// Bytes reserved in /Contents for a document time-stamp token.
pub const TIMESTAMP_CAPACITY: usize = 12 * 1024;

/// /M of a signature dictionary (ISO 32000-2 §7.9.4), UTC.
pub fn pdf_date(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "D:{:04}{:02}{:02}{:02}{:02}{:02}+00'00'",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// A name for a new field that the PDF does not use yet: `prefix`, `prefix2`, ….
pub fn free_field_name(original: &[u8], prefix: &str) -> Result<String> {
    let file = PdfFile::parse(original, &PdfLimits::default()).map_err(|e| anyhow!("{e}"))?;
    let used: Vec<String> = file
        .signatures()
        .map_err(|e| anyhow!("{e}"))?
        .into_iter()
        .map(|f| f.name)
        .collect();
    // Bounded: at most one more than the fields that exist.
    for n in 1..=used.len() + 1 {
        let name = if n == 1 {
            prefix.to_owned()
        } else {
            format!("{prefix}{n}")
        };
        if !used.contains(&name) {
            return Ok(name);
        }
    }
    Ok(format!("{prefix}{}", used.len() + 2))
}

/// SHA-256 of the parts a prepared signature covers.
fn digest_of(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// What `igc sign --format pades` needs besides the key.
pub struct PadesSign<'a> {
    pub original: Vec<u8>,
    pub cert: &'a Certificate,
    pub field: Option<String>,
    pub reason: Option<String>,
    pub location: Option<String>,
    /// Page (0-based) and rectangle of a visible signature, when wanted.
    pub visible: Option<(usize, [f32; 4])>,
}

/// The lines a visible signature shows: who signed, their profession, when.
fn appearance_lines(cert: &Certificate, when: OffsetDateTime) -> Vec<String> {
    let mut name = None;
    let mut title = None;
    for rdn in cert.tbs_certificate.subject.0.iter() {
        for atv in rdn.0.iter() {
            let text = String::from_utf8_lossy(atv.value.value()).into_owned();
            if atv.oid == const_oid::db::rfc4519::CN {
                name = Some(text);
            } else if atv.oid == const_oid::db::rfc4519::TITLE {
                title = Some(text);
            }
        }
    }
    let mut lines = vec![format!(
        "Signé par / signed by: {}",
        name.unwrap_or_else(|| cert.tbs_certificate.subject.to_string())
    )];
    if let Some(t) = title {
        lines.push(t);
    }
    lines.push(format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        when.year(),
        u8::from(when.month()),
        when.day(),
        when.hour(),
        when.minute()
    ));
    lines
}

/// Signs the PDF at `level` with `sign_cms` (the card): returns the whole new file.
pub fn sign_pdf<F>(
    req: PadesSign<'_>,
    level: Level,
    aug: Option<&Augmenter>,
    sign_cms: F,
) -> Result<Vec<u8>>
where
    F: FnOnce(&[u8; 32]) -> Result<Vec<u8>>,
{
    let now = OffsetDateTime::now_utc();
    let m = pdf_date(now);
    let field = match req.field {
        Some(f) => f,
        None => free_field_name(&req.original, "Signature")?,
    };
    let lines = appearance_lines(req.cert, now);
    let line_refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let name = lines
        .first()
        .map(|l| l.trim_start_matches("Signé par / signed by: ").to_owned());
    let request = SignatureRequest {
        field_name: &field,
        kind: SigKind::Signature,
        sub_filter: validation::pades::SUB_FILTER_CADES,
        contents_capacity: SIGNATURE_CAPACITY,
        signing_time: Some(&m),
        name: name.as_deref(),
        reason: req.reason.as_deref(),
        location: req.location.as_deref(),
        visible: req.visible.map(|(page, rect)| pdf::VisibleField {
            page,
            rect,
            lines: &line_refs,
        }),
    };
    let mut prepared = pdf::prepare_signature(&req.original, &request)
        .map_err(|e| anyhow!("preparing the PDF signature: {e}"))?;
    let digest = digest_of(&prepared.signed_parts(&req.original));
    let mut cms = sign_cms(&digest).context("signing")?;
    if level >= Level::T {
        let aug = aug.ok_or_else(|| anyhow!("--level T and above need --tsa-url"))?;
        cms = aug.to_t(&cms)?;
    }
    prepared
        .fill(&cms)
        .map_err(|e| anyhow!("the signature does not fit in /Contents: {e}"))?;
    let mut out = req.original;
    out.extend_from_slice(&prepared.appended);
    if level >= Level::Lt {
        let aug = aug.ok_or_else(|| anyhow!("--level LT needs --tsa-url"))?;
        out = add_dss(aug, out)?;
    }
    if level >= Level::Lta {
        let aug = aug.ok_or_else(|| anyhow!("--level LTA needs --tsa-url"))?;
        out = add_document_timestamp(aug, out)?;
    }
    Ok(out)
}

/// The DSS of a PDF: the validation data of every signature and document time-stamp in it
/// (their signers' chains and TSA chains with evidence), appended as an incremental update.
pub fn add_dss(aug: &Augmenter, pdf_bytes: Vec<u8>) -> Result<Vec<u8>> {
    let file = PdfFile::parse(&pdf_bytes, &PdfLimits::default()).map_err(|e| anyhow!("{e}"))?;
    let fields = file.signatures().map_err(|e| anyhow!("{e}"))?;
    if fields.is_empty() {
        bail!("the PDF holds no signature");
    }
    let mut values = Values::default();
    for f in &fields {
        let der = f.cms_der().map_err(|e| anyhow!("{e}"))?;
        match f.kind {
            SigKind::Signature => aug
                .signature_values(der, &mut values)
                .with_context(|| format!("signature {}", f.name))?,
            SigKind::DocTimeStamp => aug
                .token_values(der, &mut values)
                .with_context(|| format!("document time-stamp {}", f.name))?,
        }
    }
    let dss = dss_content(&values)?;
    let appended = pdf::append_dss(&pdf_bytes, &dss).map_err(|e| anyhow!("adding the DSS: {e}"))?;
    let mut out = pdf_bytes;
    out.extend_from_slice(&appended);
    Ok(out)
}

/// Values as the DSS holds them: certificates, OCSPResponse (not the bare
/// BasicOCSPResponse: ISO 32000-2 §12.8.4.3) and CRLs, DER.
fn dss_content(values: &Values) -> Result<DssContent> {
    let mut dss = DssContent::default();
    for c in &values.certs {
        let der = c.to_der()?;
        if !dss.certs.contains(&der) {
            dss.certs.push(der);
        }
    }
    for basic in &values.ocsp {
        let response = x509_ocsp::OcspResponse {
            response_status: x509_ocsp::OcspResponseStatus::Successful,
            response_bytes: Some(x509_ocsp::ResponseBytes {
                response_type: const_oid::db::rfc6960::ID_PKIX_OCSP_BASIC,
                response: der::asn1::OctetString::new(basic.to_der()?)?,
            }),
        };
        let der = response.to_der()?;
        if !dss.ocsps.contains(&der) {
            dss.ocsps.push(der);
        }
    }
    for crl in &values.crls {
        let der = crl.to_der()?;
        if !dss.crls.contains(&der) {
            dss.crls.push(der);
        }
    }
    Ok(dss)
}

/// A document time-stamp (/Type /DocTimeStamp, ETSI.RFC3161) over the whole PDF, then a DSS
/// update with its TSA's validation data.
pub fn add_document_timestamp(aug: &Augmenter, pdf_bytes: Vec<u8>) -> Result<Vec<u8>> {
    let field = free_field_name(&pdf_bytes, "DocumentTimeStamp")?;
    let request = SignatureRequest {
        field_name: &field,
        kind: SigKind::DocTimeStamp,
        sub_filter: validation::pades::SUB_FILTER_RFC3161,
        contents_capacity: TIMESTAMP_CAPACITY,
        signing_time: None,
        name: None,
        reason: None,
        location: None,
        visible: None,
    };
    let mut prepared = pdf::prepare_signature(&pdf_bytes, &request)
        .map_err(|e| anyhow!("preparing the document time-stamp: {e}"))?;
    let parts = prepared.signed_parts(&pdf_bytes);
    let digest = digest_of(&parts);
    let sha256 = const_oid::db::rfc5912::ID_SHA_256;
    let (req, nonce) = sign::timestamp_request_with(sha256, &digest)?;
    let reply = aug.timestamp(&req).context("document time-stamp")?;
    let token = sign::granted_token(&reply)?;
    sign::check_token_over_parts(&token, &parts, Some(sha256), &nonce)
        .map_err(|e| anyhow!("the TSA's reply: {e}"))?;
    prepared
        .fill(&token.to_der()?)
        .map_err(|e| anyhow!("the time-stamp token does not fit in /Contents: {e}"))?;
    let mut out = pdf_bytes;
    out.extend_from_slice(&prepared.appended);
    // Its TSA's chain and evidence, for validation now (the next document time-stamp will
    // protect them).
    let mut values = Values::default();
    aug.token_values(&token.to_der()?, &mut values)
        .context("the TSA chain of the document time-stamp")?;
    let dss = dss_content(&values)?;
    let appended = pdf::append_dss(&out, &dss).map_err(|e| anyhow!("adding the DSS: {e}"))?;
    out.extend_from_slice(&appended);
    Ok(out)
}

/// `igc extend` on a PDF: T (a document time-stamp when no signature has a time-stamp), LT
/// (a DSS), LTA (a DSS and a document time-stamp).
pub fn extend_pdf(aug: &Augmenter, pdf_bytes: Vec<u8>, to: Level) -> Result<Vec<u8>> {
    let file = PdfFile::parse(&pdf_bytes, &PdfLimits::default()).map_err(|e| anyhow!("{e}"))?;
    let fields = file.signatures().map_err(|e| anyhow!("{e}"))?;
    if !fields.iter().any(|f| f.kind == SigKind::Signature) {
        bail!("the PDF holds no signature to extend");
    }
    let timestamped = fields.iter().any(|f| f.kind == SigKind::DocTimeStamp)
        || fields
            .iter()
            .filter(|f| f.kind == SigKind::Signature)
            .all(|f| {
                f.cms_der()
                    .ok()
                    .and_then(|d| cades::parse_cms(d).ok())
                    .is_some_and(|p| !cades::timestamp_tokens(&p.signer).is_empty())
            });
    let mut out = pdf_bytes;
    if to == Level::T && !timestamped {
        return add_document_timestamp(aug, out);
    }
    if to >= Level::Lt {
        if !timestamped {
            out = add_document_timestamp(aug, out)?;
        }
        out = add_dss(aug, out)?;
    }
    if to >= Level::Lta {
        out = add_document_timestamp(aug, out)?;
    }
    Ok(out)
}

/// genTime of the newest document time-stamp of a PDF and its TSA certificate's notAfter
/// (`igc archive renew`).
pub fn newest_document_timestamp(
    pdf_bytes: &[u8],
) -> Result<Option<(OffsetDateTime, OffsetDateTime)>> {
    let file = PdfFile::parse(pdf_bytes, &PdfLimits::default()).map_err(|e| anyhow!("{e}"))?;
    let mut newest = None;
    for f in file.signatures().map_err(|e| anyhow!("{e}"))? {
        if f.kind != SigKind::DocTimeStamp {
            continue;
        }
        let der = f.cms_der().map_err(|e| anyhow!("{e}"))?;
        let token = cms::content_info::ContentInfo::from_der(der)?;
        let (at, tsa_cert, _) = crate::augment::token_facts(&token)?;
        let not_after =
            OffsetDateTime::from(tsa_cert.tbs_certificate.validity.not_after.to_system_time());
        if newest.is_none_or(|(t, _)| at > t) {
            newest = Some((at, not_after));
        }
    }
    Ok(newest)
}
