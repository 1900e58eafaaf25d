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
    let cases: [(&str, &[u8], &str); 4] = [
        ("garbage", b"\x00\xff not toml [[[", "garbage.toml: stream did not contain valid UTF-8"),
        ("typo", b"[server]\nlisten = \"127.0.0.1:0\"\n[hsm]\ntoken_label = \"t\"\npin_file = \"p\"\ntokn = 1\n", "unknown field"),
        ("bad-url", b"[server]\n[hsm]\ntoken_label = \"t\"\npin_file = \"p\"\n[pki]\nroot_certificate = \"r\"\nroot_crl = \"c\"\n[database]\nurl = \"mysql://x\"\n", "database.url"),
        ("missing", b"", "missing field"),
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
    assert_eq!(left.len(), 4, "{left:?}");
}
