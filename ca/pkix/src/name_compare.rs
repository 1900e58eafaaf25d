//! Distinguished names compared as RFC 5280 §7.1 asks ("conforming implementations MUST use
//! the LDAP StringPrep profile … when comparing distinguished names"): string values of any
//! directory string type prepared (RFC 4518 mapping, case folded, white space collapsed and
//! trimmed), other values compared as DER, multi-valued RDNs as sets. Used to chain issuer and
//! subject names and by name constraints on directoryName.
//!
//! Unicode normalisation (NFKC) is not done: names that differ only in normal form compare
//! unequal.

use der::{Encode, Tag, Tagged};
use spki::ObjectIdentifier;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::name::Name;

/// One attribute of an RDN, prepared for comparison.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PreparedAttribute {
    pub attribute: ObjectIdentifier,
    pub value: PreparedValue,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum PreparedValue {
    /// A string type, prepared (RFC 4518 subset): whatever its ASN.1 string type.
    Text(String),
    /// Any other type: its DER, compared exactly.
    Der(Vec<u8>),
}

/// An RDN's attributes sorted, so that a multi-valued RDN compares as a set.
pub type PreparedRdn = Vec<PreparedAttribute>;

/// RFC 4518 §2.2 mapping: characters mapped to nothing (soft hyphens, joiners, variation
/// selectors, format controls), so that such a character slipped into a value does not make it
/// differ from an excluded one.
fn maps_to_nothing(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{06DD}' | '\u{070F}' | '\u{1806}'
        | '\u{180B}'..='\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}' | '\u{FE00}'..='\u{FE0F}'
        | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFC}' | '\u{E0001}' | '\u{E0020}'..='\u{E007F}')
        || (c.is_control() && !c.is_whitespace())
}

/// RFC 5280 §7.1 preparation as far as std allows: mapping (above), white space to one space,
/// lower case, leading and trailing space removed. Unicode normalisation (NFKC) is not done.
fn prepare_text(text: &str) -> String {
    let mut prepared = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.chars().filter(|c| !maps_to_nothing(*c)) {
        if c.is_whitespace() {
            pending_space = !prepared.is_empty();
            continue;
        }
        if pending_space {
            prepared.push(' ');
            pending_space = false;
        }
        prepared.extend(c.to_lowercase());
    }
    prepared
}

/// The text of a directory string value, or `None` for a type that is not a string.
pub fn directory_string_text(tag: Tag, bytes: &[u8]) -> Option<Result<String, String>> {
    let ascii = |name: &str| {
        if bytes.is_ascii() {
            // ASCII is valid UTF-8.
            Ok(String::from_utf8_lossy(bytes).into_owned())
        } else {
            Err(format!("a {name} that is not ASCII"))
        }
    };
    Some(match tag {
        Tag::Utf8String => std::str::from_utf8(bytes)
            .map(str::to_string)
            .map_err(|_| "a UTF8String that is not UTF-8".to_string()),
        Tag::PrintableString => ascii("PrintableString"),
        Tag::Ia5String => ascii("IA5String"),
        Tag::VisibleString => ascii("VisibleString"),
        Tag::NumericString => ascii("NumericString"),
        // Read as Latin-1, as most implementations do, so that it compares with the same text
        // in another string type.
        Tag::TeletexString => Ok(bytes.iter().map(|&b| char::from(b)).collect()),
        Tag::BmpString => {
            if !bytes.len().is_multiple_of(2) {
                Err("a BMPString of odd length".to_string())
            } else {
                let units = bytes
                    .chunks_exact(2)
                    .map(|pair| u16::from_be_bytes([pair[0], pair[1]]));
                char::decode_utf16(units)
                    .collect::<Result<String, _>>()
                    .map_err(|_| "a BMPString that is not UTF-16".to_string())
            }
        }
        _ => return None,
    })
}

fn prepare_attribute(attribute: &AttributeTypeAndValue) -> Result<PreparedAttribute, String> {
    let tag = attribute.value.tag();
    let value = match directory_string_text(tag, attribute.value.value()) {
        Some(Ok(text)) => PreparedValue::Text(prepare_text(&text)),
        Some(Err(why)) => return Err(format!("its attribute {} is {why}", attribute.oid)),
        None => PreparedValue::Der(
            attribute
                .value
                .to_der()
                .map_err(|e| format!("its attribute {} cannot be encoded: {e}", attribute.oid))?,
        ),
    };
    Ok(PreparedAttribute {
        attribute: attribute.oid,
        value,
    })
}

pub fn prepare_name(name: &Name) -> Result<Vec<PreparedRdn>, String> {
    name.0
        .iter()
        .map(|rdn| {
            let mut attributes = rdn
                .0
                .iter()
                .map(prepare_attribute)
                .collect::<Result<Vec<_>, _>>()?;
            attributes.sort();
            Ok(attributes)
        })
        .collect()
}

/// Whether `a` and `b` are the same distinguished name per RFC 5280 §7.1 (equal encodings
/// first, then prepared values). A name with a malformed string value matches only itself.
pub fn names_equivalent(a: &Name, b: &Name) -> bool {
    a == b
        || match (prepare_name(a), prepare_name(b)) {
            (Ok(x), Ok(y)) => x == y,
            _ => false,
        }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use core::str::FromStr;
    use der::asn1::Any;
    use der::asn1::{PrintableStringRef, Utf8StringRef};

    fn one(oid: ObjectIdentifier, value: Any) -> Name {
        let atv = AttributeTypeAndValue { oid, value };
        let rdn = x509_cert::name::RelativeDistinguishedName(
            der::asn1::SetOfVec::try_from(vec![atv]).unwrap(),
        );
        x509_cert::name::RdnSequence(vec![rdn])
    }

    #[test]
    fn case_space_and_string_type_do_not_make_names_differ() {
        let cn = const_oid::db::rfc4519::CN;
        let a = one(cn, Any::from(Utf8StringRef::new("AC  Personnes ").unwrap()));
        let b = one(
            cn,
            Any::from(PrintableStringRef::new("ac personnes").unwrap()),
        );
        assert!(names_equivalent(&a, &b));
        let c = one(cn, Any::from(Utf8StringRef::new("AC Personne").unwrap()));
        assert!(!names_equivalent(&a, &c));
        assert!(names_equivalent(
            &Name::from_str("CN=x").unwrap(),
            &Name::from_str("CN=X").unwrap()
        ));
    }
}
