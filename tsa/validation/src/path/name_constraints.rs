//! Name constraints of a certification path (RFC 5280 §4.2.1.10; §6.1.2(b)(c) initialisation,
//! §6.1.3(b)(c) checks of each certificate, §6.1.4(g) update from each CA certificate).
//!
//! Forms compared: directoryName (the subject and subjectAltName entries, RDN-sequence prefix
//! with the attribute values prepared as in RFC 5280 §7.1), dNSName, rfc822Name (subjectAltName
//! entries and emailAddress attributes of the subject), uniformResourceIdentifier (its host),
//! iPAddress and otherName (same type and byte-equal value). A name of any other form, or one
//! that cannot be compared, is refused when the path constrains its form, as §4.2.1.10 requires
//! of a constraint that is not processed. Names of a form that no constraint of the path names
//! are decoded (the subjectAltName must be valid DER) but their syntax is not examined, so that
//! a path without constraints on a form is not refused for that form's names.

use pkix::name_compare::{directory_string_text, prepare_name, PreparedRdn};
use std::fmt;
use std::sync::Arc;

use const_oid::db::rfc3280::EMAIL_ADDRESS;
use const_oid::db::rfc5280::{ID_CE_NAME_CONSTRAINTS, ID_CE_SUBJECT_ALT_NAME};
use const_oid::ObjectIdentifier;
use der::asn1::AnyRef;
use der::{Decode, Encode, Reader, SliceReader, Tag, Tagged};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::name::Name;
use x509_cert::{Certificate, TbsCertificate};

/// Name × subtree comparisons allowed for a whole path.
///
/// Why this bound: the comparisons a certificate needs are counted before any is made, so a
/// path built to exhaust the validator (thousands of names against thousands of constraints)
/// is refused at the cost of decoding it. The bound is crypto/x509's default in Go, far above
/// what a real hierarchy needs (tens of names against tens of subtrees per level), and each
/// comparison is bounded by the shorter of two names of a certificate of bounded size, so the
/// worst accepted path stays cheap.
pub const MAX_COMPARISONS: usize = 250_000;

/// SmtpUTF8Mailbox (RFC 9598), the otherName that carries an internationalised mailbox, which
/// RFC 9598 §6 puts under rfc822Name constraints. Not in `const_oid::db`; `new_unwrap` runs at
/// compile time, so a typo fails the build rather than a validation.
const ID_ON_SMTP_UTF8_MAILBOX: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.8.9");

/// Why a certificate's names, or a CA certificate's nameConstraints, were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameConstraintError {
    /// A sentence naming the name and the constraint involved.
    pub reason: String,
}

impl NameConstraintError {
    fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }
}

impl fmt::Display for NameConstraintError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for NameConstraintError {}

// ------------------------------------------------------------------------------- name forms

/// The GeneralName alternatives, in the order of their context tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    OtherName,
    Rfc822Name,
    DnsName,
    X400Address,
    DirectoryName,
    EdiPartyName,
    Uri,
    IpAddress,
    RegisteredId,
}

const FORM_COUNT: usize = 9;

impl Form {
    const ALL: [Form; FORM_COUNT] = [
        Form::OtherName,
        Form::Rfc822Name,
        Form::DnsName,
        Form::X400Address,
        Form::DirectoryName,
        Form::EdiPartyName,
        Form::Uri,
        Form::IpAddress,
        Form::RegisteredId,
    ];

    fn index(self) -> usize {
        self as usize
    }

    /// The form of a GeneralName with this tag; `None` for a tag GeneralName does not have or
    /// a constructed/primitive bit that does not match the alternative.
    fn of_tag(tag: Tag) -> Option<Form> {
        let Tag::ContextSpecific {
            constructed,
            number,
        } = tag
        else {
            return None;
        };
        let form = *Form::ALL.get(usize::from(number.value()))?;
        let must_be_constructed = matches!(
            form,
            Form::OtherName | Form::X400Address | Form::DirectoryName | Form::EdiPartyName
        );
        (constructed == must_be_constructed).then_some(form)
    }

    fn label(self) -> &'static str {
        match self {
            Form::OtherName => "otherName",
            Form::Rfc822Name => "rfc822Name",
            Form::DnsName => "dNSName",
            Form::X400Address => "x400Address",
            Form::DirectoryName => "directoryName",
            Form::EdiPartyName => "ediPartyName",
            Form::Uri => "uniformResourceIdentifier",
            Form::IpAddress => "iPAddress",
            Form::RegisteredId => "registeredID",
        }
    }
}

/// One GeneralName of an extension: its form and, for the forms x509-cert decodes, the value
/// (x509-cert has no x400Address alternative; its DER is only checked to be a well-formed TLV).
#[derive(Debug)]
struct GeneralNameEntry {
    form: Form,
    decoded: Option<GeneralName>,
}

fn decode_general_name(tlv: &[u8]) -> Result<GeneralNameEntry, String> {
    let element = AnyRef::from_der(tlv).map_err(|e| format!("a GeneralName is not DER: {e}"))?;
    let form = Form::of_tag(element.tag())
        .ok_or_else(|| format!("{} is not a GeneralName alternative", element.tag()))?;
    let decoded = match form {
        Form::X400Address => None,
        _ => Some(
            GeneralName::from_der(tlv)
                .map_err(|e| format!("a {} is not valid DER: {e}", form.label()))?,
        ),
    };
    Ok(GeneralNameEntry { form, decoded })
}

/// The TLVs inside a DER SEQUENCE (`what` names it in errors).
fn sequence_elements<'a>(der: &'a [u8], what: &str) -> Result<Vec<&'a [u8]>, String> {
    let sequence = AnyRef::from_der(der).map_err(|e| format!("{what} is not DER: {e}"))?;
    if sequence.tag() != Tag::Sequence {
        return Err(format!(
            "{what} is a {} where a SEQUENCE is due",
            sequence.tag()
        ));
    }
    tlvs(sequence.value(), what)
}

/// Consecutive TLVs filling `contents`.
fn tlvs<'a>(contents: &'a [u8], what: &str) -> Result<Vec<&'a [u8]>, String> {
    let mut reader = SliceReader::new(contents).map_err(|e| format!("{what}: {e}"))?;
    let mut elements = Vec::new();
    while !reader.is_finished() {
        elements.push(
            reader
                .tlv_bytes()
                .map_err(|e| format!("{what} is not DER: {e}"))?,
        );
    }
    Ok(elements)
}

/// The value of the extension `oid`, refusing a certificate that carries it twice (RFC 5280
/// §4.2: at most one instance), since the two could say different things.
fn single_extension<'a>(
    tbs: &'a TbsCertificate,
    oid: ObjectIdentifier,
    label: &str,
) -> Result<Option<&'a [u8]>, NameConstraintError> {
    let mut found = None;
    for extension in tbs.extensions.iter().flatten() {
        if extension.extn_id == oid {
            if found.is_some() {
                return Err(NameConstraintError::new(format!(
                    "the certificate of {:?} carries more than one {label} extension (RFC 5280 \
                     §4.2 allows one)",
                    tbs.subject.to_string()
                )));
            }
            found = Some(extension.extn_value.as_bytes());
        }
    }
    Ok(found)
}

// ----------------------------------------------------------------------------- domain names

/// Which names a domain constraint covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// dNSName "example.com": the host and any name made by adding labels on its left.
    HostAndSubdomains,
    /// rfc822Name or URI "example.com": exactly that host.
    HostOnly,
    /// ".example.com" in every form: names with at least one more label only.
    SubdomainsOnly,
}

#[derive(Debug, Clone)]
struct DomainConstraint {
    /// Lower-case labels, rightmost first.
    labels: Vec<String>,
    scope: Scope,
}

/// Labels of a domain name, lower-cased, rightmost first. Labels are letters, digits, '-' and
/// '_' (the last is found in real service names); with `wildcard_allowed` the leftmost label may
/// be a lone '*'.
fn domain_labels(domain: &str, wildcard_allowed: bool) -> Result<Vec<String>, String> {
    const MAX_NAME: usize = 253;
    const MAX_LABEL: usize = 63;
    if domain.is_empty() {
        return Err("it is empty".into());
    }
    if domain.len() > MAX_NAME {
        return Err(format!("it is longer than {MAX_NAME} characters"));
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let mut reversed = Vec::with_capacity(labels.len());
    for (position, label) in labels.iter().enumerate() {
        let wildcard = wildcard_allowed && position == 0 && *label == "*" && labels.len() > 1;
        let valid = wildcard
            || (!label.is_empty()
                && label.len() <= MAX_LABEL
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        if !valid {
            return Err(format!(
                "the label {label:?} is not a valid host name label"
            ));
        }
        reversed.push(label.to_ascii_lowercase());
    }
    reversed.reverse();
    Ok(reversed)
}

/// A constraint that is a host, or a ".domain" covering its subdomains only.
fn host_or_domain_constraint(text: &str, host_scope: Scope) -> Result<DomainConstraint, String> {
    match text.strip_prefix('.') {
        Some(domain) => Ok(DomainConstraint {
            labels: domain_labels(domain, false)?,
            scope: Scope::SubdomainsOnly,
        }),
        None => Ok(DomainConstraint {
            labels: domain_labels(text, false)?,
            scope: host_scope,
        }),
    }
}

/// Whether the domain `name` (rightmost label first) lies in `constraint`. With
/// `wildcard_expands`, a leftmost '*' of the name stands for any one label, so that the name
/// covers the whole set its wildcard can match: used against excluded subtrees, where
/// "*.example.com" must not slip past an excluded "bad.example.com". Against permitted subtrees
/// '*' is a literal label, which no constraint contains, so a wildcard name is permitted only
/// by a subtree that holds every name it can match.
fn domain_within(name: &[String], constraint: &DomainConstraint, wildcard_expands: bool) -> bool {
    let (name_len, base_len) = (name.len(), constraint.labels.len());
    let length_fits = match constraint.scope {
        Scope::HostAndSubdomains => name_len >= base_len,
        Scope::HostOnly => name_len == base_len,
        Scope::SubdomainsOnly => name_len > base_len,
    };
    length_fits
        && constraint
            .labels
            .iter()
            .zip(name)
            .enumerate()
            .all(|(position, (base, label))| {
                base == label || (wildcard_expands && position + 1 == name_len && label == "*")
            })
}

// -------------------------------------------------------------------------------- mailboxes

/// A mailbox split as RFC 5280 §7.5 compares it: local part exactly, host case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mailbox {
    local: String,
    /// Lower-case labels, rightmost first.
    host: Vec<String>,
}

fn parse_mailbox(text: &str) -> Result<Mailbox, String> {
    let (local, host) = text
        .rsplit_once('@')
        .ok_or_else(|| "it has no '@'".to_string())?;
    let quoted = local.len() >= 2 && local.starts_with('"') && local.ends_with('"');
    let local_valid = !local.is_empty()
        && if quoted {
            local.bytes().all(|b| (0x20..0x7f).contains(&b))
        } else {
            local
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'@' && b != b'"')
        };
    if !local_valid {
        return Err(format!(
            "the local part {local:?} is not a valid local part"
        ));
    }
    if host.starts_with('[') {
        return Err(format!(
            "its host {host:?} is an address literal, which rfc822Name constraints do not cover"
        ));
    }
    Ok(Mailbox {
        local: local.to_string(),
        host: domain_labels(host, false).map_err(|e| format!("its host {host:?}: {e}"))?,
    })
}

// -------------------------------------------------------------------------------------- URI

/// The host of a URI (RFC 3986 authority, without user information and port), as labels.
fn uri_host(uri: &str) -> Result<Vec<String>, String> {
    let (scheme, rest) = uri
        .split_once(':')
        .ok_or_else(|| "it has no scheme".to_string())?;
    let scheme_valid = scheme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if !scheme_valid {
        return Err(format!("its scheme {scheme:?} is not a URI scheme"));
    }
    let authority_and_path = rest
        .strip_prefix("//")
        .ok_or_else(|| "it has no authority, so no host to compare".to_string())?;
    let authority_end = authority_and_path
        .find(['/', '?', '#'])
        .unwrap_or(authority_and_path.len());
    let authority = &authority_and_path[..authority_end];
    let host_and_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host_and_port.starts_with('[') {
        return Err("its host is an IP address literal, which URI constraints do not cover".into());
    }
    let host = match host_and_port.split_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        Some((_, port)) => return Err(format!("its port {port:?} is not a number")),
        None => host_and_port,
    };
    if host.is_empty() {
        return Err("it has no host to compare".into());
    }
    if host.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err(format!(
            "its host {host:?} is an IP address, which URI constraints do not cover"
        ));
    }
    domain_labels(host, false).map_err(|e| format!("its host {host:?}: {e}"))
}

// --------------------------------------------------------------------------- directoryName

// -------------------------------------------------------------------------------- subtrees

/// The base of one GeneralSubtree, decoded for comparison.
#[derive(Debug, Clone)]
enum Base {
    Directory(Vec<PreparedRdn>),
    Dns(DomainConstraint),
    Mailbox(Mailbox),
    MailDomain(DomainConstraint),
    UriDomain(DomainConstraint),
    Ip {
        address: Vec<u8>,
        mask: Vec<u8>,
    },
    Other {
        type_id: ObjectIdentifier,
        value: Vec<u8>,
    },
    /// x400Address, ediPartyName, registeredID: kept only to refuse names of the form.
    NotCompared,
}

#[derive(Debug, Clone)]
struct Subtree {
    base: Base,
    /// The form and value, as errors show them.
    shown: String,
    /// Subject of the CA certificate whose nameConstraints hold this subtree.
    set_by: Arc<str>,
}

fn shown_general_name(entry: &GeneralNameEntry) -> String {
    let form = entry.form.label();
    match &entry.decoded {
        Some(
            GeneralName::Rfc822Name(text)
            | GeneralName::DnsName(text)
            | GeneralName::UniformResourceIdentifier(text),
        ) => format!("{form} {:?}", text.as_str()),
        Some(GeneralName::DirectoryName(dn)) => format!("{form} {:?}", dn.to_string()),
        Some(GeneralName::IpAddress(octets)) => format!("{form} {}", shown_ip(octets.as_bytes())),
        Some(GeneralName::OtherName(other)) => format!("{form} of type {}", other.type_id),
        Some(GeneralName::RegisteredId(oid)) => format!("{form} {oid}"),
        Some(GeneralName::EdiPartyName(_)) | None => form.to_string(),
    }
}

/// An address as text, an address and prefix mask as address/length; hex for anything else.
fn shown_ip(bytes: &[u8]) -> String {
    let address = |bytes: &[u8]| -> Option<std::net::IpAddr> {
        match bytes.len() {
            4 => <[u8; 4]>::try_from(bytes).ok().map(std::net::IpAddr::from),
            16 => <[u8; 16]>::try_from(bytes).ok().map(std::net::IpAddr::from),
            _ => None,
        }
    };
    if let Some(single) = address(bytes) {
        return single.to_string();
    }
    let (base, mask) = bytes.split_at(bytes.len() / 2);
    match address(base) {
        Some(base) if is_prefix_mask(mask) => {
            let prefix: u32 = mask.iter().map(|b| b.count_ones()).sum();
            format!("{base}/{prefix}")
        }
        _ => hex(bytes),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Decodes a subtree base and checks its syntax.
fn subtree_base(entry: &GeneralNameEntry) -> Result<Base, String> {
    let Some(name) = &entry.decoded else {
        return Ok(Base::NotCompared);
    };
    Ok(match name {
        GeneralName::DirectoryName(dn) => Base::Directory(prepare_name(dn)?),
        GeneralName::DnsName(text) => {
            let text = text.as_str();
            if text.is_empty() {
                // Adding labels to the empty name makes every name (RFC 5280 §4.2.1.10).
                Base::Dns(DomainConstraint {
                    labels: Vec::new(),
                    scope: Scope::HostAndSubdomains,
                })
            } else {
                Base::Dns(host_or_domain_constraint(text, Scope::HostAndSubdomains)?)
            }
        }
        GeneralName::Rfc822Name(text) => {
            let text = text.as_str();
            if text.contains('@') {
                Base::Mailbox(parse_mailbox(text)?)
            } else {
                Base::MailDomain(host_or_domain_constraint(text, Scope::HostOnly)?)
            }
        }
        GeneralName::UniformResourceIdentifier(text) => {
            Base::UriDomain(host_or_domain_constraint(text.as_str(), Scope::HostOnly)?)
        }
        GeneralName::IpAddress(octets) => {
            let bytes = octets.as_bytes();
            if bytes.len() != 8 && bytes.len() != 32 {
                return Err(format!(
                    "it has {} octets where an IPv4 or IPv6 address and mask have 8 or 32",
                    bytes.len()
                ));
            }
            let (address, mask) = bytes.split_at(bytes.len() / 2);
            if !is_prefix_mask(mask) {
                return Err(format!("its mask {} is not a prefix mask", hex(mask)));
            }
            Base::Ip {
                address: address.to_vec(),
                mask: mask.to_vec(),
            }
        }
        GeneralName::OtherName(other) => Base::Other {
            type_id: other.type_id,
            value: other
                .value
                .to_der()
                .map_err(|e| format!("its value cannot be encoded: {e}"))?,
        },
        GeneralName::EdiPartyName(_) | GeneralName::RegisteredId(_) => Base::NotCompared,
    })
}

/// Ones then zeros.
fn is_prefix_mask(mask: &[u8]) -> bool {
    let mut ones_ended = false;
    for byte in mask {
        if ones_ended && *byte != 0 {
            return false;
        }
        if *byte != 0xff {
            if byte.leading_ones() + byte.trailing_zeros() != 8 {
                return false;
            }
            ones_ended = true;
        }
    }
    true
}

/// GeneralSubtrees (the contents of permittedSubtrees or excludedSubtrees).
fn parse_subtrees(
    contents: &[u8],
    what: &str,
    set_by: &Arc<str>,
) -> Result<Vec<(Form, Subtree)>, String> {
    let elements = tlvs(contents, what)?;
    if elements.is_empty() {
        return Err(format!(
            "{what} is empty (GeneralSubtrees has at least one)"
        ));
    }
    let mut subtrees = Vec::with_capacity(elements.len());
    for element in elements {
        let fields = sequence_elements(element, &format!("a GeneralSubtree of {what}"))?;
        let Some((base, rest)) = fields.split_first() else {
            return Err(format!("a GeneralSubtree of {what} has no base"));
        };
        let entry = decode_general_name(base).map_err(|e| format!("in {what}, {e}"))?;
        let shown = shown_general_name(&entry);
        let mut rest = rest.iter();
        let mut next = rest.next();
        if let Some(field) = next {
            let field = AnyRef::from_der(field).map_err(|e| format!("in {what}: {e}"))?;
            if is_context_tag(field.tag(), 0, false) {
                // DER omits the default 0; an explicit 0 is tolerated, anything else is not.
                if field.value() != [0] {
                    return Err(format!(
                        "the subtree {shown} of {what} has a minimum other than 0 (RFC 5280 \
                         §4.2.1.10: minimum MUST be zero)"
                    ));
                }
                next = rest.next();
            }
        }
        if let Some(field) = next {
            let field = AnyRef::from_der(field).map_err(|e| format!("in {what}: {e}"))?;
            if is_context_tag(field.tag(), 1, false) {
                return Err(format!(
                    "the subtree {shown} of {what} has a maximum (RFC 5280 §4.2.1.10: maximum \
                     MUST be absent)"
                ));
            }
            return Err(format!(
                "the subtree {shown} of {what} has an unexpected {} field",
                field.tag()
            ));
        }
        let base =
            subtree_base(&entry).map_err(|e| format!("the subtree {shown} of {what}: {e}"))?;
        subtrees.push((
            entry.form,
            Subtree {
                base,
                shown,
                set_by: Arc::clone(set_by),
            },
        ));
    }
    Ok(subtrees)
}

fn is_context_tag(tag: Tag, wanted: u8, wanted_constructed: bool) -> bool {
    matches!(tag, Tag::ContextSpecific { constructed, number }
        if number.value() == wanted && constructed == wanted_constructed)
}

/// Permitted and excluded subtrees of one nameConstraints extension.
type ParsedConstraints = (Vec<(Form, Subtree)>, Vec<(Form, Subtree)>);

fn parse_name_constraints(der: &[u8], set_by: &Arc<str>) -> Result<ParsedConstraints, String> {
    let fields = sequence_elements(der, "the nameConstraints extension")?;
    let mut permitted = None;
    let mut excluded = None;
    let mut fields = fields.into_iter().peekable();
    for (number, slot, what) in [
        (0, &mut permitted, "permittedSubtrees"),
        (1, &mut excluded, "excludedSubtrees"),
    ] {
        let Some(field) = fields.peek() else { break };
        let field = AnyRef::from_der(field).map_err(|e| format!("nameConstraints: {e}"))?;
        if is_context_tag(field.tag(), number, true) {
            *slot = Some(parse_subtrees(field.value(), what, set_by)?);
            fields.next();
        }
    }
    if let Some(field) = fields.next() {
        let tag = AnyRef::from_der(field).map(|f| f.tag().to_string());
        return Err(format!(
            "the nameConstraints extension has an unexpected field {}",
            tag.unwrap_or_else(|e| e.to_string())
        ));
    }
    if permitted.is_none() && excluded.is_none() {
        return Err(
            "the nameConstraints extension has neither permittedSubtrees nor \
                    excludedSubtrees (RFC 5280 §4.2.1.10: it MUST NOT be empty)"
                .into(),
        );
    }
    Ok((permitted.unwrap_or_default(), excluded.unwrap_or_default()))
}

// ---------------------------------------------------------------------------- names checked

/// A name of the certificate, decoded for comparison.
#[derive(Debug)]
enum Value {
    Directory(Vec<PreparedRdn>),
    Dns(Vec<String>),
    Mailbox(Mailbox),
    UriHost(Vec<String>),
    Ip(Vec<u8>),
    Other {
        type_id: ObjectIdentifier,
        value: Vec<u8>,
    },
    NotCompared,
}

#[derive(Debug)]
struct CertName {
    form: Form,
    shown: String,
    value: Value,
}

/// Decodes a subjectAltName entry of a constrained form and checks its syntax.
fn san_value(entry: &GeneralNameEntry, shown: &str) -> Result<Value, NameConstraintError> {
    let invalid = |why: String| {
        NameConstraintError::new(format!(
            "the subjectAltName {shown} is not a valid {}: {why}",
            entry.form.label()
        ))
    };
    let Some(name) = &entry.decoded else {
        return Ok(Value::NotCompared);
    };
    Ok(match name {
        GeneralName::DirectoryName(dn) => Value::Directory(prepare_name(dn).map_err(invalid)?),
        GeneralName::DnsName(text) => {
            Value::Dns(domain_labels(text.as_str(), true).map_err(invalid)?)
        }
        GeneralName::Rfc822Name(text) => {
            Value::Mailbox(parse_mailbox(text.as_str()).map_err(invalid)?)
        }
        GeneralName::UniformResourceIdentifier(text) => {
            Value::UriHost(uri_host(text.as_str()).map_err(invalid)?)
        }
        GeneralName::IpAddress(octets) => {
            let bytes = octets.as_bytes();
            if bytes.len() != 4 && bytes.len() != 16 {
                return Err(invalid(format!(
                    "it has {} octets where an IPv4 or IPv6 address has 4 or 16",
                    bytes.len()
                )));
            }
            Value::Ip(bytes.to_vec())
        }
        GeneralName::OtherName(other) => Value::Other {
            type_id: other.type_id,
            value: other
                .value
                .to_der()
                .map_err(|e| invalid(format!("its value cannot be encoded: {e}")))?,
        },
        GeneralName::EdiPartyName(_) | GeneralName::RegisteredId(_) => Value::NotCompared,
    })
}

/// The emailAddress attributes of the subject, as text.
fn subject_emails(subject: &Name) -> Vec<(&AttributeTypeAndValue, Option<Result<String, String>>)> {
    subject
        .0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .filter(|attribute| attribute.oid == EMAIL_ADDRESS)
        .map(|attribute| {
            let text = directory_string_text(attribute.value.tag(), attribute.value.value());
            (attribute, text)
        })
        .collect()
}

/// Whether a name lies in a subtree of its form.
enum Relation {
    Within,
    Outside,
    /// Neither can be shown; the sentence says why.
    Unknown(String),
}

/// `against_excluded` widens a wildcard dNSName to every name it matches (see
/// [`domain_within`]) and makes an otherName whose value differs from a subtree of the same type
/// unknown rather than outside.
fn relation(name: &Value, base: &Base, against_excluded: bool) -> Relation {
    let within = match (name, base) {
        (Value::Directory(rdns), Base::Directory(prefix)) => {
            prefix.len() <= rdns.len() && prefix.iter().zip(rdns).all(|(a, b)| a == b)
        }
        (Value::Dns(labels), Base::Dns(constraint)) => {
            domain_within(labels, constraint, against_excluded)
        }
        (Value::Mailbox(mailbox), Base::Mailbox(constraint)) => mailbox == constraint,
        (Value::Mailbox(mailbox), Base::MailDomain(constraint)) => {
            domain_within(&mailbox.host, constraint, false)
        }
        (Value::UriHost(host), Base::UriDomain(constraint)) => {
            domain_within(host, constraint, false)
        }
        (
            Value::Ip(address),
            Base::Ip {
                address: base,
                mask,
            },
        ) => {
            address.len() == base.len()
                && address
                    .iter()
                    .zip(base)
                    .zip(mask)
                    .all(|((a, b), m)| a & m == b & m)
        }
        (
            Value::Other { type_id, value },
            Base::Other {
                type_id: base_type,
                value: base_value,
            },
        ) => {
            if type_id != base_type {
                false
            } else if value == base_value {
                true
            } else if against_excluded {
                return Relation::Unknown(format!(
                    "the meaning of otherName values of type {type_id} is not known here, so \
                     only a byte-equal value can be compared"
                ));
            } else {
                false
            }
        }
        _ => false,
    };
    if within {
        Relation::Within
    } else {
        Relation::Outside
    }
}

// -------------------------------------------------------------------------------- the state

/// The permittedSubtrees of one CA certificate, by form.
#[derive(Debug, Clone)]
struct PermittedLevel {
    set_by: Arc<str>,
    by_form: [Vec<Subtree>; FORM_COUNT],
}

/// permitted_subtrees and excluded_subtrees of RFC 5280 §6.1.
///
/// permitted_subtrees is kept as the list of each CA's permittedSubtrees rather than their
/// computed intersection: a name is within the intersection exactly when, for every CA that
/// constrains its form, it is within one of that CA's subtrees. Intersecting eagerly would cost
/// the product of two levels' subtrees in `update`, outside the comparison bound; this way every
/// comparison is paid in `check`, under [`MAX_COMPARISONS`]. A form no level constrains is
/// unbounded; a form two levels constrain disjointly admits no name.
#[derive(Debug, Clone, Default)]
pub struct NameConstraintsState {
    permitted: Vec<PermittedLevel>,
    excluded: [Vec<Subtree>; FORM_COUNT],
}

impl NameConstraintsState {
    /// §6.1.2(b)(c): every name permitted, none excluded.
    pub fn new() -> Self {
        Self::default()
    }

    fn constrains(&self, form: Form) -> bool {
        !self.excluded[form.index()].is_empty()
            || self
                .permitted
                .iter()
                .any(|level| !level.by_form[form.index()].is_empty())
    }

    /// Subtrees one name of `form` is compared with.
    fn subtree_count(&self, form: Form) -> usize {
        self.permitted
            .iter()
            .map(|level| level.by_form[form.index()].len())
            .fold(self.excluded[form.index()].len(), usize::saturating_add)
    }

    /// Some subtree constraining `form`, for messages.
    fn some_subtree(&self, form: Form) -> Option<&Subtree> {
        self.excluded[form.index()].first().or_else(|| {
            self.permitted
                .iter()
                .find_map(|level| level.by_form[form.index()].first())
        })
    }

    /// §6.1.3(b)(c) for one certificate: the subject (directoryName, and its emailAddress
    /// attributes as rfc822Name) and every subjectAltName entry, against permitted and excluded
    /// subtrees. `work` counts name × subtree comparisons across the whole path; the comparisons
    /// this certificate needs are counted before any is made, and a total above
    /// [`MAX_COMPARISONS`] is an error.
    pub fn check(&self, cert: &Certificate, work: &mut usize) -> Result<(), NameConstraintError> {
        let tbs = &cert.tbs_certificate;
        let san_entries = match single_extension(tbs, ID_CE_SUBJECT_ALT_NAME, "subjectAltName")? {
            Some(der) => {
                let elements = sequence_elements(der, "the subjectAltName extension")
                    .map_err(NameConstraintError::new)?;
                if elements.is_empty() {
                    return Err(NameConstraintError::new(
                        "the subjectAltName extension is empty (GeneralNames has at least one \
                         name)",
                    ));
                }
                elements
                    .into_iter()
                    .map(|tlv| {
                        decode_general_name(tlv).map_err(|e| {
                            NameConstraintError::new(format!("in the subjectAltName, {e}"))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?
            }
            None => Vec::new(),
        };

        let check_subject = !tbs.subject.0.is_empty() && self.constrains(Form::DirectoryName);
        let emails = if self.constrains(Form::Rfc822Name) {
            subject_emails(&tbs.subject)
        } else {
            Vec::new()
        };
        // An SmtpUTF8Mailbox is an otherName that rfc822Name constraints also cover.
        let mail_constrained = self.constrains(Form::Rfc822Name);
        let san_checked: Vec<&GeneralNameEntry> = san_entries
            .iter()
            .filter(|entry| {
                self.constrains(entry.form) || (entry.form == Form::OtherName && mail_constrained)
            })
            .collect();

        // Saturating: an absurd count must still end in a refusal, not an overflow.
        let planned = [
            usize::from(check_subject).saturating_mul(self.subtree_count(Form::DirectoryName)),
            emails
                .len()
                .saturating_mul(self.subtree_count(Form::Rfc822Name)),
        ]
        .into_iter()
        .chain(
            san_checked
                .iter()
                .map(|entry| self.subtree_count(entry.form)),
        )
        .fold(0usize, usize::saturating_add);
        let spent_before = *work;
        *work = work.saturating_add(planned);
        if *work > MAX_COMPARISONS {
            return Err(NameConstraintError::new(format!(
                "checking the names of {:?} against the name constraints of the path needs \
                 {planned} name × subtree comparisons after {spent_before} already made, more \
                 than the {MAX_COMPARISONS} allowed for a path",
                tbs.subject.to_string()
            )));
        }

        if check_subject {
            let shown = format!("subject {:?}", tbs.subject.to_string());
            let value = prepare_name(&tbs.subject).map_err(|why| {
                NameConstraintError::new(format!(
                    "the {shown} cannot be compared with directoryName constraints: {why}"
                ))
            })?;
            self.compare(&CertName {
                form: Form::DirectoryName,
                shown,
                value: Value::Directory(value),
            })?;
        }
        for (attribute, text) in emails {
            let shown = format!(
                "subject emailAddress {:?}",
                String::from_utf8_lossy(attribute.value.value())
            );
            let mailbox = match text {
                Some(Ok(text)) => parse_mailbox(&text),
                Some(Err(why)) => Err(why),
                None => Err(format!("it is a {}, not a string", attribute.value.tag())),
            }
            .map_err(|why| {
                NameConstraintError::new(format!(
                    "the {shown} cannot be compared with rfc822Name constraints: {why}"
                ))
            })?;
            self.compare(&CertName {
                form: Form::Rfc822Name,
                shown,
                value: Value::Mailbox(mailbox),
            })?;
        }
        for entry in san_checked {
            let shown = format!("subjectAltName {}", shown_general_name(entry));
            let value = san_value(entry, &shown)?;
            if let Value::Other { type_id, .. } = &value {
                if *type_id == ID_ON_SMTP_UTF8_MAILBOX && mail_constrained {
                    let subtree = self
                        .some_subtree(Form::Rfc822Name)
                        .map(|s| format!(" ({} of {:?})", s.shown, s.set_by))
                        .unwrap_or_default();
                    return Err(NameConstraintError::new(format!(
                        "the {shown} is an SmtpUTF8Mailbox, which rfc822Name constraints cover \
                         (RFC 9598), and the path constrains rfc822Name{subtree}; this validator \
                         does not compare internationalised mailboxes, and RFC 5280 §4.2.1.10 \
                         requires a constraint that is not processed to reject the certificate"
                    )));
                }
                if !self.constrains(Form::OtherName) {
                    continue;
                }
            }
            self.compare(&CertName {
                form: entry.form,
                shown,
                value,
            })?;
        }
        Ok(())
    }

    /// One name against the excluded subtrees, then against each level's permitted ones.
    fn compare(&self, name: &CertName) -> Result<(), NameConstraintError> {
        let form = name.form;
        if matches!(name.value, Value::NotCompared) {
            let subtree = self
                .some_subtree(form)
                .map(|s| format!(" ({} of {:?})", s.shown, s.set_by))
                .unwrap_or_default();
            return Err(NameConstraintError::new(format!(
                "the {} is of a form the path constrains{subtree}, which this validator does \
                 not compare; RFC 5280 §4.2.1.10 requires a constraint that is not processed to \
                 reject the certificate",
                name.shown
            )));
        }
        for subtree in &self.excluded[form.index()] {
            match relation(&name.value, &subtree.base, true) {
                Relation::Outside => {}
                Relation::Within => {
                    return Err(NameConstraintError::new(format!(
                        "the {} is within the excluded subtree {} of the nameConstraints of {:?} \
                         (RFC 5280 §6.1.3(c))",
                        name.shown, subtree.shown, subtree.set_by
                    )))
                }
                Relation::Unknown(why) => {
                    return Err(NameConstraintError::new(format!(
                        "the {} cannot be shown to lie outside the excluded subtree {} of the \
                         nameConstraints of {:?}: {why}; RFC 5280 §4.2.1.10 requires a \
                         constraint that is not processed to reject the certificate",
                        name.shown, subtree.shown, subtree.set_by
                    )))
                }
            }
        }
        for level in &self.permitted {
            let subtrees = &level.by_form[form.index()];
            if subtrees.is_empty() {
                continue;
            }
            let mut within = false;
            for subtree in subtrees {
                match relation(&name.value, &subtree.base, false) {
                    Relation::Within => {
                        within = true;
                        break;
                    }
                    Relation::Outside => {}
                    Relation::Unknown(why) => {
                        return Err(NameConstraintError::new(format!(
                            "the {} cannot be compared with the permitted subtree {} of the \
                             nameConstraints of {:?}: {why}",
                            name.shown, subtree.shown, subtree.set_by
                        )))
                    }
                }
            }
            if !within {
                const SHOWN_SUBTREES: usize = 4;
                let mut listed: Vec<&str> = subtrees
                    .iter()
                    .take(SHOWN_SUBTREES)
                    .map(|s| s.shown.as_str())
                    .collect();
                let more = subtrees.len().saturating_sub(SHOWN_SUBTREES);
                let more = if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                };
                listed.sort_unstable();
                return Err(NameConstraintError::new(format!(
                    "the {} is not within the permitted {} subtrees of the nameConstraints of \
                     {:?} ({}{more}) (RFC 5280 §6.1.3(b))",
                    name.shown,
                    form.label(),
                    level.set_by,
                    listed.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// §6.1.4(g): from this CA certificate's nameConstraints, if it has one, intersect
    /// permitted_subtrees with its permittedSubtrees and add its excludedSubtrees to
    /// excluded_subtrees. A malformed extension is an error and leaves the state unchanged.
    pub fn update(&mut self, cert: &Certificate) -> Result<(), NameConstraintError> {
        let tbs = &cert.tbs_certificate;
        let Some(der) = single_extension(tbs, ID_CE_NAME_CONSTRAINTS, "nameConstraints")? else {
            return Ok(());
        };
        let set_by: Arc<str> = Arc::from(tbs.subject.to_string());
        let (permitted, excluded) = parse_name_constraints(der, &set_by).map_err(|why| {
            NameConstraintError::new(format!(
                "the nameConstraints of {set_by:?} are malformed: {why}"
            ))
        })?;
        if !permitted.is_empty() {
            let mut level = PermittedLevel {
                set_by,
                by_form: Default::default(),
            };
            for (form, subtree) in permitted {
                level.by_form[form.index()].push(subtree);
            }
            self.permitted.push(level);
        }
        for (form, subtree) in excluded {
            self.excluded[form.index()].push(subtree);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::str::FromStr;
    use std::time::{Duration, Instant};

    use const_oid::db::rfc5912::{ECDSA_WITH_SHA_256, ID_EC_PUBLIC_KEY};
    use der::asn1::{Any, BitString, Ia5String, OctetString, SetOfVec, Utf8StringRef};
    use x509_cert::ext::pkix::constraints::name::{GeneralSubtree, NameConstraints};
    use x509_cert::ext::pkix::name::OtherName;
    use x509_cert::ext::Extension;
    use x509_cert::name::RelativeDistinguishedName;
    use x509_cert::serial_number::SerialNumber;
    use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
    use x509_cert::time::Validity;
    use x509_cert::Version;

    use super::*;

    /// Microsoft's user principal name otherName.
    const UPN: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.20.2.3");

    fn name(dn: &str) -> Name {
        Name::from_str(dn).unwrap()
    }

    /// A certificate that only its names and extensions matter for; the signature is not valid.
    fn certificate(subject: Name, extensions: Vec<Extension>) -> Certificate {
        let algorithm = AlgorithmIdentifierOwned {
            oid: ECDSA_WITH_SHA_256,
            parameters: None,
        };
        Certificate {
            tbs_certificate: TbsCertificate {
                version: Version::V3,
                serial_number: SerialNumber::new(&[1]).unwrap(),
                signature: algorithm.clone(),
                issuer: name("CN=Test Root"),
                validity: Validity::from_now(Duration::from_secs(3600)).unwrap(),
                subject,
                subject_public_key_info: SubjectPublicKeyInfoOwned {
                    algorithm: AlgorithmIdentifierOwned {
                        oid: ID_EC_PUBLIC_KEY,
                        parameters: None,
                    },
                    subject_public_key: BitString::from_bytes(&[4]).unwrap(),
                },
                issuer_unique_id: None,
                subject_unique_id: None,
                extensions: (!extensions.is_empty()).then_some(extensions),
            },
            signature_algorithm: algorithm,
            signature: BitString::from_bytes(&[0]).unwrap(),
        }
    }

    fn extension(oid: ObjectIdentifier, der: Vec<u8>) -> Extension {
        Extension {
            extn_id: oid,
            critical: oid == ID_CE_NAME_CONSTRAINTS,
            extn_value: OctetString::new(der).unwrap(),
        }
    }

    fn san(names: Vec<GeneralName>) -> Extension {
        extension(ID_CE_SUBJECT_ALT_NAME, names.to_der().unwrap())
    }

    fn subtrees(bases: Vec<GeneralName>) -> Option<Vec<GeneralSubtree>> {
        (!bases.is_empty()).then(|| {
            bases
                .into_iter()
                .map(|base| GeneralSubtree {
                    base,
                    minimum: 0,
                    maximum: None,
                })
                .collect()
        })
    }

    fn constraints(permitted: Vec<GeneralName>, excluded: Vec<GeneralName>) -> Extension {
        let value = NameConstraints {
            permitted_subtrees: subtrees(permitted),
            excluded_subtrees: subtrees(excluded),
        };
        extension(ID_CE_NAME_CONSTRAINTS, value.to_der().unwrap())
    }

    fn ca(subject: &str, permitted: Vec<GeneralName>, excluded: Vec<GeneralName>) -> Certificate {
        certificate(name(subject), vec![constraints(permitted, excluded)])
    }

    fn leaf(subject: &str, names: Vec<GeneralName>) -> Certificate {
        let extensions = if names.is_empty() {
            Vec::new()
        } else {
            vec![san(names)]
        };
        certificate(name(subject), extensions)
    }

    fn dns(text: &str) -> GeneralName {
        GeneralName::DnsName(Ia5String::new(text).unwrap())
    }

    fn mail(text: &str) -> GeneralName {
        GeneralName::Rfc822Name(Ia5String::new(text).unwrap())
    }

    fn uri(text: &str) -> GeneralName {
        GeneralName::UniformResourceIdentifier(Ia5String::new(text).unwrap())
    }

    fn ip(octets: &[u8]) -> GeneralName {
        GeneralName::IpAddress(OctetString::new(octets).unwrap())
    }

    fn dir(dn: &str) -> GeneralName {
        GeneralName::DirectoryName(name(dn))
    }

    fn other(type_id: ObjectIdentifier, text: &str) -> GeneralName {
        GeneralName::OtherName(OtherName {
            type_id,
            value: Any::from(Utf8StringRef::new(text).unwrap()),
        })
    }

    fn state(cas: &[Certificate]) -> NameConstraintsState {
        let mut state = NameConstraintsState::new();
        for ca in cas {
            state.update(ca).unwrap();
        }
        state
    }

    fn verdict(state: &NameConstraintsState, cert: &Certificate) -> Result<(), String> {
        let mut work = 0;
        state.check(cert, &mut work).map_err(|e| e.reason)
    }

    #[track_caller]
    fn assert_refused(result: Result<(), String>, fragment: &str) {
        match result {
            Ok(()) => panic!("accepted, expected a refusal containing {fragment:?}"),
            Err(reason) => assert!(
                reason.contains(fragment),
                "refusal {reason:?} does not contain {fragment:?}"
            ),
        }
    }

    #[track_caller]
    fn assert_update_refused(cert: &Certificate, fragment: &str) {
        let mut state = NameConstraintsState::new();
        match state.update(cert) {
            Ok(()) => panic!("nameConstraints accepted, expected {fragment:?}"),
            Err(e) => assert!(
                e.reason.contains(fragment),
                "refusal {:?} does not contain {fragment:?}",
                e.reason
            ),
        }
    }

    /// DER TLV with a definite length.
    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = content.len();
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes: Vec<u8> = len
                .to_be_bytes()
                .into_iter()
                .skip_while(|b| *b == 0)
                .collect();
            out.push(0x80 | bytes.len() as u8);
            out.extend(bytes);
        }
        out.extend_from_slice(content);
        out
    }

    fn raw_constraints(der: Vec<u8>) -> Certificate {
        certificate(
            name("CN=Raw CA"),
            vec![extension(ID_CE_NAME_CONSTRAINTS, der)],
        )
    }

    // ------------------------------------------------------------------------- no constraints

    #[test]
    fn a_new_state_permits_every_name() {
        let state = NameConstraintsState::new();
        let cert = leaf(
            "CN=Anyone,O=Anywhere",
            vec![
                dns("a.example.com"),
                mail("a@example.com"),
                uri("urn:uuid:1"),
                ip(&[10, 0, 0, 1]),
                GeneralName::RegisteredId(UPN),
            ],
        );
        let mut work = 0;
        assert_eq!(state.check(&cert, &mut work), Ok(()));
        assert_eq!(work, 0);
    }

    // ---------------------------------------------------------------------------- dNSName

    #[test]
    fn dns_constraint_covers_the_host_and_names_with_labels_added_on_the_left() {
        let state = state(&[ca("CN=Sub CA", vec![dns("Example.COM")], vec![])]);
        for good in ["example.com", "www.EXAMPLE.com", "a.b.example.com"] {
            assert_eq!(
                verdict(&state, &leaf("CN=x", vec![dns(good)])),
                Ok(()),
                "{good}"
            );
        }
        for bad in ["badexample.com", "example.org", "com"] {
            assert_refused(
                verdict(&state, &leaf("CN=x", vec![dns(bad)])),
                "is not within the permitted dNSName subtrees of the nameConstraints of \"CN=Sub CA\"",
            );
        }
        // Names of other forms are not bounded by a dNSName constraint.
        assert_eq!(
            verdict(&state, &leaf("CN=x", vec![ip(&[1, 2, 3, 4])])),
            Ok(())
        );
        assert_eq!(verdict(&state, &leaf("CN=x", vec![])), Ok(()));
    }

    #[test]
    fn dns_constraint_with_a_leading_dot_covers_subdomains_only() {
        let state = state(&[ca("CN=Sub CA", vec![dns(".example.com")], vec![])]);
        assert_eq!(
            verdict(&state, &leaf("CN=x", vec![dns("a.example.com")])),
            Ok(())
        );
        assert_refused(
            verdict(&state, &leaf("CN=x", vec![dns("example.com")])),
            "not within the permitted dNSName",
        );
    }

    #[test]
    fn dns_excluded_subtree_refuses_its_names_only() {
        let state = state(&[ca("CN=Sub CA", vec![], vec![dns("evil.com")])]);
        for bad in ["evil.com", "a.EVIL.com"] {
            assert_refused(
                verdict(&state, &leaf("CN=x", vec![dns("ok.org"), dns(bad)])),
                "is within the excluded subtree dNSName \"evil.com\" of the nameConstraints of \"CN=Sub CA\"",
            );
        }
        assert_eq!(
            verdict(&state, &leaf("CN=x", vec![dns("notevil.com")])),
            Ok(())
        );
    }

    #[test]
    fn dns_wildcard_is_permitted_only_where_all_its_names_are_and_excluded_where_any_is() {
        let broad = state(&[ca("CN=CA", vec![dns("example.com")], vec![])]);
        assert_eq!(
            verdict(&broad, &leaf("CN=x", vec![dns("*.example.com")])),
            Ok(())
        );
        let narrow = state(&[ca("CN=CA", vec![dns("www.example.com")], vec![])]);
        assert_refused(
            verdict(&narrow, &leaf("CN=x", vec![dns("*.example.com")])),
            "not within the permitted",
        );
        let excluded = state(&[ca("CN=CA", vec![], vec![dns("bad.example.com")])]);
        assert_refused(
            verdict(&excluded, &leaf("CN=x", vec![dns("*.example.com")])),
            "within the excluded subtree dNSName \"bad.example.com\"",
        );
        // A wildcard stands for one label: it cannot reach two labels down.
        let deeper = state(&[ca("CN=CA", vec![], vec![dns("a.bad.example.com")])]);
        assert_eq!(
            verdict(&deeper, &leaf("CN=x", vec![dns("*.example.com")])),
            Ok(())
        );
    }

    #[test]
    fn empty_dns_constraint_covers_every_name() {
        let everything = state(&[ca("CN=CA", vec![], vec![dns("")])]);
        assert_refused(
            verdict(&everything, &leaf("CN=x", vec![dns("a.b")])),
            "within the excluded subtree",
        );
        let any = state(&[ca("CN=CA", vec![dns("")], vec![])]);
        assert_eq!(verdict(&any, &leaf("CN=x", vec![dns("a.b")])), Ok(()));
    }

    #[test]
    fn malformed_dns_names_are_refused_where_dns_is_constrained() {
        let state = state(&[ca("CN=CA", vec![], vec![dns("evil.com")])]);
        for bad in [
            "a..example.com",
            "example.com.",
            "",
            "a b.com",
            "x.*.com",
            "*",
        ] {
            assert_refused(
                verdict(&state, &leaf("CN=x", vec![dns(bad)])),
                "is not a valid dNSName",
            );
        }
        // Without a dNSName constraint their syntax is not this module's business.
        let unconstrained =
            self::state(&[ca("CN=CA", vec![ip(&[10, 0, 0, 0, 255, 0, 0, 0])], vec![])]);
        assert_eq!(
            verdict(&unconstrained, &leaf("CN=x", vec![dns("a..b")])),
            Ok(())
        );
    }

    #[test]
    fn malformed_dns_constraints_are_refused() {
        for (bad, why) in [
            (
                "*.example.com",
                "the label \"*\" is not a valid host name label",
            ),
            (
                "exa mple.com",
                "the label \"exa mple\" is not a valid host name label",
            ),
            (
                "example..com",
                "the label \"\" is not a valid host name label",
            ),
            (
                ".",
                "the subtree dNSName \".\" of permittedSubtrees: it is empty",
            ),
        ] {
            assert_update_refused(&ca("CN=CA", vec![dns(bad)], vec![]), why);
        }
    }

    // ------------------------------------------------------------------------- rfc822Name

    #[test]
    fn rfc822_mailbox_constraint_matches_that_mailbox_only() {
        let state = state(&[ca("CN=CA", vec![mail("alice@example.com")], vec![])]);
        assert_eq!(
            verdict(&state, &leaf("CN=x", vec![mail("alice@EXAMPLE.com")])),
            Ok(())
        );
        // RFC 5280 §7.5: the local part is compared case-sensitively.
        for bad in [
            "Alice@example.com",
            "bob@example.com",
            "alice@mail.example.com",
        ] {
            assert_refused(
                verdict(&state, &leaf("CN=x", vec![mail(bad)])),
                "not within the permitted rfc822Name subtrees",
            );
        }
    }

    #[test]
    fn rfc822_host_constraint_matches_that_host_exactly() {
        let state = state(&[ca("CN=CA", vec![mail("example.com")], vec![])]);
        assert_eq!(
            verdict(&state, &leaf("CN=x", vec![mail("bob@example.com")])),
            Ok(())
        );
        assert_refused(
            verdict(&state, &leaf("CN=x", vec![mail("bob@mail.example.com")])),
            "not within the permitted rfc822Name",
        );
    }

    #[test]
    fn rfc822_domain_constraint_matches_subdomains_only() {
        let state = state(&[ca("CN=CA", vec![mail(".example.com")], vec![])]);
        assert_eq!(
            verdict(&state, &leaf("CN=x", vec![mail("bob@mail.example.com")])),
            Ok(())
        );
        assert_refused(
            verdict(&state, &leaf("CN=x", vec![mail("bob@example.com")])),
            "not within the permitted rfc822Name",
        );
        let excluded = self::state(&[ca("CN=CA", vec![], vec![mail(".evil.com")])]);
        assert_refused(
            verdict(&excluded, &leaf("CN=x", vec![mail("eve@x.evil.com")])),
            "within the excluded subtree rfc822Name \".evil.com\"",
        );
        assert_eq!(
            verdict(&excluded, &leaf("CN=x", vec![mail("eve@evil.com")])),
            Ok(())
        );
    }

    #[test]
    fn subject_email_address_is_checked_even_with_a_subject_alt_name() {
        let state = state(&[ca("CN=CA", vec![mail("example.com")], vec![])]);
        let evil = leaf(
            "CN=Eve,emailAddress=eve@evil.com",
            vec![dns("www.example.com")],
        );
        assert_refused(
            verdict(&state, &evil),
            "the subject emailAddress \"eve@evil.com\" is not within the permitted rfc822Name",
        );
        let good = leaf("CN=Bob,emailAddress=bob@example.com", vec![]);
        assert_eq!(verdict(&state, &good), Ok(()));
    }

    #[test]
    fn malformed_mailboxes_are_refused_where_rfc822_is_constrained() {
        let state = state(&[ca("CN=CA", vec![], vec![mail("evil.com")])]);
        for bad in [
            "no-at-sign",
            "@example.com",
            "a@b@example.com",
            "a@[192.0.2.1]",
            "a@exa mple.com",
        ] {
            assert_refused(
                verdict(&state, &leaf("CN=x", vec![mail(bad)])),
                "is not a valid rfc822Name",
            );
        }
        assert_update_refused(&ca("CN=CA", vec![mail("")], vec![]), "is empty");
        assert_update_refused(
            &ca("CN=CA", vec![mail("a@@b")], vec![]),
            "not a valid local part",
        );
    }

    // ---------------------------------------------------------------------------------- URI

    #[test]
    fn uri_constraint_compares_the_host() {
        let host = state(&[ca("CN=CA", vec![uri("example.com")], vec![])]);
        for good in [
            "https://example.com/path",
            "https://user@EXAMPLE.com:8443/x?q#f",
            "ldap://example.com",
        ] {
            assert_eq!(
                verdict(&host, &leaf("CN=x", vec![uri(good)])),
                Ok(()),
                "{good}"
            );
        }
        assert_refused(
            verdict(&host, &leaf("CN=x", vec![uri("https://www.example.com/")])),
            "not within the permitted uniformResourceIdentifier subtrees",
        );
        let domain = state(&[ca("CN=CA", vec![uri(".example.com")], vec![])]);
        assert_eq!(
            verdict(
                &domain,
                &leaf("CN=x", vec![uri("https://www.example.com/")])
            ),
            Ok(())
        );
        assert_refused(
            verdict(&domain, &leaf("CN=x", vec![uri("https://example.com/")])),
            "not within the permitted",
        );
        let excluded = state(&[ca("CN=CA", vec![], vec![uri(".evil.com")])]);
        assert_refused(
            verdict(&excluded, &leaf("CN=x", vec![uri("http://a.evil.com/")])),
            "within the excluded subtree uniformResourceIdentifier \".evil.com\"",
        );
    }

    #[test]
    fn uri_without_a_comparable_host_is_refused_under_uri_constraints() {
        let state = state(&[ca("CN=CA", vec![], vec![uri(".evil.com")])]);
        for (bad, why) in [
            (
                "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
                "no authority",
            ),
            ("file:///etc/passwd", "no host"),
            ("https://192.0.2.1/", "is an IP address"),
            ("https://[2001:db8::1]/", "IP address literal"),
            ("https://example.com:https/", "port"),
            ("no-scheme", "no scheme"),
        ] {
            assert_refused(verdict(&state, &leaf("CN=x", vec![uri(bad)])), why);
        }
        assert_update_refused(
            &ca("CN=CA", vec![uri("https://example.com")], vec![]),
            "not a valid host name label",
        );
    }

    // ----------------------------------------------------------------------------- iPAddress

    #[test]
    fn ip_constraint_is_an_address_and_mask_of_the_same_family() {
        let v4 = [192, 0, 2, 0, 255, 255, 255, 0];
        let mut v6 = [0u8; 32];
        v6[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        v6[16..20].copy_from_slice(&[0xff; 4]);
        let state = state(&[ca("CN=CA", vec![ip(&v4), ip(&v6)], vec![])]);
        let mut inside_v6 = [0u8; 16];
        inside_v6[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        inside_v6[15] = 1;
        let mut outside_v6 = inside_v6;
        outside_v6[3] = 0xb9;
        assert_eq!(
            verdict(&state, &leaf("CN=x", vec![ip(&[192, 0, 2, 7])])),
            Ok(())
        );
        assert_eq!(verdict(&state, &leaf("CN=x", vec![ip(&inside_v6)])), Ok(()));
        for bad in [&[198, 51, 100, 1][..], &outside_v6[..]] {
            assert_refused(
                verdict(&state, &leaf("CN=x", vec![ip(bad)])),
                "not within the permitted iPAddress subtrees",
            );
        }
        // An IPv4 address never lies in an IPv6 subtree, even one of zero length.
        let v6_only = self::state(&[ca("CN=CA", vec![ip(&[0u8; 32])], vec![])]);
        assert_refused(
            verdict(&v6_only, &leaf("CN=x", vec![ip(&[192, 0, 2, 7])])),
            "not within the permitted iPAddress",
        );
        let excluded = self::state(&[ca("CN=CA", vec![], vec![ip(&[10, 0, 0, 0, 255, 0, 0, 0])])]);
        assert_refused(
            verdict(&excluded, &leaf("CN=x", vec![ip(&[10, 1, 2, 3])])),
            "the subjectAltName iPAddress 10.1.2.3 is within the excluded subtree iPAddress 10.0.0.0/8",
        );
        assert_eq!(
            verdict(&excluded, &leaf("CN=x", vec![ip(&[11, 1, 2, 3])])),
            Ok(())
        );
    }

    #[test]
    fn malformed_ip_lengths_and_masks_are_refused() {
        let state = state(&[ca("CN=CA", vec![], vec![ip(&[10, 0, 0, 0, 255, 0, 0, 0])])]);
        assert_refused(
            verdict(&state, &leaf("CN=x", vec![ip(&[10, 0, 0, 0, 1])])),
            "has 5 octets where an IPv4 or IPv6 address has 4 or 16",
        );
        assert_update_refused(
            &ca("CN=CA", vec![ip(&[10, 0, 0, 0])], vec![]),
            "has 4 octets",
        );
        assert_update_refused(
            &ca("CN=CA", vec![ip(&[10, 0, 0, 0, 255, 0, 255, 0])], vec![]),
            "is not a prefix mask",
        );
        assert_update_refused(
            &ca(
                "CN=CA",
                vec![ip(&[10, 0, 0, 0, 255, 0b1011_0000, 0, 0])],
                vec![],
            ),
            "is not a prefix mask",
        );
    }

    // ------------------------------------------------------------------------- directoryName

    /// A name whose one RDN per pair has the value in the given string type.
    fn typed_name(rdns: &[(ObjectIdentifier, Tag, &[u8])]) -> Name {
        Name::from(
            rdns.iter()
                .map(|(oid, tag, value)| {
                    let attribute = AttributeTypeAndValue {
                        oid: *oid,
                        value: Any::new(*tag, *value).unwrap(),
                    };
                    RelativeDistinguishedName::from(SetOfVec::try_from(vec![attribute]).unwrap())
                })
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn directory_name_constraint_is_an_rdn_prefix_of_the_subject() {
        let state = state(&[ca("CN=CA", vec![dir("O=Example,C=DE")], vec![])]);
        assert_eq!(
            verdict(&state, &leaf("CN=Alice,OU=Unit,O=Example,C=DE", vec![])),
            Ok(())
        );
        assert_eq!(verdict(&state, &leaf("O=Example,C=DE", vec![])), Ok(()));
        for bad in ["CN=Eve,O=Evil,C=DE", "CN=Eve,O=Example,C=FR", "C=DE"] {
            assert_refused(
                verdict(&state, &leaf(bad, vec![])),
                "is not within the permitted directoryName subtrees",
            );
        }
        // The empty subject of a certificate named by its subjectAltName only is not checked.
        assert_eq!(
            verdict(
                &state,
                &certificate(Name::default(), vec![san(vec![dns("a.example")])])
            ),
            Ok(())
        );
    }

    #[test]
    fn directory_values_compare_case_and_space_insensitively_across_string_types() {
        let state = state(&[ca("CN=CA", vec![dir("O=Acme  Widgets Inc,C=DE")], vec![])]);
        use const_oid::db::rfc4519::{COUNTRY_NAME, ORGANIZATION_NAME};
        let subject = typed_name(&[
            (COUNTRY_NAME, Tag::PrintableString, b"de"),
            (
                ORGANIZATION_NAME,
                Tag::PrintableString,
                b"  ACME widgets\t inc ",
            ),
            (ORGANIZATION_NAME, Tag::BmpString, &[0, b'X']),
        ]);
        assert_eq!(verdict(&state, &certificate(subject, vec![])), Ok(()));
        let other = typed_name(&[
            (COUNTRY_NAME, Tag::PrintableString, b"DE"),
            (ORGANIZATION_NAME, Tag::TeletexString, b"Acme Widgets Ltd"),
        ]);
        assert_refused(
            verdict(&state, &certificate(other, vec![])),
            "not within the permitted",
        );
    }

    #[test]
    fn directory_excluded_subtree_ignores_characters_mapped_to_nothing() {
        let state = state(&[ca("CN=CA", vec![], vec![dir("O=Evil,C=DE")])]);
        assert_refused(
            verdict(&state, &leaf("CN=Eve,O=Ev\u{200B}il\u{00AD},C=DE", vec![])),
            "within the excluded subtree directoryName \"O=Evil,C=DE\"",
        );
        assert_eq!(
            verdict(&state, &leaf("CN=Eve,O=Evilish,C=DE", vec![])),
            Ok(())
        );
    }

    #[test]
    fn directory_constraints_apply_to_the_subject_and_to_subject_alt_names() {
        let state = state(&[ca("CN=CA", vec![dir("O=Example")], vec![])]);
        // The subject is checked even though a subjectAltName is present.
        assert_refused(
            verdict(&state, &leaf("CN=Eve,O=Evil", vec![dns("a.example")])),
            "the subject \"CN=Eve,O=Evil\"",
        );
        assert_refused(
            verdict(
                &state,
                &leaf("CN=Bob,O=Example", vec![dir("CN=Bob,O=Evil")]),
            ),
            "the subjectAltName directoryName \"CN=Bob,O=Evil\"",
        );
        assert_eq!(
            verdict(
                &state,
                &leaf("CN=Bob,O=Example", vec![dir("CN=Box,O=Example")])
            ),
            Ok(())
        );
    }

    #[test]
    fn multi_valued_rdns_compare_as_sets_and_non_strings_exactly() {
        let state = state(&[ca("CN=CA", vec![dir("CN=Bob+UID=7,O=Example")], vec![])]);
        assert_eq!(
            verdict(&state, &leaf("UID=7+CN=BOB,O=Example", vec![])),
            Ok(())
        );
        assert_refused(
            verdict(&state, &leaf("CN=Bob,O=Example", vec![])),
            "not within the permitted",
        );
        let integer = const_oid::ObjectIdentifier::new_unwrap("2.5.4.5");
        let one = typed_name(&[(integer, Tag::Integer, &[1])]);
        let base = GeneralName::DirectoryName(one.clone());
        let exact = self::state(&[certificate(
            name("CN=CA"),
            vec![constraints(vec![base], vec![])],
        )]);
        assert_eq!(verdict(&exact, &certificate(one, vec![])), Ok(()));
        let two = typed_name(&[(integer, Tag::Integer, &[2])]);
        assert_refused(
            verdict(&exact, &certificate(two, vec![])),
            "not within the permitted",
        );
    }

    #[test]
    fn undecodable_directory_strings_are_refused_where_directory_names_are_constrained() {
        use const_oid::db::rfc4519::ORGANIZATION_NAME;
        let state = state(&[ca("CN=CA", vec![], vec![dir("O=Evil")])]);
        let bad = typed_name(&[(ORGANIZATION_NAME, Tag::Utf8String, &[0xff, 0xfe])]);
        assert_refused(
            verdict(&state, &certificate(bad, vec![])),
            "a UTF8String that is not UTF-8",
        );
    }

    // ---------------------------------------------------------------------------- otherName

    #[test]
    fn other_name_matches_same_type_and_byte_equal_value() {
        let permitted = state(&[ca("CN=CA", vec![other(UPN, "alice@example.com")], vec![])]);
        assert_eq!(
            verdict(
                &permitted,
                &leaf("CN=x", vec![other(UPN, "alice@example.com")])
            ),
            Ok(())
        );
        assert_refused(
            verdict(
                &permitted,
                &leaf("CN=x", vec![other(UPN, "bob@example.com")]),
            ),
            "not within the permitted otherName subtrees",
        );
        let another_type = ObjectIdentifier::new_unwrap("1.2.3.4");
        assert_refused(
            verdict(
                &permitted,
                &leaf("CN=x", vec![other(another_type, "alice@example.com")]),
            ),
            "not within the permitted otherName subtrees",
        );
    }

    #[test]
    fn other_name_under_an_excluded_subtree_of_its_type_is_refused_unless_comparable() {
        let excluded = state(&[ca("CN=CA", vec![], vec![other(UPN, "mallory@example.com")])]);
        assert_refused(
            verdict(
                &excluded,
                &leaf("CN=x", vec![other(UPN, "mallory@example.com")]),
            ),
            "within the excluded subtree otherName of type 1.3.6.1.4.1.311.20.2.3",
        );
        assert_refused(
            verdict(
                &excluded,
                &leaf("CN=x", vec![other(UPN, "bob@example.com")]),
            ),
            "cannot be shown to lie outside the excluded subtree",
        );
        let another_type = ObjectIdentifier::new_unwrap("1.2.3.4");
        assert_eq!(
            verdict(&excluded, &leaf("CN=x", vec![other(another_type, "bob")])),
            Ok(())
        );
    }

    #[test]
    fn smtp_utf8_mailbox_is_refused_under_rfc822_constraints() {
        let state = state(&[ca("CN=CA", vec![mail("example.com")], vec![])]);
        assert_refused(
            verdict(
                &state,
                &leaf(
                    "CN=x",
                    vec![other(ID_ON_SMTP_UTF8_MAILBOX, "ü@example.com")],
                ),
            ),
            "is an SmtpUTF8Mailbox",
        );
        let unconstrained = NameConstraintsState::new();
        assert_eq!(
            verdict(
                &unconstrained,
                &leaf(
                    "CN=x",
                    vec![other(ID_ON_SMTP_UTF8_MAILBOX, "ü@example.com")]
                )
            ),
            Ok(())
        );
    }

    // ------------------------------------------------------------- forms that are not compared

    #[test]
    fn names_of_uncompared_forms_are_refused_when_their_form_is_constrained() {
        let rid = GeneralName::RegisteredId(ObjectIdentifier::new_unwrap("1.3.6.1.4.1.99999.1"));
        let state = state(&[ca("CN=CA", vec![], vec![rid.clone()])]);
        assert_refused(
            verdict(&state, &leaf("CN=x", vec![rid.clone()])),
            "the subjectAltName registeredID 1.3.6.1.4.1.99999.1 is of a form the path constrains",
        );
        assert_eq!(
            verdict(&state, &leaf("CN=x", vec![dns("a.example")])),
            Ok(())
        );
        assert_eq!(
            verdict(&NameConstraintsState::new(), &leaf("CN=x", vec![rid])),
            Ok(())
        );
    }

    #[test]
    fn x400_address_is_decoded_as_a_tlv_and_refused_when_constrained() {
        let x400 = tlv(0xa3, &tlv(0x30, &[]));
        let subtree = tlv(0x30, &x400);
        let state = state(&[raw_constraints(tlv(0x30, &tlv(0xa1, &subtree)))]);
        let x400_san = extension(ID_CE_SUBJECT_ALT_NAME, tlv(0x30, &x400));
        let cert = certificate(name("CN=x"), vec![x400_san.clone()]);
        assert_refused(
            verdict(&state, &cert),
            "the subjectAltName x400Address is of a form the path constrains (x400Address",
        );
        assert_eq!(verdict(&NameConstraintsState::new(), &cert), Ok(()));
    }

    // --------------------------------------------------------------- intersection and union

    #[test]
    fn permitted_subtrees_of_two_levels_intersect() {
        let state = state(&[
            ca(
                "CN=Policy CA",
                vec![dns("example.com"), ip(&[10, 0, 0, 0, 255, 0, 0, 0])],
                vec![],
            ),
            ca("CN=Issuing CA", vec![dns("a.example.com")], vec![]),
        ]);
        for good in ["a.example.com", "x.a.example.com"] {
            assert_eq!(
                verdict(&state, &leaf("CN=x", vec![dns(good)])),
                Ok(()),
                "{good}"
            );
        }
        assert_refused(
            verdict(&state, &leaf("CN=x", vec![dns("b.example.com")])),
            "of the nameConstraints of \"CN=Issuing CA\"",
        );
        assert_refused(
            verdict(&state, &leaf("CN=x", vec![dns("a.example.org")])),
            "of the nameConstraints of \"CN=Policy CA\"",
        );
        // The issuing CA does not constrain iPAddress: the policy CA's subtree still holds.
        assert_eq!(
            verdict(&state, &leaf("CN=x", vec![ip(&[10, 9, 9, 9])])),
            Ok(())
        );
        assert_refused(
            verdict(&state, &leaf("CN=x", vec![ip(&[11, 9, 9, 9])])),
            "permitted iPAddress subtrees of the nameConstraints of \"CN=Policy CA\"",
        );
    }

    #[test]
    fn disjoint_permitted_subtrees_leave_no_name_of_that_form() {
        let state = state(&[
            ca("CN=Policy CA", vec![dns("example.com")], vec![]),
            ca("CN=Issuing CA", vec![dns("example.org")], vec![]),
        ]);
        for name in ["example.com", "example.org", "a.example.com"] {
            assert_refused(
                verdict(&state, &leaf("CN=x", vec![dns(name)])),
                "not within the permitted dNSName",
            );
        }
        assert_eq!(
            verdict(&state, &leaf("CN=x", vec![ip(&[1, 2, 3, 4])])),
            Ok(())
        );
    }

    #[test]
    fn excluded_subtrees_of_two_levels_add_up() {
        let state = state(&[
            ca("CN=Policy CA", vec![], vec![dns("a.example.com")]),
            ca(
                "CN=Issuing CA",
                vec![dns("example.com")],
                vec![dns("b.example.com")],
            ),
        ]);
        assert_refused(
            verdict(&state, &leaf("CN=x", vec![dns("x.a.example.com")])),
            "excluded subtree dNSName \"a.example.com\" of the nameConstraints of \"CN=Policy CA\"",
        );
        assert_refused(
            verdict(&state, &leaf("CN=x", vec![dns("b.example.com")])),
            "excluded subtree dNSName \"b.example.com\" of the nameConstraints of \"CN=Issuing CA\"",
        );
        assert_eq!(
            verdict(&state, &leaf("CN=x", vec![dns("c.example.com")])),
            Ok(())
        );
    }

    #[test]
    fn a_ca_without_name_constraints_changes_nothing() {
        let mut state = state(&[ca("CN=CA", vec![dns("example.com")], vec![])]);
        state.update(&leaf("CN=Plain CA", vec![])).unwrap();
        assert_eq!(
            verdict(&state, &leaf("CN=x", vec![dns("a.example.com")])),
            Ok(())
        );
        assert_refused(
            verdict(&state, &leaf("CN=x", vec![dns("a.example.org")])),
            "not within",
        );
    }

    // --------------------------------------------------------------------- malformed content

    #[test]
    fn malformed_name_constraints_are_refused() {
        let dns_subtree = |extra: &[u8]| {
            let mut fields = tlv(0x82, b"example.com");
            fields.extend_from_slice(extra);
            tlv(0x30, &fields)
        };
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                tlv(0x30, &[]),
                "neither permittedSubtrees nor excludedSubtrees",
            ),
            (tlv(0x30, &tlv(0xa0, &[])), "permittedSubtrees is empty"),
            (
                tlv(0x30, &tlv(0xa1, &dns_subtree(&tlv(0x80, &[1])))),
                "minimum other than 0",
            ),
            (
                tlv(0x30, &tlv(0xa0, &dns_subtree(&tlv(0x81, &[3])))),
                "has a maximum",
            ),
            (
                tlv(
                    0x30,
                    &tlv(
                        0xa0,
                        &dns_subtree(&[tlv(0x80, &[0]), tlv(0x81, &[3])].concat()),
                    ),
                ),
                "has a maximum",
            ),
            (
                tlv(0x30, &tlv(0xa0, &dns_subtree(&tlv(0x04, &[])))),
                "unexpected",
            ),
            (tlv(0x30, &tlv(0xa2, &dns_subtree(&[]))), "unexpected field"),
            (
                tlv(
                    0x30,
                    &[tlv(0xa1, &dns_subtree(&[])), tlv(0xa0, &dns_subtree(&[]))].concat(),
                ),
                "unexpected field",
            ),
            (tlv(0x30, &tlv(0xa0, &tlv(0x30, &[]))), "has no base"),
            (
                tlv(0x30, &tlv(0xa0, &tlv(0x30, &tlv(0x89, &[1])))),
                "not a GeneralName alternative",
            ),
            (
                tlv(0x30, &tlv(0xa0, &tlv(0x30, &tlv(0x82, &[0xc3, 0xa9])))),
                "not valid DER",
            ),
            (vec![0x30, 0x05, 0xa0], "not DER"),
            (tlv(0x04, &[]), "where a SEQUENCE is due"),
        ];
        for (der, fragment) in cases {
            assert_update_refused(&raw_constraints(der), fragment);
        }
        let twice = certificate(
            name("CN=CA"),
            vec![
                constraints(vec![dns("example.com")], vec![]),
                constraints(vec![], vec![dns("evil.com")]),
            ],
        );
        assert_update_refused(&twice, "more than one nameConstraints extension");
    }

    #[test]
    fn an_explicit_zero_minimum_is_tolerated() {
        let subtree = tlv(0x30, &[tlv(0x82, b"example.com"), tlv(0x80, &[0])].concat());
        let state = state(&[raw_constraints(tlv(0x30, &tlv(0xa0, &subtree)))]);
        assert_eq!(
            verdict(&state, &leaf("CN=x", vec![dns("a.example.com")])),
            Ok(())
        );
        assert_refused(
            verdict(&state, &leaf("CN=x", vec![dns("a.example.org")])),
            "not within",
        );
    }

    #[test]
    fn a_refused_update_leaves_the_state_unchanged() {
        let mut state = state(&[ca("CN=CA", vec![dns("example.com")], vec![])]);
        // The first subtree is valid, the second is not: nothing of the extension is kept.
        let bad = ca(
            "CN=Bad CA",
            vec![dns("a.example.com"), ip(&[1, 2, 3])],
            vec![],
        );
        assert!(state.update(&bad).is_err());
        assert_eq!(
            verdict(&state, &leaf("CN=x", vec![dns("b.example.com")])),
            Ok(())
        );
    }

    #[test]
    fn malformed_subject_alt_names_are_refused() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![0x30, 0x03, 0x82, 0x01], "not DER"),
            (tlv(0x30, &[]), "the subjectAltName extension is empty"),
            (
                tlv(0x30, &tlv(0x82, &[0xc3, 0xa9])),
                "a dNSName is not valid DER",
            ),
            (
                tlv(0x30, &tlv(0x81, &[0x80])),
                "a rfc822Name is not valid DER",
            ),
            (tlv(0x30, &tlv(0x89, b"x")), "not a GeneralName alternative"),
            (tlv(0x30, &tlv(0xa2, b"x")), "not a GeneralName alternative"),
            (tlv(0x31, &tlv(0x82, b"x")), "where a SEQUENCE is due"),
        ];
        for (der, fragment) in cases {
            let cert = certificate(name("CN=x"), vec![extension(ID_CE_SUBJECT_ALT_NAME, der)]);
            assert_refused(verdict(&NameConstraintsState::new(), &cert), fragment);
        }
        let twice = certificate(
            name("CN=x"),
            vec![san(vec![dns("a.example")]), san(vec![dns("b.example")])],
        );
        assert_refused(
            verdict(&NameConstraintsState::new(), &twice),
            "more than one subjectAltName extension",
        );
    }

    // -------------------------------------------------------------------------------- cost

    #[test]
    fn thousands_of_names_against_thousands_of_subtrees_are_refused_before_comparing() {
        const COUNT: usize = 2_000;
        let permitted: Vec<GeneralName> = (0..COUNT)
            .map(|i| dns(&format!("d{i}.example.com")))
            .collect();
        let names: Vec<GeneralName> = (0..COUNT)
            .map(|i| dns(&format!("h.d{i}.example.com")))
            .collect();
        let ca = ca("CN=Greedy CA", permitted, vec![]);
        let leaf = leaf("CN=x", names);
        let started = Instant::now();
        let mut state = NameConstraintsState::new();
        state.update(&ca).unwrap();
        let mut work = 0;
        let result = state.check(&leaf, &mut work);
        let elapsed = started.elapsed();
        eprintln!("{COUNT} names × {COUNT} subtrees: refused in {elapsed:?}");
        let reason = result.unwrap_err().reason;
        assert!(
            reason.contains("needs 4000000 name × subtree comparisons"),
            "{reason}"
        );
        assert!(elapsed < Duration::from_millis(500), "took {elapsed:?}");
    }

    #[test]
    fn work_adds_up_across_the_certificates_of_a_path() {
        let state = state(&[ca("CN=CA", vec![dns("example.com")], vec![dns("evil.com")])]);
        let cert = leaf("CN=x", vec![dns("a.example.com"), dns("b.example.com")]);
        let mut work = 0;
        state.check(&cert, &mut work).unwrap();
        assert_eq!(work, 4);
        let mut work = MAX_COMPARISONS - 4;
        state.check(&cert, &mut work).unwrap();
        assert_eq!(work, MAX_COMPARISONS);
        let mut work = MAX_COMPARISONS - 3;
        assert!(state
            .check(&cert, &mut work)
            .unwrap_err()
            .reason
            .contains("after 249997 already made"));
    }

    #[test]
    fn the_most_work_allowed_stays_fast() {
        // Each name is permitted only by the last subtree, so every comparison is made.
        const NAMES: usize = 400;
        const SUBTREES: usize = MAX_COMPARISONS / NAMES;
        let mut permitted: Vec<GeneralName> = (1..SUBTREES)
            .map(|i| dns(&format!("d{i}.example.org")))
            .collect();
        permitted.push(dns("example.com"));
        let names: Vec<GeneralName> = (0..NAMES)
            .map(|i| dns(&format!("h{i}.example.com")))
            .collect();
        let state = state(&[ca("CN=Big CA", permitted, vec![])]);
        let leaf = leaf("CN=x", names);
        let started = Instant::now();
        let mut work = 0;
        state.check(&leaf, &mut work).unwrap();
        let elapsed = started.elapsed();
        eprintln!("{work} comparisons made in {elapsed:?}");
        assert_eq!(work, MAX_COMPARISONS);
    }
}
