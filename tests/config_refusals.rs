//! A broken `igc.toml` is refused with a message naming the problem, and
//! nothing is started or written.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{igc, stderr};

#[test]
fn garbage_and_unknown_fields_in_the_configuration_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("var")).unwrap();
    // A TSA section that parses, for the recorder cases below.
    let tsa = "[server]\n[hsm]\ntoken_label = \"t\"\npin_file = \"p\"\n[pki]\nroot_certificate = \"r\"\nroot_crl = \"c\"\n[database]\nurl = \"sqlite://x.db?mode=rwc\"\n[tsa]\npolicy = \"1.3.6.1.5.5.7.13.8\"\ninstance_id = 1\nkey_label = \"tsa\"\ncertificate = \"tsa.pem\"\n[tsa.clock]\nservers = [\"127.0.0.1:1230\", \"127.0.0.2\"]\n[tsa.recorder]\n";
    let linger_too_long = format!("{tsa}linger_ms = 1000\n");
    let linger_garbage = format!("{tsa}linger_ms = \"soon\"\n");
    let threads_alone = tsa.replace("[tsa.clock]", "listen_threads = 2\n[tsa.clock]");
    let listen_garbage = tsa.replace("[tsa.clock]", "listen = \"tsa.example:80\"\n[tsa.clock]");
    let cases: [(&str, &[u8], &str); 8] = [
        ("garbage", b"\x00\xff not toml [[[", "garbage.toml: stream did not contain valid UTF-8"),
        ("typo", b"[server]\nlisten = \"127.0.0.1:0\"\n[hsm]\ntoken_label = \"t\"\npin_file = \"p\"\ntokn = 1\n", "unknown field"),
        ("bad-url", b"[server]\n[hsm]\ntoken_label = \"t\"\npin_file = \"p\"\n[pki]\nroot_certificate = \"r\"\nroot_crl = \"c\"\n[database]\nurl = \"mysql://x\"\n", "database.url"),
        ("missing", b"", "missing field"),
        ("linger", linger_too_long.as_bytes(), "tsa.recorder.linger_ms must be less than max_lag_ms"),
        ("linger-garbage", linger_garbage.as_bytes(), "linger_ms"),
        ("listener-threads", threads_alone.as_bytes(), "tsa.listen_threads is set but tsa.listen is not"),
        ("listener-address", listen_garbage.as_bytes(), "invalid socket address"),
    ];
    for (name, text, expect) in cases {
        let path = d.join(format!("var/{name}.toml"));
        std::fs::write(&path, text).unwrap();
        for args in [
            vec![
                "serve",
                "--config",
                path.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
            ],
            vec!["audit", "verify", "--config", path.to_str().unwrap()],
        ] {
            let out = igc(d, &args);
            assert_eq!(out.status.code(), Some(1), "{name}: {}", stderr(&out));
            assert!(
                stderr(&out).contains(expect),
                "{name}: expected {expect:?} in {}",
                stderr(&out)
            );
        }
    }
    // Nothing was created beside the configuration files.
    let mut left: Vec<_> = std::fs::read_dir(d.join("var"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    left.sort();
    assert_eq!(left.len(), cases.len(), "{left:?}");
}

/// `--tsa-listen` is applied before the configuration is validated: a file that sets
/// `tsa.listen_threads` and leaves the address to the command line is accepted (the run then
/// stops further on, at the certificates this test does not provide).
#[test]
fn command_line_addresses_complete_the_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("var")).unwrap();
    let path = d.join("var/threads.toml");
    std::fs::write(
        &path,
        "[server]\n[hsm]\ntoken_label = \"t\"\npin_file = \"p\"\n[pki]\nroot_certificate = \"r\"\nroot_crl = \"c\"\n[database]\nurl = \"sqlite://x.db?mode=rwc\"\n[tsa]\npolicy = \"1.3.6.1.5.5.7.13.8\"\ninstance_id = 1\nkey_label = \"tsa\"\ncertificate = \"tsa.pem\"\nlisten_threads = 2\n[tsa.clock]\nservers = [\"127.0.0.1:1230\", \"127.0.0.2\"]\n",
    )
    .unwrap();
    let config = path.to_str().unwrap();
    let serve = |extra: &[&str]| {
        let mut args = vec!["serve", "--config", config, "--listen", "127.0.0.1:0"];
        args.extend(extra);
        igc(d, &args)
    };
    let alone = serve(&[]);
    assert_eq!(alone.status.code(), Some(1));
    assert!(
        stderr(&alone).contains("tsa.listen_threads is set but tsa.listen is not"),
        "{}",
        stderr(&alone)
    );
    let completed = serve(&["--tsa-listen", "127.0.0.1:0"]);
    assert_eq!(completed.status.code(), Some(1));
    let text = stderr(&completed);
    assert!(!text.contains("listen_threads"), "{text}");
    assert!(
        text.contains("reading ") && text.contains("var/r"),
        "{text}"
    );
}
