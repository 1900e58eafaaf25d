//! National identifiers of professionals and structures (DESIGN.md §4).
//!
//! Every identifier is a newtype that can only be built by parsing (`FromStr` / `TryFrom`),
//! so holding one means it was checked; `Display` gives back the canonical form.
//!
//! | identifier | format | check |
//! |---|---|---|
//! | RPPS | 11 digits | Luhn over the whole number (the 11th digit is the key) |
//! | ADELI | 9 characters: département (`NN`, `2A`/`2B`, `97x`/`98x`) then digits | format only |
//! | FINESS | 9 characters: département (`NN` or `2A`/`2B`) then 7 digits | 9th digit = Luhn key of the first 8 (see [`Finess`]) |
//! | SIREN | 9 digits | Luhn |
//! | SIRET | 14 digits = SIREN + NIC | Luhn; La Poste (SIREN 356000000): digit sum mod 5 |
//! | IdNat_PS | `8` + RPPS, `0` + ADELI | as the number |
//! | IdNat_Struct | `1` + FINESS, `3` + FINESS (registry), `4` + SIREN, `5` + SIRET | as the number |

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, IdKind, Result};

/// Checks that `s` has exactly `len` ASCII digits; returns their values.
fn ascii_digits(kind: IdKind, s: &str, len: usize) -> Result<Vec<u8>> {
    let found = s.chars().count();
    if found != len {
        return Err(Error::WrongLength {
            kind,
            expected: len,
            found,
        });
    }
    s.bytes()
        .enumerate()
        .map(|(i, b)| {
            if b.is_ascii_digit() {
                Ok(b - b'0')
            } else {
                Err(Error::NotDigits {
                    kind,
                    position: i + 1,
                })
            }
        })
        .collect()
}

/// Checks that `s` has `len` characters, all ASCII (a non-ASCII one is reported as a
/// non-digit, which it is).
fn check_ascii_len(kind: IdKind, s: &str, len: usize) -> Result<()> {
    let found = s.chars().count();
    if found != len {
        return Err(Error::WrongLength {
            kind,
            expected: len,
            found,
        });
    }
    match s.chars().position(|c| !c.is_ascii()) {
        Some(i) => Err(Error::NotDigits {
            kind,
            position: i + 1,
        }),
        None => Ok(()),
    }
}

/// The Luhn key that, appended to `payload`, makes the whole number Luhn-valid.
pub(crate) fn luhn_check_digit(payload: &[u8]) -> u8 {
    // Walking from the right, the first payload digit is doubled (the key will sit to its right).
    let sum: u32 = payload
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    // `sum % 10` is below 10, so the key fits in a u8.
    ((10 - sum % 10) % 10) as u8
}

/// Checks the Luhn key in the last position of `digits`.
fn check_luhn(kind: IdKind, digits: &[u8]) -> Result<()> {
    let Some((&found, payload)) = digits.split_last() else {
        return Err(Error::WrongLength {
            kind,
            expected: 1,
            found: 0,
        });
    };
    let expected = luhn_check_digit(payload);
    if expected == found {
        Ok(())
    } else {
        Err(Error::BadCheckDigit {
            kind,
            expected: digit_char(expected),
            found: digit_char(found),
        })
    }
}

fn digit_char(d: u8) -> char {
    char::from(b'0' + d % 10)
}

// ---------------------------------------------------------------------------------------------

/// A French département code: `01`–`95` (without `20`), `2A`/`2B` (Corse), `971`–`978`
/// (overseas départements and collectivities) or `984`–`988` (TAAF, Wallis-et-Futuna,
/// Polynésie française, Nouvelle-Calédonie).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Departement(String);
string_newtype!(Departement);

impl Departement {
    fn is_valid(s: &str) -> bool {
        match s.as_bytes() {
            [b'2', b'A' | b'B'] => true,
            [a, b] if a.is_ascii_digit() && b.is_ascii_digit() => {
                let n = (a - b'0') * 10 + (b - b'0');
                (1..=95).contains(&n) && n != 20
            }
            [b'9', b'7', c] => (b'1'..=b'8').contains(c),
            [b'9', b'8', c] => (b'4'..=b'8').contains(c),
            _ => false,
        }
    }

    /// Length of the département code at the start of an ADELI number.
    fn prefix_len(s: &str) -> usize {
        if s.starts_with("97") || s.starts_with("98") {
            3
        } else {
            2
        }
    }
}

impl FromStr for Departement {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim().to_ascii_uppercase();
        if Self::is_valid(&s) {
            Ok(Departement(s))
        } else {
            Err(Error::BadDepartement {
                kind: IdKind::Departement,
                found: s,
            })
        }
    }
}

/// RPPS number: 11 digits, the last one a Luhn key over the whole number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Rpps(String);
string_newtype!(Rpps);

impl FromStr for Rpps {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let digits = ascii_digits(IdKind::Rpps, s, 11)?;
        check_luhn(IdKind::Rpps, &digits)?;
        Ok(Rpps(s.to_owned()))
    }
}

/// ADELI number (legacy directory): 9 characters, starting with the département code of
/// registration (`NN`, `2A`/`2B`, or `97x`/`98x` overseas), the rest digits. ADELI has no
/// check digit that we enforce: only the format is checked.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Adeli(String);
string_newtype!(Adeli);

impl Adeli {
    /// The département of registration.
    pub fn departement(&self) -> Departement {
        let n = Departement::prefix_len(&self.0);
        Departement(self.0[..n].to_owned())
    }
}

impl FromStr for Adeli {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let s = s.to_ascii_uppercase();
        check_ascii_len(IdKind::Adeli, &s, 9)?;
        let n = Departement::prefix_len(&s);
        let (dep, rest) = s.split_at(n);
        if !Departement::is_valid(dep) {
            return Err(Error::BadDepartement {
                kind: IdKind::Adeli,
                found: dep.to_owned(),
            });
        }
        if let Some(i) = rest.bytes().position(|b| !b.is_ascii_digit()) {
            return Err(Error::NotDigits {
                kind: IdKind::Adeli,
                position: n + i + 1,
            });
        }
        Ok(Adeli(s))
    }
}

/// FINESS number (établissement): 9 characters. The first two give the département (two
/// digits, or `2A`/`2B` for Corse), the next six are digits, and the 9th character is a check
/// digit: the Luhn key computed over the first eight characters.
///
/// For the Corsican prefixes the letter is read as `0` for the key computation (`2A…` and
/// `2B…` are keyed as `20…`, the pre-1976 code of Corse). That is this project's documented
/// convention; adjust `finess_key_digits` if the registry's published rule differs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Finess(String);
string_newtype!(Finess);

/// The digits the FINESS key is computed over (first eight characters, `A`/`B` read as 0).
fn finess_key_digits(s: &str) -> Vec<u8> {
    s.bytes()
        .take(8)
        .map(|b| if b.is_ascii_digit() { b - b'0' } else { 0 })
        .collect()
}

impl FromStr for Finess {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let kind = IdKind::Finess;
        let s = s.to_ascii_uppercase();
        check_ascii_len(kind, &s, 9)?;
        let b = s.as_bytes();
        let corse = b[0] == b'2' && (b[1] == b'A' || b[1] == b'B');
        let start = if corse { 2 } else { 0 };
        if let Some(i) = b[start..].iter().position(|c| !c.is_ascii_digit()) {
            return Err(Error::NotDigits {
                kind,
                position: start + i + 1,
            });
        }
        let expected = luhn_check_digit(&finess_key_digits(&s));
        let found = b[8] - b'0';
        if expected != found {
            return Err(Error::BadCheckDigit {
                kind,
                expected: digit_char(expected),
                found: digit_char(found),
            });
        }
        Ok(Finess(s))
    }
}

/// SIREN number (legal unit): 9 digits, Luhn.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Siren(String);
string_newtype!(Siren);

impl FromStr for Siren {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let digits = ascii_digits(IdKind::Siren, s, 9)?;
        check_luhn(IdKind::Siren, &digits)?;
        Ok(Siren(s.to_owned()))
    }
}

/// SIREN of La Poste, whose establishments' SIRETs are keyed differently…
const LA_POSTE_SIREN: &str = "356000000";
/// …except the head office, whose SIRET follows the general (Luhn) rule.
const LA_POSTE_HEAD_OFFICE_SIRET: &str = "35600000000048";

/// SIRET number (establishment): 14 digits, the SIREN followed by the NIC. Luhn over the
/// 14 digits, except for La Poste (SIREN 356000000) whose SIRETs satisfy instead
/// "sum of the 14 digits is a multiple of 5" — all but the head office 356 000 000 00048,
/// which is Luhn-keyed like any other SIRET.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Siret(String);
string_newtype!(Siret);

impl Siret {
    /// The SIREN of the legal unit this establishment belongs to.
    pub fn siren(&self) -> Siren {
        Siren(self.0[..9].to_owned())
    }
}

impl FromStr for Siret {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let kind = IdKind::Siret;
        let digits = ascii_digits(kind, s, 14)?;
        let siren: Siren = s[..9].parse()?;
        if siren.as_str() == LA_POSTE_SIREN && s != LA_POSTE_HEAD_OFFICE_SIRET {
            let payload: u32 = digits[..13].iter().map(|&d| u32::from(d)).sum();
            let found = digits[13];
            if !(payload + u32::from(found)).is_multiple_of(5) {
                // Smallest key that satisfies the rule (key + 5 would too).
                let expected = ((5 - payload % 5) % 5) as u8;
                return Err(Error::BadCheckDigit {
                    kind,
                    expected: digit_char(expected),
                    found: digit_char(found),
                });
            }
        } else {
            check_luhn(kind, &digits)?;
        }
        Ok(Siret(s.to_owned()))
    }
}

// ---------------------------------------------------------------------------------------------

/// The text plumbing of an IdNat enum with `prefix()` and `number()`: `Display` (prefix then
/// number, the canonical form), `From<T> for String` and `TryFrom<String>` (for serde).
macro_rules! prefixed_id {
    ($t:ident) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}{}", self.prefix(), self.number())
            }
        }

        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.to_string()
            }
        }

        impl TryFrom<String> for $t {
            type Error = Error;
            fn try_from(s: String) -> Result<Self> {
                s.parse()
            }
        }
    };
}

/// National identifier of a health professional (IdNat_PS): type prefix + number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum IdNatPs {
    /// `8` + RPPS (12 characters).
    Rpps(Rpps),
    /// `0` + ADELI (10 characters).
    Adeli(Adeli),
}

impl IdNatPs {
    pub fn rpps(&self) -> Option<&Rpps> {
        match self {
            IdNatPs::Rpps(r) => Some(r),
            IdNatPs::Adeli(_) => None,
        }
    }

    pub fn adeli(&self) -> Option<&Adeli> {
        match self {
            IdNatPs::Adeli(a) => Some(a),
            IdNatPs::Rpps(_) => None,
        }
    }

    /// The type prefix: `8` for RPPS, `0` for ADELI.
    pub fn prefix(&self) -> char {
        match self {
            IdNatPs::Rpps(_) => '8',
            IdNatPs::Adeli(_) => '0',
        }
    }

    /// The number after the prefix.
    pub fn number(&self) -> &str {
        match self {
            IdNatPs::Rpps(r) => r.as_str(),
            IdNatPs::Adeli(a) => a.as_str(),
        }
    }
}

impl From<Rpps> for IdNatPs {
    fn from(r: Rpps) -> Self {
        IdNatPs::Rpps(r)
    }
}

impl From<Adeli> for IdNatPs {
    fn from(a: Adeli) -> Self {
        IdNatPs::Adeli(a)
    }
}

/// Splits off the one-character type prefix and checks the total length.
fn split_prefix(
    kind: IdKind,
    s: &str,
    shortest: usize,
    expected: impl Fn(char) -> Option<usize>,
) -> Result<(char, &str)> {
    let mut chars = s.chars();
    let Some(prefix) = chars.next() else {
        return Err(Error::WrongLength {
            kind,
            expected: shortest,
            found: 0,
        });
    };
    let Some(len) = expected(prefix) else {
        return Err(Error::UnknownPrefix {
            kind,
            found: prefix.to_string(),
        });
    };
    let found = s.chars().count();
    if found != len {
        return Err(Error::WrongLength {
            kind,
            expected: len,
            found,
        });
    }
    Ok((prefix, chars.as_str()))
}

prefixed_id!(IdNatPs);

impl FromStr for IdNatPs {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let (prefix, rest) = split_prefix(IdKind::IdNatPs, s, 10, |p| match p {
            '8' => Some(12),
            '0' => Some(10),
            _ => None,
        })?;
        match prefix {
            '8' => Ok(IdNatPs::Rpps(rest.parse()?)),
            _ => Ok(IdNatPs::Adeli(rest.parse()?)),
        }
    }
}

/// National identifier of a structure (IdNat_Struct): type prefix + number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum IdNatStruct {
    /// `1` + FINESS.
    Finess(Finess),
    /// `3` + a FINESS-format registry number (same format and key as prefix `1`).
    Registry(Finess),
    /// `4` + SIREN.
    Siren(Siren),
    /// `5` + SIRET.
    Siret(Siret),
}

impl IdNatStruct {
    pub fn prefix(&self) -> char {
        match self {
            IdNatStruct::Finess(_) => '1',
            IdNatStruct::Registry(_) => '3',
            IdNatStruct::Siren(_) => '4',
            IdNatStruct::Siret(_) => '5',
        }
    }

    pub fn number(&self) -> &str {
        match self {
            IdNatStruct::Finess(f) | IdNatStruct::Registry(f) => f.as_str(),
            IdNatStruct::Siren(s) => s.as_str(),
            IdNatStruct::Siret(s) => s.as_str(),
        }
    }
}

prefixed_id!(IdNatStruct);

impl FromStr for IdNatStruct {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let (prefix, rest) = split_prefix(IdKind::IdNatStruct, s, 10, |p| match p {
            '1' | '3' | '4' => Some(10),
            '5' => Some(15),
            _ => None,
        })?;
        match prefix {
            '1' => Ok(IdNatStruct::Finess(rest.parse()?)),
            '3' => Ok(IdNatStruct::Registry(rest.parse()?)),
            '4' => Ok(IdNatStruct::Siren(rest.parse()?)),
            _ => Ok(IdNatStruct::Siret(rest.parse()?)),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    /// Appends the Luhn key to a digit string.
    fn with_luhn(payload: &str) -> String {
        let d: Vec<u8> = payload.bytes().map(|b| b - b'0').collect();
        format!("{payload}{}", luhn_check_digit(&d))
    }

    #[test]
    fn luhn_reference_values() {
        // Classic published example: 7992739871 has key 3.
        assert_eq!(with_luhn("7992739871"), "79927398713");
        // SIREN of a well-known company (and example of INSEE's own documentation).
        assert_eq!(with_luhn("73282932"), "732829320");
    }

    #[test]
    fn rpps_valid() {
        // Computed: Luhn key of 1000000000 is 9; 1001234567 -> 3; 1010010203 -> 6.
        for s in ["10000000009", "10012345673", "10100102036"] {
            assert_eq!(with_luhn(&s[..10]), s);
            let r: Rpps = s.parse().unwrap();
            assert_eq!(r.to_string(), s);
        }
    }

    #[test]
    fn rpps_invalid() {
        assert!(matches!(
            "10000000008".parse::<Rpps>(),
            Err(Error::BadCheckDigit {
                kind: IdKind::Rpps,
                expected: '9',
                found: '8'
            })
        ));
        assert!(matches!(
            "1000000000".parse::<Rpps>(),
            Err(Error::WrongLength {
                kind: IdKind::Rpps,
                expected: 11,
                found: 10
            })
        ));
        assert!(matches!(
            "10000a00009".parse::<Rpps>(),
            Err(Error::NotDigits {
                kind: IdKind::Rpps,
                position: 6
            })
        ));
        assert!(matches!(
            "１0000000009".parse::<Rpps>(),
            Err(Error::NotDigits {
                kind: IdKind::Rpps,
                ..
            })
        ));
    }

    #[test]
    fn adeli() {
        for s in [
            "751234567",
            "2A1234567",
            "2b1234567",
            "971234567",
            "987654321",
            "011000001",
        ] {
            let a: Adeli = s.parse().unwrap();
            assert_eq!(a.as_str(), s.to_ascii_uppercase());
        }
        let a: Adeli = "971234567".parse().unwrap();
        assert_eq!(a.departement().as_str(), "971");
        let a: Adeli = "2B1234567".parse().unwrap();
        assert_eq!(a.departement().as_str(), "2B");
        assert!(matches!(
            "001234567".parse::<Adeli>(),
            Err(Error::BadDepartement { .. })
        ));
        assert!(matches!(
            "201234567".parse::<Adeli>(),
            Err(Error::BadDepartement { .. })
        ));
        assert!(matches!(
            "979234567".parse::<Adeli>(),
            Err(Error::BadDepartement { .. })
        ));
        assert!(matches!(
            "2C1234567".parse::<Adeli>(),
            Err(Error::BadDepartement { .. })
        ));
        assert!(matches!(
            "75123456".parse::<Adeli>(),
            Err(Error::WrongLength {
                kind: IdKind::Adeli,
                expected: 9,
                found: 8
            })
        ));
        assert!(matches!(
            "75123X567".parse::<Adeli>(),
            Err(Error::NotDigits {
                kind: IdKind::Adeli,
                position: 6
            })
        ));
    }

    #[test]
    fn departement() {
        for s in ["01", "2A", "2B", "75", "95", "971", "976", "988"] {
            assert_eq!(s.parse::<Departement>().unwrap().as_str(), s);
        }
        for s in ["00", "20", "96", "970", "979", "983", "2C", "7", "7500"] {
            assert!(s.parse::<Departement>().is_err(), "{s}");
        }
    }

    #[test]
    fn finess() {
        // 75000001 -> Luhn key 0; 13078005 -> 9; 2A000001 keyed as 20000001 -> 6.
        for (s, ok) in [
            ("750000010", true),
            ("130780059", true),
            ("2A0000016", true),
            ("2b0000016", true),
            ("750000018", false),
            ("2A0000014", false),
        ] {
            assert_eq!(s.parse::<Finess>().is_ok(), ok, "{s}");
        }
        assert!(matches!(
            "750000018".parse::<Finess>(),
            Err(Error::BadCheckDigit {
                kind: IdKind::Finess,
                expected: '0',
                found: '8'
            })
        ));
        assert!(matches!(
            "7500X0010".parse::<Finess>(),
            Err(Error::NotDigits {
                kind: IdKind::Finess,
                position: 5
            })
        ));
        assert!(matches!(
            "2C0000016".parse::<Finess>(),
            Err(Error::NotDigits {
                kind: IdKind::Finess,
                position: 2
            })
        ));
    }

    #[test]
    fn siren_siret() {
        assert!("732829320".parse::<Siren>().is_ok());
        assert!(matches!(
            "732829321".parse::<Siren>(),
            Err(Error::BadCheckDigit {
                kind: IdKind::Siren,
                expected: '0',
                found: '1'
            })
        ));
        // 732 829 320 00074: the example of the INSEE documentation.
        let s: Siret = "73282932000074".parse().unwrap();
        assert_eq!(s.siren().as_str(), "732829320");
        assert!(matches!(
            "73282932000075".parse::<Siret>(),
            Err(Error::BadCheckDigit {
                kind: IdKind::Siret,
                ..
            })
        ));
        assert!(matches!(
            "7328293200007".parse::<Siret>(),
            Err(Error::WrongLength {
                kind: IdKind::Siret,
                expected: 14,
                found: 13
            })
        ));
    }

    #[test]
    fn la_poste_siret() {
        // La Poste SIRETs: digit sum multiple of 5, Luhn need not hold.
        // 3+5+6 = 14; 356000000 0001 x: 14 + 1 + x ≡ 0 (mod 5) -> x = 0 or 5.
        assert!("35600000000010".parse::<Siret>().is_ok());
        assert!("35600000000015".parse::<Siret>().is_ok());
        // 35600000000015 is not Luhn-valid: the special rule is what accepts it.
        let d: Vec<u8> = "3560000000001".bytes().map(|b| b - b'0').collect();
        assert_ne!(luhn_check_digit(&d), 5);
        // The head office is the exception: Luhn-keyed, digit sum 26.
        assert!("35600000000048".parse::<Siret>().is_ok());
        assert!("35600000000049".parse::<Siret>().is_err());
        assert!(matches!(
            "35600000000011".parse::<Siret>(),
            Err(Error::BadCheckDigit {
                kind: IdKind::Siret,
                expected: '0',
                found: '1'
            })
        ));
    }

    #[test]
    fn idnat_ps() {
        let i: IdNatPs = "810000000009".parse().unwrap();
        assert_eq!(i.rpps().unwrap().as_str(), "10000000009");
        assert_eq!(i.to_string(), "810000000009");
        let i: IdNatPs = "0751234567".parse().unwrap();
        assert_eq!(i.adeli().unwrap().as_str(), "751234567");
        assert_eq!(i.to_string(), "0751234567");
        assert!(matches!(
            "810000000008".parse::<IdNatPs>(),
            Err(Error::BadCheckDigit {
                kind: IdKind::Rpps,
                ..
            })
        ));
        assert!(matches!(
            "81000000000".parse::<IdNatPs>(),
            Err(Error::WrongLength {
                kind: IdKind::IdNatPs,
                expected: 12,
                found: 11
            })
        ));
        assert!(matches!(
            "910000000009".parse::<IdNatPs>(),
            Err(Error::UnknownPrefix {
                kind: IdKind::IdNatPs,
                ..
            })
        ));
        assert!(matches!(
            "".parse::<IdNatPs>(),
            Err(Error::WrongLength {
                kind: IdKind::IdNatPs,
                found: 0,
                ..
            })
        ));
        let json = serde_json::to_string(&i).unwrap();
        assert_eq!(json, "\"0751234567\"");
        let back: IdNatPs = serde_json::from_str(&json).unwrap();
        assert_eq!(back, i);
        assert!(serde_json::from_str::<IdNatPs>("\"0001234567\"").is_err());
    }

    #[test]
    fn idnat_struct() {
        for s in ["1750000010", "3750000010", "4732829320", "573282932000074"] {
            let i: IdNatStruct = s.parse().unwrap();
            assert_eq!(i.to_string(), s);
        }
        assert!(matches!(
            "2750000010".parse::<IdNatStruct>(),
            Err(Error::UnknownPrefix { .. })
        ));
        assert!(matches!(
            "57328293200007".parse::<IdNatStruct>(),
            Err(Error::WrongLength {
                kind: IdKind::IdNatStruct,
                expected: 15,
                ..
            })
        ));
        assert!(matches!(
            "1750000018".parse::<IdNatStruct>(),
            Err(Error::BadCheckDigit {
                kind: IdKind::Finess,
                ..
            })
        ));
    }
}
