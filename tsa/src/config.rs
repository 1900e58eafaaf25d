//! The `[tsa]` table of `igc.toml`.
//!
//! ```toml
//! [tsa]
//! policy = "1.3.6.1.4.1.32473.1.7.3.1"  # TSA policy OID (documentation arc, never the real ANS arc)
//! accuracy_ms = 1000                   # declared accuracy (TSTInfo.accuracy)
//! precision_digits = 3                 # fraction digits of genTime (1..=6)
//! instance_id = 1                      # 0..=32767, unique per running instance
//! key_label = "tsa-unit-1"             # TSA key in the online token (used by the binary)
//! certificate = "pki/tsa-unit-1.pem"   # TSA unit certificate (PEM)
//! chain = ["pki/organisations.pem", "pki/root.pem"]   # added when certReq is set
//! include_tsa_name = true
//! include_signing_time = true
//! listen = "127.0.0.1:8081"           # optional: the TSA's own listener (tsa::listener)
//!
//! [tsa.clock]
//! servers = ["ntp1.example:123", "ntp2.example:123", "ntp3.example:123"]
//! quorum = 2
//! poll_interval_ms = 16000
//!
//! [tsa.recorder]
//! capacity = 16384
//! ```
//!
//! Paths are taken as given; the binary resolves them relative to the
//! configuration file like every other path of `igc.toml`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use const_oid::ObjectIdentifier;
use serde::{Deserialize, Deserializer};

use crate::asn1::MAX_FRACTION_DIGITS;
use crate::error::{Error, Result};
use crate::serial::MAX_INSTANCE_ID;

/// Most threads the dedicated listener may run (`tsa.listen_threads`).
/// Here rather than in the listener: the configuration checks it, and the
/// listener sits above everything else.
pub const MAX_LISTEN_THREADS: usize = 256;

/// `[tsa]`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TsaConfig {
    /// The TSA policy OID put in every token; a request naming another
    /// policy is refused with `unacceptedPolicy`.
    #[serde(deserialize_with = "de_oid")]
    pub policy: ObjectIdentifier,
    /// Declared accuracy, in milliseconds (> 0). Also the clock guard's
    /// limit: the TSA refuses to issue when its time may be off by more.
    #[serde(default = "default_accuracy_ms")]
    pub accuracy_ms: u64,
    /// Digits of a second in genTime (1..=6); truncated, trailing zeros
    /// dropped as RFC 3161 requires.
    #[serde(default = "default_precision_digits")]
    pub precision_digits: u8,
    /// This instance's id, unique among all running instances (0..=32767):
    /// it is the first field of every serial number (two instances sharing
    /// it still issue distinct serials, see [`crate::serial`], but their
    /// tokens cannot be told apart by instance).
    pub instance_id: u16,
    /// Label of the TSA unit key in the online token (for the binary; this
    /// crate does not open the HSM).
    pub key_label: String,
    /// The TSA unit certificate (PEM).
    pub certificate: PathBuf,
    /// Certificates added after the TSA certificate when a request sets
    /// certReq (PEM files, each may hold several). Empty: TSA certificate only.
    #[serde(default)]
    pub chain: Vec<PathBuf>,
    /// Put the TSA's name (its certificate subject) in TSTInfo.tsa.
    #[serde(default = "yes")]
    pub include_tsa_name: bool,
    /// Add the CMS signing-time signed attribute (genTime to the second).
    #[serde(default = "yes")]
    pub include_signing_time: bool,
    /// Largest request body accepted; larger bodies are refused
    /// (`badDataFormat`) without being read.
    #[serde(default = "default_max_request_bytes")]
    pub max_request_bytes: usize,
    /// Signatures in flight at once (should match the HSM sessions given
    /// to the TSA key); further requests wait their turn. Unset: chosen by
    /// the key, as measured with a software token on two cores
    /// (`docs/BENCHMARKS.md`): 4 for EC keys, whose short signatures partly
    /// wait on the token's locks (fewer lanes lose throughput), 3 for RSA
    /// keys, whose signatures are pure CPU (more lanes only lengthen the
    /// tail). A network HSM
    /// or a bigger machine wants it set: at least the HSM's parallelism.
    /// The dedicated listener's threads (`listen_threads`) sign besides the
    /// lanes: the HSM sessions (`hsm.max_sessions`, shared with the CAs and
    /// OCSP) should cover both.
    #[serde(default)]
    pub max_concurrent_signatures: Option<usize>,
    /// How long a request may wait for a signing slot or for room in the
    /// recording queue before it is refused with `systemFailure`.
    #[serde(default = "default_queue_timeout_ms")]
    pub queue_timeout_ms: u64,
    /// A listener of the TSA's own (`"host:port"`), whose threads each sign
    /// the requests they read ([`crate::listener`]): the faster way to serve
    /// `POST /tsa`, with `/healthz` and `/readyz`. `/tsa` stays on the main
    /// listener too. Unset: main listener only.
    #[serde(default)]
    pub listen: Option<SocketAddr>,
    /// Threads of that listener, 1..=256; each signs its own requests, one
    /// signature at a time, besides the shared lanes. Unset: one per core,
    /// at most the signing lanes
    /// ([`crate::listener::default_threads`]).
    #[serde(default)]
    pub listen_threads: Option<usize>,
    /// What that listener grants each connection (`[tsa.limits]`; HTTP/1 only, so the
    /// HTTP/2 and TLS keys do not apply).
    #[serde(default)]
    pub limits: ca::limits::ListenerLimits,
    /// The clock guard.
    pub clock: ClockConfig,
    /// Recording of issued tokens.
    #[serde(default)]
    pub recorder: RecorderConfig,
}

/// `[tsa.clock]`: the SNTP sources the clock guard checks against.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ClockConfig {
    /// NTP servers, `host:port` or `host` (port 123). At least two,
    /// independent of each other.
    pub servers: Vec<String>,
    /// How many servers must answer in a round (2..=servers).
    #[serde(default = "default_quorum")]
    pub quorum: usize,
    /// Delay between rounds while the clock is trusted.
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
    /// Delay between rounds while it is not.
    #[serde(default = "default_retry_interval_ms")]
    pub retry_interval_ms: u64,
    /// How long to wait for one server's reply.
    #[serde(default = "default_query_timeout_ms")]
    pub query_timeout_ms: u64,
    /// Largest frequency error assumed for the local clock between two
    /// rounds, in parts per million (the uncertainty grows by this much
    /// per second after a round).
    #[serde(default = "default_max_drift_ppm")]
    pub max_drift_ppm: u32,
    /// Trust expires this long after the last successful round even if
    /// the uncertainty budget is not spent (default: 4 poll intervals).
    #[serde(default)]
    pub max_staleness_ms: Option<u64>,
}

/// `[tsa.recorder]`. Every key is optional: a missing one takes its value
/// from [`Default`].
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct RecorderConfig {
    /// Tokens waiting to be recorded, at most (the queue's capacity).
    pub capacity: usize,
    /// Tokens per call to the recorder, at most.
    pub batch_max: usize,
    /// Longest time a delivered token may stay unrecorded (≤ 1000 ms):
    /// when the oldest unrecorded token is older, new requests are refused
    /// (`systemFailure`) until the recorder catches up.
    pub max_lag_ms: u64,
    /// How long the recorder waits after the first token of a batch for
    /// more to arrive (< `max_lag_ms`; 0: write at once). Replies do not
    /// wait for it; it bounds how many commits a second the database sees
    /// under load (each commit is a disk flush).
    pub linger_ms: u64,
}

impl Default for RecorderConfig {
    fn default() -> Self {
        RecorderConfig {
            capacity: 16_384,
            batch_max: 2_048,
            max_lag_ms: 1_000,
            linger_ms: 50,
        }
    }
}

// precision_digits ≤ 6 must be encodable by GenTime.
const _: () = assert!(6 <= MAX_FRACTION_DIGITS);

fn yes() -> bool {
    true
}
fn default_accuracy_ms() -> u64 {
    1000
}
fn default_precision_digits() -> u8 {
    3
}
fn default_max_request_bytes() -> usize {
    8192
}
fn default_queue_timeout_ms() -> u64 {
    2000
}
fn default_quorum() -> usize {
    2
}
fn default_poll_interval_ms() -> u64 {
    16_000
}
fn default_retry_interval_ms() -> u64 {
    2_000
}
fn default_query_timeout_ms() -> u64 {
    1_000
}
fn default_max_drift_ppm() -> u32 {
    500
}

fn de_oid<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<ObjectIdentifier, D::Error> {
    let s = String::deserialize(d)?;
    ObjectIdentifier::new(&s).map_err(|e| serde::de::Error::custom(format!("OID {s:?}: {e}")))
}

impl TsaConfig {
    /// A configuration with defaults for everything optional.
    pub fn new(
        policy: ObjectIdentifier,
        instance_id: u16,
        key_label: impl Into<String>,
        certificate: impl Into<PathBuf>,
        clock: ClockConfig,
    ) -> Self {
        TsaConfig {
            policy,
            accuracy_ms: default_accuracy_ms(),
            precision_digits: default_precision_digits(),
            instance_id,
            key_label: key_label.into(),
            certificate: certificate.into(),
            chain: Vec::new(),
            include_tsa_name: true,
            include_signing_time: true,
            max_request_bytes: default_max_request_bytes(),
            max_concurrent_signatures: None,
            queue_timeout_ms: default_queue_timeout_ms(),
            listen: None,
            listen_threads: None,
            limits: ca::limits::ListenerLimits::default(),
            clock,
            recorder: RecorderConfig::default(),
        }
    }

    /// Declared accuracy.
    pub fn accuracy(&self) -> Duration {
        Duration::from_millis(self.accuracy_ms)
    }

    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<()> {
        if self.accuracy_ms == 0 || self.accuracy_ms > 3_600_000 {
            return Err(Error::config("tsa.accuracy_ms must be 1..=3600000"));
        }
        if self.precision_digits == 0 || self.precision_digits > 6 {
            return Err(Error::config("tsa.precision_digits must be 1..=6"));
        }
        if self.instance_id > MAX_INSTANCE_ID {
            return Err(Error::config(format!(
                "tsa.instance_id must be 0..={MAX_INSTANCE_ID}"
            )));
        }
        if self.key_label.is_empty() {
            return Err(Error::config("tsa.key_label must not be empty"));
        }
        if !(64..=1 << 20).contains(&self.max_request_bytes) {
            return Err(Error::config("tsa.max_request_bytes must be 64..=1048576"));
        }
        if let Some(n) = self.max_concurrent_signatures {
            if !(1..=1024).contains(&n) {
                return Err(Error::config(
                    "tsa.max_concurrent_signatures must be 1..=1024",
                ));
            }
        }
        if self.queue_timeout_ms == 0 {
            return Err(Error::config("tsa.queue_timeout_ms must be > 0"));
        }
        if let Some(n) = self.listen_threads {
            if self.listen.is_none() {
                return Err(Error::config(
                    "tsa.listen_threads is set but tsa.listen is not",
                ));
            }
            if !(1..=MAX_LISTEN_THREADS).contains(&n) {
                return Err(Error::config(format!(
                    "tsa.listen_threads must be 1..={MAX_LISTEN_THREADS}"
                )));
            }
        }
        self.limits.validate("tsa.limits").map_err(Error::config)?;
        self.clock.validate()?;
        self.recorder.validate()
    }
}

impl ClockConfig {
    /// Sources with defaults for the rest.
    pub fn new(servers: Vec<String>) -> Self {
        ClockConfig {
            servers,
            quorum: default_quorum(),
            poll_interval_ms: default_poll_interval_ms(),
            retry_interval_ms: default_retry_interval_ms(),
            query_timeout_ms: default_query_timeout_ms(),
            max_drift_ppm: default_max_drift_ppm(),
            max_staleness_ms: None,
        }
    }

    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<()> {
        if self.servers.len() < 2 {
            return Err(Error::config(
                "tsa.clock.servers needs at least two independent NTP servers",
            ));
        }
        for (i, s) in self.servers.iter().enumerate() {
            if s.trim().is_empty() {
                return Err(Error::config("tsa.clock.servers: empty entry"));
            }
            if self.servers[..i].contains(s) {
                return Err(Error::config(format!(
                    "tsa.clock.servers: {s} is listed twice"
                )));
            }
        }
        if self.quorum < 2 || self.quorum > self.servers.len() {
            return Err(Error::config(
                "tsa.clock.quorum must be at least 2 and at most the number of servers",
            ));
        }
        if self.poll_interval_ms == 0 || self.retry_interval_ms == 0 {
            return Err(Error::config("tsa.clock intervals must be > 0"));
        }
        if self.query_timeout_ms == 0 || self.query_timeout_ms >= self.poll_interval_ms {
            return Err(Error::config(
                "tsa.clock.query_timeout_ms must be > 0 and shorter than poll_interval_ms",
            ));
        }
        if self.max_drift_ppm > 100_000 {
            return Err(Error::config("tsa.clock.max_drift_ppm must be ≤ 100000"));
        }
        if self
            .max_staleness_ms
            .is_some_and(|s| s < self.poll_interval_ms)
        {
            return Err(Error::config(
                "tsa.clock.max_staleness_ms must be at least poll_interval_ms",
            ));
        }
        Ok(())
    }

    /// Trust expires this long after the last good round.
    pub fn max_staleness(&self) -> Duration {
        Duration::from_millis(
            self.max_staleness_ms
                .unwrap_or(self.poll_interval_ms.saturating_mul(4)),
        )
    }
}

impl RecorderConfig {
    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<()> {
        if !(1..=1 << 22).contains(&self.capacity) {
            return Err(Error::config("tsa.recorder.capacity must be 1..=4194304"));
        }
        if self.batch_max == 0 {
            return Err(Error::config("tsa.recorder.batch_max must be > 0"));
        }
        if !(1..=1000).contains(&self.max_lag_ms) {
            return Err(Error::config(
                "tsa.recorder.max_lag_ms must be 1..=1000 (tokens are recorded at least every second)",
            ));
        }
        if self.linger_ms >= self.max_lag_ms {
            return Err(Error::config(
                "tsa.recorder.linger_ms must be less than max_lag_ms",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[derive(Deserialize)]
    struct File {
        tsa: TsaConfig,
    }

    const MINIMAL: &str = r#"
[tsa]
policy = "1.3.6.1.4.1.32473.1.7.3.1"
instance_id = 3
key_label = "tsa-unit-1"
certificate = "pki/tsa.pem"
[tsa.clock]
servers = ["127.0.0.1:1230", "127.0.0.2"]
"#;

    #[test]
    fn minimal_file_gets_defaults() {
        let f: File = toml::from_str(MINIMAL).unwrap();
        let c = f.tsa;
        c.validate().unwrap();
        assert_eq!(c.policy.to_string(), "1.3.6.1.4.1.32473.1.7.3.1");
        assert_eq!(c.accuracy(), Duration::from_secs(1));
        assert_eq!(c.clock.quorum, 2);
        assert_eq!(c.clock.max_staleness(), Duration::from_secs(64));
        assert_eq!(c.recorder.max_lag_ms, 1000);
        assert_eq!(c.recorder.linger_ms, 50);
        // Chosen by the key when the TSA starts.
        assert_eq!(c.max_concurrent_signatures, None);
    }

    #[test]
    fn rejects_unknown_keys_and_bad_values() {
        let typo = MINIMAL.replace("instance_id", "instance");
        assert!(toml::from_str::<File>(&typo).is_err());
        let bad_oid = MINIMAL.replace("1.3.6.1.4.1.32473.1.7.3.1", "not-an-oid");
        assert!(toml::from_str::<File>(&bad_oid).is_err());
        let mut c = toml::from_str::<File>(MINIMAL).unwrap().tsa;
        c.clock.servers.truncate(1);
        assert!(c.validate().is_err());
        let mut c = toml::from_str::<File>(MINIMAL).unwrap().tsa;
        c.clock.quorum = 3;
        assert!(c.validate().is_err());
        let mut c = toml::from_str::<File>(MINIMAL).unwrap().tsa;
        c.precision_digits = 0;
        assert!(c.validate().is_err());
        let mut c = toml::from_str::<File>(MINIMAL).unwrap().tsa;
        c.recorder.max_lag_ms = 5000;
        assert!(c.validate().is_err());
        // Lingering as long as the lag limit would refuse requests by itself.
        let mut c = toml::from_str::<File>(MINIMAL).unwrap().tsa;
        c.recorder.max_lag_ms = 200;
        c.recorder.linger_ms = 200;
        assert!(c.validate().is_err());
        c.recorder.linger_ms = 199;
        c.validate().unwrap();
        let mut c = toml::from_str::<File>(MINIMAL).unwrap().tsa;
        c.instance_id = 40_000;
        assert!(c.validate().is_err());
        let lanes = |v: &str| {
            let text = MINIMAL.replace(
                "[tsa.clock]",
                &format!("max_concurrent_signatures = {v}\n[tsa.clock]"),
            );
            toml::from_str::<File>(&text).map(|f| f.tsa.validate().is_ok())
        };
        assert!(lanes("3").unwrap());
        assert!(lanes("1024").unwrap());
        assert!(!lanes("0").unwrap());
        assert!(!lanes("1025").unwrap());
        assert!(lanes("-1").is_err());
        assert!(lanes("\"four\"").is_err());
        let listener = |v: &str| {
            let text = MINIMAL.replace("[tsa.clock]", &format!("{v}\n[tsa.clock]"));
            toml::from_str::<File>(&text).map(|f| f.tsa.validate().map(|()| f.tsa))
        };
        let c = listener("listen = \"127.0.0.1:8081\"").unwrap().unwrap();
        assert_eq!(c.listen, Some("127.0.0.1:8081".parse().unwrap()));
        assert_eq!(c.listen_threads, None);
        let c = listener("listen = \"[::1]:0\"\nlisten_threads = 256").unwrap();
        assert_eq!(c.unwrap().listen_threads, Some(256));
        assert!(listener("listen = \"localhost:8081\"").is_err());
        assert!(listener("listen = \"127.0.0.1\"").is_err());
        assert!(listener("listen = 8081").is_err());
        assert!(listener("listen = \"127.0.0.1:0\"\nlisten_threads = 0")
            .unwrap()
            .is_err());
        assert!(listener("listen = \"127.0.0.1:0\"\nlisten_threads = 257")
            .unwrap()
            .is_err());
        // Threads without a listener: a configuration mistake, said so.
        let e = listener("listen_threads = 2").unwrap().unwrap_err();
        assert!(e.to_string().contains("tsa.listen"), "{e}");
    }
}
