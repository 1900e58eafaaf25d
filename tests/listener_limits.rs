//! Issue 20, finding 2: every listener of `igc serve` (main, RA portal, TSA) cuts off clients
//! that hold connections without finishing their requests, and caps its open connections.
//! Written as the attacker does it: raw TCP against the real binary, with small limits set in
//! `igc.toml` so that each deadline shows within seconds.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{DevPki, PortalServer};

/// The limits every listener gets in these tests.
const MAX_CONNECTIONS: usize = 16;
const HEADER_SECS: u64 = 3;
const BODY_SECS: u64 = 2;
const IDLE_SECS: u64 = 2;
const HANDSHAKE_SECS: u64 = 2;
const H2_STREAMS: u32 = 8;
const H2_WINDOW: u32 = 131_070;
const HEADER_BYTES: u32 = 16_384;

/// Slack over a deadline for a loaded two-core machine.
const SLACK: Duration = Duration::from_millis(1500);

fn limits_section(name: &str) -> String {
    format!(
        "[{name}]\nmax_connections = {MAX_CONNECTIONS}\nheader_read_timeout_secs = {HEADER_SECS}\n\
         body_read_timeout_secs = {BODY_SECS}\nkeep_alive_idle_secs = {IDLE_SECS}\n\
         tls_handshake_timeout_secs = {HANDSHAKE_SECS}\nmax_header_bytes = {HEADER_BYTES}\n\
         http2_max_concurrent_streams = {H2_STREAMS}\nhttp2_window_bytes = {H2_WINDOW}\n"
    )
}

/// The development PKI with the limits above on the three listeners, served.
fn serve_with_small_limits() -> (DevPki, PortalServer) {
    let pki = DevPki::new();
    let path = pki.path("var/igc.toml");
    let config = std::fs::read_to_string(&path).unwrap();
    // The development file documents every key with its default: drop those sections and
    // put ours at the end (TOML allows a sub-table after its parent's other keys).
    let mut kept = String::new();
    let mut skipping = false;
    for line in config.lines() {
        if line.starts_with('[') {
            skipping = line.ends_with(".limits]");
        }
        if !skipping {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    for section in ["server.limits", "portal.limits", "tsa.limits"] {
        kept.push_str(&limits_section(section));
    }
    std::fs::write(&path, kept).unwrap();
    let server = PortalServer::start(pki.dir.path());
    (pki, server)
}

fn addr_of(url: &str) -> SocketAddr {
    let rest = url.split("://").nth(1).unwrap();
    rest.split('/').next().unwrap().parse().unwrap()
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// What the server did with a connection while the client trickled `drip` every 500 ms for
/// at most `within`: closed it after the returned time (with what it sent before closing),
/// or kept it open (`None`).
fn trickle_until_closed(
    mut s: TcpStream,
    start: &[u8],
    drip: &[u8],
    within: Duration,
) -> Option<(Duration, String)> {
    let t0 = Instant::now();
    let _ = s.write_all(start);
    let mut received = Vec::new();
    let mut next_drip = t0 + Duration::from_millis(500);
    while t0.elapsed() < within {
        let mut buf = [0u8; 4096];
        match s.read(&mut buf) {
            Ok(0) => return Some((t0.elapsed(), String::from_utf8_lossy(&received).into())),
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return Some((t0.elapsed(), String::from_utf8_lossy(&received).into())),
        }
        if Instant::now() >= next_drip && !drip.is_empty() {
            if s.write_all(drip).is_err() {
                return Some((t0.elapsed(), String::from_utf8_lossy(&received).into()));
            }
            next_drip += Duration::from_millis(500);
        }
    }
    None
}

/// A request's headers trickled one header every 500 ms: cut off at the header deadline.
fn assert_slow_headers_cut(what: &str, addr: SocketAddr, path: &str) {
    let start = format!("POST {path} HTTP/1.1\r\nHost: igc\r\n");
    let closed = trickle_until_closed(
        connect(addr),
        start.as_bytes(),
        b"X-Slow: a\r\n",
        Duration::from_secs(HEADER_SECS) + Duration::from_secs(8),
    );
    let (after, _) = closed.unwrap_or_else(|| {
        panic!("{what}: a client trickling its headers kept its connection for 11 s")
    });
    assert!(
        after <= Duration::from_secs(HEADER_SECS) + SLACK,
        "{what}: headers trickled for {after:?} before the connection was closed (limit {HEADER_SECS} s)"
    );
}

/// A request whose body is trickled one byte every 500 ms: 408 at the body deadline.
fn assert_slow_body_cut(what: &str, addr: SocketAddr, path: &str, content_type: &str) {
    let start = format!(
        "POST {path} HTTP/1.1\r\nHost: igc\r\nContent-Type: {content_type}\r\nContent-Length: 4000\r\n\r\n0"
    );
    let closed = trickle_until_closed(
        connect(addr),
        start.as_bytes(),
        b"0",
        Duration::from_secs(BODY_SECS) + Duration::from_secs(8),
    );
    let (after, answer) = closed.unwrap_or_else(|| {
        panic!("{what}: a client trickling its body kept its request open for 10 s")
    });
    assert!(
        answer.starts_with("HTTP/1.1 408"),
        "{what}: a trickled body got {answer:?}"
    );
    assert!(
        after <= Duration::from_secs(BODY_SECS) + SLACK,
        "{what}: body trickled for {after:?} before the answer (limit {BODY_SECS} s)"
    );
}

/// A keep-alive connection left idle after a request is closed at the idle deadline.
fn assert_idle_closed(what: &str, addr: SocketAddr) {
    let closed = trickle_until_closed(
        connect(addr),
        b"GET /healthz HTTP/1.1\r\nHost: igc\r\n\r\n",
        b"",
        Duration::from_secs(IDLE_SECS.max(HEADER_SECS)) + Duration::from_secs(8),
    );
    let (after, answer) =
        closed.unwrap_or_else(|| panic!("{what}: an idle keep-alive connection stayed 10 s"));
    assert!(answer.starts_with("HTTP/1.1 200"), "{what}: {answer:?}");
    assert!(
        after <= Duration::from_secs(IDLE_SECS.max(HEADER_SECS)) + SLACK,
        "{what}: idle connection closed only after {after:?}"
    );
}

/// `MAX_CONNECTIONS` connections held open: the last of them is still served, one more is
/// closed at once; once they are gone, new clients are served again.
fn assert_connection_cap(what: &str, addr: SocketAddr, request: Option<&[u8]>) {
    let held: Vec<TcpStream> = (0..MAX_CONNECTIONS).map(|_| connect(addr)).collect();
    let t0 = Instant::now();
    // Let the server accept them all before the one over the cap.
    std::thread::sleep(Duration::from_millis(300));
    let mut over = connect(addr);
    let mut buf = [0u8; 64];
    let refused = loop {
        match over.read(&mut buf) {
            Ok(0) => break true,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            _ => break true,
        }
        if t0.elapsed() > Duration::from_secs(HEADER_SECS.min(HANDSHAKE_SECS)) {
            break false;
        }
    };
    assert!(
        refused,
        "{what}: connection {} was kept open while {MAX_CONNECTIONS} were held",
        MAX_CONNECTIONS + 1
    );
    if let Some(request) = request {
        // The last connection within the cap is served.
        let mut last = held.into_iter().last().unwrap();
        last.write_all(request).unwrap();
        let mut answer = Vec::new();
        let end = Instant::now() + Duration::from_secs(5);
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") && Instant::now() < end {
            match last.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
                Err(_) => {}
            }
        }
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "{what}: connection {MAX_CONNECTIONS} (within the cap) got {answer:?}"
        );
    } else {
        drop(held);
    }
    // The held ones closed (by us, or by the deadlines): new clients are served.
    assert!(
        common::wait_until(Duration::from_secs(HEADER_SECS + 5), || served(
            addr, request
        )),
        "{what}: still refusing connections after the held ones went"
    );
}

/// A new client is served: answered 200 (`request`), or, on TLS, kept open for a moment
/// rather than closed at once.
fn served(addr: SocketAddr, request: Option<&[u8]>) -> bool {
    let mut s = connect(addr);
    let mut buf = [0u8; 512];
    match request {
        None => {
            s.set_read_timeout(Some(Duration::from_millis(500)))
                .unwrap();
            matches!(s.read(&mut buf), Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut))
        }
        Some(request) => {
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s.write_all(request).is_ok()
                && matches!(s.read(&mut buf), Ok(n) if buf[..n].starts_with(b"HTTP/1.1 200"))
        }
    }
}

/// Bytes that are no HTTP request get `400 Bad Request` and the connection closed; the next
/// client is served.
fn assert_garbage_refused(what: &str, addr: SocketAddr) {
    let closed = trickle_until_closed(
        connect(addr),
        b"\x16\x03\x01 not an HTTP request at all\r\n\r\n",
        b"",
        Duration::from_secs(5),
    );
    let (_, answer) = closed.unwrap_or_else(|| panic!("{what}: garbage kept its connection"));
    assert!(
        answer.starts_with("HTTP/1.1 400"),
        "{what}: garbage answered {answer:?}"
    );
    assert!(
        served(addr, Some(b"GET /healthz HTTP/1.1\r\nHost: igc\r\n\r\n")),
        "{what}: not serving after garbage"
    );
}

/// The server's first HTTP/2 SETTINGS over cleartext (prior knowledge): (id, value) pairs.
fn h2_settings(addr: SocketAddr) -> Vec<(u16, u32)> {
    let mut s = connect(addr);
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").unwrap();
    // An empty SETTINGS frame of ours.
    s.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).unwrap();
    let mut head = [0u8; 9];
    s.read_exact(&mut head).unwrap();
    assert_eq!(head[3], 4, "the server's first frame is not SETTINGS");
    let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).unwrap();
    payload
        .chunks_exact(6)
        .map(|p| {
            (
                u16::from_be_bytes([p[0], p[1]]),
                u32::from_be_bytes([p[2], p[3], p[4], p[5]]),
            )
        })
        .collect()
}

fn refused_count(metrics: &str, listener: &str, reason: &str) -> u64 {
    let key = format!("igc_http_refused_total{{listener=\"{listener}\",reason=\"{reason}\"}}");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&key))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn slow_and_greedy_clients_are_cut_off_on_every_listener() {
    let (_pki, server) = serve_with_small_limits();
    let main = addr_of(&server.server.base);
    let portal = addr_of(&server.portal);
    let tsa = addr_of(server.server.tsa_listener.as_deref().unwrap());

    // Main listener (OCSP, validation, /tsa, CRLs).
    assert_slow_headers_cut("main", main, "/ocsp");
    assert_slow_body_cut(
        "main /api/v1/verify",
        main,
        "/api/v1/verify",
        "application/json",
    );
    assert_idle_closed("main", main);
    assert_connection_cap(
        "main",
        main,
        Some(b"GET /healthz HTTP/1.1\r\nHost: igc\r\n\r\n"),
    );
    let settings = h2_settings(main);
    for (id, name, wanted) in [
        (3u16, "MAX_CONCURRENT_STREAMS", H2_STREAMS),
        (4, "INITIAL_WINDOW_SIZE", H2_WINDOW),
        (6, "MAX_HEADER_LIST_SIZE", HEADER_BYTES),
    ] {
        assert_eq!(
            settings.iter().find(|(i, _)| *i == id).map(|(_, v)| *v),
            Some(wanted),
            "HTTP/2 {name} in the server's SETTINGS {settings:?}"
        );
    }

    // Garbage instead of a request: a 400, and the listener goes on serving.
    assert_garbage_refused("main", main);
    // The TSA's own listener.
    assert_garbage_refused("tsa", tsa);
    assert_slow_headers_cut("tsa", tsa, "/tsa");
    assert_slow_body_cut("tsa /tsa", tsa, "/tsa", "application/timestamp-query");
    assert_connection_cap(
        "tsa",
        tsa,
        Some(b"GET /healthz HTTP/1.1\r\nHost: igc\r\n\r\n"),
    );

    // The portal: a TLS handshake never finished is cut at its deadline; held connections
    // are capped like the others.
    let stalled = trickle_until_closed(
        connect(portal),
        &[0x16, 0x03, 0x01],
        b"",
        Duration::from_secs(12),
    );
    let (after, _) =
        stalled.expect("portal: a TLS handshake left unfinished held its connection 12 s");
    assert!(
        after <= Duration::from_secs(HANDSHAKE_SECS) + SLACK,
        "portal: an unfinished TLS handshake was cut after {after:?} (limit {HANDSHAKE_SECS} s)"
    );
    assert_connection_cap("portal", portal, None);

    // Each refusal is on /metrics, by listener and reason.
    let (status, body, _) = server.server.get("/metrics");
    assert_eq!(status, 200);
    let metrics = String::from_utf8_lossy(&body);
    for (listener, reason) in [
        ("main", "connection_limit"),
        ("main", "body_timeout"),
        ("main", "header_timeout"),
        ("tsa", "connection_limit"),
        ("tsa", "body_timeout"),
        ("tsa", "header_timeout"),
        ("portal", "connection_limit"),
        ("portal", "handshake_timeout"),
    ] {
        assert!(
            refused_count(&metrics, listener, reason) >= 1,
            "no igc_http_refused_total for {listener}/{reason} in:\n{}",
            metrics
                .lines()
                .filter(|l| l.contains("refused"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}
