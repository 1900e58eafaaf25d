//! Long-term CAdES (ETSI EN 319 122-1 levels LT and LTA): the validation-data attributes and
//! the archive-time-stamp-v3 with its ats-hash-index-v3.
//!
//! ASN.1 (RFC 5126 §6.3.3–6.3.4; its modules are `DEFINITIONS EXPLICIT TAGS`, and
//! BouncyCastle's `RevocationValues` writes `DERTaggedObject(true, n, …)`: explicit tags):
//!
//! ```text
//! CertificateValues ::= SEQUENCE OF Certificate
//! RevocationValues ::= SEQUENCE {
//!     crlVals      [0] SEQUENCE OF CertificateList   OPTIONAL,
//!     ocspVals     [1] SEQUENCE OF BasicOCSPResponse OPTIONAL,
//!     otherRevVals [2] OtherRevVals                  OPTIONAL }
//! OtherRevVals ::= SEQUENCE { otherRevValType OBJECT IDENTIFIER,
//!                             otherRevVals ANY DEFINED BY otherRevValType }
//! ATSHashIndexV3 ::= SEQUENCE {
//!     hashIndAlgorithm            AlgorithmIdentifier DEFAULT {algorithm id-sha256},
//!     certificatesHashIndex       SEQUENCE OF OCTET STRING,
//!     crlsHashIndex               SEQUENCE OF OCTET STRING,
//!     unsignedAttrValuesHashIndex SEQUENCE OF OCTET STRING }
//! ```
//!
//! The ats-hash-index-v3 (EN 319 122-1 §5.5.2), as EU DSS computes it
//! (`CadesLevelBaselineLTATimestampExtractor`, `CAdESUtils.getATSHashIndexV3OctetString`),
//! hashes with `hashIndAlgorithm` (the archive time-stamp's imprint algorithm):
//! - each `CertificateChoices` of `SignedData.certificates` (its DER, tag and length included);
//! - each `RevocationInfoChoice` of `SignedData.crls` (an OCSP response there is the
//!   `[1] IMPLICIT OtherRevocationInfoFormat` encoding);
//! - for each unsigned attribute of the SignerInfo and each of its values, the concatenation
//!   of the DER `attrType` OID and the DER value.
//!
//! DSS always writes `hashIndAlgorithm` in a v3 index, SHA-256 included; we do the same and
//! read both forms (absent means SHA-256).
//!
//! The archive-time-stamp-v3 imprint (§5.5.3, DSS `getArchiveTimestampV3MessageImprint`) is
//! the hash of the concatenation of: the DER `eContentType`; the hash (same algorithm) of the
//! signed content (the eContent octets, or the detached document); the DER fields `version`,
//! `sid`, `digestAlgorithm`, `signedAttrs` (as `[0] IMPLICIT SET`), `signatureAlgorithm`,
//! `signature` of the SignerInfo; the DER `ATSHashIndexV3` value carried in the time-stamp
//! token's ats-hash-index-v3 unsigned attribute.
//!
//! Functions here take decoded structures and hash their DER encodings: for DER input (what
//! `der` accepts) the encoding is the original octets.

mod extend;

pub use extend::{
    add_token_validation_values, add_validation_values, archive_timestamp_request,
    archive_timestamps, attach_archive_timestamp, ArchiveTimestamp,
};

use cms::signed_data::{SignedData, SignerInfo};
use const_oid::db::rfc5912;
use const_oid::ObjectIdentifier;
use der::asn1::{Any, ContextSpecificRef, OctetString};
use der::{
    Decode, DecodeValue, Encode, EncodeValue, FixedTag, Header, Length, Reader, Sequence, Tag,
    TagMode, TagNumber, Tagged, Writer,
};
use spki::AlgorithmIdentifierOwned;
use x509_cert::crl::CertificateList;
use x509_cert::Certificate;
use x509_ocsp::BasicOcspResponse;

use crate::cades;

/// `CertificateValues ::= SEQUENCE OF Certificate` (value of certificate-values).
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct CertificateValues(pub Vec<Certificate>);

impl FixedTag for CertificateValues {
    const TAG: Tag = Tag::Sequence;
}

impl<'a> DecodeValue<'a> for CertificateValues {
    fn decode_value<R: Reader<'a>>(reader: &mut R, header: Header) -> der::Result<Self> {
        Ok(CertificateValues(Vec::<Certificate>::decode_value(
            reader, header,
        )?))
    }
}

impl EncodeValue for CertificateValues {
    fn value_len(&self) -> der::Result<Length> {
        self.0.value_len()
    }
    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        self.0.encode_value(writer)
    }
}

/// `OtherRevVals` of RFC 5126: revocation data of another format.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct OtherRevVals {
    /// otherRevValType.
    pub other_rev_val_type: ObjectIdentifier,
    /// otherRevVals.
    pub other_rev_vals: Any,
}

/// `RevocationValues` (value of revocation-values), explicit tags.
#[derive(Clone, Debug, Default, Eq, PartialEq, Sequence)]
pub struct RevocationValues {
    /// crlVals.
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub crl_vals: Option<Vec<CertificateList>>,
    /// ocspVals.
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    pub ocsp_vals: Option<Vec<BasicOcspResponse>>,
    /// otherRevVals.
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    pub other_rev_vals: Option<OtherRevVals>,
}

/// `ATSHashIndexV3` (value of ats-hash-index-v3).
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct AtsHashIndexV3 {
    /// hashIndAlgorithm; `None` when absent (SHA-256).
    pub hash_ind_algorithm: Option<AlgorithmIdentifierOwned>,
    /// Hashes of `SignedData.certificates` entries.
    pub certificates_hash_index: Vec<OctetString>,
    /// Hashes of `SignedData.crls` entries.
    pub crls_hash_index: Vec<OctetString>,
    /// Hashes of `attrType || value` of each unsigned attribute value.
    pub unsigned_attr_values_hash_index: Vec<OctetString>,
}

impl AtsHashIndexV3 {
    /// The hash algorithm of the index (SHA-256 when `hashIndAlgorithm` is absent).
    pub fn hash_algorithm(&self) -> ObjectIdentifier {
        self.hash_ind_algorithm
            .as_ref()
            .map_or(rfc5912::ID_SHA_256, |a| a.oid)
    }
}

impl FixedTag for AtsHashIndexV3 {
    const TAG: Tag = Tag::Sequence;
}

impl<'a> DecodeValue<'a> for AtsHashIndexV3 {
    fn decode_value<R: Reader<'a>>(reader: &mut R, header: Header) -> der::Result<Self> {
        reader.read_nested(header.length, |r| {
            // Both the optional AlgorithmIdentifier and the lists are SEQUENCEs: the
            // algorithm is present when the first SEQUENCE starts with an OID.
            let first = Any::decode(r)?;
            let starts_with_oid = first.value().first() == Some(&0x06);
            let (alg, certs) = if starts_with_oid {
                (
                    Some(first.decode_as::<AlgorithmIdentifierOwned>()?),
                    Vec::<OctetString>::decode(r)?,
                )
            } else {
                (None, first.decode_as::<Vec<OctetString>>()?)
            };
            Ok(AtsHashIndexV3 {
                hash_ind_algorithm: alg,
                certificates_hash_index: certs,
                crls_hash_index: Vec::<OctetString>::decode(r)?,
                unsigned_attr_values_hash_index: Vec::<OctetString>::decode(r)?,
            })
        })
    }
}

impl EncodeValue for AtsHashIndexV3 {
    fn value_len(&self) -> der::Result<Length> {
        self.hash_ind_algorithm.encoded_len()?
            + self.certificates_hash_index.encoded_len()?
            + self.crls_hash_index.encoded_len()?
            + self.unsigned_attr_values_hash_index.encoded_len()?
    }
    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        self.hash_ind_algorithm.encode(writer)?;
        self.certificates_hash_index.encode(writer)?;
        self.crls_hash_index.encode(writer)?;
        self.unsigned_attr_values_hash_index.encode(writer)
    }
}

fn der_of(what: &str, v: &impl Encode) -> Result<Vec<u8>, String> {
    v.to_der().map_err(|e| format!("encoding {what}: {e}"))
}

/// The hashes of the three lists, with `hash`, in the SignedData/SignerInfo as they are now.
struct CurrentHashes {
    certificates: Vec<Vec<u8>>,
    crls: Vec<Vec<u8>>,
    unsigned: Vec<(ObjectIdentifier, Vec<u8>)>,
}

fn current_hashes(
    sd: &SignedData,
    si: &SignerInfo,
    hash: ObjectIdentifier,
) -> Result<CurrentHashes, String> {
    let mut certificates = Vec::new();
    for c in sd.certificates.iter().flat_map(|s| s.0.iter()) {
        certificates.push(cades::digest(&hash, &der_of("a certificate", c)?)?);
    }
    let mut crls = Vec::new();
    for c in sd.crls.iter().flat_map(|s| s.0.iter()) {
        crls.push(cades::digest(&hash, &der_of("a CRL", c)?)?);
    }
    let mut unsigned = Vec::new();
    for a in si.unsigned_attrs.iter().flat_map(|s| s.iter()) {
        let oid = der_of("an attribute type", &a.oid)?;
        for v in a.values.iter() {
            let mut buf = oid.clone();
            buf.extend_from_slice(&der_of("an attribute value", v)?);
            unsigned.push((a.oid, cades::digest(&hash, &buf)?));
        }
    }
    Ok(CurrentHashes {
        certificates,
        crls,
        unsigned,
    })
}

fn octets(list: Vec<Vec<u8>>) -> Result<Vec<OctetString>, String> {
    list.into_iter()
        .map(|h| OctetString::new(h).map_err(|e| e.to_string()))
        .collect()
}

/// The ats-hash-index-v3 of `si` within `sd` now, hashed with `hash` (SHA-256/384/512).
pub fn build_ats_hash_index(
    sd: &SignedData,
    si: &SignerInfo,
    hash: ObjectIdentifier,
) -> Result<AtsHashIndexV3, String> {
    let h = current_hashes(sd, si, hash)?;
    Ok(AtsHashIndexV3 {
        hash_ind_algorithm: Some(AlgorithmIdentifierOwned {
            oid: hash,
            parameters: None,
        }),
        certificates_hash_index: octets(h.certificates)?,
        crls_hash_index: octets(h.crls)?,
        unsigned_attr_values_hash_index: octets(h.unsigned.into_iter().map(|(_, d)| d).collect())?,
    })
}

/// The archive-time-stamp-v3 message imprint (the digest, with `hash`) of `si` within `sd`
/// for `index`. `detached_content` is used when `sd` has no eContent. `hash` must be the
/// index's algorithm.
pub fn ats_v3_imprint(
    sd: &SignedData,
    si: &SignerInfo,
    detached_content: Option<&[u8]>,
    hash: ObjectIdentifier,
    index: &AtsHashIndexV3,
) -> Result<Vec<u8>, String> {
    if index.hash_algorithm() != hash {
        return Err(format!(
            "the ats-hash-index-v3 uses {}, the archive time-stamp {}; they must be the same",
            cades::hash_name(&index.hash_algorithm()),
            cades::hash_name(&hash)
        ));
    }
    let content_hash = match (&sd.encap_content_info.econtent, detached_content) {
        (Some(any), _) => {
            if any.tag() != Tag::OctetString {
                return Err(format!("eContent is a {}, not an OCTET STRING", any.tag()));
            }
            cades::digest(&hash, any.value())?
        }
        (None, Some(doc)) => cades::digest(&hash, doc)?,
        (None, None) => return Err(
            "detached signature: the signed content is needed for the archive time-stamp imprint"
                .into(),
        ),
    };
    let mut buf = der_of("eContentType", &sd.encap_content_info.econtent_type)?;
    buf.extend_from_slice(&content_hash);
    buf.extend_from_slice(&der_of("SignerInfo.version", &si.version)?);
    buf.extend_from_slice(&der_of("SignerInfo.sid", &si.sid)?);
    buf.extend_from_slice(&der_of("SignerInfo.digestAlgorithm", &si.digest_alg)?);
    if let Some(sa) = &si.signed_attrs {
        let tagged = ContextSpecificRef {
            tag_number: TagNumber::N0,
            tag_mode: TagMode::Implicit,
            value: sa,
        };
        buf.extend_from_slice(&der_of("SignerInfo.signedAttrs", &tagged)?);
    }
    buf.extend_from_slice(&der_of(
        "SignerInfo.signatureAlgorithm",
        &si.signature_algorithm,
    )?);
    buf.extend_from_slice(&der_of("SignerInfo.signature", &si.signature)?);
    buf.extend_from_slice(&der_of("the ats-hash-index-v3", index)?);
    cades::digest(&hash, &buf)
}

/// Checks that every hash of `index` is found among the current elements of `sd` and `si`
/// (elements added after the archive time-stamp are allowed). The error names the list and
/// the first missing entry (0-based position and hex).
pub fn check_ats_hash_index(
    sd: &SignedData,
    si: &SignerInfo,
    index: &AtsHashIndexV3,
) -> Result<(), String> {
    let h = current_hashes(sd, si, index.hash_algorithm())?;
    let unsigned: Vec<Vec<u8>> = h.unsigned.into_iter().map(|(_, d)| d).collect();
    for (name, listed, present) in [
        (
            "certificatesHashIndex (SignedData.certificates)",
            &index.certificates_hash_index,
            &h.certificates,
        ),
        (
            "crlsHashIndex (SignedData.crls)",
            &index.crls_hash_index,
            &h.crls,
        ),
        (
            "unsignedAttrValuesHashIndex (unsigned attributes)",
            &index.unsigned_attr_values_hash_index,
            &unsigned,
        ),
    ] {
        for (i, entry) in listed.iter().enumerate() {
            if !present.iter().any(|p| p.as_slice() == entry.as_bytes()) {
                return Err(format!(
                    "ats-hash-index-v3 {name} entry {i} ({}) matches no current element: something covered by the archive time-stamp was removed or altered",
                    hex::encode(entry.as_bytes())
                ));
            }
        }
    }
    Ok(())
}

/// The ats-hash-index-v3 carried in the unsigned attributes of an archive time-stamp token's
/// SignerInfo (exactly one is required).
pub fn ats_hash_index_of(token_signer: &SignerInfo) -> Result<AtsHashIndexV3, String> {
    let v = cades::single_attribute(
        token_signer.unsigned_attrs.as_ref(),
        pkix::oid::ID_AA_ATS_HASH_INDEX_V3,
    )?
    .ok_or("the archive time-stamp token has no ats-hash-index-v3 attribute")?;
    v.decode_as().map_err(|e| format!("ats-hash-index-v3: {e}"))
}

/// Whether the value `value` of the unsigned attribute `oid` is listed in `index`.
pub fn index_covers(index: &AtsHashIndexV3, oid: ObjectIdentifier, value: &Any) -> bool {
    let (Ok(o), Ok(v)) = (oid.to_der(), value.to_der()) else {
        return false;
    };
    let mut buf = o;
    buf.extend_from_slice(&v);
    cades::digest(&index.hash_algorithm(), &buf).is_ok_and(|h| {
        index
            .unsigned_attr_values_hash_index
            .iter()
            .any(|e| e.as_bytes() == h.as_slice())
    })
}

#[cfg(test)]
mod tests;
