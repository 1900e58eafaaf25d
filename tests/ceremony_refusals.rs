//! Ceremony files are refused, with a clear message and before the HSM is
//! touched, when they are wrong: unknown field, existing output, too few or
//! tampered custodian shares, an issuer key that does not match.
//!
//! "Before the HSM" is proven by naming a PKCS#11 module that does not
//! exist: the refusal must be about the file, never about the module.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::{assert_success, igc, stderr, DevPki};

const NO_MODULE: &str = "module: /nonexistent/libpkcs11-never-loaded.so\n";

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_owned()
}

fn refused(pki: &DevPki, file: &str, expect: &str) {
    let out = igc(pki.dir.path(), &["ceremony", "run", file]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(expect), "expected {expect:?} in:\n{err}");
    assert!(
        !err.contains("PKCS#11 module"),
        "the HSM was reached:\n{err}"
    );
    assert!(!err.contains("CKR_"), "the HSM was reached:\n{err}");
}

fn arl(shares: &[&str], number: u64, extra: &str) -> String {
    let list = shares
        .iter()
        .map(|s| format!("\"{s}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "ceremony: crl\ndescription: ARL {number}\noperators: [alice, bob]\n\
         transcript: var/ceremonies/arl-{number}.json\n{extra}\
         issuer:\n  token:\n    label: igc-root\n    pin:\n      shares: [{list}]\n  \
         key_label: root-ca\n  certificate: var/pki/root.pem\n\
         crl_number: {number}\nprevious_crl: var/pki/root-arl-1.pem\n\
         next_update_days: 30\ncrl: var/pki/root-arl-{number}.pem\n"
    )
}

const ALICE: &str = "var/shares/igc-root-alice.share.json";
const BOB: &str = "var/shares/igc-root-bob.share.json";

#[test]
fn refusals_happen_before_the_hsm_and_a_good_file_runs() {
    let pki = DevPki::new();
    let d = pki.dir.path();

    // Unknown field (a typo of next_update_days).
    let f = write(
        d,
        "typo.yaml",
        &arl(&[ALICE, BOB], 2, NO_MODULE).replace("next_update_days", "next_update_dayz"),
    );
    refused(&pki, &f, "unknown field `next_update_dayz`");
    // `check` says the same without running anything.
    let out = igc(d, &["ceremony", "check", &f]);
    assert_eq!(out.status.code(), Some(1));

    // A nextUpdate beyond what a date can hold: refused by its range, not a panic.
    let f = write(
        d,
        "far.yaml",
        &arl(&[ALICE, BOB], 2, NO_MODULE)
            .replace("next_update_days: 30", "next_update_days: 4000000000"),
    );
    refused(&pki, &f, "next_update_days must be 1..=3660");

    // M-1 shares.
    let f = write(d, "one-share.yaml", &arl(&[ALICE], 2, NO_MODULE));
    refused(&pki, &f, "1 share(s) given, 2 of 3 custodians are required");

    // A tampered share: one hex digit of Bob's share changed.
    let mut share: serde_json::Value =
        serde_json::from_slice(&std::fs::read(pki.path(BOB)).unwrap()).unwrap();
    let s = share["share"].as_str().unwrap().to_owned();
    let flipped = match s.strip_prefix('0') {
        Some(rest) => format!("1{rest}"),
        None => format!("0{}", &s[1..]),
    };
    share["share"] = serde_json::Value::String(flipped);
    std::fs::write(
        d.join("bob-tampered.json"),
        serde_json::to_vec(&share).unwrap(),
    )
    .unwrap();
    let f = write(
        d,
        "tampered.yaml",
        &arl(&[ALICE, "bob-tampered.json"], 2, NO_MODULE),
    );
    refused(&pki, &f, "bob-tampered.json");

    // A share from another token.
    let f = write(
        d,
        "foreign.yaml",
        &arl(
            &[ALICE, "var/shares/igc-online-bob.share.json"],
            2,
            NO_MODULE,
        ),
    );
    refused(&pki, &f, "belongs to token \"igc-online\"");

    // CRL number not above the previous one.
    let f = write(d, "number.yaml", &arl(&[ALICE, BOB], 1, NO_MODULE));
    refused(&pki, &f, "must exceed the previous CRL's (1)");

    // An output that exists already is never overwritten.
    let f = write(
        d,
        "exists.yaml",
        &arl(&[ALICE, BOB], 2, NO_MODULE).replace("var/pki/root-arl-2.pem", "var/pki/root.pem"),
    );
    refused(&pki, &f, "exists already");

    // A key ceremony whose output exists creates no key: the same label
    // works afterwards.
    let key = |out: &str| {
        format!(
            "ceremony: key\ndescription: spare key\noperators: [alice]\n\
             transcript: var/ceremonies/spare-{out}.json\n\
             token:\n  label: igc-online\n  pin:\n    file: var/hsm/online.pin\n\
             key:\n  label: spare\n  spec: ec-p256\npublic_key: var/pki/{out}\n"
        )
    };
    let f = write(d, "key-exists.yaml", &key("root.pem"));
    refused(&pki, &f, "exists already");
    let f = write(d, "key-ok.yaml", &key("spare.pub.pem"));
    assert_success(&igc(d, &["ceremony", "run", &f]), "key ceremony");
    // ... and a second key with that label is refused by the token check.
    let f = write(d, "key-again.yaml", &key("spare2.pub.pem"));
    let out = igc(d, &["ceremony", "run", &f]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("exists already in the token"),
        "{}",
        stderr(&out)
    );

    // An issuer key that is not the issuer certificate's key.
    let wrong = concat!(
        "ceremony: cert\ndescription: wrong issuer key\noperators: [alice]\n",
        "transcript: var/ceremonies/wrong.json\n",
        "issuer:\n  token:\n    label: igc-online\n    pin:\n      file: var/hsm/online.pin\n  ",
        "key_label: ca-organisations\n  certificate: var/pki/personnes.pem\n",
        "profile: ocsp-signer\nsubject: \"C=FR, O=Test, CN=Wrong\"\n",
        "public_key: var/pki/spare.pub.pem\nvalidity_days: 30\n",
        "policy_oids: [\"1.3.6.1.5.5.7.13.1\"]\nca_issuers_url: http://127.0.0.1:8080/ca/personnes.crt\n",
        "certificate: var/pki/wrong.pem\n"
    );
    let f = write(d, "wrong.yaml", wrong);
    let out = igc(d, &["ceremony", "run", &f]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is not the key of"),
        "{}",
        stderr(&out)
    );
    assert!(!pki.pki("wrong.pem").exists());

    // Positive control: the same ARL ceremony with M genuine shares runs,
    // and OpenSSL accepts its output.
    let f = write(d, "good.yaml", &arl(&[ALICE, BOB], 2, ""));
    let out = igc(d, &["ceremony", "run", "--json", &f]);
    assert_success(&out, "ARL ceremony");
    let transcript: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(transcript["ceremony"], "crl");
    assert_eq!(transcript["signed"][0]["verified"], true);
    let out = common::tool(
        "openssl",
        &[
            "crl",
            "-in",
            pki.pki("root-arl-2.pem").to_str().unwrap(),
            "-CAfile",
            pki.pki("root.pem").to_str().unwrap(),
            "-noout",
            "-verify",
            "-crlnumber",
        ],
    );
    assert!(stderr(&out).contains("verify OK"), "{}", stderr(&out));
    assert!(
        common::stdout(&out).contains("crlNumber=0x02"),
        "{}",
        common::stdout(&out)
    );
    // The transcript on disk matches, and is never overwritten either.
    let again = igc(d, &["ceremony", "run", &f]);
    assert_eq!(again.status.code(), Some(1));
}

/// `init-token` with `existing_token` (a token initialised by the HSM's tool): a PIN file
/// others can read is refused before the HSM; a wrong first PIN is refused by the token and
/// writes nothing (no share, no PIN file, no transcript), and the token keeps its PIN.
#[test]
fn taking_over_a_token_with_the_wrong_first_pin_writes_nothing() {
    use std::os::unix::fs::PermissionsExt as _;
    let pki = DevPki::new();
    let d = pki.dir.path();
    let take_over = |pin_file: &str, extra: &str| {
        format!(
            "ceremony: init-token\ndescription: Take over the online token\n\
             operators: [alice, bob]\ntranscript: var/ceremonies/take-over.json\n{extra}\
             token_label: igc-online\nshares:\n  threshold: 2\n  custodians: [alice, bob, carol]\n  \
             output_dir: var/shares/take-over\nuser_pin_file: var/hsm/taken-over.pin\n\
             existing_token:\n  initial_pin_file: {pin_file}\n"
        )
    };
    std::fs::create_dir_all(d.join("var/shares/take-over")).unwrap();
    std::fs::write(d.join("open.pin"), "not-the-pin\n").unwrap();
    std::fs::set_permissions(d.join("open.pin"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let f = write(d, "open.yaml", &take_over("open.pin", NO_MODULE));
    refused(&pki, &f, "accessible to other users");

    std::fs::set_permissions(d.join("open.pin"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let f = write(d, "wrong.yaml", &take_over("open.pin", ""));
    let out = igc(d, &["ceremony", "run", &f]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("rejected the PIN (initial PIN"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_dir(d.join("var/shares/take-over"))
            .unwrap()
            .count(),
        0,
        "shares written"
    );
    assert!(!d.join("var/hsm/taken-over.pin").exists());
    assert!(!d.join("var/ceremonies/take-over.json").exists());
    // The online token still opens with its PIN: `igc hsm check`'s live test logs in.
    let out = igc(
        d,
        &[
            "hsm",
            "check",
            "--config",
            "var/igc.toml",
            "--pin-file",
            "var/hsm/online.pin",
            "--needs",
            "ec",
        ],
    );
    assert_success(&out, "igc hsm check after the refused take-over");
}

/// `igc dev-setup --module` where `var/igc.toml` names another module: the ceremonies would
/// put the keys where `igc serve` never looks. Refused before anything is made.
#[test]
fn dev_setup_refuses_a_module_the_configuration_does_not_name() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("var")).unwrap();
    std::fs::copy(
        common::repo().join("src/dev-igc.toml"),
        d.join("var/igc.toml"),
    )
    .unwrap();
    let out = igc(
        d,
        &[
            "dev-setup",
            "--ceremonies",
            common::dev_ceremonies().to_str().unwrap(),
            "--module",
            "/usr/lib/x86_64-linux-gnu/libsoftokn3.so",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("names the module /usr/lib/softhsm/libsofthsm2.so"),
        "{}",
        stderr(&out)
    );
    assert!(!d.join("var/ceremonies").exists(), "something was made");
}

/// A ceremony file whose `init_args` the module cannot take (NSS given garbage, or a string
/// with a NUL byte): a clear error naming the module, and nothing written.
#[test]
fn init_args_the_module_refuses_write_nothing() {
    let pki = DevPki::new();
    let d = pki.dir.path();
    std::fs::create_dir_all(d.join("var/shares/bad-args")).unwrap();
    for (name, args, expect) in [
        (
            "garbage",
            "\"configdir='sql:/nonexistent/db' tokens=<<<[[[\"",
            "Function::Initialize",
        ),
        ("nul", "\"configdir=\\0x\"", "NUL byte"),
    ] {
        let f = write(
            d,
            &format!("{name}.yaml"),
            &format!(
                "ceremony: init-token\ndescription: Bad module arguments\n\
                 operators: [alice, bob]\ntranscript: var/ceremonies/{name}.json\n\
                 module: /usr/lib/x86_64-linux-gnu/libsoftokn3.so\ninit_args: {args}\n\
                 token_label: igc-bad\nshares:\n  threshold: 2\n  custodians: [alice, bob, carol]\n  \
                 output_dir: var/shares/bad-args\n"
            ),
        );
        let out = igc(d, &["ceremony", "run", &f]);
        assert_eq!(out.status.code(), Some(1), "{name}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains(expect) && err.contains("libsoftokn3.so"),
            "{name}: expected {expect:?} in:\n{err}"
        );
        assert!(!d.join(format!("var/ceremonies/{name}.json")).exists());
    }
    assert_eq!(
        std::fs::read_dir(d.join("var/shares/bad-args"))
            .unwrap()
            .count(),
        0
    );
}
