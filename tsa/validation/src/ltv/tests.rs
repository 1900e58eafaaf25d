#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cloned_ref_to_slice_refs
)]
//! The tokens here come from a software "TSA" (a P-256 key signing a TSTInfo as CMS); the
//! real TSA and OpenSSL's verification are exercised by tests/validation_ltv_cli.rs.

use super::*;
use crate::sign::{sign_cades_b, SignOptions};
use cms::content_info::ContentInfo;
use der::asn1::{Int, SetOfVec};
use p256::ecdsa::{DerSignature, SigningKey};
use tsa::asn1::{
    GenTime, PkiStatus, PkiStatusInfo, TimeStampReq, TimeStampResp, TspVersion, TstInfo,
};
use x509_cert::attr::Attribute;

fn key_cert(seed: u8, cn: &str) -> (SigningKey, Certificate) {
    use x509_cert::builder::{Builder, CertificateBuilder, Profile};
    let key = SigningKey::from_slice(&[seed; 32]).unwrap();
    let spki = spki::SubjectPublicKeyInfoOwned::from_key(*key.verifying_key()).unwrap();
    let cert = CertificateBuilder::new(
        Profile::Root,
        x509_cert::serial_number::SerialNumber::new(&[seed]).unwrap(),
        // Fixed dates (2026-05 to 2036-07): a certificate built twice must be the same bytes,
        // whatever second the test runs in.
        x509_cert::time::Validity {
            not_before: x509_cert::time::Time::UtcTime(
                der::asn1::UtcTime::from_unix_duration(std::time::Duration::from_secs(
                    1_780_000_000,
                ))
                .unwrap(),
            ),
            not_after: x509_cert::time::Time::UtcTime(
                der::asn1::UtcTime::from_unix_duration(std::time::Duration::from_secs(
                    2_100_000_000,
                ))
                .unwrap(),
            ),
        },
        format!("CN={cn},C=FR").parse().unwrap(),
        spki,
        &key,
    )
    .unwrap()
    .build::<DerSignature>()
    .unwrap();
    (key, cert)
}

fn signed(content: &[u8], detached: bool) -> Vec<u8> {
    let (key, cert) = key_cert(1, "Signer");
    sign_cades_b::<_, DerSignature>(
        &key,
        &cert,
        content,
        &SignOptions {
            detached,
            ..Default::default()
        },
    )
    .unwrap()
}

/// A granted reply to `req` (imprint and nonce copied), genTime `t`.
fn tsa_reply(req: &[u8], t: time::OffsetDateTime) -> Vec<u8> {
    let req = TimeStampReq::from_der(req).unwrap();
    let tst = TstInfo {
        version: TspVersion::V1,
        policy: ObjectIdentifier::new_unwrap("1.2.3.4"),
        message_imprint: req.message_imprint,
        serial_number: Int::new(&[7]).unwrap(),
        gen_time: GenTime::truncated(t, 0).unwrap(),
        accuracy: None,
        ordering: false,
        nonce: req.nonce,
        tsa: None,
        extensions: None,
    };
    let (key, cert) = key_cert(2, "TSA");
    let token = sign_cades_b::<_, DerSignature>(
        &key,
        &cert,
        &tst.to_der().unwrap(),
        &SignOptions::default(),
    )
    .unwrap();
    TimeStampResp {
        status: PkiStatusInfo {
            status: PkiStatus::Granted,
            status_string: None,
            fail_info: None,
        },
        time_stamp_token: Some(ContentInfo::from_der(&token).unwrap()),
    }
    .to_der()
    .unwrap()
}

fn open(cms: &[u8]) -> (SignedData, SignerInfo) {
    let sd: SignedData = ContentInfo::from_der(cms)
        .unwrap()
        .content
        .decode_as()
        .unwrap();
    let si = sd.signer_infos.0.iter().next().unwrap().clone();
    (sd, si)
}

fn lta(cms: &[u8], content: Option<&[u8]>, t: time::OffsetDateTime) -> Vec<u8> {
    let (req, nonce, index) = archive_timestamp_request(cms, content, rfc5912::ID_SHA_256).unwrap();
    attach_archive_timestamp(cms, content, &tsa_reply(&req, t), &nonce, &index).unwrap()
}

/// Every archive time-stamp of `cms` still matches: index found, imprint recomputed equal.
fn assert_archives_hold(cms: &[u8], content: Option<&[u8]>) -> usize {
    let (sd, si) = open(cms);
    let ats = archive_timestamps(&si).unwrap();
    for t in &ats {
        check_ats_hash_index(&sd, &si, &t.index).unwrap();
        assert_eq!(
            ats_v3_imprint(&sd, &si, content, t.hash, &t.index).unwrap(),
            t.imprint
        );
    }
    ats.len()
}

#[test]
fn revocation_values_use_explicit_tags_and_round_trip() {
    let (_, cert) = key_cert(3, "X");
    let rv = RevocationValues {
        crl_vals: None,
        ocsp_vals: None,
        other_rev_vals: Some(OtherRevVals {
            other_rev_val_type: ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.1"),
            other_rev_vals: Any::from(der::asn1::Null),
        }),
    };
    let der = rv.to_der().unwrap();
    // SEQUENCE { [2] constructed { SEQUENCE { OID, NULL } } }: the tag wraps the SEQUENCE.
    assert_eq!(&der[..6], &[0x30, 0x11, 0xa2, 0x0f, 0x30, 0x0d]);
    assert_eq!(RevocationValues::from_der(&der).unwrap(), rv);
    let cv = CertificateValues(vec![cert.clone(), cert]);
    let der = cv.to_der().unwrap();
    assert_eq!(der[0], 0x30);
    assert_eq!(CertificateValues::from_der(&der).unwrap(), cv);
    // An empty crlVals is [0] { SEQUENCE {} }.
    let empty = RevocationValues {
        crl_vals: Some(Vec::new()),
        ..Default::default()
    };
    assert_eq!(
        empty.to_der().unwrap(),
        [0x30, 0x04, 0xa0, 0x02, 0x30, 0x00]
    );
}

#[test]
fn hash_index_reads_both_forms_and_defaults_to_sha256() {
    let h = OctetString::new(vec![1u8; 32]).unwrap();
    let with = AtsHashIndexV3 {
        hash_ind_algorithm: Some(AlgorithmIdentifierOwned {
            oid: rfc5912::ID_SHA_512,
            parameters: None,
        }),
        certificates_hash_index: vec![h.clone()],
        crls_hash_index: Vec::new(),
        unsigned_attr_values_hash_index: vec![h.clone(), h.clone()],
    };
    let der = with.to_der().unwrap();
    let back = AtsHashIndexV3::from_der(&der).unwrap();
    assert_eq!(back, with);
    assert_eq!(back.hash_algorithm(), rfc5912::ID_SHA_512);
    let without = AtsHashIndexV3 {
        hash_ind_algorithm: None,
        ..with
    };
    let der = without.to_der().unwrap();
    assert_eq!(
        &der[2..4],
        &[0x30, 0x22],
        "starts with certificatesHashIndex"
    );
    let back = AtsHashIndexV3::from_der(&der).unwrap();
    assert_eq!(back, without);
    assert_eq!(back.hash_algorithm(), rfc5912::ID_SHA_256);
}

#[test]
fn hash_index_lists_every_element_and_detects_removal() {
    let cms = signed(b"ordonnance", false);
    let (mut sd, si) = open(&cms);
    let index = build_ats_hash_index(&sd, &si, rfc5912::ID_SHA_256).unwrap();
    assert_eq!(index.certificates_hash_index.len(), 1);
    assert!(index.crls_hash_index.is_empty());
    assert!(index.unsigned_attr_values_hash_index.is_empty());
    let (_, signer_cert) = key_cert(1, "Signer");
    assert_eq!(
        index.certificates_hash_index[0].as_bytes(),
        &sha2::Sha256::digest(signer_cert.to_der().unwrap())[..]
    );
    check_ats_hash_index(&sd, &si, &index).unwrap();
    // A certificate added later is allowed.
    let (_, extra) = key_cert(4, "Extra");
    let mut certs = sd.certificates.clone().unwrap();
    certs
        .0
        .insert(cms::cert::CertificateChoices::Certificate(extra))
        .unwrap();
    sd.certificates = Some(certs);
    check_ats_hash_index(&sd, &si, &index).unwrap();
    // Removing the covered one is named.
    sd.certificates = None;
    let e = check_ats_hash_index(&sd, &si, &index).unwrap_err();
    assert!(
        e.contains("certificatesHashIndex") && e.contains("entry 0"),
        "{e}"
    );
}

use sha2::Digest;

/// The imprint computed from the original octets of the CMS, walking TLVs with `Any`.
fn imprint_from_raw_octets(cms: &[u8], content: &[u8], index: &AtsHashIndexV3) -> Vec<u8> {
    let ci = ContentInfo::from_der(cms).unwrap();
    // The content is the SignedData SEQUENCE; its value is the list of fields.
    let sd_fields: Vec<Any> = {
        let mut rr = der::SliceReader::new(ci.content.value()).unwrap();
        let mut v = Vec::new();
        while !der::Reader::is_finished(&rr) {
            v.push(Any::decode(&mut rr).unwrap());
        }
        v
    };
    let encap = &sd_fields[2];
    let mut er = der::SliceReader::new(encap.value()).unwrap();
    let econtent_type = Any::decode(&mut er).unwrap();
    let signer_infos = sd_fields.last().unwrap();
    let mut sr = der::SliceReader::new(signer_infos.value()).unwrap();
    let si = Any::decode(&mut sr).unwrap();
    let mut fr = der::SliceReader::new(si.value()).unwrap();
    let mut buf = econtent_type.to_der().unwrap();
    buf.extend_from_slice(&sha2::Sha256::digest(content));
    // version, sid, digestAlgorithm, [0] signedAttrs, signatureAlgorithm, signature.
    for _ in 0..6 {
        buf.extend_from_slice(&Any::decode(&mut fr).unwrap().to_der().unwrap());
    }
    buf.extend_from_slice(&index.to_der().unwrap());
    sha2::Sha256::digest(&buf).to_vec()
}

#[test]
fn imprint_is_the_standard_concatenation() {
    for detached in [false, true] {
        let content = b"certificat medical";
        let cms = signed(content, detached);
        let (sd, si) = open(&cms);
        let index = build_ats_hash_index(&sd, &si, rfc5912::ID_SHA_256).unwrap();
        let doc = detached.then_some(&content[..]);
        let got = ats_v3_imprint(&sd, &si, doc, rfc5912::ID_SHA_256, &index).unwrap();
        assert_eq!(got, imprint_from_raw_octets(&cms, content, &index));
        if detached {
            let e = ats_v3_imprint(&sd, &si, None, rfc5912::ID_SHA_256, &index).unwrap_err();
            assert!(e.contains("detached"), "{e}");
            let other = ats_v3_imprint(&sd, &si, Some(b"x"), rfc5912::ID_SHA_256, &index);
            assert_ne!(other.unwrap(), got);
        }
        let e = ats_v3_imprint(&sd, &si, doc, rfc5912::ID_SHA_384, &index).unwrap_err();
        assert!(e.contains("must be the same"), "{e}");
    }
}

#[test]
fn lt_then_lta_then_more_values_go_into_the_newest_token() {
    let content = b"ordonnance";
    let cms = signed(content, true);
    let (_, ca) = key_cert(5, "CA");
    let (_, signer) = key_cert(1, "Signer");
    // LT: the signer (already in SignedData.certificates) is not repeated.
    let lt =
        add_validation_values(&cms, &[signer.clone(), ca.clone(), ca.clone()], &[], &[]).unwrap();
    let (_, si) = open(&lt);
    let cv = crate::cades::single_attribute(si.unsigned_attrs.as_ref(), ID_AA_ETS_CERT_VALUES_OID)
        .unwrap()
        .unwrap();
    assert_eq!(
        cv.decode_as::<CertificateValues>().unwrap().0,
        vec![ca.clone()]
    );
    // Nothing new: same bytes.
    assert_eq!(
        add_validation_values(&lt, &[ca.clone()], &[], &[]).unwrap(),
        lt
    );

    let t0 = time::OffsetDateTime::now_utc();
    let a1 = lta(&lt, Some(content), t0);
    assert_eq!(assert_archives_hold(&a1, Some(content)), 1);
    let (_, si) = open(&a1);
    let ats = archive_timestamps(&si).unwrap();
    assert_eq!(ats[0].index.unsigned_attr_values_hash_index.len(), 1);

    // The certificate-values is covered now: a new certificate goes into the token.
    let (_, tsa_ca) = key_cert(6, "TSA CA");
    let more = add_validation_values(&a1, &[tsa_ca.clone()], &[], &[]).unwrap();
    assert_eq!(assert_archives_hold(&more, Some(content)), 1);
    let (_, si) = open(&more);
    let cv = crate::cades::single_attribute(si.unsigned_attrs.as_ref(), ID_AA_ETS_CERT_VALUES_OID)
        .unwrap()
        .unwrap();
    assert_eq!(
        cv.decode_as::<CertificateValues>().unwrap().0,
        vec![ca.clone()]
    );
    let token = &archive_timestamps(&si).unwrap()[0].token;
    let tp = crate::cades::parse_signed_data(&token.content).unwrap();
    let tcv = crate::cades::single_attribute(
        tp.signer.unsigned_attrs.as_ref(),
        ID_AA_ETS_CERT_VALUES_OID,
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        tcv.decode_as::<CertificateValues>().unwrap().0,
        vec![tsa_ca.clone()]
    );
    // The token's own signature still verifies.
    let (_, tsa_cert) = key_cert(2, "TSA");
    crate::cades::check_signature(&tp.signer, &tsa_cert)
        .into_result()
        .unwrap();

    // Renewal: a second archive time-stamp covers the first (as extended).
    let a2 = lta(&more, Some(content), t0 + time::Duration::seconds(10));
    assert_eq!(assert_archives_hold(&a2, Some(content)), 2);
    // Token values go into the newest (the second) token.
    let (_, other) = key_cert(7, "Other");
    let a2v = add_token_validation_values(&a2, &[other.clone()], &[], &[]).unwrap();
    assert_eq!(assert_archives_hold(&a2v, Some(content)), 2);
    let (_, si) = open(&a2v);
    let ats = archive_timestamps(&si).unwrap();
    let newest = ats.iter().max_by_key(|t| t.gen_time).unwrap();
    let tp = crate::cades::parse_signed_data(&newest.token.content).unwrap();
    let tcv = crate::cades::single_attribute(
        tp.signer.unsigned_attrs.as_ref(),
        ID_AA_ETS_CERT_VALUES_OID,
    )
    .unwrap()
    .unwrap();
    assert_eq!(tcv.decode_as::<CertificateValues>().unwrap().0, vec![other]);
    // Altering a covered attribute value breaks the first archive time-stamp's index.
    let (sd, mut si) = open(&a2v);
    let mut attrs = si.unsigned_attrs.take().unwrap().into_vec();
    let pos = attrs
        .iter()
        .position(|a| a.oid == ID_AA_ETS_CERT_VALUES_OID)
        .unwrap();
    attrs[pos] = Attribute {
        oid: ID_AA_ETS_CERT_VALUES_OID,
        values: SetOfVec::try_from(vec![
            Any::encode_from(&CertificateValues(vec![tsa_ca])).unwrap()
        ])
        .unwrap(),
    };
    si.unsigned_attrs = Some(SetOfVec::try_from(attrs).unwrap());
    let e = check_ats_hash_index(&sd, &si, &ats[0].index).unwrap_err();
    assert!(e.contains("unsignedAttrValuesHashIndex"), "{e}");
}

const ID_AA_ETS_CERT_VALUES_OID: ObjectIdentifier = pkix::oid::ID_AA_ETS_CERT_VALUES;

#[test]
fn revocation_values_merge_without_duplicates() {
    let cms = signed(b"x", false);
    let crl = {
        use der::asn1::BitString;
        use x509_cert::crl::TbsCertList;
        let (_, ca) = key_cert(5, "CA");
        CertificateList {
            tbs_cert_list: TbsCertList {
                version: x509_cert::Version::V2,
                signature: ca.signature_algorithm.clone(),
                issuer: ca.tbs_certificate.subject.clone(),
                this_update: ca.tbs_certificate.validity.not_before,
                next_update: None,
                revoked_certificates: None,
                crl_extensions: None,
            },
            signature_algorithm: ca.signature_algorithm.clone(),
            signature: BitString::from_bytes(&[1, 2, 3]).unwrap(),
        }
    };
    let once = add_validation_values(&cms, &[], &[crl.clone(), crl.clone()], &[]).unwrap();
    let twice = add_validation_values(&once, &[], &[crl.clone()], &[]).unwrap();
    assert_eq!(once, twice);
    let (_, si) = open(&twice);
    let rv: RevocationValues = crate::cades::single_attribute(
        si.unsigned_attrs.as_ref(),
        pkix::oid::ID_AA_ETS_REVOCATION_VALUES,
    )
    .unwrap()
    .unwrap()
    .decode_as()
    .unwrap();
    assert_eq!(rv.crl_vals.unwrap(), vec![crl]);
    assert!(rv.ocsp_vals.is_none());
}

#[test]
fn attach_refuses_wrong_nonce_imprint_status_and_garbage() {
    let cms = signed(b"doc", false);
    let t = time::OffsetDateTime::now_utc();
    let (req, nonce, index) = archive_timestamp_request(&cms, None, rfc5912::ID_SHA_256).unwrap();
    let reply = tsa_reply(&req, t);
    let e = attach_archive_timestamp(&cms, None, &reply, &[1, 2], &index).unwrap_err();
    assert!(e.to_string().contains("nonce"), "{e}");
    // A reply for another signature.
    let other = signed(b"other doc", false);
    let (req2, nonce2, _) = archive_timestamp_request(&other, None, rfc5912::ID_SHA_256).unwrap();
    let e =
        attach_archive_timestamp(&cms, None, &tsa_reply(&req2, t), &nonce2, &index).unwrap_err();
    assert!(e.to_string().contains("archive imprint"), "{e}");
    // A signature-time-stamp style request (imprint over the signature value) is not it.
    let (req3, nonce3) = crate::sign::timestamp_request(&cms).unwrap();
    let e =
        attach_archive_timestamp(&cms, None, &tsa_reply(&req3, t), &nonce3, &index).unwrap_err();
    assert!(e.to_string().contains("archive imprint"), "{e}");
    let rejected = TimeStampResp::rejection(tsa::asn1::FailureInfo::BadAlg, "no")
        .to_der()
        .unwrap();
    let e = attach_archive_timestamp(&cms, None, &rejected, &nonce, &index).unwrap_err();
    assert!(e.to_string().contains("refused"), "{e}");
    for bad in [&b""[..], b"\x30\x00", &reply[..reply.len() / 2]] {
        assert!(attach_archive_timestamp(&cms, None, bad, &nonce, &index).is_err());
    }
    // An index that does not describe this signature.
    let mut wrong = index.clone();
    wrong
        .certificates_hash_index
        .push(OctetString::new(vec![0u8; 32]).unwrap());
    let e = attach_archive_timestamp(&cms, None, &reply, &nonce, &wrong).unwrap_err();
    assert!(e.to_string().contains("certificatesHashIndex"), "{e}");
    attach_archive_timestamp(&cms, None, &reply, &nonce, &index).unwrap();
}

#[test]
fn several_signer_infos_are_refused() {
    let cms = signed(b"doc", false);
    let (mut sd, si) = open(&cms);
    let mut si2 = si.clone();
    si2.signature = OctetString::new(vec![9u8; 64]).unwrap();
    sd.signer_infos = cms::signed_data::SignerInfos(SetOfVec::try_from(vec![si, si2]).unwrap());
    let two = ContentInfo {
        content_type: const_oid::db::rfc5911::ID_SIGNED_DATA,
        content: Any::encode_from(&sd).unwrap(),
    }
    .to_der()
    .unwrap();
    let e = add_validation_values(&two, &[], &[], &[]).unwrap_err();
    assert!(e.to_string().contains("2 SignerInfos"), "{e}");
    assert!(archive_timestamp_request(&two, None, rfc5912::ID_SHA_256).is_err());
}

/// Replaces the unsigned attributes of the (single) SignerInfo.
fn with_unsigned(cms: &[u8], attrs: Vec<Attribute>) -> Vec<u8> {
    let (mut sd, mut si) = open(cms);
    si.unsigned_attrs = Some(SetOfVec::try_from(attrs).unwrap());
    sd.signer_infos = cms::signed_data::SignerInfos(SetOfVec::try_from(vec![si]).unwrap());
    ContentInfo {
        content_type: const_oid::db::rfc5911::ID_SIGNED_DATA,
        content: Any::encode_from(&sd).unwrap(),
    }
    .to_der()
    .unwrap()
}

#[test]
fn hostile_inputs_give_errors_not_panics() {
    let content = b"doc";
    let cms = signed(content, false);
    let (_, ca) = key_cert(5, "CA");
    let full = lta(
        &add_validation_values(&cms, &[ca.clone()], &[], &[]).unwrap(),
        None,
        time::OffsetDateTime::now_utc(),
    );
    // Every truncation, and every byte flipped in a bounded sample.
    for cut in 0..full.len() {
        let t = &full[..cut];
        let _ = add_validation_values(t, &[ca.clone()], &[], &[]);
        let _ = archive_timestamp_request(t, None, rfc5912::ID_SHA_256);
        let _ = add_token_validation_values(t, &[ca.clone()], &[], &[]);
    }
    for i in (0..full.len()).step_by(7) {
        let mut g = full.clone();
        g[i] ^= 0x5a;
        if let Ok(ci) = ContentInfo::from_der(&g) {
            if let Ok(sd) = ci.content.decode_as::<SignedData>() {
                for si in sd.signer_infos.0.iter() {
                    if let Ok(ats) = archive_timestamps(si) {
                        for t in ats {
                            let _ = check_ats_hash_index(&sd, si, &t.index);
                            let _ = ats_v3_imprint(&sd, si, None, t.hash, &t.index);
                        }
                    }
                }
            }
        }
        let _ = add_validation_values(&g, &[ca.clone()], &[], &[]);
        let _ = add_token_validation_values(&g, &[ca.clone()], &[], &[]);
    }
    // Garbled attribute values are named.
    let junk = Any::new(der::Tag::OctetString, vec![1, 2, 3]).unwrap();
    for (oid, needle) in [
        (pkix::oid::ID_AA_ETS_CERT_VALUES, "certificate-values"),
        (pkix::oid::ID_AA_ETS_REVOCATION_VALUES, "revocation-values"),
    ] {
        let bad = with_unsigned(
            &cms,
            vec![Attribute {
                oid,
                values: SetOfVec::try_from(vec![junk.clone()]).unwrap(),
            }],
        );
        let e = add_validation_values(&bad, &[ca.clone()], &[], &[]).unwrap_err();
        assert!(e.to_string().contains(needle), "{e}");
    }
    let bad = with_unsigned(
        &cms,
        vec![Attribute {
            oid: pkix::oid::ID_AA_ETS_ARCHIVE_TIMESTAMP_V3,
            values: SetOfVec::try_from(vec![junk.clone()]).unwrap(),
        }],
    );
    let e = add_token_validation_values(&bad, &[ca.clone()], &[], &[]).unwrap_err();
    assert!(e.to_string().contains("archive-time-stamp-v3"), "{e}");
    let (_, si) = open(&bad);
    assert!(archive_timestamps(&si).is_err());
    // No archive time-stamp at all.
    let e = add_token_validation_values(&cms, &[ca.clone()], &[], &[]).unwrap_err();
    assert!(e.to_string().contains("no archive-time-stamp-v3"), "{e}");
    // Garbage ats-hash-index values.
    for bytes in [
        &[][..],
        &[0x30, 0x00],
        &[0x30, 0x02, 0x06, 0x00],
        &[0x30, 0x03, 0x30, 0x01, 0x06],
    ] {
        assert!(AtsHashIndexV3::from_der(bytes).is_err());
    }
    // An index with an unknown hash algorithm is an error, not a panic.
    let (sd, si) = open(&cms);
    let mut idx = build_ats_hash_index(&sd, &si, rfc5912::ID_SHA_256).unwrap();
    idx.hash_ind_algorithm = Some(AlgorithmIdentifierOwned {
        oid: ObjectIdentifier::new_unwrap("1.2.3.4"),
        parameters: None,
    });
    assert!(check_ats_hash_index(&sd, &si, &idx).is_err());
    assert!(build_ats_hash_index(&sd, &si, rfc5912::ID_SHA_1).is_err());
}
