//! A small HTTP/1.1 client for revocation evidence (OCSP at the AIA, CRLs at the CDP, CA
//! certificates at caIssuers): plain `http://` only (RFC 5280 §4.2.1.13 and RFC 6960 use
//! HTTP; the evidence is signed, TLS would add nothing), to the hosts of an allow-list only,
//! within a time limit for the whole exchange and a size limit on the body whatever the
//! server announces, without following redirects.

use std::time::Duration;

use der::Decode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{AuthorityInfoAccessSyntax, CrlDistributionPoints};
use x509_cert::Certificate;

/// Largest response head (status line and headers) read.
const MAX_HEAD_BYTES: usize = 16 * 1024;

/// Where and how much the validator may fetch (`[validation.fetch]` of `igc.toml`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchPolicy {
    /// Hosts that may be contacted: `host` (any port) or `host:port`, compared exactly
    /// (case-insensitively). Empty: no network access at all.
    pub allow_hosts: Vec<String>,
    /// Time allowed for one exchange, connection included.
    pub timeout: Duration,
    /// Largest response body accepted.
    pub max_bytes: usize,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        FetchPolicy {
            allow_hosts: Vec::new(),
            timeout: Duration::from_secs(5),
            max_bytes: 1024 * 1024,
        }
    }
}

impl FetchPolicy {
    /// Whether `host` on `port` is on the allow-list.
    pub fn allows(&self, host: &str, port: u16) -> bool {
        self.allow_hosts.iter().any(|entry| {
            let (h, p) = split_host_port(entry);
            h.eq_ignore_ascii_case(host) && p.is_none_or(|p| p == Some(port))
        })
    }
}

/// Splits an allow-list entry into host and optional port (`None` inside when the port does
/// not parse, which then matches no port).
fn split_host_port(entry: &str) -> (&str, Option<Option<u16>>) {
    let entry = entry.trim();
    if let Some(rest) = entry.strip_prefix('[') {
        // [v6] or [v6]:port
        if let Some((h, tail)) = rest.split_once(']') {
            return match tail.strip_prefix(':') {
                Some(p) => (h, Some(p.parse().ok())),
                None => (h, None),
            };
        }
        return (entry, None);
    }
    match entry.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, Some(p.parse().ok())),
        _ => (entry, None),
    }
}

/// Why a fetch failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The URL is not `http://host[:port]/…`.
    #[error("unsupported URL {url:?}: {reason}")]
    BadUrl { url: String, reason: &'static str },
    /// The host is not on the allow-list (`[validation.fetch] allow_hosts`, `--allow-host`).
    #[error("host {host}:{port} is not on the allow-list of hosts to fetch from")]
    HostNotAllowed { host: String, port: u16 },
    /// Connection, write or read failed.
    #[error("{url}: {reason}")]
    Io { url: String, reason: String },
    /// The whole exchange took longer than the policy allows.
    #[error("{url}: no complete answer within {timeout:?}")]
    Timeout { url: String, timeout: Duration },
    /// The body is larger than the policy allows.
    #[error("{url}: the response is larger than {max} bytes")]
    TooLarge { url: String, max: usize },
    /// Not an HTTP/1.x response we can read.
    #[error("{url}: malformed HTTP response: {reason}")]
    Malformed { url: String, reason: String },
    /// A status other than 200 (redirects are not followed).
    #[error("{url}: HTTP status {status}{}", location.as_deref().map(|l| format!(" (redirect to {l} not followed)")).unwrap_or_default())]
    Status {
        url: String,
        status: u16,
        location: Option<String>,
    },
}

/// A parsed `http://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HttpUrl {
    host: String,
    port: u16,
    /// Path and query, at least `/`.
    target: String,
}

fn parse_url(url: &str) -> Result<HttpUrl, FetchError> {
    let bad = |reason| FetchError::BadUrl {
        url: url.to_owned(),
        reason,
    };
    if !is_http(url) {
        return Err(bad("only http:// URLs are fetched"));
    }
    if url.chars().any(|c| c.is_ascii_control() || c == ' ') {
        return Err(bad("control characters or spaces"));
    }
    let rest = url.get("http://".len()..).unwrap_or_default();
    let (authority, target) = match rest.find(['/', '?', '#']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    // The fragment is not sent.
    let target = target.split('#').next().unwrap_or("/");
    let target = if target.starts_with('/') {
        target.to_owned()
    } else {
        format!("/{target}")
    };
    if authority.contains('@') {
        return Err(bad("user information in the URL"));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, tail) = v6
            .split_once(']')
            .ok_or_else(|| bad("unclosed IPv6 literal"))?;
        let port = match tail {
            "" => 80,
            t => t
                .strip_prefix(':')
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| bad("bad port"))?,
        };
        (h.to_owned(), port)
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h.to_owned(), p.parse().map_err(|_| bad("bad port"))?),
            None => (authority.to_owned(), 80),
        }
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    if port == 0 {
        return Err(bad("port 0"));
    }
    Ok(HttpUrl { host, port, target })
}

/// Fetches over HTTP within a [`FetchPolicy`]. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Fetcher {
    policy: FetchPolicy,
}

impl Fetcher {
    /// A fetcher bound by `policy`.
    pub fn new(policy: FetchPolicy) -> Self {
        Fetcher { policy }
    }

    /// A fetcher for one service named by the user (a TSA URL): its host and port only.
    pub fn for_url(url: &str, timeout: Duration, max_bytes: usize) -> Result<Self, FetchError> {
        let u = parse_url(url)?;
        let host = if u.host.contains(':') {
            format!("[{}]:{}", u.host, u.port)
        } else {
            format!("{}:{}", u.host, u.port)
        };
        Ok(Fetcher::new(FetchPolicy {
            allow_hosts: vec![host],
            timeout,
            max_bytes,
        }))
    }

    /// The policy.
    pub fn policy(&self) -> &FetchPolicy {
        &self.policy
    }

    /// Whether the policy lets this URL be fetched (scheme and allow-list).
    pub fn check_url(&self, url: &str) -> Result<(), FetchError> {
        let u = parse_url(url)?;
        if !self.policy.allows(&u.host, u.port) {
            return Err(FetchError::HostNotAllowed {
                host: u.host,
                port: u.port,
            });
        }
        Ok(())
    }

    /// `GET url`: the body of a 200 answer.
    pub async fn get(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        self.exchange(url, "GET", None).await
    }

    /// `POST url` with `body` of `content_type`: the body of a 200 answer.
    pub async fn post(
        &self,
        url: &str,
        content_type: &str,
        body: &[u8],
    ) -> Result<Vec<u8>, FetchError> {
        if content_type.chars().any(|c| c.is_ascii_control()) {
            return Err(FetchError::BadUrl {
                url: url.to_owned(),
                reason: "control characters in the content type",
            });
        }
        self.exchange(url, "POST", Some((content_type, body))).await
    }

    async fn exchange(
        &self,
        url: &str,
        method: &str,
        body: Option<(&str, &[u8])>,
    ) -> Result<Vec<u8>, FetchError> {
        let u = parse_url(url)?;
        if !self.policy.allows(&u.host, u.port) {
            return Err(FetchError::HostNotAllowed {
                host: u.host,
                port: u.port,
            });
        }
        let timeout = self.policy.timeout;
        match tokio::time::timeout(timeout, self.exchange_inner(url, &u, method, body)).await {
            Ok(r) => r,
            Err(_) => Err(FetchError::Timeout {
                url: url.to_owned(),
                timeout,
            }),
        }
    }

    async fn exchange_inner(
        &self,
        url: &str,
        u: &HttpUrl,
        method: &str,
        body: Option<(&str, &[u8])>,
    ) -> Result<Vec<u8>, FetchError> {
        let io = |e: std::io::Error| FetchError::Io {
            url: url.to_owned(),
            reason: e.to_string(),
        };
        let mut stream = TcpStream::connect((u.host.as_str(), u.port))
            .await
            .map_err(io)?;
        let host_header = if u.host.contains(':') {
            format!("[{}]", u.host)
        } else {
            u.host.clone()
        };
        let host_header = if u.port == 80 {
            host_header
        } else {
            format!("{host_header}:{}", u.port)
        };
        let mut req = format!(
            "{method} {} HTTP/1.1\r\nHost: {host_header}\r\nConnection: close\r\nUser-Agent: igc-validation\r\nAccept: */*\r\n",
            u.target
        );
        if let Some((ct, b)) = body {
            req.push_str(&format!(
                "Content-Type: {ct}\r\nContent-Length: {}\r\n",
                b.len()
            ));
        }
        req.push_str("\r\n");
        let mut out = req.into_bytes();
        if let Some((_, b)) = body {
            out.extend_from_slice(b);
        }
        stream.write_all(&out).await.map_err(io)?;
        stream.flush().await.map_err(io)?;
        read_response(&mut stream, url, self.policy.max_bytes).await
    }
}

/// Reads a response: head, then the body by Content-Length, chunked, or until the
/// connection closes; never more than `max` body bytes.
async fn read_response<R: tokio::io::AsyncRead + Unpin>(
    r: &mut R,
    url: &str,
    max: usize,
) -> Result<Vec<u8>, FetchError> {
    let malformed = |reason: String| FetchError::Malformed {
        url: url.to_owned(),
        reason,
    };
    let io = |e: std::io::Error| FetchError::Io {
        url: url.to_owned(),
        reason: e.to_string(),
    };
    let too_large = || FetchError::TooLarge {
        url: url.to_owned(),
        max,
    };
    // Head.
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_HEAD_BYTES {
            return Err(malformed(format!(
                "response head longer than {MAX_HEAD_BYTES} bytes"
            )));
        }
        let mut chunk = [0u8; 4096];
        let n = r.read(&mut chunk).await.map_err(io)?;
        if n == 0 {
            return Err(malformed(
                "connection closed before the end of the head".into(),
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buf[..head_end])
        .map_err(|_| malformed("response head is not text".into()))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(malformed(format!("status line {status_line:?}")));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| malformed(format!("status line {status_line:?}")))?;
    let mut content_length: Option<usize> = None;
    let mut chunked = false;
    let mut location = None;
    for line in lines.filter(|l| !l.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            return Err(malformed(format!("header line {line:?}")));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let n: u64 = value
                .parse()
                .map_err(|_| malformed(format!("Content-Length {value:?}")))?;
            if content_length.is_some_and(|c| u64::try_from(c).ok() != Some(n)) {
                return Err(malformed("two different Content-Length headers".into()));
            }
            // Beyond usize is beyond max anyway.
            content_length = Some(usize::try_from(n).unwrap_or(usize::MAX));
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            let last = value.rsplit(',').next().unwrap_or_default().trim();
            if last.eq_ignore_ascii_case("chunked") {
                chunked = true;
            } else {
                return Err(malformed(format!("Transfer-Encoding {value:?}")));
            }
        } else if name.eq_ignore_ascii_case("location") {
            location = Some(value.to_owned());
        }
    }
    if status != 200 {
        return Err(FetchError::Status {
            url: url.to_owned(),
            status,
            location,
        });
    }
    let mut reader = Prefixed {
        prefix: buf.split_off(head_end),
        pos: 0,
        inner: r,
    };
    if chunked {
        return read_chunked(&mut reader, max, url).await;
    }
    match content_length {
        Some(n) if n > max => Err(too_large()),
        Some(n) => {
            let mut body = vec![0u8; n];
            reader.read_exact(&mut body).await.map_err(|e| {
                if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    malformed(format!("body shorter than its Content-Length {n}"))
                } else {
                    io(e)
                }
            })?;
            Ok(body)
        }
        None => {
            // Until the connection closes.
            let mut body = Vec::new();
            let mut chunk = [0u8; 8192];
            loop {
                let k = reader.read(&mut chunk).await.map_err(io)?;
                if k == 0 {
                    return Ok(body);
                }
                if body.len() + k > max {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk[..k]);
            }
        }
    }
}

/// The bytes already read after the head, then the stream.
struct Prefixed<'a, R> {
    prefix: Vec<u8>,
    pos: usize,
    inner: &'a mut R,
}

impl<R: tokio::io::AsyncRead + Unpin> Prefixed<'_, R> {
    async fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pos < self.prefix.len() {
            let n = out.len().min(self.prefix.len() - self.pos);
            out[..n].copy_from_slice(&self.prefix[self.pos..self.pos + n]);
            self.pos += n;
            return Ok(n);
        }
        self.inner.read(out).await
    }

    async fn read_exact(&mut self, out: &mut [u8]) -> std::io::Result<()> {
        let mut done = 0;
        while done < out.len() {
            let n = self.read(&mut out[done..]).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            done += n;
        }
        Ok(())
    }

    async fn read_byte(&mut self) -> std::io::Result<u8> {
        let mut b = [0u8; 1];
        self.read_exact(&mut b).await?;
        Ok(b[0])
    }

    /// A CRLF-terminated line of at most `max` bytes, without the CRLF.
    async fn read_line(&mut self, max: usize) -> std::io::Result<Option<Vec<u8>>> {
        let mut line = Vec::new();
        loop {
            let b = self.read_byte().await?;
            if b == b'\n' {
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(Some(line));
            }
            if line.len() >= max {
                return Ok(None);
            }
            line.push(b);
        }
    }
}

async fn read_chunked<R: tokio::io::AsyncRead + Unpin>(
    r: &mut Prefixed<'_, R>,
    max: usize,
    url: &str,
) -> Result<Vec<u8>, FetchError> {
    let malformed = |reason: String| FetchError::Malformed {
        url: url.to_owned(),
        reason,
    };
    let io = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            malformed("chunked body cut short".into())
        } else {
            FetchError::Io {
                url: url.to_owned(),
                reason: e.to_string(),
            }
        }
    };
    let mut body = Vec::new();
    loop {
        let line = r
            .read_line(1024)
            .await
            .map_err(io)?
            .ok_or_else(|| malformed("chunk size line too long".into()))?;
        let line = String::from_utf8_lossy(&line);
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| malformed(format!("chunk size {size_text:?}")))?;
        if size == 0 {
            // Trailers, up to the empty line; bounded like the head.
            let mut trailer_bytes = 0usize;
            loop {
                let t = r
                    .read_line(MAX_HEAD_BYTES)
                    .await
                    .map_err(io)?
                    .ok_or_else(|| malformed("trailer line too long".into()))?;
                if t.is_empty() {
                    return Ok(body);
                }
                trailer_bytes += t.len();
                if trailer_bytes > MAX_HEAD_BYTES {
                    return Err(malformed("trailers too long".into()));
                }
            }
        }
        if body.len().saturating_add(size) > max {
            return Err(FetchError::TooLarge {
                url: url.to_owned(),
                max,
            });
        }
        let start = body.len();
        body.resize(start + size, 0);
        r.read_exact(&mut body[start..]).await.map_err(io)?;
        let crlf = r
            .read_line(1)
            .await
            .map_err(io)?
            .ok_or_else(|| malformed("chunk not followed by CRLF".into()))?;
        if !crlf.is_empty() {
            return Err(malformed("chunk not followed by CRLF".into()));
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

// ------------------------------------------------------------------ AIA / CDP

fn uris(names: &[GeneralName]) -> impl Iterator<Item = String> + '_ {
    names.iter().filter_map(|n| match n {
        GeneralName::UniformResourceIdentifier(u) => Some(u.as_str().to_owned()),
        _ => None,
    })
}

fn aia_urls(cert: &Certificate, method: der::asn1::ObjectIdentifier) -> Vec<String> {
    let Ok(Some((_, AuthorityInfoAccessSyntax(ads)))) =
        cert.tbs_certificate.get::<AuthorityInfoAccessSyntax>()
    else {
        return Vec::new();
    };
    ads.iter()
        .filter(|ad| ad.access_method == method)
        .flat_map(|ad| uris(std::slice::from_ref(&ad.access_location)).collect::<Vec<_>>())
        .collect()
}

fn is_http(u: &str) -> bool {
    u.get(..7)
        .is_some_and(|s| s.eq_ignore_ascii_case("http://"))
}

/// The first `http://` OCSP URL of the certificate's authorityInfoAccess.
pub fn ocsp_url(cert: &Certificate) -> Option<String> {
    aia_urls(cert, const_oid::db::rfc5280::ID_AD_OCSP)
        .into_iter()
        .find(|u| is_http(u))
}

/// The first `http://` caIssuers URL of the certificate's authorityInfoAccess.
pub fn ca_issuers_url(cert: &Certificate) -> Option<String> {
    aia_urls(cert, const_oid::db::rfc5280::ID_AD_CA_ISSUERS)
        .into_iter()
        .find(|u| is_http(u))
}

/// The `http://` full-name URLs of the certificate's cRLDistributionPoints, in order.
pub fn crl_urls(cert: &Certificate) -> Vec<String> {
    let Ok(Some((_, CrlDistributionPoints(dps)))) =
        cert.tbs_certificate.get::<CrlDistributionPoints>()
    else {
        return Vec::new();
    };
    dps.iter()
        .filter_map(|dp| match &dp.distribution_point {
            Some(DistributionPointName::FullName(names)) => Some(uris(names).collect::<Vec<_>>()),
            _ => None,
        })
        .flatten()
        .filter(|u| is_http(u))
        .collect()
}

/// Parses a certificate fetched from a caIssuers URL (DER; PEM tolerated).
pub fn parse_fetched_certificate(bytes: &[u8]) -> Result<Certificate, String> {
    match Certificate::from_der(bytes) {
        Ok(c) => Ok(c),
        Err(e) => crate::parse_certificates(bytes)
            .ok()
            .and_then(|v| v.into_iter().next())
            .ok_or_else(|| format!("not a certificate: {e}")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn urls_parse_strictly() {
        let u = parse_url("http://ocsp.example.fr/ocsp").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.target.as_str()),
            ("ocsp.example.fr", 80, "/ocsp")
        );
        let u = parse_url("HTTP://127.0.0.1:8080").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.target.as_str()),
            ("127.0.0.1", 8080, "/")
        );
        let u = parse_url("http://[::1]:81/a?b#c").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.target.as_str()),
            ("::1", 81, "/a?b")
        );
        for bad in [
            "https://x/",
            "ftp://x/",
            "http://",
            "http://:80/",
            "http://x:0/",
            "http://x:99999/",
            "http://u@x/",
            "http://x/ a",
            "http://x/\r\nHost: y",
            "ldap://x",
            "htté://x",
            "ht",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn allow_list_is_exact() {
        let p = FetchPolicy {
            allow_hosts: vec![
                "pki.example.fr".into(),
                "127.0.0.1:8080".into(),
                "[::1]:81".into(),
            ],
            ..FetchPolicy::default()
        };
        assert!(p.allows("pki.example.fr", 80));
        assert!(p.allows("PKI.example.fr", 8081));
        assert!(!p.allows("evil.pki.example.fr", 80));
        assert!(!p.allows("pki.example.fr.evil", 80));
        assert!(p.allows("127.0.0.1", 8080));
        assert!(!p.allows("127.0.0.1", 8081));
        assert!(p.allows("::1", 81));
        assert!(!FetchPolicy::default().allows("127.0.0.1", 80));
    }

    #[tokio::test]
    async fn bodies_are_read_by_length_chunks_or_close_and_bounded() {
        async fn read(raw: &[u8], max: usize) -> Result<Vec<u8>, FetchError> {
            let mut r: &[u8] = raw;
            read_response(&mut r, "http://t/", max).await
        }
        let ok = read(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef", 10).await;
        assert_eq!(ok.unwrap(), b"abc");
        let ok = read(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n",
            10,
        )
        .await;
        assert_eq!(ok.unwrap(), b"abcde");
        let ok = read(b"HTTP/1.0 200 OK\r\n\r\nuntil close", 100).await;
        assert_eq!(ok.unwrap(), b"until close");
        assert!(matches!(
            read(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n", 10).await,
            Err(FetchError::TooLarge { .. })
        ));
        assert!(matches!(
            read(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n", 10).await,
            Err(FetchError::TooLarge { .. })
        ));
        assert!(matches!(
            read(b"HTTP/1.1 200 OK\r\n\r\n0123456789a", 10).await,
            Err(FetchError::TooLarge { .. })
        ));
        assert!(matches!(
            read(
                b"HTTP/1.1 301 Moved\r\nLocation: http://elsewhere/\r\n\r\n",
                10
            )
            .await,
            Err(FetchError::Status {
                status: 301,
                location: Some(_),
                ..
            })
        ));
        for bad in [
            &b"garbage\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab",
            b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n",
        ] {
            assert!(
                read(bad, 10).await.is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
