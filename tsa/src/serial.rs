//! Token serial numbers, unique across every instance of the TSA without
//! coordination.
//!
//! Layout (159 bits in 20 big-endian octets, always positive; RFC 3161
//! §2.4.2 has clients accept up to 160 bits):
//!
//! ```text
//!  15 bits   instance id (configured, unique per running instance; top bit 0 → positive)
//!  48 bits   start time of this instance, milliseconds since the Unix epoch
//!  32 bits   random, drawn from the OS generator when the instance starts
//!  64 bits   counter, starting at 1, incremented atomically per token
//! ```
//!
//! Two instances differ in the instance id; two runs of one instance differ
//! in the start time (a process cannot start twice within the same
//! millisecond, and [`SerialGenerator::new`] moves its start time past the
//! previous generator's of the same process and id). The counter
//! cannot wrap (2^64 tokens). The random field covers what configuration
//! cannot: two instances given the same id (one configuration file for two
//! replicas) that start in the same millisecond, or an instance restarted
//! with its wall clock set back to exactly a previous start millisecond,
//! repeat serials only if they also drew the same 32 random bits (one
//! chance in 2^32). The backstop is the CA store's record of tokens: it
//! refuses a second, different token under a recorded serial, and the TSA
//! fails closed while its recorder fails.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use der::asn1::Int;
use rand::RngCore;

use crate::error::{Error, Result};

/// Largest instance id (15 bits).
pub const MAX_INSTANCE_ID: u16 = 0x7fff;

/// Octets of a serial before DER strips leading zeros (159 bits, positive).
pub const SERIAL_OCTETS: usize = 20;

/// Issues serial numbers for one instance.
#[derive(Debug)]
pub struct SerialGenerator {
    instance_id: u16,
    start_ms: u64,
    /// Drawn once per generator (see the layout).
    random: u32,
    counter: AtomicU64,
}

impl SerialGenerator {
    /// A generator for `instance_id`, started now (or one millisecond after
    /// the previous generator of this process with the same id, if that is
    /// later).
    pub fn new(instance_id: u16) -> Result<Self> {
        static LAST_START: Mutex<Vec<(u16, u64)>> = Mutex::new(Vec::new());
        let mut g = Self::starting_at(instance_id, SystemTime::now())?;
        let mut last = LAST_START.lock().unwrap_or_else(|p| p.into_inner());
        match last.iter_mut().find(|(id, _)| *id == instance_id) {
            Some((_, ms)) => {
                g.start_ms = g.start_ms.max(*ms + 1);
                *ms = g.start_ms;
            }
            None => last.push((instance_id, g.start_ms)),
        }
        Ok(g)
    }

    /// A generator for `instance_id` whose start time is `start`, with its
    /// random field drawn from the OS generator.
    pub fn starting_at(instance_id: u16, start: SystemTime) -> Result<Self> {
        let mut random = [0u8; 4];
        rand::rngs::OsRng
            .try_fill_bytes(&mut random)
            .map_err(|e| Error::Internal(format!("the OS random generator failed: {e}")))?;
        Self::with_random(instance_id, start, u32::from_be_bytes(random))
    }

    /// A generator with a given random field.
    fn with_random(instance_id: u16, start: SystemTime, random: u32) -> Result<Self> {
        if instance_id > MAX_INSTANCE_ID {
            return Err(Error::config(format!(
                "instance_id must be 0..={MAX_INSTANCE_ID}"
            )));
        }
        let ms = start
            .duration_since(UNIX_EPOCH)
            .map_err(|_| Error::config("the clock is before 1970"))?
            .as_millis();
        let start_ms = u64::try_from(ms)
            .ok()
            .filter(|ms| *ms < 1 << 48)
            .ok_or_else(|| Error::config("the clock is beyond year 10889"))?;
        Ok(SerialGenerator {
            instance_id,
            start_ms,
            random,
            counter: AtomicU64::new(0),
        })
    }

    /// The configured instance id.
    pub fn instance_id(&self) -> u16 {
        self.instance_id
    }

    /// Tokens issued so far.
    pub fn issued(&self) -> u64 {
        self.counter.load(Ordering::Relaxed)
    }

    /// The next serial, as the 20 big-endian octets of the layout above.
    pub fn next_raw(&self) -> [u8; SERIAL_OCTETS] {
        let n = self.counter.fetch_add(1, Ordering::Relaxed) + 1;
        let mut out = [0u8; SERIAL_OCTETS];
        out[0..2].copy_from_slice(&self.instance_id.to_be_bytes());
        out[2..8].copy_from_slice(&self.start_ms.to_be_bytes()[2..8]);
        out[8..12].copy_from_slice(&self.random.to_be_bytes());
        out[12..20].copy_from_slice(&n.to_be_bytes());
        out
    }

    /// The next serial as a DER INTEGER.
    pub fn next(&self) -> Result<Int> {
        let raw = self.next_raw();
        Ok(Int::new(minimal_positive(&raw))?)
    }
}

/// Strips leading zero octets, keeping one when the next octet has its top
/// bit set (so that the INTEGER stays positive and minimally encoded).
pub(crate) fn minimal_positive(bytes: &[u8]) -> &[u8] {
    let mut i = 0;
    while i + 1 < bytes.len() && bytes[i] == 0 && bytes[i + 1] & 0x80 == 0 {
        i += 1;
    }
    &bytes[i..]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use der::{Decode, Encode};
    use std::time::Duration;

    #[test]
    fn layout_and_der() {
        let start = UNIX_EPOCH + Duration::from_millis(0x0123_4567_89ab);
        let g = SerialGenerator::with_random(0x1234, start, 0xfeed_f00d).unwrap();
        assert_eq!(
            hex::encode(g.next_raw()),
            "12340123456789abfeedf00d0000000000000001"
        );
        let i = g.next().unwrap();
        assert_eq!(
            hex::encode(i.as_bytes()),
            "12340123456789abfeedf00d0000000000000002"
        );
        // Every instance id, at the random field's extremes: positive, at most
        // 20 octets (159 bits), and canonical DER.
        for id in 0..=MAX_INSTANCE_ID {
            for random in [0, u32::MAX] {
                let i = SerialGenerator::with_random(id, start, random)
                    .unwrap()
                    .next()
                    .unwrap();
                let octets = i.as_bytes();
                assert!(
                    octets.len() <= SERIAL_OCTETS,
                    "id {id}: {}",
                    hex::encode(octets)
                );
                assert_eq!(octets[0] & 0x80, 0, "id {id}: negative");
                assert_eq!(Int::from_der(&i.to_der().unwrap()).unwrap(), i);
            }
        }
        // Re-decodes as a canonical INTEGER.
        let der = i.to_der().unwrap();
        assert_eq!(Int::from_der(&der).unwrap(), i);
        assert_eq!(g.issued(), 2);
    }

    #[test]
    fn instance_zero_is_still_minimal_and_positive() {
        let start = UNIX_EPOCH + Duration::from_millis(0x80_0000_0000);
        let g = SerialGenerator::with_random(0, start, 0).unwrap();
        let i = g.next().unwrap();
        let der = i.to_der().unwrap();
        // 00 80 00 00 00 00 | 00 00 00 00 | 00..01: one leading zero kept for the sign.
        assert_eq!(
            hex::encode(i.as_bytes()),
            "008000000000000000000000000000000001"
        );
        assert_eq!(Int::from_der(&der).unwrap(), i);
        assert!(SerialGenerator::new(0x8000).is_err());
    }

    #[test]
    fn same_id_and_start_differ_by_the_random_field() {
        // What two replicas sharing one configuration would get if they
        // started in the same millisecond.
        let start = UNIX_EPOCH + Duration::from_millis(0x0123_4567_89ab);
        let draws: std::collections::HashSet<u32> = (0..64)
            .map(|_| SerialGenerator::starting_at(7, start).unwrap().random)
            .collect();
        // 64 draws of 32 bits: a repeat has odds of about 2^-21.
        assert_eq!(draws.len(), 64);
        let a = SerialGenerator::starting_at(7, start).unwrap();
        let b = SerialGenerator::starting_at(7, start).unwrap();
        assert_ne!(a.next_raw(), b.next_raw());
    }

    #[test]
    fn same_id_twice_in_one_process_gets_distinct_start_times() {
        let a = SerialGenerator::new(7).unwrap();
        let b = SerialGenerator::new(7).unwrap();
        assert!(b.start_ms > a.start_ms);
        assert_ne!(a.next_raw(), b.next_raw());
    }

    #[test]
    fn minimal_positive_rules() {
        assert_eq!(minimal_positive(&[0, 0, 1]), &[1]);
        assert_eq!(minimal_positive(&[0, 0, 0x80]), &[0, 0x80]);
        assert_eq!(minimal_positive(&[0, 0]), &[0]);
        assert_eq!(minimal_positive(&[0x7f]), &[0x7f]);
    }
}
