//! RFC 5280 §6 path validation against the corpus of `tests/pathval/corpus` (made by
//! `gen_corpus.py`, each case's expected verdict justified by the section it exercises; see
//! the README there). Every case goes through the same validator as CAdES signatures and
//! `POST /api/v1/verify/certificate`, revocation off (the corpus is about paths).
//!
//! Also the bounded-cost cases of issue 23: a pool of look-alike issuers and a
//! name-constraints exhaustion chain, each decided in well under a second.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use time::OffsetDateTime;
use validation::{
    parse_certificates, path, CertificateQuestion, CrlRevocationSource, Indication,
    ValidationPolicy, Validator,
};
use x509_cert::Certificate;

#[derive(Debug, Deserialize)]
struct Manifest {
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
struct Case {
    id: String,
    section: String,
    why: String,
    expected: String,
    #[serde(default)]
    expected_sub_indication: Option<String>,
    ee: String,
    anchors: Vec<String>,
    #[serde(default)]
    untrusted: Vec<String>,
    at: String,
    #[serde(default)]
    policy: Option<PolicyCase>,
}

#[derive(Debug, Default, Deserialize)]
struct PolicyCase {
    #[serde(default)]
    initial_policy_set: Option<Vec<String>>,
    #[serde(default)]
    initial_explicit_policy: bool,
    #[serde(default)]
    initial_policy_mapping_inhibit: bool,
    #[serde(default)]
    initial_any_policy_inhibit: bool,
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pathval/corpus")
}

fn certs(dir: &Path, files: &[String]) -> Vec<Certificate> {
    files
        .iter()
        .flat_map(|f| {
            let bytes = std::fs::read(dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
            parse_certificates(&bytes).unwrap_or_else(|e| panic!("{f}: {e}"))
        })
        .collect()
}

fn validator(anchors: Vec<Certificate>) -> Validator {
    Validator::new(
        anchors,
        Vec::new(),
        Arc::new(CrlRevocationSource::default()),
        ca::domain::SigningRules::builtin().unwrap(),
        ca::domain::ProfessionTable::builtin().unwrap(),
    )
    .unwrap()
    .with_policy(ValidationPolicy {
        check_revocation: false,
        ..ValidationPolicy::default()
    })
}

fn policy_inputs(p: Option<&PolicyCase>) -> path::PolicyInputs {
    let Some(p) = p else {
        return path::PolicyInputs::default();
    };
    path::PolicyInputs {
        initial_policy_set: p
            .initial_policy_set
            .as_ref()
            .map(|set| set.iter().map(|o| o.parse().unwrap()).collect()),
        initial_explicit_policy: p.initial_explicit_policy,
        initial_policy_mapping_inhibit: p.initial_policy_mapping_inhibit,
        initial_any_policy_inhibit: p.initial_any_policy_inhibit,
    }
}

#[tokio::test]
async fn corpus_verdicts_follow_rfc5280() {
    let dir = corpus_dir();
    let manifest: Manifest =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    assert!(
        manifest.cases.len() >= 120,
        "the corpus must hold at least 120 cases"
    );
    let mut wrong = Vec::new();
    let mut ours = serde_json::Map::new();
    for case in &manifest.cases {
        let ee = certs(&dir, std::slice::from_ref(&case.ee)).remove(0);
        let untrusted = certs(&dir, &case.untrusted);
        let at = OffsetDateTime::parse(&case.at, &time::format_description::well_known::Rfc3339)
            .unwrap();
        let v = validator(certs(&dir, &case.anchors));
        let question = CertificateQuestion {
            at: Some(at),
            untrusted: &untrusted,
            policy: policy_inputs(case.policy.as_ref()),
        };
        let started = Instant::now();
        let report = v.validate_certificate_with(&ee, &question).await;
        let took = started.elapsed();
        let verdict = if report.indication == Indication::TotalPassed {
            "valid"
        } else {
            "invalid"
        };
        let sub = report.sub_indication.map(|s| s.to_string());
        ours.insert(
            case.id.clone(),
            serde_json::json!({"verdict": verdict, "sub_indication": sub, "reason": report.summary}),
        );
        let sub_wrong = verdict == "invalid"
            && case
                .expected_sub_indication
                .as_ref()
                .is_some_and(|e| sub.as_deref() != Some(e.as_str()));
        if verdict != case.expected || sub_wrong {
            wrong.push(format!(
                "{} ({}): expected {}{} — got {verdict}{}: {}\n    why: {}",
                case.id,
                case.section,
                case.expected,
                case.expected_sub_indication
                    .as_ref()
                    .map(|s| format!(" / {s}"))
                    .unwrap_or_default(),
                sub.map(|s| format!(" / {s}")).unwrap_or_default(),
                report.summary,
                case.why
            ));
        }
        assert!(
            took < Duration::from_secs(1),
            "{}: decided in {took:?}",
            case.id
        );
    }
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pathval_verdicts.json");
    std::fs::write(&out, serde_json::to_vec_pretty(&ours).unwrap()).unwrap();
    assert!(
        wrong.is_empty(),
        "{} of {} cases disagree with the corpus (our verdicts in {}):\n{}",
        wrong.len(),
        manifest.cases.len(),
        out.display(),
        wrong.join("\n")
    );
}

// ---------------------------------------------------------------- bounded cost

mod hierarchy {
    use p256::ecdsa::{DerSignature, SigningKey};
    use pkix::{
        build_certificate, parse_dn, subject_key_identifier, InfraCertParams, InfraProfile,
        IssuerInfo,
    };
    use x509_cert::Certificate;

    pub const ROOT: &str = "C=FR, O=Sosies (test), CN=Racine";
    pub const SUB: &str = "C=FR, O=Sosies (test), CN=AC Personnes";

    pub fn key(seed: u8) -> SigningKey {
        SigningKey::from_slice(&[seed; 32]).unwrap()
    }

    fn spki(k: &SigningKey) -> spki::SubjectPublicKeyInfoOwned {
        spki::SubjectPublicKeyInfoOwned::from_key(*k.verifying_key()).unwrap()
    }

    fn by(name: &str, k: &SigningKey) -> IssuerInfo {
        IssuerInfo {
            name: parse_dn(name).unwrap(),
            ski: subject_key_identifier(&spki(k)),
        }
    }

    /// A certificate of `profile` for `subject` with `key`, signed by `issuer` (`None`:
    /// self-signed root).
    pub fn cert(
        profile: InfraProfile,
        subject: &str,
        key: &SigningKey,
        issuer: Option<(&str, &SigningKey)>,
    ) -> Certificate {
        let now = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
        let root = issuer.is_none();
        let params = InfraCertParams {
            profile,
            subject: parse_dn(subject).unwrap(),
            subject_spki: spki(key),
            issuer: issuer.map(|(n, k)| by(n, k)),
            not_before: now,
            not_after: now + time::Duration::days(365),
            serial: None,
            policy_oids: if root {
                vec![]
            } else {
                vec!["1.2.250.1.999.9.1".parse().unwrap()]
            },
            crl_url: (!root).then(|| "http://127.0.0.1:9/x.crl".into()),
            ca_issuers_url: (!root).then(|| "http://127.0.0.1:9/x.crt".into()),
            ocsp_url: matches!(profile, InfraProfile::TsaUnit | InfraProfile::RaOperator)
                .then(|| "http://127.0.0.1:9/ocsp".into()),
        };
        let signer = issuer.map(|(_, k)| k).unwrap_or(key);
        build_certificate::<_, DerSignature>(&params, signer)
            .unwrap_or_else(|e| panic!("{subject}: {e}"))
    }
}

/// 10,000 certificates named like the real issuing CA, arriving before it: the search must
/// not pay a signature per look-alike, and must decide in under a second.
#[tokio::test]
async fn ten_thousand_look_alike_issuers_are_decided_in_under_a_second() {
    use hierarchy::*;
    use pkix::InfraProfile;
    let (kr, ks, ke, kl) = (key(1), key(2), key(3), key(4));
    let root = cert(InfraProfile::Root, ROOT, &kr, None);
    let sub = cert(InfraProfile::SubCa, SUB, &ks, Some((ROOT, &kr)));
    let ee = cert(
        InfraProfile::RaOperator,
        "C=FR, O=Sosies (test), CN=Guichet",
        &ke,
        Some((SUB, &ks)),
    );
    // A look-alike with another key; copies differ by serial only (their own signatures do
    // not matter: no path goes through them).
    let look_alike = cert(InfraProfile::SubCa, SUB, &kl, Some((ROOT, &kr)));
    let mut pool: Vec<Certificate> = (0..10_000u32)
        .map(|i| {
            let mut c = look_alike.clone();
            c.tbs_certificate.serial_number =
                x509_cert::serial_number::SerialNumber::new(&(i + 1).to_be_bytes()).unwrap();
            c
        })
        .collect();
    pool.push(sub.clone());
    let v = validator(vec![root.clone()]);
    let question = CertificateQuestion {
        untrusted: &pool,
        ..CertificateQuestion::default()
    };
    let started = Instant::now();
    let report = v.validate_certificate_with(&ee, &question).await;
    let took = started.elapsed();
    assert_eq!(
        report.indication,
        Indication::TotalPassed,
        "{}",
        report.summary
    );
    assert_eq!(report.chain.len(), 3);
    assert!(took < Duration::from_secs(1), "decided in {took:?}");

    // Look-alikes that also copy the real key identifier cannot be told apart without their
    // signature: the search tries a bounded number and says so.
    let mut copied = look_alike.clone();
    let ski = sub
        .tbs_certificate
        .extensions
        .as_ref()
        .unwrap()
        .iter()
        .find(|e| e.extn_id == const_oid::db::rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER)
        .unwrap()
        .clone();
    for e in copied
        .tbs_certificate
        .extensions
        .as_mut()
        .unwrap()
        .iter_mut()
    {
        if e.extn_id == ski.extn_id {
            *e = ski.clone();
        }
    }
    let mut pool: Vec<Certificate> = (0..10_000u32)
        .map(|i| {
            let mut c = copied.clone();
            c.tbs_certificate.serial_number =
                x509_cert::serial_number::SerialNumber::new(&(i + 1).to_be_bytes()).unwrap();
            c
        })
        .collect();
    pool.push(sub);
    let question = CertificateQuestion {
        untrusted: &pool,
        ..CertificateQuestion::default()
    };
    let started = Instant::now();
    let report = v.validate_certificate_with(&ee, &question).await;
    let took = started.elapsed();
    assert_eq!(report.indication, Indication::Indeterminate);
    assert!(
        report.summary.contains("candidate"),
        "the report names the limit: {}",
        report.summary
    );
    assert!(took < Duration::from_secs(1), "decided in {took:?}");
}

/// The name-constraints exhaustion chain of the corpus (1,024 names against 1,536 permitted
/// subtrees), with the certificate size limit raised so that the constraints themselves are
/// reached: refused by the comparison bound, in under a second.
#[tokio::test]
async fn name_constraints_exhaustion_is_bounded() {
    let dir = corpus_dir().join("nc-exhaustion-large-last-name-outside");
    let files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let pick = |name: &str| {
        let f = files
            .iter()
            .find(|f| f.as_str() == format!("{name}.pem"))
            .unwrap_or_else(|| panic!("{name}.pem not in {files:?}"));
        certs(&dir, std::slice::from_ref(f))
    };
    let (ee, int, root) = (pick("ee").remove(0), pick("int"), pick("root"));
    let limits = validation::ValidationLimits {
        max_certificate_bytes: 64 * 1024,
        ..validation::ValidationLimits::default()
    };
    let v = validator(root).with_limits(limits).unwrap();
    let question = CertificateQuestion {
        at: Some(
            OffsetDateTime::parse(
                "2030-06-01T00:00:00Z",
                &time::format_description::well_known::Rfc3339,
            )
            .unwrap(),
        ),
        untrusted: &int,
        ..CertificateQuestion::default()
    };
    let started = Instant::now();
    let report = v.validate_certificate_with(&ee, &question).await;
    let took = started.elapsed();
    assert_eq!(
        report.indication,
        Indication::Indeterminate,
        "{}",
        report.summary
    );
    assert_eq!(
        report.sub_indication.map(|s| s.to_string()).as_deref(),
        Some("CHAIN_CONSTRAINTS_FAILURE"),
        "{}",
        report.summary
    );
    assert!(took < Duration::from_secs(1), "decided in {took:?}");
}

/// The second opinion: pyhanko-certvalidator (in the project's venv, `make test` installs it)
/// runs the whole corpus, and its verdicts must be those recorded in `pyhanko_verdicts.json`,
/// whose every disagreement with the corpus is explained in the README. A pyHanko that
/// changes its mind, or a corpus change whose second opinion was not looked at, fails here.
#[test]
fn pyhanko_gives_the_recorded_second_opinion() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pathval");
    let venv_python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    let python = if venv_python.exists() {
        venv_python
    } else {
        PathBuf::from("python3")
    };
    let out = tempfile::tempdir().unwrap();
    let fresh = out.path().join("verdicts.json");
    let run = std::process::Command::new(&python)
        .arg(here.join("pyhanko_check.py"))
        .arg("--out")
        .arg(&fresh)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", python.display()));
    assert!(
        run.status.success(),
        "pyhanko_check.py failed (is pyhanko-certvalidator installed? scripts/install-deps.sh test):\n{}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let verdicts = |p: &Path| -> std::collections::BTreeMap<String, String> {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
        v.as_object()
            .unwrap()
            .iter()
            .map(|(id, r)| (id.clone(), r["verdict"].as_str().unwrap().to_owned()))
            .collect()
    };
    let recorded = verdicts(&here.join("pyhanko_verdicts.json"));
    let now = verdicts(&fresh);
    let changed: Vec<_> = now
        .iter()
        .filter(|(id, v)| recorded.get(*id) != Some(*v))
        .map(|(id, v)| format!("{id}: recorded {:?}, now {v}", recorded.get(id)))
        .collect();
    assert!(
        changed.is_empty() && now.len() == recorded.len(),
        "pyHanko's second opinion changed; update pyhanko_verdicts.json and explain each disagreement in the README:\n{}",
        changed.join("\n")
    );
}
