//! Fuzzes the bulk-import parser of the RA portal (CSV uploaded by clerks): a row count or a
//! French reason for refusing the file, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match ra_portal::check_import_csv(data) {
        Ok(rows) => assert!(rows > 0),
        Err(reason) => assert!(!reason.is_empty()),
    }
});
