//! Any bytes given as a PDF to `igc verify`, `POST /api/v1/verify`, `igc extend` or
//! `igc archive renew` go through the PDF layer (revisions, signature fields, DSS, the changes
//! of later revisions, the incremental writers) and the whole PAdES validation; none may
//! panic, and each call stays within its limits.
//!
//! cargo +nightly fuzz run parse_pdf   (from tsa/validation/)
#![no_main]

use std::future::Future;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use validation::pdf::{self, DssContent, PdfFile, PdfLimits, SigKind, SignatureRequest};
use validation::{CrlRevocationSource, DocumentKind, Validator};

fuzz_target!(|data: &[u8]| {
    let limits = PdfLimits::default();
    if let Ok(file) = PdfFile::parse(data, &limits) {
        let _ = file.revisions();
        if let Ok(fields) = file.signatures() {
            for f in &fields {
                let _ = f.cms_der();
                let _ = file.changes_after(f.revision_end);
            }
        }
        let _ = file.dss();
        let _ = file.changes_after(0);
    }
    let request = SignatureRequest {
        field_name: "Signature",
        kind: SigKind::Signature,
        sub_filter: "ETSI.CAdES.detached",
        contents_capacity: 64,
        signing_time: None,
        name: None,
        reason: None,
        location: None,
        visible: None,
    };
    if let Ok(mut prepared) = pdf::prepare_signature(data, &request) {
        let _ = prepared.fill(&[0x30, 0x00]);
        let _ = prepared.signed_parts(data);
    }
    let _ = pdf::append_dss(
        data,
        &DssContent {
            certs: vec![vec![0x30, 0x00]],
            ..DssContent::default()
        },
    );
    // The whole validation, with no trust anchor: every source answers at once, so the
    // future completes when polled (bounded, in case it did not).
    let Ok(validator) = Validator::new(
        Vec::new(),
        Vec::new(),
        Arc::new(CrlRevocationSource::default()),
        ca::domain::SigningRules::builtin().unwrap_or_else(|_| std::process::abort()),
        ca::domain::ProfessionTable::builtin().unwrap_or_else(|_| std::process::abort()),
    ) else {
        return;
    };
    let at = time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
    let mut future = Box::pin(validator.validate_pdf(data, DocumentKind::Prescription, Some(at)));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    for _ in 0..1_000 {
        if future.as_mut().poll(&mut cx).is_ready() {
            break;
        }
    }
});
