//! The limits of the validation service (issue 20, `[validation]`), each over real HTTP: one
//! request at the limit passes, one just over it is refused with the documented status and
//! JSON body, and the refusal is counted in `igc_http_refused_total`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../../ca/tests/support/mod.rs"]
mod support;

#[path = "../../../ca/tests/issuance_common/mod.rs"]
#[allow(unused_macros)]
mod issuance_common;

#[path = "../../tests/common/mod.rs"]
mod common;

#[path = "validation_support/mod.rs"]
mod validation_support;

#[path = "validation_hostile/mod.rs"]
mod validation_hostile;

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ca::domain::{ProfessionTable, Profile, SigningRules};
use common::serve;
use der::Encode;
use issuance_common::{pki, sqlite, Env};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::{json, Value};
use validation::revocation::StatusFuture;
use validation::{
    Budget, DocumentKind, RevocationSource, SignatureInput, StoreRevocationSource,
    ValidationLimits, Validator,
};
use validation_hostile::*;
use validation_support::*;
use x509_cert::Certificate;

fn metrics() -> &'static PrometheusHandle {
    static H: OnceLock<PrometheusHandle> = OnceLock::new();
    H.get_or_init(|| PrometheusBuilder::new().install_recorder().unwrap())
}

/// The refusals counted for `reason` on the main listener.
fn refused(reason: &str) -> u64 {
    let text = metrics().render();
    text.lines()
        .filter(|l| {
            l.starts_with("igc_http_refused_total{")
                && l.contains("listener=\"main\"")
                && l.contains(&format!("reason=\"{reason}\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// A revocation source that takes its time.
#[derive(Debug)]
struct Slow {
    inner: Arc<dyn RevocationSource>,
    delay: Duration,
}

impl RevocationSource for Slow {
    fn name(&self) -> &'static str {
        "slow"
    }
    fn status<'a>(
        &'a self,
        cert: &'a Certificate,
        issuer: &'a Certificate,
        at: time::OffsetDateTime,
        validation_time: time::OffsetDateTime,
    ) -> StatusFuture<'a> {
        Box::pin(async move {
            tokio::time::sleep(self.delay).await;
            self.inner.status(cert, issuer, at, validation_time).await
        })
    }
}

/// A validator of the fixture hierarchy with `limits`; without known intermediates when
/// `!intermediates` (the path is then built from the certificates the signature carries).
fn validator(
    env: &Env,
    limits: ValidationLimits,
    intermediates: bool,
    delay: Duration,
) -> Arc<Validator> {
    let p = pki();
    let store: Arc<dyn RevocationSource> =
        Arc::new(StoreRevocationSource::new(env.store().clone()));
    let revocation: Arc<dyn RevocationSource> = if delay.is_zero() {
        store
    } else {
        Arc::new(Slow {
            inner: store,
            delay,
        })
    };
    Arc::new(
        Validator::new(
            vec![p.root.clone()],
            if intermediates {
                vec![p.personnes.clone(), p.orgs.clone()]
            } else {
                vec![]
            },
            revocation,
            SigningRules::builtin().unwrap(),
            ProfessionTable::builtin().unwrap(),
        )
        .unwrap()
        .with_registry(env.store().clone())
        .with_limits(limits)
        .unwrap(),
    )
}

async fn serve_validator(v: Arc<Validator>) -> String {
    let (base, _task) = serve(validation::http::router(v)).await;
    base
}

fn body(sig: &[u8]) -> Vec<u8> {
    json!({"signature": B64.encode(sig), "document_type": "prescription"})
        .to_string()
        .into_bytes()
}

async fn post(base: &str, path: &str, body: Vec<u8>) -> RawReply {
    let (reply, took) = timed_post(base, path, body, Duration::from_secs(30)).await;
    reply.unwrap_or_else(|| panic!("no answer within {took:?}"))
}

/// `200` with TOTAL_PASSED.
fn passed(r: &RawReply) {
    let v = r.json();
    assert_eq!(
        (r.status, v["indication"].as_str()),
        (200, Some("TOTAL_PASSED")),
        "{v:#}"
    );
}

/// Refused with `status`, the JSON error `error` naming `limit`.
fn refused_with(r: &RawReply, status: u16, error: &str, limit: &str) -> Value {
    let v = r.json();
    assert_eq!(r.status, status, "{v}");
    assert_eq!(v["error"], error, "{v}");
    assert_eq!(v["limit"], limit, "{v}");
    assert!(!v["detail"].as_str().unwrap().is_empty(), "{v}");
    v
}

fn limits() -> ValidationLimits {
    ValidationLimits::default()
}

struct Fixture {
    env: Env,
    dr: Holder,
    /// Attached CAdES-B of a prescription by `dr` (carries dr's and CA Personnes' certificates).
    sig: Vec<u8>,
}

async fn fixture() -> Fixture {
    metrics();
    let env = Env::new(sqlite().await).await;
    let dr = openssl_holder(&env, "10", Profile::Sign).await;
    let sig = openssl_sign(env.files.path(), &dr, PRESCRIPTION, false);
    Fixture { env, dr, sig }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_size_at_the_limit_passes_and_one_octet_more_is_413() {
    let f = fixture().await;
    let max = 64 * 1024;
    let base = serve_validator(validator(
        &f.env,
        ValidationLimits {
            max_body_bytes: max,
            ..limits()
        },
        true,
        Duration::ZERO,
    ))
    .await;
    let padded = |n: usize| {
        let mut b = body(&f.sig);
        assert!(b.len() < n);
        b.resize(n, b' '); // JSON allows trailing white space
        b
    };
    passed(&post(&base, "/api/v1/verify", padded(max)).await);
    let before = refused("validation_body_too_large");
    let r = post(&base, "/api/v1/verify", padded(max + 1)).await;
    let v = refused_with(&r, 413, "payload too large", "max_body_bytes");
    assert!(v["detail"].as_str().unwrap().contains("65536"), "{v}");
    assert!(refused("validation_body_too_large") > before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_per_signature_at_the_limit_pass_and_one_more_is_422() {
    let f = fixture().await;
    let carried = validation::cades::parse_cms(&f.sig)
        .unwrap()
        .certificates
        .len();
    let p = pki();
    let extra: Vec<Vec<u8>> = (0..3)
        .map(|i| sized_certificate(&p.orgs, 1500 + i))
        .collect();
    let base = serve_validator(validator(
        &f.env,
        ValidationLimits {
            max_certificates: carried + 2,
            ..limits()
        },
        true,
        Duration::ZERO,
    ))
    .await;
    let at = with_certificates(&f.sig, &extra[..2]);
    passed(&post(&base, "/api/v1/verify", body(&at)).await);
    let before = refused("validation_too_large");
    let over = with_certificates(&f.sig, &extra);
    let r = post(&base, "/api/v1/verify", body(&over)).await;
    let v = refused_with(&r, 422, "validation limit exceeded", "max_certificates");
    assert!(
        v["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("at most {}", carried + 2)),
        "{v}"
    );
    assert!(refused("validation_too_large") > before);
    // Called directly (igc verify), the refusal is a report naming the limit.
    let v = validator(
        &f.env,
        ValidationLimits {
            max_certificates: carried + 2,
            ..limits()
        },
        true,
        Duration::ZERO,
    );
    let report = validate(&v, &over, None, DocumentKind::Prescription, None).await;
    expect(&report, "INDETERMINATE", Some("GENERIC"));
    assert!(
        failed_detail(&report, "limits").contains("max_certificates"),
        "{}",
        report.summary
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_size_at_the_limit_passes_and_one_octet_more_is_422() {
    let f = fixture().await;
    let p = pki();
    let max = 2000;
    let base = serve_validator(validator(
        &f.env,
        ValidationLimits {
            max_certificate_bytes: max,
            ..limits()
        },
        true,
        Duration::ZERO,
    ))
    .await;
    let at = sized_certificate(&p.orgs, max);
    let over = sized_certificate(&p.orgs, max + 1);
    assert_eq!((at.len(), over.len()), (max, max + 1));
    // In a signature.
    passed(
        &post(
            &base,
            "/api/v1/verify",
            body(&with_certificates(&f.sig, std::slice::from_ref(&at))),
        )
        .await,
    );
    let before = refused("validation_too_large");
    let r = post(
        &base,
        "/api/v1/verify",
        body(&with_certificates(&f.sig, std::slice::from_ref(&over))),
    )
    .await;
    let v = refused_with(
        &r,
        422,
        "validation limit exceeded",
        "max_certificate_bytes",
    );
    assert!(v["detail"].as_str().unwrap().contains("2001"), "{v}");
    // Alone, to /api/v1/verify/certificate (not a valid certificate of ours: still answered).
    let cert_body = |der: &[u8]| {
        json!({"certificate": B64.encode(der)})
            .to_string()
            .into_bytes()
    };
    let r = post(&base, "/api/v1/verify/certificate", cert_body(&at)).await;
    assert_eq!(r.status, 200, "{}", r.json());
    let r = post(&base, "/api/v1/verify/certificate", cert_body(&over)).await;
    refused_with(
        &r,
        422,
        "validation limit exceeded",
        "max_certificate_bytes",
    );
    let r = post(
        &base,
        "/api/v1/verify/certificate",
        cert_body(&f.dr.cert.der),
    )
    .await;
    passed(&r);
    assert!(refused("validation_too_large") >= before + 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn candidate_issuers_per_level_at_the_limit_pass_and_one_more_is_422() {
    let f = fixture().await;
    let p = pki();
    let key = &p.orgs.tbs_certificate.subject_public_key_info;
    // Without known intermediates the path is built from the signature's certificates, where
    // the look-alikes (shorter than the real CA certificate) come first in DER order.
    let fakes = |n: usize| look_alikes(&minimal_issuer(&p.personnes), key, n, 0, 0, 0);
    let real_len = p.personnes.to_der().unwrap().len();
    assert!(fakes(1)[0].len() < real_len, "look-alikes must sort first");
    let max = 3;
    let base = serve_validator(validator(
        &f.env,
        ValidationLimits {
            max_candidates_per_level: max,
            ..limits()
        },
        false,
        Duration::ZERO,
    ))
    .await;
    // Two look-alikes, then the real CA Personnes: three candidates.
    passed(
        &post(
            &base,
            "/api/v1/verify",
            body(&with_certificates(&f.sig, &fakes(max - 1))),
        )
        .await,
    );
    let before = refused("validation_too_complex");
    let r = post(
        &base,
        "/api/v1/verify",
        body(&with_certificates(&f.sig, &fakes(max))),
    )
    .await;
    let v = refused_with(
        &r,
        422,
        "validation limit exceeded",
        "max_candidates_per_level",
    );
    assert!(
        v["detail"].as_str().unwrap().contains("CA Personnes"),
        "{v}"
    );
    assert!(refused("validation_too_complex") > before);
    // The known CA certificates are tried before those of the signature: look-alikes do not
    // get in the way of a validator that knows its CAs.
    let base = serve_validator(validator(
        &f.env,
        ValidationLimits {
            max_candidates_per_level: 1,
            ..limits()
        },
        true,
        Duration::ZERO,
    ))
    .await;
    passed(
        &post(
            &base,
            "/api/v1/verify",
            body(&with_certificates(&f.sig, &fakes(10))),
        )
        .await,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_work_at_the_limit_passes_and_one_unit_less_is_422() {
    let f = fixture().await;
    let p = pki();
    let key = &p.orgs.tbs_certificate.subject_public_key_info;
    let fakes = look_alikes(&minimal_issuer(&p.personnes), key, 10, 0, 0, 0);
    let sig = with_certificates(&f.sig, &fakes);
    let roomy = ValidationLimits {
        max_candidates_per_level: 64,
        max_work: 4096,
        ..limits()
    };
    // The work this signature needs, on a fresh validator (nothing remembered).
    let probe = validator(&f.env, roomy.clone(), false, Duration::ZERO);
    let budget = Budget::new(&roomy, Instant::now());
    let report = probe
        .validate_signature_within(
            SignatureInput {
                content_ranges: None,
                pdf: None,
                signature: &sig,
                content: None,
                document: DocumentKind::Prescription,
                validation_time: None,
            },
            &budget,
        )
        .await
        .unwrap();
    expect(&report, "TOTAL_PASSED", None);
    let needed = budget.used();
    assert!(
        needed > 20,
        "{needed} units: the look-alikes were not examined"
    );
    let at = serve_validator(validator(
        &f.env,
        ValidationLimits {
            max_work: needed,
            ..roomy.clone()
        },
        false,
        Duration::ZERO,
    ))
    .await;
    passed(&post(&at, "/api/v1/verify", body(&sig)).await);
    let before = refused("validation_too_complex");
    let over = serve_validator(validator(
        &f.env,
        ValidationLimits {
            max_work: needed - 1,
            ..roomy
        },
        false,
        Duration::ZERO,
    ))
    .await;
    let r = post(&over, "/api/v1/verify", body(&sig)).await;
    let v = refused_with(&r, 422, "validation limit exceeded", "max_work");
    assert!(
        v["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("more than {}", needed - 1)),
        "{v}"
    );
    assert!(refused("validation_too_complex") > before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_deadline_the_answer_is_503_with_retry_after_and_comes_on_time() {
    let f = fixture().await;
    // Two status look-ups (signer, CA) of 100 ms fit in 3 s …
    let base = serve_validator(validator(
        &f.env,
        ValidationLimits {
            deadline_ms: 3000,
            ..limits()
        },
        true,
        Duration::from_millis(100),
    ))
    .await;
    passed(&post(&base, "/api/v1/verify", body(&f.sig)).await);
    // … two of 1 s do not fit in 300 ms: answered at the deadline, not after the look-ups.
    let base = serve_validator(validator(
        &f.env,
        ValidationLimits {
            deadline_ms: 300,
            queue_wait_ms: 100,
            ..limits()
        },
        true,
        Duration::from_secs(1),
    ))
    .await;
    let before = refused("validation_deadline");
    let (r, took) = timed_post(
        &base,
        "/api/v1/verify",
        body(&f.sig),
        Duration::from_secs(30),
    )
    .await;
    let r = r.expect("no answer");
    let v = refused_with(&r, 503, "validation deadline exceeded", "deadline_ms");
    assert_eq!(r.header("retry-after"), Some("1"), "{:?}", r.headers);
    assert_eq!(v["retry_after"], 1, "{v}");
    assert!(
        took < Duration::from_millis(1500),
        "the deadline answer came after {took:?}"
    );
    assert!(refused("validation_deadline") > before);
    // The certificate endpoint too.
    let r = post(
        &base,
        "/api/v1/verify/certificate",
        json!({"certificate": f.dr.cert.pem()})
            .to_string()
            .into_bytes(),
    )
    .await;
    refused_with(&r, 503, "validation deadline exceeded", "deadline_ms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_every_slot_is_busy_the_answer_is_503_with_retry_after_after_a_short_wait() {
    let f = fixture().await;
    // Each validation holds its slot for two look-ups of 600 ms.
    let slots = |n: usize| ValidationLimits {
        max_concurrent: Some(n),
        queue_wait_ms: 100,
        deadline_ms: 10_000,
        ..limits()
    };
    let delay = Duration::from_millis(600);
    // One slot: the second request waits 100 ms, then is refused.
    let base = serve_validator(validator(&f.env, slots(1), true, delay)).await;
    let first = tokio::spawn({
        let (base, b) = (base.clone(), body(&f.sig));
        async move { post(&base, "/api/v1/verify", b).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = refused("validation_busy");
    let (r, took) = timed_post(
        &base,
        "/api/v1/verify",
        body(&f.sig),
        Duration::from_secs(30),
    )
    .await;
    let r = r.expect("no answer");
    let v = r.json();
    assert_eq!(r.status, 503, "{v}");
    assert_eq!(v["error"], "validation service busy", "{v}");
    assert_eq!(v["retry_after"], 1, "{v}");
    assert_eq!(r.header("retry-after"), Some("1"));
    assert!(took < Duration::from_millis(900), "refused after {took:?}");
    assert!(refused("validation_busy") > before);
    passed(&first.await.unwrap());
    // Two slots: both pass.
    let base = serve_validator(validator(&f.env, slots(2), true, delay)).await;
    let a = tokio::spawn({
        let (base, b) = (base.clone(), body(&f.sig));
        async move { post(&base, "/api/v1/verify", b).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    passed(&post(&base, "/api/v1/verify", body(&f.sig)).await);
    passed(&a.await.unwrap());
}
