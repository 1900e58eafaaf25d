//! Custodian share files travel on USB sticks: any bytes must give an error
//! or a share, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = hsm_config::ceremony::shares::ShareFile::parse(data);
});
