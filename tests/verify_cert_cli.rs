//! `igc verify-cert` as an operator runs it: the real binary on cases of the RFC 5280 corpus
//! (`tsa/validation/tests/pathval`), exit status 0 only for a valid path, the path and every
//! check in the JSON report, certificates given in an order that needs backtracking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const IGC: &str = env!("CARGO_BIN_EXE_igc");

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tsa/validation/tests/pathval/corpus")
}

/// Runs `igc verify-cert` on the corpus case `id` with `extra` arguments; the case's anchors
/// and untrusted certificates in the manifest's order.
fn verify_cert(id: &str, extra: &[&str]) -> (Output, serde_json::Value) {
    let dir = corpus();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let case = manifest["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no case {id} in the corpus"));
    let file = |v: &serde_json::Value| dir.join(v.as_str().unwrap());
    let mut cmd = Command::new(IGC);
    cmd.arg("verify-cert").arg(file(&case["ee"]));
    for a in case["anchors"].as_array().unwrap() {
        cmd.arg("--anchor").arg(file(a));
    }
    for u in case["untrusted"].as_array().into_iter().flatten() {
        cmd.arg("--untrusted").arg(file(u));
    }
    cmd.args(["--at", case["at"].as_str().unwrap()]);
    if !extra.contains(&"--revocation") {
        cmd.args(["--revocation", "none"]);
    }
    cmd.args(extra);
    let out = cmd.output().unwrap();
    let json = if extra.contains(&"--json") {
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{e}: {}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        })
    } else {
        serde_json::Value::Null
    };
    (out, json)
}

#[test]
fn a_valid_path_exits_zero_and_reports_the_path_and_every_check() {
    let (out, report) = verify_cert("nc-dns-permitted-ok", &["--json"]);
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    assert_eq!(report["indication"], "TOTAL_PASSED");
    assert_eq!(report["chain"].as_array().unwrap().len(), 3, "{report:#}");
    let checks = report["path_checks"].as_array().unwrap();
    for check in [
        "trust-anchor",
        "name-constraints",
        "ca-constraints",
        "policies",
    ] {
        assert!(
            checks
                .iter()
                .any(|c| c["check"] == check && c["passed"] == true),
            "no passed {check} check in {checks:#?}"
        );
    }
    assert!(
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["check"] == "revocation" && c["result"] == "skipped"),
        "--revocation none is said in the report: {report:#}"
    );
}

#[test]
fn a_name_outside_the_permitted_subtrees_exits_one_with_the_reason() {
    let (out, report) = verify_cert("nc-dns-permitted-fail", &["--json"]);
    assert_eq!(out.status.code(), Some(1), "{report:#}");
    assert_eq!(report["sub_indication"], "CHAIN_CONSTRAINTS_FAILURE");
    let failed: Vec<_> = report["path_checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["passed"] == false)
        .collect();
    assert_eq!(failed.len(), 1, "{report:#}");
    assert!(
        failed[0]["detail"].as_str().unwrap().contains("example"),
        "the reason names the name: {report:#}"
    );
    // Without --json: a readable summary on stdout, the indication on stderr.
    let (out, _) = verify_cert("nc-dns-permitted-fail", &[]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("FAILED"), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("CHAIN_CONSTRAINTS_FAILURE"));
}

#[test]
fn a_decoy_issuer_given_first_does_not_hide_the_real_one() {
    let (out, report) = verify_cert("pb-wrong-key-decoy-first", &["--json"]);
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    assert_eq!(report["indication"], "TOTAL_PASSED");
}

#[test]
fn bad_arguments_are_refused_clearly() {
    let out = Command::new(IGC)
        .args([
            "verify-cert",
            "/nonexistent.pem",
            "--anchor",
            "/nonexistent-root.pem",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nonexistent"));
    let (out, _) = verify_cert("nc-dns-permitted-ok", &["--policy", "not-an-oid"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an OID"));
    let (out, _) = verify_cert("nc-dns-permitted-ok", &["--revocation", "online"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--allow-host"));
}
