//! Typed distinguished names.
//!
//! [`DnBuilder`] collects RDNs in encoding order (most significant first, `C` first) and
//! validates them when [`DnBuilder::build`] produces an `x509_cert::name::Name`:
//! `C` is always a PrintableString of two upper-case letters, `serialNumber` a
//! PrintableString, everything else a UTF8String; values are non-empty, without control
//! characters or surrounding spaces, and within the RFC 5280 upper bounds.
//!
//! The string syntax (for ceremony YAML, `subject: "C=FR, O=…, CN=…"`) lists RDNs **in
//! encoding order** (like OpenSSL's `-subj /C=FR/O=…`), *not* in the reversed RFC 4514
//! order: `C=FR, O=Ordre des médecins, title=Médecin, CN=810001234567+SN=DUPONT+GN=Jean`.
//! RDNs are separated by `,`, the attributes of a multi-valued RDN by `+`; a backslash
//! escapes the next character (`\,`, `\+`, `\\`); spaces around keys and values are ignored.
//! Keys (case-insensitive): C, ST, L, O, OU, CN, SN, GN (or givenName), title, serialNumber,
//! organizationIdentifier.

use core::fmt;
use core::str::FromStr;

use const_oid::db::rfc4519;
use der::asn1::{Any, PrintableStringRef, SetOfVec, Utf8StringRef};
use der::{Encode, Tag, Tagged};
use spki::ObjectIdentifier;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};

use super::X509Error;

/// RFC 5280 Appendix A `ub-name` (surname, givenName).
const UB_NAME: usize = 32768;

/// The attribute types a DN may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Attr {
    /// countryName (2.5.4.6), PrintableString, two letters.
    Country,
    /// stateOrProvinceName (2.5.4.8).
    State,
    /// localityName (2.5.4.7).
    Locality,
    /// organizationName (2.5.4.10).
    Organization,
    /// organizationalUnitName (2.5.4.11).
    OrganizationalUnit,
    /// title (2.5.4.12).
    Title,
    /// commonName (2.5.4.3).
    CommonName,
    /// surname (2.5.4.4).
    Surname,
    /// givenName (2.5.4.42).
    GivenName,
    /// serialNumber (2.5.4.5), PrintableString.
    SerialNumber,
    /// organizationIdentifier (2.5.4.97).
    OrganizationIdentifier,
}

impl Attr {
    /// All attribute types, in no particular order.
    pub const ALL: [Attr; 11] = [
        Attr::Country,
        Attr::State,
        Attr::Locality,
        Attr::Organization,
        Attr::OrganizationalUnit,
        Attr::Title,
        Attr::CommonName,
        Attr::Surname,
        Attr::GivenName,
        Attr::SerialNumber,
        Attr::OrganizationIdentifier,
    ];

    /// The attribute type OID.
    pub const fn oid(self) -> ObjectIdentifier {
        match self {
            Attr::Country => rfc4519::COUNTRY_NAME,
            Attr::State => rfc4519::ST,
            Attr::Locality => rfc4519::LOCALITY_NAME,
            Attr::Organization => rfc4519::ORGANIZATION_NAME,
            Attr::OrganizationalUnit => rfc4519::ORGANIZATIONAL_UNIT_NAME,
            Attr::Title => rfc4519::TITLE,
            Attr::CommonName => rfc4519::COMMON_NAME,
            Attr::Surname => rfc4519::SURNAME,
            Attr::GivenName => rfc4519::GIVEN_NAME,
            Attr::SerialNumber => rfc4519::SERIAL_NUMBER,
            Attr::OrganizationIdentifier => crate::oid::ORGANIZATION_IDENTIFIER,
        }
    }

    /// The key used in DN strings.
    pub const fn key(self) -> &'static str {
        match self {
            Attr::Country => "C",
            Attr::State => "ST",
            Attr::Locality => "L",
            Attr::Organization => "O",
            Attr::OrganizationalUnit => "OU",
            Attr::Title => "title",
            Attr::CommonName => "CN",
            Attr::Surname => "SN",
            Attr::GivenName => "GN",
            Attr::SerialNumber => "serialNumber",
            Attr::OrganizationIdentifier => "organizationIdentifier",
        }
    }

    /// Upper bound on the value length in characters (RFC 5280 Appendix A; X.520 leaves
    /// organizationIdentifier unbounded, we cap it at ub-name).
    pub const fn upper_bound(self) -> usize {
        match self {
            Attr::Country => 2,
            Attr::State | Attr::Locality => 128,
            Attr::Organization
            | Attr::OrganizationalUnit
            | Attr::Title
            | Attr::CommonName
            | Attr::SerialNumber => 64,
            Attr::Surname | Attr::GivenName | Attr::OrganizationIdentifier => UB_NAME,
        }
    }

    /// Whether the value is encoded as a PrintableString (otherwise UTF8String).
    pub const fn is_printable_string(self) -> bool {
        matches!(self, Attr::Country | Attr::SerialNumber)
    }

    /// Looks up a DN string key (case-insensitive).
    pub fn from_key(key: &str) -> Option<Attr> {
        let key = key.trim();
        if key.eq_ignore_ascii_case("givenName") {
            return Some(Attr::GivenName);
        }
        Attr::ALL
            .into_iter()
            .find(|a| a.key().eq_ignore_ascii_case(key))
    }

    /// Looks up an attribute type OID.
    pub fn from_oid(oid: &ObjectIdentifier) -> Option<Attr> {
        Attr::ALL.into_iter().find(|a| a.oid() == *oid)
    }
}

impl fmt::Display for Attr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// One [`DnBuilder`] method per attribute type, each appending a single-valued RDN:
/// `country => Country;` gives `fn country(self, value: impl Into<String>) -> Self`.
macro_rules! attr_setters {
    ($($(#[$doc:meta])* $name:ident => $attr:ident;)+) => {
        $(
            $(#[$doc])*
            pub fn $name(self, value: impl Into<String>) -> Self {
                self.attr(Attr::$attr, value)
            }
        )+
    };
}

/// Builder for a distinguished name; see the module documentation.
///
/// ```
/// use pkix::name::{Attr, DnBuilder};
/// let name = DnBuilder::new()
///     .country("FR")
///     .organization("Ordre des médecins")
///     .title("Médecin")
///     .multi([
///         (Attr::CommonName, "810001234567"),
///         (Attr::Surname, "DUPONT"),
///         (Attr::GivenName, "Jean"),
///     ])
///     .build()
///     .unwrap();
/// assert_eq!(name.0.len(), 4);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnBuilder {
    rdns: Vec<Vec<(Attr, String)>>,
}

impl DnBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a single-valued RDN.
    pub fn attr(mut self, attr: Attr, value: impl Into<String>) -> Self {
        self.rdns.push(vec![(attr, value.into())]);
        self
    }

    /// Appends a multi-valued RDN (e.g. `CN + SN + GN` for a professional).
    pub fn multi<I, V>(mut self, attrs: I) -> Self
    where
        I: IntoIterator<Item = (Attr, V)>,
        V: Into<String>,
    {
        self.rdns
            .push(attrs.into_iter().map(|(a, v)| (a, v.into())).collect());
        self
    }

    attr_setters! {
        /// `C=` (PrintableString, two upper-case letters).
        country => Country;
        /// `ST=`.
        state => State;
        /// `L=`.
        locality => Locality;
        /// `O=`.
        organization => Organization;
        /// `OU=`.
        organizational_unit => OrganizationalUnit;
        /// `title=`.
        title => Title;
        /// `CN=`.
        common_name => CommonName;
        /// `SN=` (surname) as its own RDN.
        surname => Surname;
        /// `GN=` (givenName) as its own RDN.
        given_name => GivenName;
        /// `serialNumber=` (PrintableString).
        serial_number => SerialNumber;
        /// `organizationIdentifier=`.
        organization_identifier => OrganizationIdentifier;
    }

    /// The RDNs collected so far, in encoding order.
    pub fn rdns(&self) -> &[Vec<(Attr, String)>] {
        &self.rdns
    }

    /// Parses a DN string (see the module documentation). Values are checked by
    /// [`DnBuilder::build`].
    pub fn parse(s: &str) -> Result<Self, X509Error> {
        if s.trim().is_empty() {
            return Err(X509Error::EmptyName);
        }
        let mut rdns = Vec::new();
        for rdn_str in split_unescaped(s, ',')? {
            if rdn_str.trim().is_empty() {
                return Err(X509Error::DnSyntax(format!("empty RDN in {s:?}")));
            }
            let mut rdn = Vec::new();
            for atv in split_unescaped(rdn_str, '+')? {
                let (key, value) = split_key_value(atv).ok_or_else(|| {
                    X509Error::DnSyntax(format!("missing '=' in {:?}", atv.trim()))
                })?;
                let attr = Attr::from_key(key)
                    .ok_or_else(|| X509Error::UnknownAttribute(key.trim().to_owned()))?;
                rdn.push((attr, unescape(value.trim())?));
            }
            rdns.push(rdn);
        }
        Ok(Self { rdns })
    }

    /// Reads back a Name made of the supported attribute types, PrintableString or
    /// UTF8String values.
    pub fn from_name(name: &Name) -> Result<Self, X509Error> {
        let mut rdns = Vec::with_capacity(name.0.len());
        for rdn in name.0.iter() {
            let mut out = Vec::with_capacity(rdn.0.len());
            for atv in rdn.0.iter() {
                let attr =
                    Attr::from_oid(&atv.oid).ok_or(X509Error::UnsupportedAttribute(atv.oid))?;
                let value = directory_string(&atv.value).ok_or(X509Error::InvalidValue {
                    attr: attr.key(),
                    reason: "not a PrintableString or UTF8String",
                })?;
                out.push((attr, value.to_owned()));
            }
            rdns.push(out);
        }
        Ok(Self { rdns })
    }

    /// Validates every value and produces the Name.
    pub fn build(&self) -> Result<Name, X509Error> {
        if self.rdns.is_empty() {
            return Err(X509Error::EmptyName);
        }
        let mut out = Vec::with_capacity(self.rdns.len());
        for rdn in &self.rdns {
            if rdn.is_empty() {
                return Err(X509Error::DnSyntax("empty multi-valued RDN".into()));
            }
            let mut atvs = Vec::with_capacity(rdn.len());
            for (i, (attr, value)) in rdn.iter().enumerate() {
                if rdn[..i].iter().any(|(a, _)| a == attr) {
                    return Err(X509Error::DuplicateAttributeInRdn { attr: attr.key() });
                }
                atvs.push(encode_atv(*attr, value)?);
            }
            // SetOfVec sorts the attributes into DER order.
            out.push(RelativeDistinguishedName(SetOfVec::try_from(atvs)?));
        }
        Ok(RdnSequence(out))
    }
}

impl FromStr for DnBuilder {
    type Err = X509Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for DnBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, rdn) in self.rdns.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            for (j, (attr, value)) in rdn.iter().enumerate() {
                if j > 0 {
                    f.write_str("+")?;
                }
                write!(f, "{}={}", attr.key(), escape(value))?;
            }
        }
        Ok(())
    }
}

/// Parses and validates a DN string into a Name (`DnBuilder::parse(s)?.build()`).
pub fn parse_dn(s: &str) -> Result<Name, X509Error> {
    DnBuilder::parse(s)?.build()
}

/// Formats a Name in the DN string syntax of this module (encoding order). Attributes this
/// module does not know are written as `<dotted OID>=#<hex DER>`, so the output is meant for
/// display and logs; it parses back only for supported attributes.
pub fn name_to_string(name: &Name) -> String {
    let mut s = String::new();
    for (i, rdn) in name.0.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        for (j, atv) in rdn.0.iter().enumerate() {
            if j > 0 {
                s.push('+');
            }
            match (Attr::from_oid(&atv.oid), directory_string(&atv.value)) {
                (Some(attr), Some(value)) => {
                    s.push_str(attr.key());
                    s.push('=');
                    s.push_str(&escape(value));
                }
                _ => {
                    s.push_str(&atv.oid.to_string());
                    s.push_str("=#");
                    s.push_str(&atv.value.to_der().map(hex::encode).unwrap_or_default());
                }
            }
        }
    }
    s
}

fn directory_string(value: &Any) -> Option<&str> {
    match value.tag() {
        Tag::PrintableString => PrintableStringRef::try_from(value).ok().map(|s| s.as_str()),
        Tag::Utf8String => Utf8StringRef::try_from(value).ok().map(|s| s.as_str()),
        _ => None,
    }
}

fn encode_atv(attr: Attr, value: &str) -> Result<AttributeTypeAndValue, X509Error> {
    check_value(attr, value)?;
    let value = if attr.is_printable_string() {
        let s = PrintableStringRef::new(value).map_err(|_| X509Error::InvalidValue {
            attr: attr.key(),
            reason: "characters outside PrintableString (A-Z a-z 0-9 space '()+,-./:=?)",
        })?;
        Any::encode_from(&s)?
    } else {
        Any::encode_from(&Utf8StringRef::new(value)?)?
    };
    Ok(AttributeTypeAndValue {
        oid: attr.oid(),
        value,
    })
}

fn check_value(attr: Attr, value: &str) -> Result<(), X509Error> {
    if value.trim().is_empty() {
        return Err(X509Error::EmptyValue { attr: attr.key() });
    }
    if attr == Attr::Country {
        if value.len() != 2 || !value.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(X509Error::InvalidCountry(value.to_owned()));
        }
        return Ok(());
    }
    if value.trim() != value {
        return Err(X509Error::InvalidValue {
            attr: attr.key(),
            reason: "leading or trailing whitespace",
        });
    }
    if value.chars().any(char::is_control) {
        return Err(X509Error::InvalidValue {
            attr: attr.key(),
            reason: "control characters",
        });
    }
    let len = value.chars().count();
    if len > attr.upper_bound() {
        return Err(X509Error::ValueTooLong {
            attr: attr.key(),
            len,
            max: attr.upper_bound(),
        });
    }
    Ok(())
}

/// The byte offsets of the `sep` characters of `s` not escaped by a backslash, and whether
/// `s` ends with a dangling backslash.
fn unescaped(s: &str, sep: char) -> (Vec<usize>, bool) {
    let mut found = Vec::new();
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            found.push(i);
        }
    }
    (found, escaped)
}

/// Splits on `sep` where it is not escaped by a backslash.
fn split_unescaped(s: &str, sep: char) -> Result<Vec<&str>, X509Error> {
    let (found, dangling) = unescaped(s, sep);
    if dangling {
        return Err(X509Error::DnSyntax(format!("dangling backslash in {s:?}")));
    }
    let mut parts = Vec::new();
    let mut start = 0;
    for i in found {
        parts.push(&s[start..i]);
        start = i + sep.len_utf8();
    }
    parts.push(&s[start..]);
    Ok(parts)
}

/// Splits `key=value` at the first unescaped `=`.
fn split_key_value(s: &str) -> Option<(&str, &str)> {
    let i = *unescaped(s, '=').0.first()?;
    Some((&s[..i], &s[i + 1..]))
}

fn unescape(s: &str) -> Result<String, X509Error> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(next) => out.push(next),
                None => {
                    return Err(X509Error::DnSyntax(format!("dangling backslash in {s:?}")));
                }
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '\\' | ',' | '+') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
