//! Every `igc` subcommand starts by reading `igc.toml` through
//! `IgcConfig::parse`: any text must give a configuration or an error,
//! never a panic. Seeds: the development configuration `make run` writes.
//!
//! cargo +nightly fuzz run config   (from the repository root)
#![no_main]

#[allow(dead_code)]
#[path = "../../src/config.rs"]
mod config;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return; // read_to_string refuses it before parsing
    };
    if let Ok(cfg) = config::IgcConfig::parse(text, std::path::Path::new("/etc/igc")) {
        // Relative paths were resolved against the file's directory.
        assert!(cfg.pki.root_certificate.is_absolute());
        assert!(cfg.hsm.pin_file.is_absolute());
    }
});
