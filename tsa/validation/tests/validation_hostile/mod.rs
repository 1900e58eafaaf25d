//! Hostile signatures for the validation limits tests (issue 20): a legitimate CMS whose
//! certificate set is stuffed with look-alikes of CA Personnes (same subject, same key
//! identifier, flags and extensions, another key), some of them large, sent in reverse DER
//! order — what an attacker would send to make the validator decode, sort and try each one.
//!
//! Include after `validation_support`:
//! ```ignore
//! #[path = "validation_hostile/mod.rs"] mod validation_hostile;
//! ```
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use cms::content_info::ContentInfo;
use cms::signed_data::SignedData;
use der::asn1::OctetString;
use der::{Decode, Encode};
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::ext::Extension;
use x509_cert::serial_number::SerialNumber;
use x509_cert::Certificate;

/// A private extension (documentation arc) used to make certificates large.
pub const PADDING_OID: &str = "1.3.6.1.4.1.32473.1.99";

/// DER tag-length-value.
pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes = n.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// `template` with serial `serial`, public key `spki` and, when `pad > 0`, a non-critical
/// extension of `pad` octets. Its signature no longer verifies, and `spki` does not verify
/// what `template`'s key signed: a candidate issuer that costs a signature check and fails.
pub fn look_alike(
    template: &Certificate,
    spki: &SubjectPublicKeyInfoOwned,
    serial: u32,
    pad: usize,
) -> Certificate {
    let mut c = template.clone();
    // Four positive octets: the same length for every serial, so that DER order follows it.
    c.tbs_certificate.serial_number =
        SerialNumber::new(&(0x0100_0000 | serial).to_be_bytes()).unwrap();
    c.tbs_certificate.subject_public_key_info = spki.clone();
    if pad > 0 {
        c.tbs_certificate
            .extensions
            .get_or_insert_with(Vec::new)
            .push(Extension {
                extn_id: PADDING_OID.parse().unwrap(),
                critical: false,
                extn_value: OctetString::new(vec![0x5a; pad]).unwrap(),
            });
    }
    c
}

/// `template` with only the extensions an issuer needs (basicConstraints, keyUsage, subject
/// key identifier): shorter than `template`, so its look-alikes come first in DER order.
pub fn minimal_issuer(template: &Certificate) -> Certificate {
    let keep = ["2.5.29.19", "2.5.29.15", "2.5.29.14"];
    let mut c = template.clone();
    if let Some(exts) = c.tbs_certificate.extensions.as_mut() {
        exts.retain(|e| keep.contains(&e.extn_id.to_string().as_str()));
    }
    c
}

/// A certificate of exactly `size` DER octets: `template` (renamed `CN=padding <n>`, so it is
/// nobody's issuer) with a padding extension.
pub fn sized_certificate(template: &Certificate, size: usize) -> Vec<u8> {
    let mut c = template.clone();
    c.tbs_certificate.subject = pkix::parse_dn(&format!("CN=padding {size}")).unwrap();
    let base = c.to_der().unwrap().len();
    assert!(size > base + 16, "{size} is too small (base {base})");
    let mut pad = size - base - 8;
    for _ in 0..16 {
        let der = look_alike(&c, &c.tbs_certificate.subject_public_key_info, 7, pad)
            .to_der()
            .unwrap();
        match der.len().cmp(&size) {
            std::cmp::Ordering::Equal => return der,
            std::cmp::Ordering::Less => pad += size - der.len(),
            std::cmp::Ordering::Greater => pad -= der.len() - size,
        }
    }
    panic!("no certificate of exactly {size} octets");
}

/// Re-encodes `cms` (a DER ContentInfo of SignedData) with `extra` DER certificates after its
/// own, in the order given: the SET OF is not sorted again, as a hostile peer would not sort
/// it either.
pub fn with_certificates(cms: &[u8], extra: &[Vec<u8>]) -> Vec<u8> {
    let ci = ContentInfo::from_der(cms).unwrap();
    let sd: SignedData = ci.content.decode_as().unwrap();
    let mut certs: Vec<u8> = Vec::new();
    for c in sd.certificates.iter().flat_map(|s| s.0.iter()) {
        certs.extend(c.to_der().unwrap());
    }
    for c in extra {
        certs.extend_from_slice(c);
    }
    let mut body = sd.version.to_der().unwrap();
    body.extend(sd.digest_algorithms.to_der().unwrap());
    body.extend(sd.encap_content_info.to_der().unwrap());
    body.extend(tlv(0xa0, &certs));
    if let Some(crls) = &sd.crls {
        // [1] IMPLICIT: the SET's tag replaced.
        let mut d = crls.to_der().unwrap();
        d[0] = 0xa1;
        body.extend(d);
    }
    body.extend(sd.signer_infos.to_der().unwrap());
    let mut ci_body = ci.content_type.to_der().unwrap();
    ci_body.extend(tlv(0xa0, &tlv(0x30, &body)));
    tlv(0x30, &ci_body)
}

/// `n` look-alikes of `issuer` with the key `spki`, every `large_every`-th one padded to about
/// `large` octets and the others by `small`, in reverse DER order (the worst order for an
/// insertion sort).
pub fn look_alikes(
    issuer: &Certificate,
    spki: &SubjectPublicKeyInfoOwned,
    n: usize,
    small: usize,
    large: usize,
    large_every: usize,
) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            let pad = if large_every > 0 && i % large_every == 0 {
                large
            } else {
                small
            };
            look_alike(issuer, spki, i as u32, pad).to_der().unwrap()
        })
        .collect();
    v.sort();
    v.reverse();
    v
}

/// One HTTP/1.1 request on its own connection, with the time it took; `None` when no answer
/// came within `limit`.
pub async fn timed_post(
    base: &str,
    path: &str,
    body: Vec<u8>,
    limit: Duration,
) -> (Option<RawReply>, Duration) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let started = Instant::now();
    let addr = base.trim_start_matches("http://").to_owned();
    let path = path.to_owned();
    let exchange = async move {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).await.unwrap();
        // The server may answer (and close) before reading everything: ignore write errors.
        let _ = s.write_all(&body).await;
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf).await;
        RawReply::parse(&buf)
    };
    let reply = tokio::time::timeout(limit, exchange).await.ok();
    (reply, started.elapsed())
}

/// A parsed HTTP/1.1 response (`Connection: close`, so the body is the rest).
#[derive(Debug, Clone)]
pub struct RawReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawReply {
    fn parse(buf: &[u8]) -> RawReply {
        let split = buf
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no HTTP head in {:?}", String::from_utf8_lossy(buf)));
        let head = String::from_utf8_lossy(&buf[..split]).into_owned();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect::<Vec<_>>();
        let mut body = buf[split + 4..].to_vec();
        if headers
            .iter()
            .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
        {
            body = dechunk(&body);
        }
        RawReply {
            status,
            headers,
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} body is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 2 + size + 2..];
    }
    out
}
