//! Augmentation steps on DER CMS bytes with one SignerInfo: CAdES-T → LT (validation data),
//! LT → LTA (archive-time-stamp-v3), and the validation data of the newest archive
//! time-stamp inside that token.
//!
//! Where the validation data goes. CAdES baseline (and EU DSS's `CAdESLevelBaselineLT`)
//! puts new certificates and revocation data into `SignedData.certificates` / `crls`; when
//! an archive time-stamp v2 already covers those sets, DSS instead extends the *last archive
//! time-stamp token* with them (`addValidationData` → `extendWithValidationData` on the
//! token's CMS). Here the data goes into the certificate-values / revocation-values unsigned
//! attributes (RFC 5126 §6.3.3–6.3.4, EN 319 122-1 §5.4) of the signature's SignerInfo; an
//! attribute value already listed in an archive time-stamp's ats-hash-index-v3 is never
//! modified (that would break the index): the new values then go, as in DSS, into the newest
//! archive time-stamp token — in its SignerInfo's certificate-values / revocation-values.
//!
//! A time-stamp token is itself a CMS signature and its SignerInfo's unsigned attributes are
//! not covered by the token's signature, so adding the TSA's own chain and status there keeps
//! the token valid (`openssl ts -verify` ignores them). DSS does the equivalent (validation
//! data of an archive time-stamp placed inside that token's SignedData). The ETSI text itself
//! (EN 319 122-1 §5.5.3) was not available to check; it only requires that the ats-hash-index
//! covers the signature's unsigned attribute values *at the time of the archive time-stamp*,
//! and a later archive time-stamp covers the then-extended token as one attribute value.

use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerInfo, SignerInfos};
use const_oid::db::rfc5911;
use const_oid::ObjectIdentifier;
use der::asn1::{Any, SetOfVec};
use der::{Decode, Encode};
use time::OffsetDateTime;
use x509_cert::attr::Attribute;
use x509_cert::crl::CertificateList;
use x509_cert::Certificate;
use x509_ocsp::BasicOcspResponse;

use pkix::oid::{
    ID_AA_ATS_HASH_INDEX_V3, ID_AA_ETS_ARCHIVE_TIMESTAMP_V3, ID_AA_ETS_CERT_VALUES,
    ID_AA_ETS_REVOCATION_VALUES,
};

use super::{
    ats_hash_index_of, ats_v3_imprint, build_ats_hash_index, check_ats_hash_index, index_covers,
    AtsHashIndexV3, CertificateValues, RevocationValues,
};
use crate::{cades, sign, Error, Result};

/// One archive-time-stamp-v3 of a signature.
#[derive(Debug, Clone)]
pub struct ArchiveTimestamp {
    /// The token (a ContentInfo of SignedData over a TSTInfo).
    pub token: ContentInfo,
    /// Its ats-hash-index-v3.
    pub index: AtsHashIndexV3,
    /// The TSTInfo's genTime.
    pub gen_time: OffsetDateTime,
    /// The TSTInfo's imprint algorithm.
    pub hash: ObjectIdentifier,
    /// The TSTInfo's imprint.
    pub imprint: Vec<u8>,
    /// Position of its attribute among the SignerInfo's unsigned attributes.
    pub attribute: usize,
}

/// Every archive-time-stamp-v3 of `si`, in attribute order. An attribute with several
/// values, a token that is not a time-stamp, or one without ats-hash-index-v3 is an error.
pub fn archive_timestamps(si: &SignerInfo) -> Result<Vec<ArchiveTimestamp>, String> {
    let mut out = Vec::new();
    for (i, a) in si.unsigned_attrs.iter().flat_map(|s| s.iter()).enumerate() {
        if a.oid != ID_AA_ETS_ARCHIVE_TIMESTAMP_V3 {
            continue;
        }
        let values: Vec<&Any> = a.values.iter().collect();
        let [v] = values.as_slice() else {
            return Err(format!(
                "an archive-time-stamp-v3 attribute has {} values; one is required",
                values.len()
            ));
        };
        let token: ContentInfo = v
            .decode_as()
            .map_err(|e| format!("archive-time-stamp-v3 token: {e}"))?;
        let parsed = cades::parse_signed_data(&token.content)
            .map_err(|e| format!("archive-time-stamp-v3 token: {e}"))?;
        let tst = tsa::asn1::TstInfo::from_der(parsed.attached.as_deref().unwrap_or_default())
            .map_err(|e| format!("archive-time-stamp-v3 TSTInfo: {e}"))?;
        let index = ats_hash_index_of(&parsed.signer)?;
        out.push(ArchiveTimestamp {
            gen_time: tst.gen_time.datetime(),
            hash: tst.message_imprint.hash_algorithm.oid,
            imprint: tst.message_imprint.hashed_message.as_bytes().to_vec(),
            index,
            token,
            attribute: i,
        });
    }
    Ok(out)
}

/// The SignedData of a DER (or PEM) CMS with exactly one SignerInfo, and that SignerInfo.
fn open(cms_der: &[u8]) -> Result<(SignedData, SignerInfo)> {
    let der = cades::cms_der(cms_der).map_err(Error::Input)?;
    let ci = ContentInfo::from_der(&der)
        .map_err(|e| Error::Input(format!("not a DER CMS ContentInfo: {e}")))?;
    if ci.content_type != rfc5911::ID_SIGNED_DATA {
        return Err(Error::Input(format!(
            "content type {} is not id-signedData",
            ci.content_type
        )));
    }
    let sd: SignedData = ci
        .content
        .decode_as()
        .map_err(|e| Error::Input(format!("SignedData: {e}")))?;
    let si = match sd.signer_infos.0.as_slice() {
        [one] => one.clone(),
        [] => return Err(Error::Input("the SignedData has no SignerInfo".into())),
        more => {
            return Err(Error::Input(format!(
                "the SignedData has {} SignerInfos; only single-signer CMS can be extended",
                more.len()
            )))
        }
    };
    Ok((sd, si))
}

/// `sd` with `si` as its only SignerInfo, as a DER ContentInfo.
fn close(mut sd: SignedData, si: SignerInfo) -> Result<Vec<u8>> {
    sd.signer_infos = SignerInfos(SetOfVec::try_from(vec![si])?);
    Ok(ContentInfo {
        content_type: rfc5911::ID_SIGNED_DATA,
        content: Any::encode_from(&sd)?,
    }
    .to_der()?)
}

fn unsigned_vec(si: &mut SignerInfo) -> Vec<Attribute> {
    si.unsigned_attrs
        .take()
        .map(|u| u.into_vec())
        .unwrap_or_default()
}

fn set_unsigned(si: &mut SignerInfo, attrs: Vec<Attribute>) -> Result<()> {
    si.unsigned_attrs = if attrs.is_empty() {
        None
    } else {
        Some(SetOfVec::try_from(attrs)?)
    };
    Ok(())
}

/// The one attribute `oid` among `attrs` (position), refusing several.
fn position_of(attrs: &[Attribute], oid: ObjectIdentifier, name: &str) -> Result<Option<usize>> {
    let found: Vec<usize> = attrs
        .iter()
        .enumerate()
        .filter(|(_, a)| a.oid == oid)
        .map(|(i, _)| i)
        .collect();
    match found.as_slice() {
        [] => Ok(None),
        [i] => match attrs.get(*i).map(|a| a.values.len()) {
            Some(1) => Ok(Some(*i)),
            n => Err(Error::Input(format!(
                "the {name} attribute has {} values; one is required",
                n.unwrap_or(0)
            ))),
        },
        more => Err(Error::Input(format!(
            "the {name} attribute appears {} times",
            more.len()
        ))),
    }
}

fn only_value(attrs: &[Attribute], i: usize) -> Option<&Any> {
    attrs.get(i).and_then(|a| a.values.iter().next())
}

/// The validation values already present in a SignedData and its SignerInfo's attributes,
/// as DER, to avoid duplicates.
#[derive(Default)]
struct Known {
    certs: Vec<Vec<u8>>,
    revs: Vec<Vec<u8>>,
}

impl Known {
    fn of(sd: &SignedData, attrs: &[Attribute]) -> Result<Known> {
        let mut k = Known::default();
        for c in sd.certificates.iter().flat_map(|s| s.0.iter()) {
            if let CertificateChoices::Certificate(c) = c {
                k.certs.push(c.to_der()?);
            }
        }
        for r in sd.crls.iter().flat_map(|s| s.0.iter()) {
            if let cms::revocation::RevocationInfoChoice::Crl(c) = r {
                k.revs.push(c.to_der()?);
            }
        }
        if let Some(i) = position_of(attrs, ID_AA_ETS_CERT_VALUES, "certificate-values")? {
            if let Some(v) = only_value(attrs, i) {
                for c in decode_cert_values(v)?.0 {
                    k.certs.push(c.to_der()?);
                }
            }
        }
        if let Some(i) = position_of(attrs, ID_AA_ETS_REVOCATION_VALUES, "revocation-values")? {
            if let Some(v) = only_value(attrs, i) {
                let rv = decode_rev_values(v)?;
                for c in rv.crl_vals.iter().flatten() {
                    k.revs.push(c.to_der()?);
                }
                for o in rv.ocsp_vals.iter().flatten() {
                    k.revs.push(o.to_der()?);
                }
            }
        }
        Ok(k)
    }
}

fn decode_cert_values(v: &Any) -> Result<CertificateValues> {
    v.decode_as()
        .map_err(|e| Error::Input(format!("certificate-values: {e}")))
}

fn decode_rev_values(v: &Any) -> Result<RevocationValues> {
    v.decode_as()
        .map_err(|e| Error::Input(format!("revocation-values: {e}")))
}

/// The new values, without those already known or repeated.
struct NewValues {
    certs: Vec<Certificate>,
    crls: Vec<CertificateList>,
    ocsp: Vec<BasicOcspResponse>,
}

impl NewValues {
    fn filter(
        known: &Known,
        certs: &[Certificate],
        crls: &[CertificateList],
        ocsp: &[BasicOcspResponse],
    ) -> Result<NewValues> {
        let mut seen_c = known.certs.clone();
        let mut seen_r = known.revs.clone();
        let mut out = NewValues {
            certs: Vec::new(),
            crls: Vec::new(),
            ocsp: Vec::new(),
        };
        for c in certs {
            let d = c.to_der()?;
            if !seen_c.contains(&d) {
                seen_c.push(d);
                out.certs.push(c.clone());
            }
        }
        for c in crls {
            let d = c.to_der()?;
            if !seen_r.contains(&d) {
                seen_r.push(d);
                out.crls.push(c.clone());
            }
        }
        for o in ocsp {
            let d = o.to_der()?;
            if !seen_r.contains(&d) {
                seen_r.push(d);
                out.ocsp.push(o.clone());
            }
        }
        Ok(out)
    }

    fn is_empty(&self) -> bool {
        self.certs.is_empty() && self.crls.is_empty() && self.ocsp.is_empty()
    }
}

/// Adds `new` into the certificate-values and revocation-values attributes of `attrs`
/// (created when absent).
fn merge_into(attrs: &mut Vec<Attribute>, new: NewValues) -> Result<()> {
    if !new.certs.is_empty() {
        let pos = position_of(attrs, ID_AA_ETS_CERT_VALUES, "certificate-values")?;
        let mut values = match pos.and_then(|i| only_value(attrs, i)) {
            Some(v) => decode_cert_values(v)?,
            None => CertificateValues::default(),
        };
        values.0.extend(new.certs);
        let attr = Attribute {
            oid: ID_AA_ETS_CERT_VALUES,
            values: SetOfVec::try_from(vec![Any::encode_from(&values)?])?,
        };
        match pos.and_then(|i| attrs.get_mut(i)) {
            Some(slot) => *slot = attr,
            None => attrs.push(attr),
        }
    }
    if !new.crls.is_empty() || !new.ocsp.is_empty() {
        let pos = position_of(attrs, ID_AA_ETS_REVOCATION_VALUES, "revocation-values")?;
        let mut values = match pos.and_then(|i| only_value(attrs, i)) {
            Some(v) => decode_rev_values(v)?,
            None => RevocationValues::default(),
        };
        if !new.crls.is_empty() {
            values
                .crl_vals
                .get_or_insert_with(Vec::new)
                .extend(new.crls);
        }
        if !new.ocsp.is_empty() {
            values
                .ocsp_vals
                .get_or_insert_with(Vec::new)
                .extend(new.ocsp);
        }
        let attr = Attribute {
            oid: ID_AA_ETS_REVOCATION_VALUES,
            values: SetOfVec::try_from(vec![Any::encode_from(&values)?])?,
        };
        match pos.and_then(|i| attrs.get_mut(i)) {
            Some(slot) => *slot = attr,
            None => attrs.push(attr),
        }
    }
    Ok(())
}

/// Adds certificates, CRLs and basic OCSP responses to the signature as certificate-values
/// and revocation-values unsigned attributes (CAdES-LT). Values already in
/// `SignedData.certificates` / `crls` or in those attributes are not repeated. When an
/// archive time-stamp already covers one of those attributes, the new values go into the
/// newest archive time-stamp token instead (see the module documentation). Returns the input
/// unchanged (re-encoded) when there is nothing new.
pub fn add_validation_values(
    cms_der: &[u8],
    certs: &[Certificate],
    crls: &[CertificateList],
    ocsp: &[BasicOcspResponse],
) -> Result<Vec<u8>> {
    let (sd, mut si) = open(cms_der)?;
    let ats = archive_timestamps(&si).map_err(Error::Input)?;
    let mut attrs = unsigned_vec(&mut si);
    let known = Known::of(&sd, &attrs)?;
    let new = NewValues::filter(&known, certs, crls, ocsp)?;
    if new.is_empty() {
        set_unsigned(&mut si, attrs)?;
        return close(sd, si);
    }
    let covered = [ID_AA_ETS_CERT_VALUES, ID_AA_ETS_REVOCATION_VALUES]
        .iter()
        .any(|oid| {
            attrs.iter().filter(|a| a.oid == *oid).any(|a| {
                a.values
                    .iter()
                    .any(|v| ats.iter().any(|t| index_covers(&t.index, *oid, v)))
            })
        });
    if covered {
        return add_token_validation_values(cms_der, certs, crls, ocsp);
    }
    merge_into(&mut attrs, new)?;
    set_unsigned(&mut si, attrs)?;
    close(sd, si)
}

/// Puts certificates, CRLs and basic OCSP responses (the validation data of the newest
/// archive time-stamp's TSA, fetched after that time-stamp) into certificate-values /
/// revocation-values of that token's SignerInfo, so that a verifier holding only the root
/// can validate the newest time-stamp offline. Values the token already carries (in its
/// SignedData or those attributes) are not repeated. Err when the signature has no archive
/// time-stamp.
pub fn add_token_validation_values(
    cms_der: &[u8],
    certs: &[Certificate],
    crls: &[CertificateList],
    ocsp: &[BasicOcspResponse],
) -> Result<Vec<u8>> {
    let (sd, mut si) = open(cms_der)?;
    let ats = archive_timestamps(&si).map_err(Error::Input)?;
    // Newest by genTime; on a tie the later attribute.
    let newest = ats
        .iter()
        .enumerate()
        .max_by(|(ia, a), (ib, b)| a.gen_time.cmp(&b.gen_time).then(ia.cmp(ib)))
        .map(|(_, t)| t)
        .ok_or_else(|| Error::Input("the signature has no archive-time-stamp-v3".into()))?;
    let mut tsd: SignedData = newest
        .token
        .content
        .decode_as()
        .map_err(|e| Error::Input(format!("archive time-stamp token: {e}")))?;
    let mut tsis = std::mem::take(&mut tsd.signer_infos.0).into_vec();
    let [tsi] = tsis.as_mut_slice() else {
        return Err(Error::Input(
            "the archive time-stamp token must have one SignerInfo".into(),
        ));
    };
    let mut tattrs = unsigned_vec(tsi);
    let known = Known::of(&tsd, &tattrs)?;
    let new = NewValues::filter(&known, certs, crls, ocsp)?;
    merge_into(&mut tattrs, new)?;
    set_unsigned(tsi, tattrs)?;
    tsd.signer_infos = SignerInfos(SetOfVec::try_from(tsis)?);
    let token = ContentInfo {
        content_type: rfc5911::ID_SIGNED_DATA,
        content: Any::encode_from(&tsd)?,
    };
    let mut attrs = unsigned_vec(&mut si);
    // `attribute` counts all unsigned attributes in their set order, which `attrs` keeps.
    let slot = attrs
        .get_mut(newest.attribute)
        .filter(|a| a.oid == ID_AA_ETS_ARCHIVE_TIMESTAMP_V3)
        .ok_or_else(|| Error::Input("archive time-stamp attribute not found again".into()))?;
    slot.values = SetOfVec::try_from(vec![Any::encode_from(&token)?])?;
    set_unsigned(&mut si, attrs)?;
    close(sd, si)
}

/// The TimeStampReq (DER) of an archive-time-stamp-v3 for the signature `cms_der` (with its
/// content when detached), its imprint made with `hash`; the nonce sent and the
/// ats-hash-index-v3 to hand to [`attach_archive_timestamp`].
pub fn archive_timestamp_request(
    cms_der: &[u8],
    detached_content: Option<&[u8]>,
    hash: ObjectIdentifier,
) -> Result<(Vec<u8>, Vec<u8>, AtsHashIndexV3)> {
    let (sd, si) = open(cms_der)?;
    let index = build_ats_hash_index(&sd, &si, hash).map_err(Error::Input)?;
    let imprint = ats_v3_imprint(&sd, &si, detached_content, hash, &index).map_err(Error::Input)?;
    let (req, nonce) = sign::timestamp_request_with(hash, &imprint)?;
    Ok((req, nonce, index))
}

/// Adds the token of `reply_der` (answering [`archive_timestamp_request`]) as an
/// archive-time-stamp-v3: checks the status, the nonce and that the token's imprint is the
/// archive imprint of `cms_der` for `index`; puts `index` into the token's SignerInfo as
/// ats-hash-index-v3, then the token into the signature's unsigned attributes.
/// `detached_content` is the signed document of a detached signature.
pub fn attach_archive_timestamp(
    cms_der: &[u8],
    detached_content: Option<&[u8]>,
    reply_der: &[u8],
    nonce: &[u8],
    index: &AtsHashIndexV3,
) -> Result<Vec<u8>> {
    let token = sign::granted_token(reply_der)?;
    let (sd, mut si) = open(cms_der)?;
    check_ats_hash_index(&sd, &si, index).map_err(Error::Input)?;
    let hash = index.hash_algorithm();
    let imprint = ats_v3_imprint(&sd, &si, detached_content, hash, index).map_err(Error::Input)?;
    let tparsed = cades::parse_signed_data(&token.content).map_err(Error::Tsa)?;
    let tst = tsa::asn1::TstInfo::from_der(tparsed.attached.as_deref().unwrap_or_default())
        .map_err(|e| Error::Tsa(format!("TSTInfo: {e}")))?;
    if tst.message_imprint.hash_algorithm.oid != hash {
        return Err(Error::Tsa(format!(
            "the token's imprint uses {}, the index {}",
            cades::hash_name(&tst.message_imprint.hash_algorithm.oid),
            cades::hash_name(&hash)
        )));
    }
    if tst.message_imprint.hashed_message.as_bytes() != imprint.as_slice() {
        return Err(Error::Tsa(
            "the token's imprint is not this signature's archive imprint".into(),
        ));
    }
    if tst.nonce.as_ref().map(|n| n.as_bytes()) != Some(nonce) {
        return Err(Error::Tsa(
            "the token does not echo the request's nonce".into(),
        ));
    }
    let mut tsd = tparsed.signed_data;
    let mut tsi = tparsed.signer;
    let mut tattrs = unsigned_vec(&mut tsi);
    tattrs.retain(|a| a.oid != ID_AA_ATS_HASH_INDEX_V3);
    tattrs.push(Attribute {
        oid: ID_AA_ATS_HASH_INDEX_V3,
        values: SetOfVec::try_from(vec![Any::encode_from(index)?])?,
    });
    set_unsigned(&mut tsi, tattrs)?;
    tsd.signer_infos = SignerInfos(SetOfVec::try_from(vec![tsi])?);
    let token = ContentInfo {
        content_type: rfc5911::ID_SIGNED_DATA,
        content: Any::encode_from(&tsd)?,
    };
    let mut attrs = unsigned_vec(&mut si);
    attrs.push(Attribute {
        oid: ID_AA_ETS_ARCHIVE_TIMESTAMP_V3,
        values: SetOfVec::try_from(vec![Any::encode_from(&token)?])?,
    });
    set_unsigned(&mut si, attrs)?;
    close(sd, si)
}
