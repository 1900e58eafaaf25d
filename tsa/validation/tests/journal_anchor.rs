//! Anchoring the CA's audit journal with the TSA in-process, as `igc serve` does: refused
//! cleanly while the clock is not confirmed, then one anchor per head even when two TSA
//! instances anchor the same head at once; a stored anchor verifies against the entry it
//! time-stamped and against nothing else.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../tests/common/mod.rs"]
mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use ca::domain::Actor;
use ca::storage::{Outcome, Store};
use common::*;
use hsm_config::{HsmSignature, KeySpec};
use tsa::MemoryRecorder;
use validation::anchor::{anchor_journal_head, check_anchor, AnchorOutcome, AnchorTrust};
use validation::{CrlRevocationSource, Error};
use x509_cert::Certificate;

fn certificates(path: &std::path::Path) -> Vec<Certificate> {
    Certificate::load_pem_chain(&std::fs::read(path).unwrap()).unwrap()
}

async fn journal(store: &Store, events: std::ops::Range<u32>) {
    let actor = Actor::new("clerk-a", "tls-client-cert").unwrap();
    for i in events {
        store
            .record_event(
                &actor,
                "session.login",
                &format!("session:{i}"),
                Outcome::Success,
                &serde_json::json!({ "i": i }),
            )
            .await
            .unwrap();
    }
}

/// An empty CRL of CA Organisations, signed by its key in the token.
fn ca_crl(pki: &Pki) -> x509_cert::crl::CertificateList {
    let ca = certificates(&pki.ca_pem).remove(0);
    let signer = hsm_config::HsmSigner::new(&pki.token, "ca-organisations").unwrap();
    let now = time::OffsetDateTime::now_utc();
    pkix::crl::build_crl::<_, HsmSignature>(
        &pkix::crl::CrlParams {
            issuer: pkix::IssuerInfo::from_certificate(&ca).unwrap(),
            this_update: now - time::Duration::minutes(1),
            next_update: now + time::Duration::days(1),
            crl_number: 1,
            revoked: Vec::new(),
            issuing_distribution_point: None,
        },
        &signer,
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journal_head_anchored_once_and_only_with_a_confirmed_clock() {
    let pki = Pki::new("journal-anchor", KeySpec::EcP256);
    let sntp = [SntpServer::start(0).await, SntpServer::start(0).await];
    sntp[0].set_silent(true);
    sntp[1].set_silent(true);
    let clock = fast_clock(&[&sntp[0], &sntp[1]]);
    let start = |id| {
        let cfg = config(&pki, id, clock.clone());
        tsa::start::<_, HsmSignature, _>(&cfg, pki.tsa_signer.clone(), MemoryRecorder::new())
            .unwrap()
    };
    let (first, second) = (start(51), start(52));
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("ca.db").display());
    let store = Store::connect(&url).await.unwrap();
    let trust = AnchorTrust::new(
        certificates(&pki.root_pem),
        certificates(&pki.ca_pem),
        // The TSA certificate's status must be known for its tokens to prove anything: CA
        // Organisations' CRL, revoking nothing.
        Arc::new(CrlRevocationSource::new(vec![ca_crl(&pki)])),
    );

    assert_eq!(
        anchor_journal_head(&first, &store, &trust).await.unwrap(),
        AnchorOutcome::EmptyJournal
    );
    journal(&store, 0..3).await;

    // No time source answers: the TSA refuses, nothing is stored, and the caller is told.
    match anchor_journal_head(&first, &store, &trust).await {
        Err(Error::Refused(reason)) => {
            assert!(reason.contains("timeNotAvailable"), "{reason}")
        }
        other => panic!("anchored without a confirmed clock: {other:?}"),
    }
    assert!(store.audit_anchors().await.unwrap().is_empty());

    // The sources answer: the head (entry 3) is anchored, once.
    sntp[0].set_silent(false);
    sntp[1].set_silent(false);
    for t in [&first, &second] {
        assert!(t.clock().wait_until(true, Duration::from_secs(10)).await);
    }
    match anchor_journal_head(&first, &store, &trust).await.unwrap() {
        AnchorOutcome::Anchored {
            seq: 3,
            recorded: true,
            ..
        } => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(
        anchor_journal_head(&second, &store, &trust).await.unwrap(),
        AnchorOutcome::AlreadyAnchored { seq: 3 }
    );

    // Two instances anchor the same new head at once: both succeed, one anchor is kept.
    journal(&store, 3..4).await;
    let (a, b) = tokio::join!(
        anchor_journal_head(&first, &store, &trust),
        anchor_journal_head(&second, &store, &trust)
    );
    let recorded = [a.unwrap(), b.unwrap()]
        .iter()
        .filter(|o| matches!(o, AnchorOutcome::Anchored { recorded: true, .. }))
        .count();
    assert_eq!(recorded, 1);
    let anchors = store.audit_anchors().await.unwrap();
    assert_eq!(anchors.iter().map(|a| a.seq).collect::<Vec<_>>(), [3, 4]);

    // Each token verifies against the encoding the chain walk recomputed for its entry, and
    // not against another entry's: a rewritten chain cannot keep its anchors.
    let (v, encodings) = store
        .verify_audit_chain_keeping(&BTreeSet::from([3, 4]))
        .await
        .unwrap();
    assert!(v.is_intact());
    for a in &anchors {
        let check = check_anchor(a, &encodings[&a.seq], &trust).await;
        assert!(check.is_valid(), "anchor #{}: {:?}", a.seq, check.error);
        assert!(check.tsa.unwrap().contains("TSA unit"));
    }
    let wrong = check_anchor(&anchors[0], &encodings[&4], &trust).await;
    assert!(
        wrong
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("imprint"),
        "{wrong:?}"
    );
    // A token that is not DER is an error, not a panic.
    let mut garbage = anchors[0].clone();
    garbage.token_der = b"not a token".to_vec();
    assert!(!check_anchor(&garbage, &encodings[&3], &trust)
        .await
        .is_valid());
    store.close().await;
}
