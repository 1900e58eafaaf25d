//! A minimal SNTP client (RFC 4330, NTP v4 packet of RFC 5905) over UDP.
//!
//! One query = one 48-octet client packet and one server reply. The
//! client's transmit timestamp is a random 64-bit cookie (as chrony does),
//! the real send time stays local: a reply is accepted only if its
//! originate timestamp echoes the cookie, which defeats blind spoofing and
//! stale replies. T4 is derived from the monotonic clock, so a wall-clock
//! step during the exchange does not distort the measurement.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::net::UdpSocket;

use crate::error::{Error, Result};
use crate::time_source::TimeSource;

/// Seconds between 1900-01-01 (NTP era 0) and 1970-01-01.
const NTP_UNIX_OFFSET: i128 = 2_208_988_800;
const NANOS: i128 = 1_000_000_000;

/// What one server said, as seen from here. All values in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// θ: how far the server's clock is ahead of ours.
    pub offset_ns: i128,
    /// δ: round-trip delay, minus the server's processing time (≥ 0).
    pub delay_ns: i128,
    /// The server's stratum (1..=15).
    pub stratum: u8,
    /// The server's root delay (to its reference clock).
    pub root_delay_ns: i128,
    /// The server's root dispersion.
    pub root_dispersion_ns: i128,
}

impl Sample {
    /// An upper bound of |our clock − true time| according to this sample:
    /// |θ| + δ/2 + root delay/2 + root dispersion (RFC 5905's root
    /// synchronization distance, plus the measured offset).
    pub fn error_bound_ns(&self) -> i128 {
        self.offset_ns.abs()
            + self.delay_ns / 2
            + self.root_delay_ns.abs() / 2
            + self.root_dispersion_ns
    }
}

/// Nanoseconds since the Unix epoch (negative before it).
pub(crate) fn unix_nanos(t: SystemTime) -> i128 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    }
}

/// NTP 64-bit timestamp → Unix nanoseconds. RFC 4330 §3: a timestamp whose
/// most significant bit is 0 belongs to era 1 (from 2036-02-07 on).
pub(crate) fn ntp_to_unix_nanos(ts: u64) -> i128 {
    let mut secs = i128::from(ts >> 32);
    if secs < 0x8000_0000 {
        secs += 1 << 32;
    }
    let frac = i128::from(ts & 0xffff_ffff);
    (secs - NTP_UNIX_OFFSET) * NANOS + ((frac * NANOS) >> 32)
}

/// NTP short format (16.16 seconds) → nanoseconds.
fn short_to_nanos(v: u32) -> i128 {
    (i128::from(v) * NANOS) >> 16
}

/// The client request: LI 0, version 4, mode 3 (client), transmit = cookie.
fn request(cookie: u64) -> [u8; 48] {
    let mut pkt = [0u8; 48];
    pkt[0] = (4 << 3) | 3;
    pkt[40..48].copy_from_slice(&cookie.to_be_bytes());
    pkt
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_be_bytes(w)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(w)
}

/// Server timestamps and quality fields of a reply that passed the checks.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Reply {
    pub stratum: u8,
    pub root_delay: u32,
    pub root_dispersion: u32,
    pub receive: u64,
    pub transmit: u64,
}

/// Why a datagram is not a usable reply to our request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum BadReply {
    /// Not an answer to *our* request (wrong cookie): ignore and keep waiting.
    NotOurs,
    /// An answer to our request that must not be used.
    Unusable(String),
}

/// RFC 4330 §5 checks on a reply to the request carrying `cookie`.
pub(crate) fn parse_reply(buf: &[u8], cookie: u64) -> std::result::Result<Reply, BadReply> {
    if buf.len() < 48 {
        return Err(BadReply::NotOurs);
    }
    if u64_at(buf, 24) != cookie {
        return Err(BadReply::NotOurs);
    }
    let leap = buf[0] >> 6;
    let version = (buf[0] >> 3) & 7;
    let mode = buf[0] & 7;
    let stratum = buf[1];
    if mode != 4 {
        return Err(BadReply::Unusable(format!(
            "mode {mode}, not a server reply"
        )));
    }
    if !(3..=4).contains(&version) {
        return Err(BadReply::Unusable(format!("NTP version {version}")));
    }
    if stratum == 0 {
        let code = String::from_utf8_lossy(&buf[12..16]).into_owned();
        return Err(BadReply::Unusable(format!(
            "kiss-o'-death {:?}",
            code.trim_end_matches('\0')
        )));
    }
    if stratum > 15 {
        return Err(BadReply::Unusable(format!("stratum {stratum}")));
    }
    if leap == 3 {
        return Err(BadReply::Unusable("server clock not synchronized".into()));
    }
    let receive = u64_at(buf, 32);
    let transmit = u64_at(buf, 40);
    if receive == 0 || transmit == 0 {
        return Err(BadReply::Unusable("zero server timestamp".into()));
    }
    if ntp_to_unix_nanos(transmit) < ntp_to_unix_nanos(receive) {
        return Err(BadReply::Unusable("server sent before it received".into()));
    }
    Ok(Reply {
        stratum,
        root_delay: u32_at(buf, 4),
        root_dispersion: u32_at(buf, 8),
        receive,
        transmit,
    })
}

/// Offset and delay from the four timestamps (RFC 4330 §5).
pub(crate) fn sample(reply: &Reply, t1: i128, t4: i128) -> Sample {
    let t2 = ntp_to_unix_nanos(reply.receive);
    let t3 = ntp_to_unix_nanos(reply.transmit);
    Sample {
        offset_ns: ((t2 - t1) + (t3 - t4)) / 2,
        delay_ns: ((t4 - t1) - (t3 - t2)).max(0),
        stratum: reply.stratum,
        root_delay_ns: short_to_nanos(reply.root_delay),
        root_dispersion_ns: short_to_nanos(reply.root_dispersion),
    }
}

/// Reads one datagram received on the socket of the request carrying
/// `cookie`, sent at `t1` and received at `t4` (Unix nanoseconds): the
/// sample it gives, `Ok(None)` if it is not an answer to that request (to
/// be ignored), or why the answer must not be used. The datagram comes from
/// the network: public for the fuzz target.
pub fn read_reply(
    datagram: &[u8],
    cookie: u64,
    t1: i128,
    t4: i128,
) -> std::result::Result<Option<Sample>, String> {
    match parse_reply(datagram, cookie) {
        Ok(reply) => Ok(Some(sample(&reply, t1, t4))),
        Err(BadReply::NotOurs) => Ok(None),
        Err(BadReply::Unusable(why)) => Err(why),
    }
}

/// Queries one server; fails after `timeout`.
pub async fn query(
    server: SocketAddr,
    timeout: Duration,
    clock: &dyn TimeSource,
) -> Result<Sample> {
    let local: SocketAddr = if server.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    };
    let sock = UdpSocket::bind(local)
        .await
        .map_err(|e| Error::sntp(server, format!("bind: {e}")))?;
    sock.connect(server)
        .await
        .map_err(|e| Error::sntp(server, format!("connect: {e}")))?;
    let cookie = loop {
        let c: u64 = rand::random();
        if c != 0 {
            break c;
        }
    };
    let (t1_wall, t1_mono) = clock.now();
    sock.send(&request(cookie))
        .await
        .map_err(|e| Error::sntp(server, format!("send: {e}")))?;
    let exchange = async {
        let mut buf = [0u8; 512];
        loop {
            let n = sock
                .recv(&mut buf)
                .await
                .map_err(|e| Error::sntp(server, format!("receive: {e}")))?;
            let (_, t4_mono) = clock.now();
            let t1 = unix_nanos(t1_wall);
            let t4 = t1 + t4_mono.saturating_duration_since(t1_mono).as_nanos() as i128;
            match read_reply(&buf[..n], cookie, t1, t4) {
                Ok(Some(sample)) => return Ok(sample),
                Ok(None) => continue,
                Err(why) => return Err(Error::sntp(server, why)),
            }
        }
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| Error::sntp(server, format!("no reply within {timeout:?}")))?
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn reply_bytes(cookie: u64, first: u8, stratum: u8, t2: u64, t3: u64) -> [u8; 48] {
        let mut b = [0u8; 48];
        b[0] = first;
        b[1] = stratum;
        b[4..8].copy_from_slice(&0x0000_0800u32.to_be_bytes()); // 1/32 s
        b[8..12].copy_from_slice(&0x0000_0400u32.to_be_bytes()); // 1/64 s
        b[24..32].copy_from_slice(&cookie.to_be_bytes());
        b[32..40].copy_from_slice(&t2.to_be_bytes());
        b[40..48].copy_from_slice(&t3.to_be_bytes());
        b
    }

    #[test]
    fn ntp_eras() {
        // 2026-01-01T00:00:00Z = Unix 1767225600 = NTP 3976214400 (era 0).
        let ntp = 3_976_214_400u64 << 32 | 0x8000_0000;
        assert_eq!(ntp_to_unix_nanos(ntp), 1_767_225_600_500_000_000);
        // NTP seconds 0 with MSB 0 is era 1: 2036-02-07T06:28:16Z.
        assert_eq!(ntp_to_unix_nanos(1 << 32), (2_085_978_496 + 1) * NANOS);
    }

    #[test]
    fn offset_and_delay() {
        // Server 2 s ahead, 10 ms each way, 1 ms processing.
        let t1 = 1_767_225_600 * NANOS;
        let t2 = t1 + 2 * NANOS + 10_000_000;
        let t3 = t2 + 1_000_000;
        let t4 = t1 + 21_000_000;
        let to_ntp = |n: i128| -> u64 {
            let secs = n.div_euclid(NANOS) + NTP_UNIX_OFFSET;
            let frac = ((n.rem_euclid(NANOS)) << 32) / NANOS;
            ((secs as u64) << 32) | frac as u64
        };
        let b = reply_bytes(42, 0x24, 2, to_ntp(t2), to_ntp(t3));
        let r = parse_reply(&b, 42).unwrap();
        let s = sample(&r, t1, t4);
        assert!((s.offset_ns - 2 * NANOS).abs() < 10, "{s:?}");
        assert!((s.delay_ns - 20_000_000).abs() < 10, "{s:?}");
        assert_eq!(s.root_delay_ns, NANOS / 32);
        assert_eq!(s.root_dispersion_ns, NANOS / 64);
        assert_eq!(
            s.error_bound_ns(),
            s.offset_ns.abs() + s.delay_ns / 2 + NANOS / 64 + NANOS / 64
        );
    }

    #[test]
    fn reply_checks() {
        let ok = reply_bytes(7, 0x24, 1, 3_976_214_400 << 32, 3_976_214_400 << 32);
        assert!(parse_reply(&ok, 7).is_ok());
        assert_eq!(parse_reply(&ok, 8), Err(BadReply::NotOurs));
        assert_eq!(parse_reply(&ok[..47], 7), Err(BadReply::NotOurs));
        // client mode, KoD, stratum 16, alarm, old version, zero time, T3 < T2
        for b in [
            reply_bytes(7, 0x23, 1, 1 << 63, 1 << 63),
            reply_bytes(7, 0x24, 0, 1 << 63, 1 << 63),
            reply_bytes(7, 0x24, 16, 1 << 63, 1 << 63),
            reply_bytes(7, 0xe4, 1, 1 << 63, 1 << 63),
            reply_bytes(7, 0x14, 1, 1 << 63, 1 << 63),
            reply_bytes(7, 0x24, 1, 0, 1 << 63),
            reply_bytes(7, 0x24, 1, (1 << 63) + (1 << 32), 1 << 63),
        ] {
            assert!(
                matches!(parse_reply(&b, 7), Err(BadReply::Unusable(_))),
                "{b:02x?}"
            );
        }
        assert_eq!(request(9)[0], 0x23);
    }
}
