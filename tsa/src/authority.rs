//! The time-stamping authority: checks a request, reads the guarded clock,
//! builds the TSTInfo, signs it into a CMS SignedData through the signer
//! (the HSM), records the token and answers.
//!
//! The SignerInfo (signed attributes content-type, message-digest,
//! signing-certificate-v2, signing-time; SHA-256; the signature) and the
//! SignedData around it are assembled here from DER pieces, most of them
//! encoded once at start-up (the certificate set, the signer identifier,
//! the algorithm identifiers, the signing-certificate-v2 attribute): the
//! `cms` builders re-encode and re-sort all of it for every token (and
//! `SignedDataBuilder::build` `unwrap()`s on a duplicate certificate). A
//! unit test checks the SignerInfo byte for byte against `cms`'s
//! `SignerInfoBuilder`. The TSTInfo likewise comes from a template (its
//! constant fields encoded once; checked against the derived `TstInfo`
//! encoding), and the whole reply is written into one buffer (checked by a
//! strict decode and re-encode).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use cms::cert::IssuerAndSerialNumber;
use const_oid::db::{rfc5280, rfc5911, rfc5912};
use const_oid::ObjectIdentifier;
use der::asn1::{Any, Int, OctetString, SetOfVec, UtcTime};
use der::{Decode, Encode, Header, Length, Tag};
use serde::Serialize;
use sha2::{Digest, Sha256};
use signature::{Keypair, Signer};
use spki::{
    AlgorithmIdentifierOwned, DynSignatureAlgorithmIdentifier, EncodePublicKey,
    SignatureBitStringEncoding,
};
use time::OffsetDateTime;
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{ExtendedKeyUsage, KeyUsage, KeyUsages};
use x509_cert::Certificate;
use x509_tsp::{Accuracy, TspVersion};

use pkix::key::{CheckedKey, SignError};

use crate::asn1::{
    rejection_der, EssCertIdV2, FailureInfo, GenTime, IssuerSerial, MessageImprint,
    SigningCertificateV2,
};
use crate::clock::{ClockGuard, ClockStatus};
use crate::config::TsaConfig;
use crate::error::{Error, Result};
use crate::lanes::{Lanes, NotRun};
use crate::probe::SignerProbe;
use crate::recorder::{IssuedToken, RecorderStatus, TokenLog};
use crate::request::{parse_request, Rejection, ValidRequest};
use crate::serial::SerialGenerator;

// ------------------------------------------------------------ certificates

/// The TSA unit certificate and the chain sent on certReq.
#[derive(Clone, Debug)]
pub struct TsaCertificates {
    tsa: Certificate,
    tsa_der: Vec<u8>,
    chain: Vec<Certificate>,
}

fn cert_err(path: &Path, reason: impl Into<String>) -> Error {
    Error::Certificate {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

impl TsaCertificates {
    /// Reads the TSA certificate (first certificate of the PEM file) and the
    /// chain files (every certificate in each, in order).
    pub fn from_pem_files(certificate: &Path, chain: &[PathBuf]) -> Result<Self> {
        let read = |p: &Path| -> Result<Vec<Certificate>> {
            let pem = std::fs::read(p).map_err(|source| Error::Io {
                path: p.to_owned(),
                source,
            })?;
            let certs = Certificate::load_pem_chain(&pem)
                .map_err(|e| cert_err(p, format!("not a PEM certificate: {e}")))?;
            if certs.is_empty() {
                return Err(cert_err(p, "no certificate in the file"));
            }
            Ok(certs)
        };
        let tsa = read(certificate)?
            .into_iter()
            .next()
            .ok_or_else(|| cert_err(certificate, "no certificate in the file"))?;
        let mut rest = Vec::new();
        for p in chain {
            rest.extend(read(p)?);
        }
        Self::new(tsa, rest).map_err(|e| match e {
            Error::Certificate { reason, .. } => cert_err(certificate, reason),
            other => other,
        })
    }

    /// Checks the TSA certificate (RFC 3161 §2.3: the extended key usage
    /// extension is critical and holds timeStamping only; key usage, if
    /// present, allows digitalSignature or nonRepudiation; valid now) and
    /// drops duplicates (and the TSA certificate itself) from the chain.
    pub fn new(tsa: Certificate, chain: Vec<Certificate>) -> Result<Self> {
        let here = Path::new("");
        let tbs = &tsa.tbs_certificate;
        let eku = tbs
            .extensions
            .iter()
            .flatten()
            .filter(|e| e.extn_id == rfc5280::ID_CE_EXT_KEY_USAGE)
            .collect::<Vec<_>>();
        match eku.as_slice() {
            [e] if e.critical => {
                let ExtendedKeyUsage(purposes) =
                    ExtendedKeyUsage::from_der(e.extn_value.as_bytes())?;
                if purposes != [rfc5280::ID_KP_TIME_STAMPING] {
                    return Err(cert_err(
                        here,
                        "extended key usage must be timeStamping only (RFC 3161 §2.3)",
                    ));
                }
            }
            [_] => {
                return Err(cert_err(
                    here,
                    "the extended key usage extension must be critical (RFC 3161 §2.3)",
                ))
            }
            _ => {
                return Err(cert_err(
                    here,
                    "exactly one extended key usage extension (timeStamping) is required",
                ))
            }
        }
        if let Some((_, KeyUsage(ku))) = tbs.get::<KeyUsage>()? {
            if !ku.contains(KeyUsages::DigitalSignature) && !ku.contains(KeyUsages::NonRepudiation)
            {
                return Err(cert_err(
                    here,
                    "key usage allows neither digitalSignature nor nonRepudiation",
                ));
            }
        }
        let now = SystemTime::now();
        if now < tbs.validity.not_before.to_system_time()
            || now > tbs.validity.not_after.to_system_time()
        {
            return Err(cert_err(here, "the certificate is not valid now"));
        }
        let tsa_der = tsa.to_der()?;
        let mut seen = vec![tsa_der.clone()];
        let mut unique = Vec::new();
        for c in chain {
            let der = c.to_der()?;
            if !seen.contains(&der) {
                seen.push(der);
                unique.push(c);
            }
        }
        Ok(TsaCertificates {
            tsa,
            tsa_der,
            chain: unique,
        })
    }

    /// The TSA unit certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.tsa
    }

    /// The chain certificates (without the TSA certificate).
    pub fn chain(&self) -> &[Certificate] {
        &self.chain
    }
}

// ------------------------------------------------------------ signer

/// A signing-seam error as the TSA reports it (a system failure either way): the key's own
/// cause ("HSM unavailable: …"), or a signature that did not verify.
fn signing_error(e: SignError) -> Error {
    match e {
        SignError::Key(cause) => Error::Signing(cause),
        other => Error::Signing(other.to_string()),
    }
}

fn sha256_alg() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: rfc5912::ID_SHA_256,
        parameters: None,
    }
}

/// The parts of the SignerInfo that are the same for every token, encoded
/// once at start-up. Per token only the message digest (and signing time)
/// and the signature change, so the SignerInfo is assembled from DER
/// pieces (RFC 5652 §5.3) rather than through `cms`'s `SignerInfoBuilder`,
/// which re-encodes every attribute and looks the digest algorithm up by
/// name for each token. A test checks that both give the same bytes.
#[derive(Clone, Debug)]
struct SignerInfoTemplate {
    /// `version 1, sid IssuerAndSerialNumber, digestAlgorithm sha256`.
    head: Vec<u8>,
    /// `signatureAlgorithm`.
    signature_algorithm: Vec<u8>,
    /// The content-type attribute (id-ct-TSTInfo).
    content_type: Vec<u8>,
    /// The signing-certificate-v2 attribute.
    signing_certificate: Vec<u8>,
    /// The OID of the message-digest attribute, DER.
    message_digest_oid: Vec<u8>,
}

impl SignerInfoTemplate {
    fn new(
        sid: &IssuerAndSerialNumber,
        signature_algorithm: &AlgorithmIdentifierOwned,
        signing_certificate: &Attribute,
    ) -> der::Result<Self> {
        let mut head = vec![0x02, 0x01, 0x01];
        sid.encode_to_vec(&mut head)?;
        sha256_alg().encode_to_vec(&mut head)?;
        let content_type = Attribute {
            oid: rfc5911::ID_CONTENT_TYPE,
            values: SetOfVec::try_from(vec![Any::encode_from(&pkix::oid::ID_CT_TST_INFO)?])?,
        };
        Ok(SignerInfoTemplate {
            head,
            signature_algorithm: signature_algorithm.to_der()?,
            content_type: content_type.to_der()?,
            signing_certificate: signing_certificate.to_der()?,
            message_digest_oid: rfc5911::ID_MESSAGE_DIGEST.to_der()?,
        })
    }

    /// The DER `SET OF Attribute` that is signed: content-type,
    /// message-digest of the eContent, signing-certificate-v2 and, when
    /// given, signing-time (an encoded Attribute), in DER SET order.
    fn signed_attributes(
        &self,
        econtent: &[u8],
        signing_time: Option<&[u8]>,
    ) -> der::Result<Vec<u8>> {
        let digest = Sha256::digest(econtent);
        // Attribute { messageDigest, SET { OCTET STRING digest } }
        let mut value = Vec::with_capacity(36);
        tlv(&mut value, Tag::OctetString, &[&digest])?;
        let mut set = Vec::with_capacity(38);
        tlv(&mut set, Tag::Set, &[&value])?;
        let mut message_digest = Vec::with_capacity(51);
        tlv(
            &mut message_digest,
            Tag::Sequence,
            &[&self.message_digest_oid, &set],
        )?;
        let mut parts: Vec<&[u8]> = vec![
            &self.content_type,
            &message_digest,
            &self.signing_certificate,
        ];
        parts.extend(signing_time);
        parts.sort_by(|a, b| der_set_order(a, b));
        let mut out = Vec::with_capacity(parts.iter().map(|p| p.len()).sum::<usize>() + 4);
        tlv(&mut out, Tag::Set, &parts)?;
        Ok(out)
    }

    /// The DER SignerInfo around signed attributes (as signed, a SET) and
    /// their signature.
    fn signer_info(&self, signed_attributes: &[u8], signature: &[u8]) -> der::Result<Vec<u8>> {
        // The signed attributes go in as [0] IMPLICIT: same content, other tag.
        let attributes = signed_attributes
            .split_first()
            .map(|(_, rest)| rest)
            .unwrap_or_default();
        let mut implicit = Vec::with_capacity(signed_attributes.len());
        implicit.push(0xa0);
        implicit.extend_from_slice(attributes);
        let mut octets = Vec::with_capacity(signature.len() + 4);
        tlv(&mut octets, Tag::OctetString, &[signature])?;
        let mut out = Vec::with_capacity(
            self.head.len() + implicit.len() + self.signature_algorithm.len() + octets.len() + 4,
        );
        tlv(
            &mut out,
            Tag::Sequence,
            &[&self.head, &implicit, &self.signature_algorithm, &octets],
        )?;
        Ok(out)
    }
}

/// Appends `tag length value…` (the value given in parts).
fn tlv(out: &mut Vec<u8>, tag: Tag, parts: &[&[u8]]) -> der::Result<()> {
    put_header(out, tag, parts.iter().map(|p| p.len()).sum())?;
    for p in parts {
        out.extend_from_slice(p);
    }
    Ok(())
}

/// The DER TimeStampResp (status granted) around a signed TSTInfo, and
/// where the token (the ContentInfo) lies in it. `certificates` is the
/// encoded `[0] CertificateSet`, empty when the request did not ask for
/// it. Built in one buffer, outer headers first from the computed lengths,
/// so that the TSTInfo and the certificates are copied once rather than at
/// every nesting level.
fn reply_der(
    digest_algorithms: &[u8],
    certificates: &[u8],
    tst_der: &[u8],
    signer_info: &[u8],
) -> der::Result<(Vec<u8>, std::ops::Range<usize>)> {
    // EncapsulatedContentInfo ::= SEQUENCE { id-ct-TSTInfo,
    //   [0] EXPLICIT OCTET STRING TSTInfo }
    let octets = header_len(tst_der.len()) + tst_der.len();
    let explicit = header_len(octets) + octets;
    let encap = CT_TST_INFO_DER.len() + explicit;
    // SignedData ::= SEQUENCE { version 3 (eContentType is not id-data),
    //   digestAlgorithms, encapContentInfo, [0] certificates OPTIONAL,
    //   signerInfos SET OF SignerInfo }
    let signed_data = SIGNED_DATA_VERSION.len()
        + digest_algorithms.len()
        + header_len(encap)
        + encap
        + certificates.len()
        + header_len(signer_info.len())
        + signer_info.len();
    // ContentInfo ::= SEQUENCE { id-signedData, [0] EXPLICIT SignedData }
    let content_explicit = header_len(signed_data) + signed_data;
    let content_info = SIGNED_DATA_OID_DER.len() + header_len(content_explicit) + content_explicit;
    // TimeStampResp ::= SEQUENCE { status PKIStatusInfo, timeStampToken }
    let token_len = header_len(content_info) + content_info;
    let resp = STATUS_GRANTED_DER.len() + token_len;

    let mut out = Vec::with_capacity(header_len(resp) + resp);
    put_header(&mut out, Tag::Sequence, resp)?;
    out.extend_from_slice(STATUS_GRANTED_DER);
    let token_start = out.len();
    put_header(&mut out, Tag::Sequence, content_info)?;
    out.extend_from_slice(SIGNED_DATA_OID_DER);
    put_header(&mut out, CONTEXT_0, content_explicit)?;
    put_header(&mut out, Tag::Sequence, signed_data)?;
    out.extend_from_slice(SIGNED_DATA_VERSION);
    out.extend_from_slice(digest_algorithms);
    put_header(&mut out, Tag::Sequence, encap)?;
    out.extend_from_slice(CT_TST_INFO_DER);
    put_header(&mut out, CONTEXT_0, octets)?;
    put_header(&mut out, Tag::OctetString, tst_der.len())?;
    out.extend_from_slice(tst_der);
    out.extend_from_slice(certificates);
    put_header(&mut out, Tag::Set, signer_info.len())?;
    out.extend_from_slice(signer_info);
    debug_assert_eq!(out.len(), header_len(resp) + resp);
    let token = token_start..out.len();
    Ok((out, token))
}

/// X.690 §11.6 order of a DER SET OF: encodings compared as octet strings,
/// the shorter one padded with trailing zero octets.
fn der_set_order(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    let n = a.len().max(b.len());
    let at = |v: &[u8], i: usize| v.get(i).copied().unwrap_or(0);
    (0..n)
        .map(|i| at(a, i).cmp(&at(b, i)))
        .find(|o| o.is_ne())
        .unwrap_or(std::cmp::Ordering::Equal)
}

/// The parts of the TSTInfo that are the same for every token (version,
/// policy, accuracy, TSA name), encoded once at start-up; per token only
/// the imprint, serial, genTime and nonce are encoded. Same bytes as
/// `TstInfo::to_der` (a test compares them), without cloning and
/// re-encoding the TSA's name for every token.
#[derive(Clone, Debug)]
struct TstInfoTemplate {
    /// `version v1, policy`.
    head: Vec<u8>,
    /// `accuracy`, or empty.
    accuracy: Vec<u8>,
    /// `tsa [0] EXPLICIT GeneralName`, or empty.
    tsa_name: Vec<u8>,
}

impl TstInfoTemplate {
    fn new(
        policy: ObjectIdentifier,
        accuracy: Option<&Accuracy>,
        tsa_name: Option<&GeneralName>,
    ) -> der::Result<Self> {
        let mut head = TspVersion::V1.to_der()?;
        policy.encode_to_vec(&mut head)?;
        let accuracy = match accuracy {
            Some(a) => a.to_der()?,
            None => Vec::new(),
        };
        let tsa_name = match tsa_name {
            Some(name) => {
                let name = name.to_der()?;
                let mut explicit = Vec::with_capacity(name.len() + 4);
                tlv(&mut explicit, CONTEXT_0, &[&name])?;
                explicit
            }
            None => Vec::new(),
        };
        Ok(TstInfoTemplate {
            head,
            accuracy,
            tsa_name,
        })
    }

    /// The DER TSTInfo of one token (`ordering` false, so absent; no
    /// extensions).
    fn encode(
        &self,
        imprint: &MessageImprint,
        serial: &Int,
        gen_time: &GenTime,
        nonce: Option<&Int>,
    ) -> der::Result<Vec<u8>> {
        let nonce_len = match nonce {
            Some(n) => usize::try_from(n.encoded_len()?)?,
            None => 0,
        };
        let content = self.head.len()
            + usize::try_from(imprint.encoded_len()?)?
            + usize::try_from(serial.encoded_len()?)?
            + usize::try_from(gen_time.encoded_len()?)?
            + self.accuracy.len()
            + nonce_len
            + self.tsa_name.len();
        let mut out = Vec::with_capacity(header_len(content) + content);
        put_header(&mut out, Tag::Sequence, content)?;
        out.extend_from_slice(&self.head);
        imprint.encode_to_vec(&mut out)?;
        serial.encode_to_vec(&mut out)?;
        gen_time.encode_to_vec(&mut out)?;
        out.extend_from_slice(&self.accuracy);
        if let Some(n) = nonce {
            n.encode_to_vec(&mut out)?;
        }
        out.extend_from_slice(&self.tsa_name);
        Ok(out)
    }
}

/// Size of the DER header (tag and length octets) of a value of `len`
/// octets, for one-byte tags.
fn header_len(len: usize) -> usize {
    match len {
        0..=0x7f => 2,
        0x80..=0xff => 3,
        0x100..=0xffff => 4,
        0x1_0000..=0xff_ffff => 5,
        _ => 6,
    }
}

/// Appends a DER header (tag, length).
fn put_header(out: &mut Vec<u8>, tag: Tag, len: usize) -> der::Result<()> {
    Header::new(tag, Length::try_from(len)?)?.encode_to_vec(out)?;
    Ok(())
}

/// `PKIStatusInfo { status granted }`, DER.
const STATUS_GRANTED_DER: &[u8] = &[0x30, 0x03, 0x02, 0x01, 0x00];
/// `id-signedData` (1.2.840.113549.1.7.2), DER.
const SIGNED_DATA_OID_DER: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02,
];
/// `id-ct-TSTInfo` (1.2.840.113549.1.9.16.1.4), DER.
const CT_TST_INFO_DER: &[u8] = &[
    0x06, 0x0b, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x01, 0x04,
];
/// `CMSVersion 3`, DER.
const SIGNED_DATA_VERSION: &[u8] = &[0x02, 0x01, 0x03];

const CONTEXT_0: Tag = Tag::ContextSpecific {
    constructed: true,
    number: der::TagNumber::N0,
};

// ------------------------------------------------------------ authority

/// What happened to one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A token was issued with this serial (big-endian octets).
    Granted {
        /// The token's serial number.
        serial: Vec<u8>,
    },
    /// No token; the failInfo sent.
    Rejected(FailureInfo),
}

/// The DER `TimeStampResp` to send and what it says.
#[derive(Clone, Debug)]
pub struct Reply {
    /// The DER TimeStampResp (HTTP body, `application/timestamp-reply`).
    pub der: Vec<u8>,
    /// Granted or rejected.
    pub outcome: Outcome,
}

impl Reply {
    /// A rejection reply.
    pub fn rejected(r: &Rejection) -> Self {
        metrics::counter!("tsa_requests_total", "outcome" => "rejected", "failure" => r.failure.name())
            .increment(1);
        Reply {
            der: rejection_der(r.failure, &r.text),
            outcome: Outcome::Rejected(r.failure),
        }
    }
}

/// The TSA's state, for `/readyz` and status pages.
#[derive(Clone, Debug, Serialize)]
pub struct TsaStatus {
    /// Whether tokens can be issued now (clock trusted and recorder healthy).
    pub ready: bool,
    /// This instance.
    pub instance_id: u16,
    /// The policy served.
    pub policy: String,
    /// Tokens issued by this instance since start.
    pub tokens_issued: u64,
    /// Requests answered with a rejection since start.
    pub requests_rejected: u64,
    /// The clock guard.
    pub clock: ClockStatus,
    /// Recording of issued tokens.
    pub recorder: RecorderStatus,
    /// The last signing failure (e.g. HSM unavailable), if any since the
    /// last successful signature.
    pub last_signing_error: Option<String>,
    /// Signatures in flight at most through the shared lanes (configured,
    /// or chosen by the key); the dedicated listener's threads sign besides
    /// them, one signature per thread at most.
    pub signing_lanes: usize,
    /// Signing jobs handed to the threads of the dedicated listener
    /// ([`crate::listener`]) since the start, rather than to the lanes
    /// (each signed there, or refused there for waiting too long).
    pub listener_thread_jobs: u64,
}

/// Signing lanes for a key when the configuration sets none (measured on a
/// software token, two cores; see `TsaConfig::max_concurrent_signatures`):
/// an RSA signature is pure CPU, and lanes beyond the cores plus one only
/// time-slice it and lengthen the tail; a short EC signature partly waits
/// on the token's locks, and one lane more keeps the cores busy.
fn default_signing_lanes(signature_algorithm: &ObjectIdentifier) -> usize {
    // Every RSA signature algorithm (PKCS #1 v1.5, PSS) sits under PKCS #1.
    if signature_algorithm.parent() == Some(rfc5912::PKCS_1) {
        3
    } else {
        4
    }
}

/// How long a readiness probe of the signer stands (see
/// [`TimeStampAuthority::probe_signer`]).
pub const SIGNER_PROBE_INTERVAL: Duration = crate::probe::PROBE_INTERVAL;

/// The histogram of the time from a request's arrival to its token (seconds).
pub const REQUEST_DURATION_METRIC: &str = "tsa_request_duration_seconds";

/// Its buckets, for a Prometheus exporter: a histogram with buckets can be
/// summed over the instances of a multi-instance deployment, where the
/// exporter's default (a summary with quantiles per instance) cannot. From
/// 0.25 ms (a token on an idle HSM, EC) to the queue timeout's order.
pub const REQUEST_DURATION_BUCKETS: &[f64] = &[
    0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0,
];

/// Requests waiting for a signing lane, at most; more are refused (busy).
const MAX_QUEUED_SIGNATURES: usize = 4096;

struct Inner {
    policy: ObjectIdentifier,
    tst_info: TstInfoTemplate,
    precision_digits: u8,
    signing_time: bool,
    not_after: SystemTime,
    signer_info: SignerInfoTemplate,
    /// `digestAlgorithms`: SET { sha256 }, DER.
    digest_algorithms: Vec<u8>,
    /// `[0] IMPLICIT CertificateSet` (TSA certificate and chain), DER, sent
    /// on certReq. Encoded once: cloning, sorting and re-encoding the
    /// certificates for every token cost as much as the rest of the
    /// encoding together.
    certificates: Vec<u8>,
    signer: CheckedKey,
    serials: SerialGenerator,
    clock: ClockGuard,
    log: TokenLog,
    lanes: Arc<Lanes>,
    granted: std::sync::atomic::AtomicU64,
    queue_timeout: Duration,
    max_request_bytes: usize,
    last_signing_error: std::sync::Mutex<Option<String>>,
    /// The readiness probe of the signer (at most one signature a second).
    signer_probe: Arc<SignerProbe>,
    rejected: std::sync::atomic::AtomicU64,
}

/// An RFC 3161 time-stamping authority. Cheap to clone (shared state).
#[derive(Clone)]
pub struct TimeStampAuthority {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for TimeStampAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimeStampAuthority")
            .field("instance_id", &self.inner.serials.instance_id())
            .field("policy", &self.inner.policy)
            .finish_non_exhaustive()
    }
}

/// Why `issue` failed: the clock (→ timeNotAvailable) or anything else
/// (→ systemFailure).
enum IssueError {
    Clock(String),
    System(Error),
}

impl From<Error> for IssueError {
    fn from(e: Error) -> Self {
        IssueError::System(e)
    }
}

impl From<der::Error> for IssueError {
    fn from(e: der::Error) -> Self {
        IssueError::System(e.into())
    }
}

fn accuracy_of(d: Duration) -> Option<Accuracy> {
    let secs = d.as_secs();
    let millis = d.subsec_millis() as i16;
    let micros = (d.subsec_micros() % 1000) as i16;
    let a = Accuracy {
        seconds: (secs > 0).then_some(secs),
        millis: (millis > 0).then_some(millis),
        micros: (micros > 0).then_some(micros),
    };
    (a.seconds.is_some() || a.millis.is_some() || a.micros.is_some()).then_some(a)
}

impl TimeStampAuthority {
    /// Assembles the TSA. The signer's public key must be the TSA
    /// certificate's. `clock` and `log` are usually started from
    /// `cfg.clock` and `cfg.recorder` (see [`crate::start`]).
    pub fn new<S, Sig>(
        cfg: &TsaConfig,
        signer: S,
        certs: TsaCertificates,
        clock: ClockGuard,
        log: TokenLog,
    ) -> Result<Self>
    where
        S: Keypair + DynSignatureAlgorithmIdentifier + Signer<Sig> + Send + Sync + 'static,
        S::VerifyingKey: EncodePublicKey,
        Sig: SignatureBitStringEncoding + 'static,
    {
        cfg.validate()?;
        if clock.accuracy() > cfg.accuracy() {
            return Err(Error::config(format!(
                "the clock guard checks {:?}, looser than the declared accuracy {:?}",
                clock.accuracy(),
                cfg.accuracy()
            )));
        }
        let tbs = &certs.tsa.tbs_certificate;
        let key = signer
            .verifying_key()
            .to_public_key_der()
            .map_err(|e| Error::Signing(format!("signer public key: {e}")))?;
        if key.as_bytes() != tbs.subject_public_key_info.to_der()? {
            return Err(Error::Certificate {
                path: cfg.certificate.clone(),
                reason: format!(
                    "the signer's key (label {:?}) is not the key of this certificate",
                    cfg.key_label
                ),
            });
        }
        let signature_algorithm = signer
            .signature_algorithm_identifier()
            .map_err(|e| Error::Signing(format!("signature algorithm: {e}")))?;

        let ess = SigningCertificateV2 {
            certs: vec![EssCertIdV2 {
                hash_algorithm: None,
                cert_hash: OctetString::new(Sha256::digest(&certs.tsa_der).to_vec())?,
                issuer_serial: Some(IssuerSerial {
                    issuer: vec![GeneralName::DirectoryName(tbs.issuer.clone())],
                    serial_number: tbs.serial_number.clone(),
                }),
            }],
            policies: None,
        };
        let ess_attribute = Attribute {
            oid: rfc5911::ID_AA_SIGNING_CERTIFICATE_V_2,
            values: SetOfVec::try_from(vec![Any::from_der(&ess.to_der()?)?])?,
        };
        let sid = IssuerAndSerialNumber {
            issuer: tbs.issuer.clone(),
            serial_number: tbs.serial_number.clone(),
        };
        let signer_info = SignerInfoTemplate::new(&sid, &signature_algorithm, &ess_attribute)?;
        let mut cert_ders = vec![certs.tsa_der.clone()];
        for c in &certs.chain {
            cert_ders.push(c.to_der()?);
        }
        cert_ders.sort_by(|a, b| der_set_order(a, b));
        let parts: Vec<&[u8]> = cert_ders.iter().map(Vec::as_slice).collect();
        let mut certificates = Vec::new();
        tlv(&mut certificates, CONTEXT_0, &parts)?;
        let mut digest_algorithms = Vec::new();
        tlv(&mut digest_algorithms, Tag::Set, &[&sha256_alg().to_der()?])?;
        let tsa_name = cfg
            .include_tsa_name
            .then(|| GeneralName::DirectoryName(tbs.subject.clone()));
        let tst_info = TstInfoTemplate::new(
            cfg.policy,
            accuracy_of(cfg.accuracy()).as_ref(),
            tsa_name.as_ref(),
        )?;
        let token_signer = CheckedKey::from_signer(signer, "tsa").map_err(signing_error)?;
        Ok(TimeStampAuthority {
            inner: Arc::new(Inner {
                policy: cfg.policy,
                tst_info,
                precision_digits: cfg.precision_digits,
                signing_time: cfg.include_signing_time,
                not_after: tbs.validity.not_after.to_system_time(),
                signer_info,
                digest_algorithms,
                certificates,
                signer_probe: Arc::new(SignerProbe::new(SIGNER_PROBE_INTERVAL, {
                    let signer = token_signer.clone();
                    move || {
                        signer
                            .sign(b"TSA readiness probe")
                            .map(|_| ())
                            .map_err(|e| signing_error(e).to_string())
                    }
                })),
                signer: token_signer,
                serials: SerialGenerator::new(cfg.instance_id)?,
                clock,
                log,
                lanes: Lanes::new(
                    cfg.max_concurrent_signatures
                        .unwrap_or_else(|| default_signing_lanes(&signature_algorithm.oid)),
                    MAX_QUEUED_SIGNATURES,
                    Duration::from_millis(cfg.queue_timeout_ms),
                ),
                granted: std::sync::atomic::AtomicU64::new(0),
                queue_timeout: Duration::from_millis(cfg.queue_timeout_ms),
                max_request_bytes: cfg.max_request_bytes,
                last_signing_error: std::sync::Mutex::new(None),
                rejected: std::sync::atomic::AtomicU64::new(0),
            }),
        })
    }

    /// Largest request body accepted.
    pub fn max_request_bytes(&self) -> usize {
        self.inner.max_request_bytes
    }

    /// The clock guard.
    pub fn clock(&self) -> &ClockGuard {
        &self.inner.clock
    }

    /// The token log.
    pub fn log(&self) -> &TokenLog {
        &self.inner.log
    }

    /// Signatures in flight at most through the shared lanes (configured,
    /// or chosen by the key).
    pub fn signing_lanes(&self) -> usize {
        self.inner.lanes.max_lanes()
    }

    /// How long a request may wait for a signing lane (or a listener
    /// thread) before it is refused (`tsa.queue_timeout_ms`).
    pub fn queue_timeout(&self) -> Duration {
        self.inner.queue_timeout
    }

    /// Answers one DER `TimeStampReq`. Never fails: every problem is a
    /// rejection reply.
    pub async fn respond(&self, request: &[u8]) -> Reply {
        let reply = self.answer(request).await;
        if let Outcome::Rejected(_) = reply.outcome {
            self.inner
                .rejected
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        reply
    }

    async fn answer(&self, request: &[u8]) -> Reply {
        let started = Instant::now();
        let req = match parse_request(request, &self.inner.policy) {
            Ok(r) => r,
            Err(r) => return Reply::rejected(&r),
        };
        if let Err(reason) = self.inner.clock.now() {
            return Reply::rejected(&Rejection::new(
                FailureInfo::TimeNotAvailable,
                format!("time not available: {reason}"),
            ));
        }
        if let Err(e) = self.inner.log.admit() {
            return self.system_failure(&e);
        }
        let wait = self.inner.queue_timeout;
        let record = match self.inner.log.reserve(wait).await {
            Ok(r) => r,
            Err(e) => return self.system_failure(&e),
        };
        let inner = self.inner.clone();
        // The queue reservation and the record travel with the job and come
        // back with the reply; whoever drops them queues the record, so a
        // token that was signed is recorded even if this future is dropped
        // (client gone).
        let issued = self
            .inner
            .lanes
            .run(move || {
                inner.issue(&req).map(|(der, token)| {
                    let serial = token.serial.clone();
                    (der, serial, record.hold(token))
                })
            })
            .await;
        match issued {
            Ok(Ok((der, serial, record))) => {
                // Queued here, on the runtime, rather than from the signing
                // thread: one cross-thread wake-up less per token.
                drop(record);
                self.inner
                    .granted
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                metrics::counter!("tsa_requests_total", "outcome" => "granted", "failure" => "none")
                    .increment(1);
                metrics::histogram!(REQUEST_DURATION_METRIC)
                    .record(started.elapsed().as_secs_f64());
                Reply {
                    der,
                    outcome: Outcome::Granted { serial },
                }
            }
            Ok(Err(IssueError::Clock(reason))) => Reply::rejected(&Rejection::new(
                FailureInfo::TimeNotAvailable,
                format!("time not available: {reason}"),
            )),
            Ok(Err(IssueError::System(e))) => self.system_failure(&e),
            Err(NotRun::QueueFull) => self.system_failure(&Error::Busy(format!(
                "{MAX_QUEUED_SIGNATURES} requests already wait for the signer"
            ))),
            Err(NotRun::Waited(w)) => self.system_failure(&Error::Busy(format!(
                "waited {w:?} for the signer (limit {wait:?})"
            ))),
            Err(NotRun::Lost) => self.system_failure(&Error::Internal(
                "the signing task ended unexpectedly".into(),
            )),
        }
    }

    fn system_failure(&self, e: &Error) -> Reply {
        tracing::error!(error = %e, "time-stamp request refused: system failure");
        // The reply does not carry internal details beyond their kind.
        let text = match e {
            Error::Signing(_) => "the TSA cannot sign now",
            Error::Recorder(_) => "the TSA cannot record tokens now",
            Error::Busy(_) => "the TSA is overloaded",
            _ => "internal failure",
        };
        Reply::rejected(&Rejection::new(FailureInfo::SystemFailure, text))
    }

    /// The state, for `/readyz` and status pages.
    pub fn status(&self) -> TsaStatus {
        let clock = self.inner.clock.status();
        let recorder = self.inner.log.status();
        TsaStatus {
            ready: clock.trusted && recorder.healthy,
            instance_id: self.inner.serials.instance_id(),
            policy: self.inner.policy.to_string(),
            tokens_issued: self
                .inner
                .granted
                .load(std::sync::atomic::Ordering::Relaxed),
            requests_rejected: self
                .inner
                .rejected
                .load(std::sync::atomic::Ordering::Relaxed),
            clock,
            recorder,
            last_signing_error: self
                .inner
                .last_signing_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            signing_lanes: self.inner.lanes.max_lanes(),
            listener_thread_jobs: self.inner.lanes.local_jobs(),
        }
    }

    /// Whether the signer (the HSM) signs: a probe signature, made at most
    /// once per [`SIGNER_PROBE_INTERVAL`] (readiness checks from several
    /// load balancers do not multiply the HSM calls); blocks for one
    /// signature when it probes. While another caller's probe is in
    /// progress the last answer stands, without waiting for it — unless that
    /// probe has gone unanswered for [`SIGNER_PROBE_INTERVAL`] or longer,
    /// which is itself the answer (a hung HSM). `Err` carries the reason.
    /// (See [`crate::probe`].)
    pub fn probe_signer(&self) -> std::result::Result<(), String> {
        self.inner.signer_probe.check_blocking().outcome
    }

    /// The probe behind [`Self::probe_signer`], to share (the dedicated
    /// listener's `/readyz` uses it unless given another:
    /// [`crate::http::listener_router_with_probe`]).
    pub fn signer_probe(&self) -> Arc<SignerProbe> {
        self.inner.signer_probe.clone()
    }

    /// Whether tokens can be issued now (cheaper than [`Self::status`]).
    pub fn is_ready(&self) -> bool {
        self.inner.clock.is_trusted() && self.inner.log.admit().is_ok()
    }
}

impl Inner {
    /// Reads the clock, builds and signs the token (blocking: the signer
    /// is the HSM).
    fn issue(&self, req: &ValidRequest) -> std::result::Result<(Vec<u8>, IssuedToken), IssueError> {
        let wall = self
            .clock
            .now()
            .map_err(|r| IssueError::Clock(r.to_string()))?;
        if wall > self.not_after {
            return Err(Error::Certificate {
                path: PathBuf::new(),
                reason: "the TSA certificate has expired".into(),
            }
            .into());
        }
        let gen_time = GenTime::truncated(OffsetDateTime::from(wall), self.precision_digits)?;
        let serial = self.serials.next()?;
        let tst_der =
            self.tst_info
                .encode(&req.message_imprint, &serial, &gen_time, req.nonce.as_ref())?;
        let signing_time = if self.signing_time {
            let secs = gen_time.datetime().unix_timestamp();
            let utc = UtcTime::from_unix_duration(Duration::from_secs(secs.max(0) as u64))?;
            let attribute = Attribute {
                oid: rfc5911::ID_SIGNING_TIME,
                values: SetOfVec::try_from(vec![Any::encode_from(&utc)?])?,
            };
            Some(attribute.to_der()?)
        } else {
            None
        };
        let signed_attributes = self
            .signer_info
            .signed_attributes(&tst_der, signing_time.as_deref())?;
        let signature = match self.signer.sign(&signed_attributes).map_err(signing_error) {
            Ok(sig) => {
                if let Ok(mut last) = self.last_signing_error.try_lock() {
                    if last.is_some() {
                        *last = None;
                    }
                }
                sig
            }
            Err(e) => {
                *self
                    .last_signing_error
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
                return Err(e.into());
            }
        };
        let signer_info = self
            .signer_info
            .signer_info(&signed_attributes, &signature)?;
        let certificates: &[u8] = if req.cert_req {
            &self.certificates
        } else {
            &[]
        };
        let (der, token) = reply_der(
            &self.digest_algorithms,
            certificates,
            &tst_der,
            &signer_info,
        )?;
        let record = IssuedToken {
            instance_id: self.serials.instance_id(),
            serial: serial.as_bytes().to_vec(),
            gen_time: gen_time.datetime(),
            policy: self.policy,
            imprint_algorithm: req.algorithm.oid(),
            imprint: req.message_imprint.hashed_message.as_bytes().to_vec(),
            token_sha256: Sha256::digest(&der[token]).into(),
        };
        Ok((der, record))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn set_of_order_pads_with_zeros() {
        use std::cmp::Ordering::*;
        assert_eq!(der_set_order(&[1, 2], &[1, 3]), Less);
        assert_eq!(der_set_order(&[2], &[1, 0xff]), Greater);
        // [1] is [1, 0] padded: equal to [1, 0], less than [1, 1].
        assert_eq!(der_set_order(&[1], &[1, 0]), Equal);
        assert_eq!(der_set_order(&[1], &[1, 1]), Less);
        assert_eq!(der_set_order(&[1, 1], &[1]), Greater);
        // Agrees with der's own SET OF ordering on real encodings.
        let a = der::asn1::OctetString::new(vec![9u8; 3]).unwrap();
        let b = der::asn1::OctetString::new(vec![1u8; 200]).unwrap();
        let mut set = der::asn1::SetOfVec::new();
        set.insert(a.clone()).unwrap();
        set.insert(b.clone()).unwrap();
        let mut ours = [a.to_der().unwrap(), b.to_der().unwrap()];
        ours.sort_by(|x, y| der_set_order(x, y));
        let theirs: Vec<Vec<u8>> = set.iter().map(|x| x.to_der().unwrap()).collect();
        assert_eq!(ours.to_vec(), theirs);
    }

    /// The hand-assembled SignerInfo is byte for byte what `cms`'s
    /// builder makes from the same attributes with a deterministic signer
    /// (ECDSA with RFC 6979 nonces).
    #[test]
    fn signer_info_matches_the_cms_builder() {
        use cms::builder::SignerInfoBuilder;
        use cms::signed_data::{EncapsulatedContentInfo, SignerIdentifier};
        use p256::ecdsa::{DerSignature, SigningKey};
        use x509_cert::builder::Builder;

        let key = SigningKey::from_slice(&[7u8; 32]).unwrap();
        let sid = IssuerAndSerialNumber {
            issuer: "CN=Test TSA CA,O=Test,C=FR".parse().unwrap(),
            serial_number: x509_cert::serial_number::SerialNumber::new(&[0x42, 0x01]).unwrap(),
        };
        let ess = Attribute {
            oid: rfc5911::ID_AA_SIGNING_CERTIFICATE_V_2,
            values: SetOfVec::try_from(vec![Any::new(Tag::Sequence, vec![0x30, 0x00]).unwrap()])
                .unwrap(),
        };
        let utc = UtcTime::from_unix_duration(Duration::from_secs(1_800_000_000)).unwrap();
        let signing_time = Attribute {
            oid: rfc5911::ID_SIGNING_TIME,
            values: SetOfVec::try_from(vec![Any::encode_from(&utc).unwrap()]).unwrap(),
        };
        let tst = b"not really a TSTInfo, any octets do";
        let algorithm = key.signature_algorithm_identifier().unwrap();
        let template = SignerInfoTemplate::new(&sid, &algorithm, &ess).unwrap();
        let signer = CheckedKey::from_signer::<_, DerSignature>(key.clone(), "test").unwrap();
        for with_time in [false, true] {
            let time_der = signing_time.to_der().unwrap();
            let attrs = template
                .signed_attributes(tst, with_time.then_some(time_der.as_slice()))
                .unwrap();
            let ours = template
                .signer_info(&attrs, &signer.sign(&attrs).unwrap())
                .unwrap();

            let encap = EncapsulatedContentInfo {
                econtent_type: pkix::oid::ID_CT_TST_INFO,
                econtent: Some(Any::new(Tag::OctetString, tst.to_vec()).unwrap()),
            };
            let mut builder = SignerInfoBuilder::new(
                &key,
                SignerIdentifier::IssuerAndSerialNumber(sid.clone()),
                sha256_alg(),
                &encap,
                None,
            )
            .unwrap();
            builder.add_signed_attribute(ess.clone()).unwrap();
            if with_time {
                builder.add_signed_attribute(signing_time.clone()).unwrap();
            }
            let theirs = builder.build::<DerSignature>().unwrap().to_der().unwrap();
            assert_eq!(
                hex::encode(ours),
                hex::encode(theirs),
                "signing time: {with_time}"
            );
        }
    }

    #[test]
    fn constant_encodings_and_header_sizes() {
        use crate::asn1::{PkiStatus, PkiStatusInfo};
        assert_eq!(
            SIGNED_DATA_OID_DER,
            rfc5911::ID_SIGNED_DATA.to_der().unwrap()
        );
        assert_eq!(CT_TST_INFO_DER, pkix::oid::ID_CT_TST_INFO.to_der().unwrap());
        let granted = PkiStatusInfo {
            status: PkiStatus::Granted,
            status_string: None,
            fail_info: None,
        };
        assert_eq!(STATUS_GRANTED_DER, granted.to_der().unwrap());
        for len in [
            0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x1_0000, 0xff_ffff, 0x100_0000,
        ] {
            let header = Header::new(Tag::Sequence, Length::try_from(len).unwrap()).unwrap();
            let expected = usize::try_from(header.encoded_len().unwrap()).unwrap();
            assert_eq!(header_len(len), expected, "length {len}");
            let mut out = Vec::new();
            put_header(&mut out, Tag::Sequence, len).unwrap();
            assert_eq!(out.len(), expected, "length {len}");
        }
    }

    /// The TSTInfo assembled from the template is byte for byte the derived
    /// encoding of the same `TstInfo`, with and without each optional field.
    #[test]
    fn tst_info_template_matches_the_derived_encoding() {
        use crate::asn1::TstInfo;
        use x509_tsp::MessageImprint;

        let policy = ObjectIdentifier::new_unwrap("1.2.250.1.999.1.3");
        let name = GeneralName::DirectoryName("CN=Unite d'horodatage,O=Test,C=FR".parse().unwrap());
        let gen_time = GenTime::truncated(
            OffsetDateTime::from_unix_timestamp_nanos(1_800_000_000_123_456_789).unwrap(),
            3,
        )
        .unwrap();
        let imprints = [
            MessageImprint {
                hash_algorithm: sha256_alg(),
                hashed_message: OctetString::new(vec![0xab; 32]).unwrap(),
            },
            MessageImprint {
                hash_algorithm: AlgorithmIdentifierOwned {
                    oid: rfc5912::ID_SHA_512,
                    parameters: None,
                },
                hashed_message: OctetString::new(vec![0x01; 64]).unwrap(),
            },
        ];
        let nonces = [
            None,
            Some(Int::new(&[0x01]).unwrap()),
            Some(Int::new(&[0x00, 0x80, 0x11]).unwrap()),
            Some(Int::new(&[0x7f; 40]).unwrap()),
        ];
        let serial = Int::new(&[0x00, 0x3c, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06]).unwrap();
        for accuracy in [None, accuracy_of(Duration::from_millis(1500))] {
            for tsa in [None, Some(name.clone())] {
                let template =
                    TstInfoTemplate::new(policy, accuracy.as_ref(), tsa.as_ref()).unwrap();
                for imprint in &imprints {
                    for nonce in &nonces {
                        let ours = template
                            .encode(imprint, &serial, &gen_time, nonce.as_ref())
                            .unwrap();
                        let derived = TstInfo {
                            version: TspVersion::V1,
                            policy,
                            message_imprint: imprint.clone(),
                            serial_number: serial.clone(),
                            gen_time,
                            accuracy: accuracy.clone(),
                            ordering: false,
                            nonce: nonce.clone(),
                            tsa: tsa.clone(),
                            extensions: None,
                        }
                        .to_der()
                        .unwrap();
                        assert_eq!(hex::encode(ours), hex::encode(derived));
                    }
                }
            }
        }
    }

    /// The one-buffer reply is canonical DER (a strict decoder reads it and
    /// re-encodes the same bytes) and carries its parts unchanged, also when
    /// lengths need two and three length octets.
    #[test]
    fn reply_assembled_in_one_buffer_is_the_nested_encoding() {
        use cms::content_info::ContentInfo;
        use cms::signed_data::{SignedData, SignerInfo};
        use x509_tsp::TimeStampResp;

        let mut digest_algorithms = Vec::new();
        tlv(
            &mut digest_algorithms,
            Tag::Set,
            &[&sha256_alg().to_der().unwrap()],
        )
        .unwrap();
        // A SignerInfo that decodes: version, sid, digest algorithm,
        // signature algorithm, signature.
        let sid = IssuerAndSerialNumber {
            issuer: "CN=Test TSA CA,O=Test,C=FR".parse().unwrap(),
            serial_number: x509_cert::serial_number::SerialNumber::new(&[0x42]).unwrap(),
        };
        let mut head = vec![0x02, 0x01, 0x01];
        sid.encode_to_vec(&mut head).unwrap();
        sha256_alg().encode_to_vec(&mut head).unwrap();
        let mut signature = Vec::new();
        tlv(&mut signature, Tag::OctetString, &[&[0x5a; 71]]).unwrap();
        let algorithm = AlgorithmIdentifierOwned {
            oid: rfc5912::ECDSA_WITH_SHA_256,
            parameters: None,
        }
        .to_der()
        .unwrap();
        let mut signer_info = Vec::new();
        tlv(
            &mut signer_info,
            Tag::Sequence,
            &[&head, &algorithm, &signature],
        )
        .unwrap();
        // A certificate set of one.
        let cert = {
            use p256::ecdsa::{DerSignature, SigningKey};
            use x509_cert::builder::{Builder, CertificateBuilder, Profile};
            let key = SigningKey::from_slice(&[9u8; 32]).unwrap();
            let spki = spki::SubjectPublicKeyInfoOwned::from_key(*key.verifying_key()).unwrap();
            CertificateBuilder::new(
                Profile::Root,
                x509_cert::serial_number::SerialNumber::new(&[1]).unwrap(),
                x509_cert::time::Validity::from_now(Duration::from_secs(3600)).unwrap(),
                "CN=Test,C=FR".parse().unwrap(),
                spki,
                &key,
            )
            .unwrap()
            .build::<DerSignature>()
            .unwrap()
            .to_der()
            .unwrap()
        };
        let mut certificates = Vec::new();
        tlv(&mut certificates, CONTEXT_0, &[&cert]).unwrap();

        for tst_len in [10, 0x7c, 0x80, 0x100, 0x1_0000] {
            let mut tst_der = Vec::new();
            tlv(&mut tst_der, Tag::Sequence, &[&vec![0x05; tst_len]]).unwrap();
            for certs in [&[][..], &certificates[..]] {
                let (der, token) =
                    reply_der(&digest_algorithms, certs, &tst_der, &signer_info).unwrap();
                let resp = TimeStampResp::from_der(&der).unwrap();
                assert_eq!(resp.to_der().unwrap(), der, "canonical, tst {tst_len}");
                let content_info = ContentInfo::from_der(&der[token.clone()]).unwrap();
                assert_eq!(content_info.to_der().unwrap(), &der[token]);
                assert_eq!(content_info.content_type, rfc5911::ID_SIGNED_DATA);
                let signed: SignedData = content_info.content.decode_as().unwrap();
                let econtent = signed.encap_content_info.econtent.unwrap();
                assert_eq!(econtent.value(), tst_der.as_slice());
                assert_eq!(
                    signed.encap_content_info.econtent_type,
                    pkix::oid::ID_CT_TST_INFO
                );
                let infos: Vec<&SignerInfo> = signed.signer_infos.0.iter().collect();
                assert_eq!(infos.len(), 1);
                assert_eq!(infos[0].to_der().unwrap(), signer_info);
                let n = signed.certificates.map(|c| c.0.len()).unwrap_or(0);
                assert_eq!(n, usize::from(!certs.is_empty()));
            }
        }
    }

    #[test]
    fn default_signing_lanes_follow_the_key() {
        use const_oid::db::rfc5912;
        for rsa in [
            rfc5912::SHA_256_WITH_RSA_ENCRYPTION,
            rfc5912::SHA_512_WITH_RSA_ENCRYPTION,
            rfc5912::ID_RSASSA_PSS,
        ] {
            assert_eq!(default_signing_lanes(&rsa), 3, "{rsa}");
        }
        for not_rsa in [
            rfc5912::ECDSA_WITH_SHA_256,
            rfc5912::ECDSA_WITH_SHA_384,
            const_oid::db::rfc8410::ID_ED_25519,
        ] {
            assert_eq!(default_signing_lanes(&not_rsa), 4, "{not_rsa}");
        }
    }

    #[test]
    fn accuracy_fields() {
        let a = accuracy_of(Duration::from_millis(1500)).unwrap();
        assert_eq!((a.seconds, a.millis, a.micros), (Some(1), Some(500), None));
        let a = accuracy_of(Duration::from_micros(250)).unwrap();
        assert_eq!((a.seconds, a.millis, a.micros), (None, None, Some(250)));
        let a = accuracy_of(Duration::from_secs(2)).unwrap();
        assert_eq!((a.seconds, a.millis, a.micros), (Some(2), None, None));
        assert!(accuracy_of(Duration::ZERO).is_none());
    }
}
