//! `igc hsm check` against real modules: a fresh SoftHSM token passes (table
//! and JSON, live test included); modules that lack what the configuration
//! needs are refused with exit 1 and a row saying why, never a crash:
//! a file that is not a PKCS#11 library, a token label that does not exist,
//! a wrong PIN, and opencryptoki's soft token (no EC, no AES-GCM) when its
//! slot daemon can run here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{igc, stderr, stdout, IGC};

const SOFTHSM: &str = "/usr/lib/softhsm/libsofthsm2.so";
const OPENCRYPTOKI: &str = "/usr/lib/x86_64-linux-gnu/pkcs11/libopencryptoki.so";
const LABEL: &str = "hsm-check";
const USER_PIN: &str = "check-user-1234";

/// A fresh SoftHSM token in a temporary directory, laid out where
/// `common::igc` finds its configuration (`var/hsm/softhsm2.conf`).
struct Fresh {
    dir: tempfile::TempDir,
    pin_file: PathBuf,
}

fn fresh_token() -> Fresh {
    assert!(
        Path::new(SOFTHSM).exists(),
        "SoftHSM2 is not installed: run `make test`"
    );
    let dir = tempfile::tempdir().unwrap();
    let hsm = dir.path().join("var/hsm");
    let tokens = hsm.join("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let conf = hsm.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
            tokens.display()
        ),
    )
    .unwrap();
    let out = Command::new("softhsm2-util")
        .env("SOFTHSM2_CONF", &conf)
        .args([
            "--init-token",
            "--free",
            "--label",
            LABEL,
            "--so-pin",
            "check-so-1234",
            "--pin",
            USER_PIN,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "softhsm2-util: {}", stderr(&out));
    let pin_file = write_pin(dir.path(), "user.pin", USER_PIN);
    Fresh { dir, pin_file }
}

fn write_pin(dir: &Path, name: &str, pin: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("{pin}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn rows(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", stdout(out), stderr(out)))
}

fn result_of<'a>(report: &'a serde_json::Value, check: &str) -> &'a str {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["check"] == check)
        .unwrap_or_else(|| panic!("no row {check:?} in {report:#}"))["result"]
        .as_str()
        .unwrap()
}

fn assert_no_crash(out: &Output) {
    let err = stderr(out);
    assert!(!err.contains("panicked"), "igc panicked:\n{err}");
    assert!(out.status.code().is_some(), "igc died by a signal:\n{err}");
}

#[test]
fn softhsm_passes_everything_with_a_live_test() {
    let t = fresh_token();
    let pin = t.pin_file.to_str().unwrap();
    let out = igc(
        t.dir.path(),
        &[
            "hsm",
            "check",
            "--module",
            SOFTHSM,
            "--token",
            LABEL,
            "--pin-file",
            pin,
            "--json",
        ],
    );
    assert_no_crash(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let report = rows(&out);
    assert_eq!(report["passed"], true);
    for check in [
        "module",
        "token",
        "token initialised",
        "session limits",
        "EC key generation",
        "ECDSA signing",
        "RSA key generation",
        "RSA PKCS#1 v1.5 SHA-256",
        "AES key generation",
        "AES-GCM sealing",
        "login",
        "EC P-256 key pair",
        "explicit key attributes",
        "ECDSA sign/verify",
        "AES-GCM seal/open",
        "cleanup",
    ] {
        assert_eq!(result_of(&report, check), "ok", "{check}: {report:#}");
    }
    // SoftHSM hashes nothing itself for ECDSA: optional, reported as a warning.
    assert_eq!(result_of(&report, "ECDSA with SHA-256"), "warning");
    // Its defaults when not told are reported (CKA_SENSITIVE false).
    assert_eq!(result_of(&report, "default key attributes"), "warning");
    // Every row that is not ok is optional.
    for row in report["rows"].as_array().unwrap() {
        assert!(
            row["result"] == "ok" || row["required"] == false,
            "required row not ok: {row}"
        );
    }
}

#[test]
fn softhsm_table_is_aligned_and_the_pin_can_come_from_a_descriptor() {
    let t = fresh_token();
    let out = Command::new(IGC)
        .current_dir(t.dir.path())
        .env("SOFTHSM2_CONF", t.dir.path().join("var/hsm/softhsm2.conf"))
        .env_remove("IGC_CONFIG")
        .args([
            "hsm", "check", "--module", SOFTHSM, "--token", LABEL, "--pin-fd", "0", "--needs", "ec",
        ])
        .stdin(Stdio::from(std::fs::File::open(&t.pin_file).unwrap()))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("check"), "{text}");
    // The result column starts at the same place on every line.
    let column = lines[0].find("result").unwrap();
    for line in &lines[2..] {
        let word = &line[column..];
        assert!(
            ["ok", "warning", "missing", "failed", "skipped"]
                .iter()
                .any(|w| word.starts_with(w)),
            "misaligned line {line:?} in\n{text}"
        );
    }
    assert!(text.contains("ECDSA sign/verify"), "{text}");
    // Only the EC family was asked for.
    assert!(!text.contains("RSA key generation"), "{text}");
    assert!(!text.contains("AES-GCM seal/open"), "{text}");
}

#[test]
fn without_module_the_hsm_section_of_the_configuration_is_used() {
    let t = fresh_token();
    let dev = std::fs::read_to_string(common::repo().join("src/dev-igc.toml")).unwrap();
    let config = dev.replace(
        "token_label = \"igc-online\"",
        &format!("token_label = \"{LABEL}\""),
    );
    assert_ne!(config, dev, "src/dev-igc.toml no longer names igc-online");
    std::fs::write(t.dir.path().join("var/igc.toml"), config).unwrap();
    std::fs::copy(&t.pin_file, t.dir.path().join("var/hsm/online.pin")).unwrap();
    let out = igc(
        t.dir.path(),
        &["hsm", "check", "--config", "var/igc.toml", "--json"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let report = rows(&out);
    assert_eq!(report["token"], LABEL);
    // The PIN file of [hsm] enables the live test.
    assert_eq!(result_of(&report, "ECDSA sign/verify"), "ok");
    assert!(
        result_of(&report, "session limits") == "ok" && report.to_string().contains("pool size 16"),
        "{report:#}"
    );
}

/// A configuration whose module needs its initialisation string (NSS softoken, two databases
/// made by certutil): `igc hsm check --config` passes it, as `igc serve` does.
#[test]
fn the_configuration_s_init_args_reach_the_module() {
    use common::tokens::{DevToken, Kind};
    let dir = tempfile::tempdir().unwrap();
    let token = DevToken::prepare(Kind::Nss, dir.path());
    let dev = std::fs::read_to_string(common::repo().join("src/dev-igc.toml")).unwrap();
    let softhsm = format!("module = \"{SOFTHSM}\"\n");
    assert!(dev.contains(&softhsm));
    let config = dev.replacen(
        &softhsm,
        &format!(
            "module = \"{}\"\ninit_args = \"{}\"\n",
            token.module.display(),
            token.init_args.as_deref().unwrap()
        ),
        1,
    );
    std::fs::write(dir.path().join("var/igc.toml"), config).unwrap();
    // The PIN certutil gave the databases.
    std::fs::copy(
        dir.path().join("var/hsm/initial.pin"),
        dir.path().join("var/hsm/online.pin"),
    )
    .unwrap();
    let out = igc(
        dir.path(),
        &[
            "hsm",
            "check",
            "--config",
            "var/igc.toml",
            "--needs",
            "ec,aes",
            "--json",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let report = rows(&out);
    assert_eq!(report["token"], "igc-online");
    assert_eq!(result_of(&report, "ECDSA sign/verify"), "ok");
}

#[test]
fn without_a_pin_the_live_test_is_skipped_not_failed() {
    let t = fresh_token();
    let out = igc(
        t.dir.path(),
        &[
            "hsm", "check", "--module", SOFTHSM, "--token", LABEL, "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(result_of(&rows(&out), "live test"), "skipped");
}

#[test]
fn a_wrong_pin_fails_the_login_row() {
    let t = fresh_token();
    let wrong = write_pin(t.dir.path(), "wrong.pin", "not-the-pin-99");
    let out = igc(
        t.dir.path(),
        &[
            "hsm",
            "check",
            "--module",
            SOFTHSM,
            "--token",
            LABEL,
            "--pin-file",
            wrong.to_str().unwrap(),
            "--json",
        ],
    );
    assert_no_crash(&out);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = rows(&out);
    assert_eq!(report["passed"], false);
    assert_eq!(result_of(&report, "login"), "failed");
    assert!(stderr(&out).contains("login"), "{}", stderr(&out));
}

#[test]
fn a_file_that_is_not_a_pkcs11_module_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("libfake-pkcs11.so");
    std::fs::write(&fake, b"this is not a shared library\n").unwrap();
    let out = igc(
        dir.path(),
        &[
            "hsm",
            "check",
            "--module",
            fake.to_str().unwrap(),
            "--token",
            "any",
        ],
    );
    assert_no_crash(&out);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("module"), "{text}");
    assert!(text.contains("failed"), "{text}");
    assert!(text.contains("PKCS#11 module"), "{text}");
    assert!(
        stderr(&out).contains("cannot serve this configuration"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_token_label_that_does_not_exist_is_refused_naming_the_tokens_present() {
    let t = fresh_token();
    let out = igc(
        t.dir.path(),
        &[
            "hsm",
            "check",
            "--module",
            SOFTHSM,
            "--token",
            "no-such-token",
            "--json",
        ],
    );
    assert_no_crash(&out);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = rows(&out);
    assert_eq!(result_of(&report, "token"), "failed");
    let detail = report["rows"][1]["detail"].as_str().unwrap();
    assert!(detail.contains("\"no-such-token\""), "{detail}");
    assert!(detail.contains(&format!("\"{LABEL}\"")), "{detail}");
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        // The PIN comes from one place only.
        &[
            "hsm",
            "check",
            "--module",
            SOFTHSM,
            "--token",
            "t",
            "--pin-file",
            "f",
            "--pin-fd",
            "0",
        ][..],
        &[
            "hsm", "check", "--module", SOFTHSM, "--token", "t", "--needs", "ec,dsa",
        ][..],
        // A module without a token label.
        &["hsm", "check", "--module", SOFTHSM][..],
        // Nothing names a module: no --module and no configuration file.
        &["hsm", "check"][..],
        // The PIN never on the command line.
        &[
            "hsm", "check", "--module", SOFTHSM, "--token", "t", "--pin", "1234",
        ][..],
    ] {
        let out = igc(dir.path(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    let help = igc(dir.path(), &["hsm", "check", "--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(stdout(&help).contains("Examples:"), "{}", stdout(&help));
}

/// opencryptoki's soft token needs its slot daemon; starts it when it is not
/// running and can be, and says why the test is skipped otherwise.
struct SlotDaemon {
    started_here: bool,
}

const SLOTD_PID: &str = "/run/pkcsslotd.pid";

/// The daemon named by the pid file is alive: a process called pkcsslotd,
/// not a zombie left by an earlier stop (nobody may reap it in a container).
fn slot_daemon_running() -> bool {
    let Some(pid) = std::fs::read_to_string(SLOTD_PID)
        .ok()
        .and_then(|p| p.trim().parse::<u32>().ok())
    else {
        return false;
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields: pid (comm) state ...
    let alive = stat
        .rsplit_once(") ")
        .is_some_and(|(_, rest)| !rest.starts_with('Z'));
    alive && stat.contains("(pkcsslotd)")
}

fn slot_daemon() -> Result<SlotDaemon, String> {
    if !Path::new(OPENCRYPTOKI).exists() {
        return Err(format!(
            "{OPENCRYPTOKI} is not installed (Debian package opencryptoki)"
        ));
    }
    if slot_daemon_running() {
        return Ok(SlotDaemon {
            started_here: false,
        });
    }
    let out = Command::new("/usr/sbin/pkcsslotd")
        .output()
        .map_err(|e| format!("cannot run pkcsslotd: {e}"))?;
    // The daemon forks and the parent returns; give it a bounded time to appear.
    let appeared = common::wait_until(std::time::Duration::from_secs(5), slot_daemon_running);
    if !out.status.success() || !appeared {
        return Err(format!(
            "pkcsslotd cannot start here ({}; needs root and the pkcs11 group): {}",
            out.status,
            stderr(&out).trim()
        ));
    }
    Ok(SlotDaemon { started_here: true })
}

impl Drop for SlotDaemon {
    fn drop(&mut self) {
        if !self.started_here {
            return;
        }
        // Stop the daemon this test started, by the pid it wrote, not by name.
        if let Some(pid) = std::fs::read_to_string(SLOTD_PID)
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok())
        {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
    }
}

#[test]
fn opencryptoki_soft_token_is_refused_for_lacking_ec_and_aes_gcm() {
    let daemon = match slot_daemon() {
        Ok(d) => d,
        Err(why) => {
            println!("SKIPPED opencryptoki: {why}");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let out = igc(
        dir.path(),
        &[
            "hsm",
            "check",
            "--module",
            OPENCRYPTOKI,
            "--token",
            "igc",
            "--json",
        ],
    );
    drop(daemon);
    assert_no_crash(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let report = rows(&out);
    assert_eq!(report["passed"], false);
    assert_eq!(result_of(&report, "module"), "ok", "{report:#}");
    assert_eq!(result_of(&report, "token"), "failed", "{report:#}");
    assert_eq!(
        result_of(&report, "EC key generation"),
        "missing",
        "{report:#}"
    );
    assert_eq!(result_of(&report, "ECDSA signing"), "missing", "{report:#}");
    assert_eq!(
        result_of(&report, "AES-GCM sealing"),
        "missing",
        "{report:#}"
    );
    assert_eq!(result_of(&report, "RSA key generation"), "ok", "{report:#}");
    let err = stderr(&out);
    assert!(
        err.contains("EC key generation") && err.contains("AES-GCM sealing"),
        "{err}"
    );
}
