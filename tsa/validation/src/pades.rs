//! PAdES (ETSI EN 319 142-1, ISO 32000-2 §12.8) validation: every signature and document
//! time-stamp of a PDF, on top of the CAdES validator.
//!
//! For each signature field: its /ByteRange must cover its whole revision except the
//! /Contents hex string (a shrunk or shifted range, or one that leaves out an earlier
//! signature, is a format failure); the CMS inside is validated as a detached CAdES
//! signature over the ranges (hashed in place, not copied), with the DSS as validation data
//! and the document time-stamps of later revisions as proofs of existence; the revisions
//! added after it are judged (later signatures, DSS updates and document time-stamps are
//! allowed, anything else is a disallowed modification). Each document time-stamp is also
//! reported on its own. Reasons are given in French and English.

use der::asn1::Any;
use der::Decode;
use time::OffsetDateTime;
use x509_cert::Certificate;

use crate::limits::{Budget, LimitExceeded};
use crate::pdf::{Change, PdfFile, PdfLimits, RevisionChange, SigKind, SignatureField};
use crate::report::{Indication, SignatureReport, SubIndication};
use crate::{
    empty_signature_report, finish_signature, timestamp, DocumentKind, DocumentTimestamp,
    PdfContext, SignatureInput, Validator,
};

/// The SubFilter of a PAdES signature (EN 319 142-1 §6.2.1).
pub const SUB_FILTER_CADES: &str = "ETSI.CAdES.detached";
/// The SubFilter of a document time-stamp.
pub const SUB_FILTER_RFC3161: &str = "ETSI.RFC3161";
/// The SubFilter of a PDF 1.x CMS signature, validated as CMS (not a PAdES baseline).
pub const SUB_FILTER_PKCS7: &str = "adbe.pkcs7.detached";

/// Whether `bytes` look like a PDF (its header within the first KiB, ISO 32000-2 §7.5.2).
pub fn is_pdf(bytes: &[u8]) -> bool {
    bytes[..bytes.len().min(1024)]
        .windows(5)
        .any(|w| w == b"%PDF-")
}

/// A report whose only check failed: `fr` and `en` say why.
fn refused(
    input: &SignatureInput<'_>,
    validation_time: OffsetDateTime,
    check: &'static str,
    sub: SubIndication,
    fr: &str,
    en: &str,
) -> SignatureReport {
    let mut r = empty_signature_report(input, validation_time);
    r.signature_format = "PAdES".into();
    r.checks.fail(
        check,
        if matches!(sub, SubIndication::SignedDataNotFound) {
            Indication::Indeterminate
        } else {
            Indication::TotalFailed
        },
        sub,
        format!("{fr} / {en}"),
    );
    finish_signature(&mut r);
    r
}

/// The two byte ranges of `field` within `bytes`, after checking that they cover the whole
/// revision of the field except its /Contents hex string.
fn covered_ranges<'b>(bytes: &'b [u8], field: &SignatureField) -> Result<[&'b [u8]; 2], String> {
    let [a, la, b, lb] = field.byte_range;
    let to_usize = |v: u64| usize::try_from(v).map_err(|_| "a /ByteRange value is too large");
    let (a, la, b, lb) = (to_usize(a)?, to_usize(la)?, to_usize(b)?, to_usize(lb)?);
    let first_end = a.checked_add(la).ok_or("the /ByteRange overflows")?;
    let second_end = b.checked_add(lb).ok_or("the /ByteRange overflows")?;
    if second_end > bytes.len() {
        return Err(format!(
            "the /ByteRange ends at byte {second_end}, past the end of the file ({} bytes)",
            bytes.len()
        ));
    }
    if a != 0 {
        return Err(format!(
            "the /ByteRange starts at byte {a}, not at the start of the file"
        ));
    }
    if first_end >= b {
        return Err("the two /ByteRange ranges overlap or are out of order".into());
    }
    // The gap is exactly the hex string of /Contents, brackets included.
    let gap = &bytes[first_end..b];
    let hex_ok = gap.len() >= 2
        && gap[0] == b'<'
        && gap[gap.len() - 1] == b'>'
        && gap[1..gap.len() - 1]
            .iter()
            .all(|c| c.is_ascii_hexdigit() || c.is_ascii_whitespace());
    if !hex_ok {
        return Err(
            "the bytes left out of the /ByteRange are not the /Contents hex string: the range was shrunk or moved"
                .into(),
        );
    }
    // The signature covers its whole revision: up to the end of the revision that added it
    // (an end-of-line after %%EOF may be left out).
    let end = field.revision_end;
    if second_end > end || end - second_end > 2 {
        return Err(format!(
            "the /ByteRange ends at byte {second_end} but the revision of this signature ends at byte {end}: part of the signed revision is not covered"
        ));
    }
    Ok([&bytes[..first_end], &bytes[b..second_end]])
}

/// A signature input without a signature: what a report about the PDF itself starts from.
fn bare_input(
    document: DocumentKind,
    validation_time: Option<OffsetDateTime>,
) -> SignatureInput<'static> {
    SignatureInput {
        signature: &[],
        content: None,
        content_ranges: None,
        document,
        validation_time,
        pdf: None,
    }
}

/// The summary of a document time-stamp's entry (a signature's wording would name a signer).
fn document_timestamp_summary(report: &SignatureReport, field: &str) -> String {
    let tsa = report
        .timestamp
        .as_ref()
        .and_then(|t| t.tsa.as_ref())
        .map(|c| c.subject.clone())
        .unwrap_or_else(|| "an unknown TSA".into());
    let when = report
        .timestamp
        .as_ref()
        .map(|t| t.gen_time.to_string())
        .unwrap_or_default();
    match report.indication {
        Indication::TotalPassed => format!(
            "TOTAL_PASSED — horodatage de document valide / valid document time-stamp {field} of {when} by {tsa}."
        ),
        other => format!(
            "{other}{} — horodatage de document non valide / the document time-stamp {field} is not valid: {}",
            report
                .sub_indication
                .map(|s| format!(" / {s}"))
                .unwrap_or_default(),
            report
                .checks
                .0
                .iter()
                .find(|c| c.result == crate::report::CheckResult::Failed)
                .map(|c| c.detail.as_str())
                .unwrap_or("")
        ),
    }
}

/// `D:YYYYMMDDHHmmSSOHH'mm'` (ISO 32000-2 §7.9.4), as far as it is given.
pub fn parse_pdf_date(s: &str) -> Option<OffsetDateTime> {
    let s = s.strip_prefix("D:").unwrap_or(s);
    let digits = |r: std::ops::Range<usize>, default: u32| -> Option<u32> {
        match s.get(r) {
            Some(d) if d.bytes().all(|c| c.is_ascii_digit()) && !d.is_empty() => d.parse().ok(),
            _ => Some(default),
        }
    };
    let year = i32::try_from(digits(0..4, u32::MAX)?).ok()?;
    let month = time::Month::try_from(u8::try_from(digits(4..6, 1)?).ok()?).ok()?;
    let day = u8::try_from(digits(6..8, 1)?).ok()?;
    let hour = u8::try_from(digits(8..10, 0)?).ok()?;
    let minute = u8::try_from(digits(10..12, 0)?).ok()?;
    let second = u8::try_from(digits(12..14, 0)?).ok()?;
    let date = time::Date::from_calendar_date(year, month, day).ok()?;
    let local = date.with_hms(hour, minute, second).ok()?;
    let offset = match s.get(14..15) {
        Some("+") | Some("-") => {
            let sign = if &s[14..15] == "-" { -1 } else { 1 };
            let oh = i8::try_from(digits(15..17, 0)?).ok()?;
            let om = i8::try_from(
                s.get(18..20)
                    .and_then(|m| m.parse::<u32>().ok())
                    .unwrap_or(0),
            )
            .ok()?;
            time::UtcOffset::from_hms(sign * oh, sign * om, 0).ok()?
        }
        _ => time::UtcOffset::UTC,
    };
    Some(local.assume_offset(offset).to_offset(time::UtcOffset::UTC))
}

impl Validator {
    /// Validates every signature and document time-stamp of the PDF `bytes` within this
    /// validator's limits. Never fails: problems, a limit included, are in the report (one
    /// entry per signature field in `signatures`, the overall indication the worst).
    pub async fn validate_pdf(
        &self,
        bytes: &[u8],
        document: DocumentKind,
        validation_time: Option<OffsetDateTime>,
    ) -> SignatureReport {
        let budget = Budget::new(&self.limits, std::time::Instant::now());
        let input = bare_input(document, validation_time);
        let at = validation_time.unwrap_or_else(OffsetDateTime::now_utc);
        match self.validate_pdf_within(bytes, document, at, &budget).await {
            Ok(r) => r,
            Err(e) => refused(
                &input,
                at,
                "limits",
                SubIndication::Generic,
                &format!("validation refusée ({})", e.limit()),
                &format!("validation refused ({}): {e}", e.limit()),
            ),
        }
    }

    /// [`Self::validate_pdf`] within `budget`; `Err` when a limit was exceeded.
    pub async fn validate_pdf_within(
        &self,
        bytes: &[u8],
        document: DocumentKind,
        validation_time: OffsetDateTime,
        budget: &Budget,
    ) -> Result<SignatureReport, LimitExceeded> {
        let base = bare_input(document, Some(validation_time));
        let limits = PdfLimits::default();
        // Everything needed from the parsed file is read here, in a scope of its own: the
        // file's caches are not shared between threads and must not live across an await.
        let (fields, dss_certificates, dss_ocsp, dss_crls, dss_revisions, later, context_problems) = {
            let pdf = match PdfFile::parse(bytes, &limits) {
                Ok(p) => p,
                Err(e) => {
                    return Ok(refused(
                        &base,
                        validation_time,
                        "format",
                        SubIndication::FormatFailure,
                        "le fichier n'est pas un PDF lisible",
                        &format!("not a readable PDF: {e}"),
                    ))
                }
            };
            let fields = match pdf.signatures() {
                Ok(f) if !f.is_empty() => f,
                Ok(_) => {
                    return Ok(refused(
                        &base,
                        validation_time,
                        "format",
                        SubIndication::SignedDataNotFound,
                        "le PDF ne contient aucune signature",
                        "the PDF holds no signature",
                    ))
                }
                Err(e) => {
                    return Ok(refused(
                        &base,
                        validation_time,
                        "format",
                        SubIndication::FormatFailure,
                        "les champs de signature du PDF sont illisibles",
                        &format!("the PDF's signature fields cannot be read: {e}"),
                    ))
                }
            };
            // The DSS (validation data) and the revision that last changed it.
            let mut context_problems = Vec::new();
            let mut dss_certificates = Vec::new();
            let mut dss_ocsp = Vec::new();
            let mut dss_crls = Vec::new();
            match pdf.dss() {
                Ok(Some(dss)) => {
                    for (i, der) in dss.certs.iter().enumerate() {
                        match Certificate::from_der(der) {
                            Ok(c) => dss_certificates.push(c),
                            Err(e) => context_problems
                                .push(format!("certificate {} of the DSS: {e}", i + 1)),
                        }
                    }
                    dss_ocsp = dss.ocsps;
                    dss_crls = dss.crls;
                }
                Ok(None) => {}
                Err(e) => context_problems.push(format!("the DSS cannot be read: {e}")),
            }
            let changes = match pdf.changes_after(0) {
                Ok(c) => c,
                Err(e) => {
                    return Ok(refused(
                        &base,
                        validation_time,
                        "format",
                        SubIndication::FormatFailure,
                        "les révisions du PDF sont illisibles",
                        &format!("the PDF's revisions cannot be read: {e}"),
                    ))
                }
            };
            let dss_revisions: Vec<usize> = changes
                .iter()
                .filter(|r| r.changes.iter().any(|c| matches!(c, Change::Dss)))
                .map(|r| r.revision_end)
                .collect();
            // What was added after each field.
            let later: Vec<Result<Vec<RevisionChange>, String>> = fields
                .iter()
                .map(|f| pdf.changes_after(f.revision_end).map_err(|e| e.to_string()))
                .collect();
            (
                fields,
                dss_certificates,
                dss_ocsp,
                dss_crls,
                dss_revisions,
                later,
                context_problems,
            )
        };

        let mut reports = Vec::new();
        for (field, later) in fields.iter().zip(later) {
            let mut report = match field.kind {
                SigKind::Signature => {
                    self.pdf_signature(
                        bytes,
                        later,
                        &fields,
                        field,
                        &dss_revisions,
                        (&dss_certificates, &dss_ocsp, &dss_crls),
                        document,
                        validation_time,
                        budget,
                    )
                    .await?
                }
                SigKind::DocTimeStamp => {
                    self.pdf_document_timestamp(
                        bytes,
                        &fields,
                        field,
                        (&dss_certificates, &dss_ocsp, &dss_crls),
                        validation_time,
                        budget,
                    )
                    .await?
                }
            };
            for p in &context_problems {
                report.checks.warn("validation-data", p.clone());
            }
            report.field = Some(field.name.clone());
            finish_signature(&mut report);
            if field.kind == SigKind::DocTimeStamp {
                report.summary = document_timestamp_summary(&report, &field.name);
            }
            reports.push(report);
        }
        let mut overall = crate::combine_signatures(reports.clone());
        if reports.len() == 1 {
            // One field: the overall report is it, and lists it too.
            overall.signatures = reports;
        }
        overall.field = None;
        Ok(overall)
    }

    /// One signature field (/Type /Sig).
    #[allow(clippy::too_many_arguments)]
    async fn pdf_signature(
        &self,
        bytes: &[u8],
        later: Result<Vec<RevisionChange>, String>,
        fields: &[SignatureField],
        field: &SignatureField,
        dss_revisions: &[usize],
        dss: (&[Certificate], &[Vec<u8>], &[Vec<u8>]),
        document: DocumentKind,
        validation_time: OffsetDateTime,
        budget: &Budget,
    ) -> Result<SignatureReport, LimitExceeded> {
        let base = bare_input(document, Some(validation_time));
        if field.sub_filter != SUB_FILTER_CADES && field.sub_filter != SUB_FILTER_PKCS7 {
            return Ok(refused(
                &base,
                validation_time,
                "format",
                SubIndication::FormatFailure,
                &format!(
                    "type de signature PDF non pris en charge ({})",
                    field.sub_filter
                ),
                &format!(
                    "unsupported PDF signature SubFilter {} (expected {SUB_FILTER_CADES})",
                    field.sub_filter
                ),
            ));
        }
        let ranges = match covered_ranges(bytes, field) {
            Ok(r) => r,
            Err(e) => {
                return Ok(refused(
                    &base,
                    validation_time,
                    "byte-range",
                    SubIndication::FormatFailure,
                    "la plage signée (/ByteRange) ne couvre pas toute la révision signée",
                    &e,
                ))
            }
        };
        let cms = match field.cms_der() {
            Ok(c) => c,
            Err(e) => {
                return Ok(refused(
                    &base,
                    validation_time,
                    "format",
                    SubIndication::FormatFailure,
                    "le contenu de la signature (/Contents) n'est pas une signature CMS",
                    &format!("/Contents is not a CMS signature: {e}"),
                ))
            }
        };
        // The document time-stamps of later revisions, newest first.
        let mut document_timestamps = Vec::new();
        for dts in fields.iter().rev() {
            if dts.kind != SigKind::DocTimeStamp || dts.revision_end <= field.revision_end {
                continue;
            }
            let (Ok(r), Ok(der)) = (covered_ranges(bytes, dts), dts.cms_der()) else {
                continue; // reported on its own entry
            };
            let Ok(token) = Any::from_der(der) else {
                continue;
            };
            document_timestamps.push(DocumentTimestamp {
                field: dts.name.clone(),
                token,
                ranges: r,
                // A DSS of an earlier revision, or written in the time-stamp's own revision
                // (pyHanko does), is covered by its ByteRange.
                covers_dss: dss_revisions
                    .iter()
                    .any(|&d| d > field.revision_end && d <= dts.revision_end),
            });
        }
        let context = PdfContext {
            certificates: dss.0.to_vec(),
            ocsp: dss.1.to_vec(),
            crls: dss.2.to_vec(),
            document_timestamps,
            claimed_signing_time: field.signing_time.as_deref().and_then(parse_pdf_date),
        };
        let input = SignatureInput {
            signature: cms,
            content: None,
            content_ranges: Some(&ranges),
            document,
            validation_time: Some(validation_time),
            pdf: (field.sub_filter == SUB_FILTER_CADES).then_some(&context),
        };
        let mut report = self.validate_signature_within(input, budget).await?;
        // A report per SignerInfo would be odd here: one SignerInfo is expected.
        if !report.signatures.is_empty() {
            report.checks.fail(
                "format",
                Indication::TotalFailed,
                SubIndication::FormatFailure,
                "une signature PDF porte un seul signataire / a PDF signature holds one SignerInfo",
            );
        }
        judge_modifications(later, &mut report);
        Ok(report)
    }
}

/// The revisions after a signature's: allowed (later signatures, DSS, document time-stamps,
/// metadata) or not (anything else).
fn judge_modifications(later: Result<Vec<RevisionChange>, String>, report: &mut SignatureReport) {
    let changes = match later {
        Ok(c) => c,
        Err(e) => {
            report.checks.fail(
                    "modifications",
                    Indication::Indeterminate,
                    SubIndication::FormatFailure,
                    format!("les révisions ajoutées après la signature sont illisibles / the revisions added after the signature cannot be read: {e}"),
                );
            return;
        }
    };
    let mut allowed = Vec::new();
    let mut refused = Vec::new();
    for revision in &changes {
        for c in &revision.changes {
            match c {
                Change::Dss => allowed.push("DSS".to_owned()),
                Change::DocTimeStamp { field } => {
                    allowed.push(format!("document time-stamp {field}"))
                }
                Change::Signature { field } => allowed.push(format!("signature {field}")),
                Change::SignatureAppearance => {}
                // Signers (pyHanko among them) update XMP and /Info when they sign.
                Change::Metadata { what } => allowed.push(format!("metadata ({what})")),
                Change::Other { object, what } => {
                    refused.push(format!("{what} (objet / object {} {})", object.0, object.1))
                }
            }
        }
    }
    if !refused.is_empty() {
        report.checks.fail(
                "modifications",
                Indication::TotalFailed,
                SubIndication::FormatFailure,
                format!(
                    "le document a été modifié après la signature: {} / the document was modified after the signature: {}",
                    refused.join("; "),
                    refused.join("; ")
                ),
            );
    } else if allowed.is_empty() {
        report
            .checks
            .pass("modifications", "nothing was added after the signature");
    } else {
        report.checks.pass(
            "modifications",
            format!(
                "allowed additions after the signature: {}",
                allowed.join(", ")
            ),
        );
    }
}

impl Validator {
    /// One document time-stamp field, on its own: its ByteRange, its token over it.
    async fn pdf_document_timestamp(
        &self,
        bytes: &[u8],
        fields: &[SignatureField],
        field: &SignatureField,
        dss: (&[Certificate], &[Vec<u8>], &[Vec<u8>]),
        validation_time: OffsetDateTime,
        budget: &Budget,
    ) -> Result<SignatureReport, LimitExceeded> {
        let (dss_certificates, dss_ocsp, dss_crls) = dss;
        let base = bare_input(DocumentKind::Generic, Some(validation_time));
        let mut report = empty_signature_report(&base, validation_time);
        report.signature_format = "PAdES document time-stamp".into();
        let fail = |report: &mut SignatureReport, check, sub, fr: &str, en: &str| {
            report
                .checks
                .fail(check, Indication::TotalFailed, sub, format!("{fr} / {en}"));
        };
        if field.sub_filter != SUB_FILTER_RFC3161 {
            fail(
                &mut report,
                "format",
                SubIndication::FormatFailure,
                "horodatage de document d'un type non pris en charge",
                &format!("document time-stamp with SubFilter {}", field.sub_filter),
            );
            return Ok(report);
        }
        let ranges = match covered_ranges(bytes, field) {
            Ok(r) => r,
            Err(e) => {
                fail(
                    &mut report,
                    "byte-range",
                    SubIndication::FormatFailure,
                    "la plage horodatée (/ByteRange) ne couvre pas toute la révision",
                    &e,
                );
                return Ok(report);
            }
        };
        let token = match field
            .cms_der()
            .map_err(|e| e.to_string())
            .and_then(|d| Any::from_der(d).map_err(|e| format!("not a time-stamp token: {e}")))
        {
            Ok(t) => t,
            Err(e) => {
                fail(
                    &mut report,
                    "format",
                    SubIndication::FormatFailure,
                    "le contenu de l'horodatage n'est pas un jeton RFC 3161",
                    &e,
                );
                return Ok(report);
            }
        };
        // A later valid document time-stamp covers this one's TSA certificate.
        let covered = fields
            .iter()
            .any(|f| f.kind == SigKind::DocTimeStamp && f.revision_end > field.revision_end);
        let pool = self.pool(dss_certificates);
        // The DSS answers first (offline), then the service's sources.
        let crls = dss_crls
            .iter()
            .filter_map(|d| x509_cert::crl::CertificateList::from_der(d).ok())
            .collect();
        let revocation = crate::FirstKnownRevocationSource::new(vec![
            std::sync::Arc::new(crate::evidence::EvidenceRevocationSource::new(
                dss_ocsp.to_vec(),
                crls,
                dss_certificates.to_vec(),
            )),
            self.revocation.clone(),
        ]);
        let out = timestamp::verify_imprint_token_within(
            &token,
            timestamp::Imprint::HashOfParts(&ranges),
            &self.anchors,
            &pool,
            &self.links,
            &revocation,
            validation_time,
            budget,
        )
        .await;
        if let Some(e) = budget.exceeded() {
            return Err(e);
        }
        let mut info = out
            .info
            .clone()
            .unwrap_or_else(|| crate::unverified_timestamp(validation_time, "document"));
        info.kind = "document";
        match crate::judge_timestamp(&out, covered, validation_time) {
            Ok(detail) => {
                info.valid = true;
                info.detail = detail.clone();
                report.checks.pass("document-timestamp", detail);
                report.timestamp_time = out.poe;
            }
            Err((sub, e)) => {
                info.valid = false;
                info.detail = e.clone();
                report.checks.fail(
                    "document-timestamp",
                    Indication::Indeterminate,
                    sub,
                    format!("horodatage de document non valide / the document time-stamp is not valid: {e}"),
                );
            }
        }
        report.timestamp = Some(info.clone());
        report.timestamps.push(info);
        Ok(report)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn pdf_dates() {
        let t = parse_pdf_date("D:20261207120000+01'00'").unwrap();
        assert_eq!(t.hour(), 11);
        assert_eq!(parse_pdf_date("D:2026").unwrap().year(), 2026);
        assert!(parse_pdf_date("D:20261307").is_none());
        assert!(parse_pdf_date("garbage").is_none());
    }

    #[test]
    fn pdf_magic() {
        assert!(is_pdf(b"%PDF-1.7\n"));
        assert!(!is_pdf(b"\x30\x82"));
    }
}
