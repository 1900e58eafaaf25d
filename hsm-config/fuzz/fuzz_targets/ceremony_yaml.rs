//! Ceremony files come from people: parsing any bytes must return an error
//! or a ceremony, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = hsm_config::ceremony::Ceremony::parse(std::path::Path::new("fuzz.yaml"), data);
});
