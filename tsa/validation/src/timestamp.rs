//! The signature time-stamp of CAdES-T (ETSI EN 319 122-1 §5.3): an RFC 3161 token over the
//! SignerInfo's signature value, from a TSA whose certificate chains to a trust anchor and
//! carries the critical, sole timeStamping extended key usage. Also the client's side of
//! RFC 3161 that CAdES-T signing and the journal anchors share: the request, and the words
//! of a refusal.

use cms::content_info::ContentInfo;
use const_oid::db::{rfc5280, rfc5911, rfc5912};
use der::asn1::{Any, Int, OctetString};
use der::{Decode, Encode};
use spki::AlgorithmIdentifierOwned;
use time::OffsetDateTime;
use x509_cert::ext::pkix::ExtendedKeyUsage;
use x509_cert::Certificate;

use crate::cades;
use crate::limits::Budget;
use crate::path;
use crate::report::{SubIndication, TimestampInfo};
use crate::revocation::{RevocationSource, RevocationStatus};
use tsa::asn1::{MessageImprint, PkiStatusInfo, TimeStampReq, TspVersion, TstInfo};

/// A DER `TimeStampReq` for a SHA-256 `digest`, with certReq and a random positive nonce;
/// returns the request and the nonce's octets.
pub fn sha256_request(digest: &[u8]) -> Result<(Vec<u8>, Vec<u8>), der::Error> {
    let mut nonce = [0u8; 8];
    rand::Rng::fill(&mut rand::thread_rng(), &mut nonce[..]);
    // Positive and minimal as a DER INTEGER: top bit clear, first octet non-zero.
    nonce[0] &= 0x7f;
    nonce[0] |= 0x01;
    let req = TimeStampReq {
        version: TspVersion::V1,
        message_imprint: MessageImprint {
            hash_algorithm: AlgorithmIdentifierOwned {
                oid: rfc5912::ID_SHA_256,
                parameters: None,
            },
            hashed_message: OctetString::new(digest)?,
        },
        req_policy: None,
        nonce: Some(Int::new(&nonce)?),
        cert_req: true,
        extensions: None,
    };
    Ok((req.to_der()?, nonce.to_vec()))
}

/// A refusal in words: the status, then the failure (when exactly one is named) and the
/// TSA's text, e.g. `Rejection, timeNotAvailable: time not available`.
pub fn refusal_text(status: &PkiStatusInfo) -> String {
    format!(
        "{:?}{}{}",
        status.status,
        status
            .fail_info
            .and_then(|f| f.single())
            .map(|f| format!(", {f}"))
            .unwrap_or_default(),
        status
            .status_string
            .as_ref()
            .map(|s| format!(": {}", s.join(" ")))
            .unwrap_or_default()
    )
}

/// What the time-stamp token proves, or why it proves nothing.
#[derive(Debug, Clone)]
pub struct TimestampOutcome {
    /// For the report (when the TSTInfo could be read).
    pub info: Option<TimestampInfo>,
    /// genTime of a valid token: the proof of existence of the signature.
    pub poe: Option<OffsetDateTime>,
    /// The declared accuracy.
    pub accuracy: time::Duration,
    /// Why the token is not valid.
    pub error: Option<String>,
    /// The sub-indication of that failure: TRY_LATER when the TSA certificate's status is
    /// not known (more data may make the token valid), the path's when the TSA certificate
    /// has no valid path, TIMESTAMP_ORDER_FAILURE otherwise.
    pub sub: SubIndication,
    /// Reservations (e.g. the TSA certificate's status could not be checked).
    pub warnings: Vec<String>,
    /// What was verified, in words.
    pub passed: Vec<String>,
}

fn accuracy(tst: &TstInfo) -> time::Duration {
    tst.accuracy.as_ref().map_or(time::Duration::ZERO, |a| {
        time::Duration::seconds(a.seconds.unwrap_or(0) as i64)
            + time::Duration::milliseconds(i64::from(a.millis.unwrap_or(0)))
            + time::Duration::microseconds(i64::from(a.micros.unwrap_or(0)))
    })
}

/// Checks the RFC 3161 §2.3 constraints on a TSA certificate: exactly one extended key
/// usage extension, critical, with timeStamping only.
pub fn check_tsa_eku(c: &Certificate) -> Result<(), String> {
    let ekus: Vec<_> = c
        .tbs_certificate
        .extensions
        .iter()
        .flatten()
        .filter(|e| e.extn_id == rfc5280::ID_CE_EXT_KEY_USAGE)
        .collect();
    match ekus.as_slice() {
        [e] if e.critical => {
            let ExtendedKeyUsage(p) =
                ExtendedKeyUsage::from_der(e.extn_value.as_bytes()).map_err(|e| e.to_string())?;
            if p != [rfc5280::ID_KP_TIME_STAMPING] {
                return Err(
                    "the TSA certificate's extended key usage is not timeStamping alone".into(),
                );
            }
            Ok(())
        }
        [_] => Err("the TSA certificate's extended key usage is not critical".into()),
        _ => Err("the TSA certificate has no (or several) extended key usage extensions".into()),
    }
}

/// What a token's message imprint must be.
#[derive(Debug, Clone, Copy)]
pub enum Imprint<'a> {
    /// The hash, with the token's algorithm, of these octets (a signature value, a journal
    /// head).
    HashOf(&'a [u8]),
    /// This digest, computed by the caller with the token's algorithm (an
    /// archive-time-stamp-v3 imprint).
    Digest(&'a [u8]),
    /// The hash, with the token's algorithm, of these parts in order (the ByteRange of a
    /// PDF document time-stamp).
    HashOfParts(&'a [&'a [u8]]),
}

/// Verifies one signature-time-stamp token over `signature_value` within `budget` (the
/// token's signature and the TSA's path are work; [`Budget::unlimited`] for none); a limit
/// exceeded makes the token fail and stays recorded in `budget`.
#[allow(clippy::too_many_arguments)]
pub async fn verify_token_within(
    token: &Any,
    signature_value: &[u8],
    anchors: &[Certificate],
    pool: &[&Certificate],
    links: &path::LinkCache,
    revocation: &dyn RevocationSource,
    validation_time: OffsetDateTime,
    budget: &Budget,
) -> TimestampOutcome {
    verify_imprint_token_within(
        token,
        Imprint::HashOf(signature_value),
        anchors,
        pool,
        links,
        revocation,
        validation_time,
        budget,
    )
    .await
}

/// [`verify_token_within`] for any [`Imprint`]: the token's TSTInfo, imprint, signature,
/// TSA certificate (timeStamping, path, validity at genTime) and the TSA certificate's status
/// at genTime, which must be known (EN 319 102-1 §5.4).
#[allow(clippy::too_many_arguments)]
pub async fn verify_imprint_token_within(
    token: &Any,
    imprint: Imprint<'_>,
    anchors: &[Certificate],
    pool: &[&Certificate],
    links: &path::LinkCache,
    revocation: &dyn RevocationSource,
    validation_time: OffsetDateTime,
    budget: &Budget,
) -> TimestampOutcome {
    let mut out = TimestampOutcome {
        info: None,
        poe: None,
        accuracy: time::Duration::ZERO,
        error: None,
        sub: SubIndication::TimestampOrderFailure,
        warnings: Vec::new(),
        passed: Vec::new(),
    };
    macro_rules! fail {
        ($($t:tt)*) => {{
            out.error = Some(format!($($t)*));
            if let Some(i) = out.info.as_mut() { i.valid = false; }
            return out;
        }};
    }
    let ci: ContentInfo = match token.decode_as() {
        Ok(c) => c,
        Err(e) => fail!("the time-stamp token is not a CMS ContentInfo: {e}"),
    };
    if ci.content_type != rfc5911::ID_SIGNED_DATA {
        fail!("the time-stamp token is not a SignedData");
    }
    let parsed = match cades::parse_signed_data(&ci.content) {
        Ok(p) => p,
        Err(e) => fail!("time-stamp token: {e}"),
    };
    if parsed.econtent_type != pkix::oid::ID_CT_TST_INFO {
        fail!("the time-stamp token does not contain a TSTInfo");
    }
    let Some(tst_der) = parsed.attached.as_deref() else {
        fail!("the time-stamp token has no TSTInfo content");
    };
    let tst = match TstInfo::from_der(tst_der) {
        Ok(t) => t,
        Err(e) => fail!("TSTInfo: {e}"),
    };
    let gen_time = tst.gen_time.datetime();
    out.accuracy = accuracy(&tst);
    out.info = Some(TimestampInfo {
        gen_time,
        serial: hex::encode(tst.serial_number.as_bytes()),
        policy: tst.policy.to_string(),
        valid: false,
        tsa: None,
        kind: "signature",
        detail: String::new(),
    });
    let imprint_alg = tst.message_imprint.hash_algorithm.oid;
    let token_imprint = tst.message_imprint.hashed_message.as_bytes();
    match imprint {
        // Hash of the SignerInfo's signature value (the OCTET STRING's contents).
        Imprint::HashOf(data) => match cades::digest(&imprint_alg, data) {
            Ok(h) if h.as_slice() == token_imprint => out.passed.push(format!(
                "the token's imprint is the {} of the signature value",
                cades::hash_name(&imprint_alg)
            )),
            Ok(_) => {
                fail!("the time-stamp token's imprint is not the hash of this signature's value")
            }
            Err(e) => fail!("time-stamp imprint: {e}"),
        },
        Imprint::HashOfParts(parts) => match cades::digest_parts(&imprint_alg, parts) {
            Ok(h) if h.as_slice() == token_imprint => out.passed.push(format!(
                "the token's imprint is the {} of the document revision it covers",
                cades::hash_name(&imprint_alg)
            )),
            Ok(_) => fail!(
                "the time-stamp token's imprint is not the hash of the document revision it covers: the document was altered"
            ),
            Err(e) => fail!("time-stamp imprint: {e}"),
        },
        Imprint::Digest(d) if d == token_imprint => out.passed.push(format!(
            "the token's imprint is the {} of the data it covers",
            cades::hash_name(&imprint_alg)
        )),
        Imprint::Digest(_) => {
            fail!("the time-stamp token's imprint is not the hash of the data it covers")
        }
    }
    let si = &parsed.signer;
    let tsa_cert = match cades::find_signer_certificate(
        si,
        parsed.certificates.iter().chain(pool.iter().copied()),
    ) {
        Some(c) => c.clone(),
        None => {
            fail!("the TSA certificate is neither in the token nor among the known certificates")
        }
    };
    if let Some(i) = out.info.as_mut() {
        i.tsa = Some(path::info(&tsa_cert));
    }
    if let Err(e) = cades::check_content_type(si, pkix::oid::ID_CT_TST_INFO) {
        fail!("time-stamp token: {e}");
    }
    if let Err(e) = cades::check_message_digest(si, tst_der).into_result() {
        fail!("time-stamp token: {e}");
    }
    if let Err(e) = cades::check_signing_certificate_v2(si, &tsa_cert) {
        fail!("time-stamp token: {e}");
    }
    if let Err(e) = budget.spend(1) {
        fail!("time-stamp token: {e}");
    }
    match cades::check_signature(si, &tsa_cert).into_result() {
        Ok(_) => out.passed.push("the token's signature verifies".into()),
        Err(e) => fail!("time-stamp token: {e}"),
    }
    if let Err(e) = check_tsa_eku(&tsa_cert) {
        fail!("{e}");
    }
    // The known certificates first: the token's own are tried only when they do not suffice.
    let mut tpool: Vec<&Certificate> = pool.to_vec();
    tpool.extend(parsed.certificates.iter());
    let chain =
        match path::build_path_within(&tsa_cert, &tpool, anchors, links, budget, Some(gen_time)) {
            Ok(c) => c,
            Err(e) => {
                // The path's own sub-indication (NO_CERTIFICATE_CHAIN_FOUND, …) says more than
                // the default.
                out.sub = e.sub;
                fail!("TSA certificate: {}", e.detail)
            }
        };
    if let Some((c, early)) = path::first_invalid_in_path(&chain, gen_time) {
        fail!(
            "{} was {} at the time-stamp's time {gen_time}",
            path::subject(c),
            if early { "not yet valid" } else { "expired" }
        );
    }
    out.passed.push(format!(
        "the TSA certificate {} chains to the trust anchor and was valid at {gen_time}",
        path::subject(&tsa_cert)
    ));
    if let Some(issuer) = chain.get(1) {
        match revocation
            .status(&tsa_cert, issuer, gen_time, validation_time)
            .await
        {
            RevocationStatus::Good { detail, .. } => out
                .passed
                .push(format!("TSA certificate not revoked ({detail})")),
            RevocationStatus::Revoked { at, .. } if at <= gen_time => {
                fail!("the TSA certificate was revoked at {at}, before the time-stamp")
            }
            RevocationStatus::Revoked { at, .. } => out.warnings.push(format!(
                "the TSA certificate was revoked at {at}, after the time-stamp"
            )),
            // EN 319 102-1 §5.4: a time-stamp whose TSA certificate's status cannot be
            // established is not valid, so it proves nothing (issue 22, defect 2).
            RevocationStatus::Unknown { reason } => {
                out.sub = SubIndication::TryLater;
                fail!(
                    "the status of the TSA certificate {} is not known: {reason}",
                    path::subject(&tsa_cert)
                )
            }
        }
    }
    if let Some(i) = out.info.as_mut() {
        i.valid = true;
    }
    out.poe = Some(gen_time);
    out
}
