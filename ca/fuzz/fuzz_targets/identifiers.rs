//! Fuzzes the parsers of what clerks type or import: RPPS, ADELI, IdNat of professionals and
//! structures, FINESS/SIREN/SIRET, profession codes, revocation reasons, serials, the
//! revocation codes of lost cards (as typed), and the reference-data CSV loader. Each returns a value or an error, never panics, and what parses
//! prints back to something that parses to the same value.
#![no_main]

use ca::credentials::normalize_revocation_code;
use ca::domain::{
    Finess, IdNatPs, IdNatStruct, LossChannel, LossStatus, ProfessionCode, ProfessionTable,
    RevocationReason, Rpps, Serial, Siren, Siret,
};
use libfuzzer_sys::fuzz_target;

fn round_trip<T>(s: &str)
where
    T: std::str::FromStr + std::fmt::Display + PartialEq + std::fmt::Debug,
{
    if let Ok(v) = s.parse::<T>() {
        let again: T = v
            .to_string()
            .parse()
            .unwrap_or_else(|_| panic!("{v} does not parse back"));
        assert_eq!(again, v);
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    round_trip::<Rpps>(s);
    round_trip::<IdNatPs>(s);
    round_trip::<IdNatStruct>(s);
    round_trip::<Finess>(s);
    round_trip::<Siren>(s);
    round_trip::<Siret>(s);
    round_trip::<ProfessionCode>(s);
    round_trip::<RevocationReason>(s);
    round_trip::<Serial>(s);
    round_trip::<LossChannel>(s);
    round_trip::<LossStatus>(s);
    // A code as typed is read into its canonical form, which reads as itself.
    if let Some(code) = normalize_revocation_code(s) {
        assert_eq!(normalize_revocation_code(&code).as_deref(), Some(code.as_str()));
        assert_eq!(code.len(), 19);
    }
    let _ = ProfessionTable::from_csv_str("fuzz", s);
});
