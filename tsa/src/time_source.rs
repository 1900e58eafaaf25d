//! Where the TSA reads the time: a leaf module, so that the SNTP client
//! (which times its exchanges) and the clock guard (which anchors on them)
//! both use it without importing each other.

use std::time::{Instant, SystemTime};

/// Where the guard reads the time: the wall clock and a monotonic clock,
/// read together. [`SystemClock`] in production; tests substitute a source
/// whose wall clock can jump.
pub trait TimeSource: Send + Sync + std::fmt::Debug + 'static {
    /// (wall clock, monotonic clock), read as close together as possible.
    fn now(&self) -> (SystemTime, Instant);
}

/// The operating system's clocks.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl TimeSource for SystemClock {
    fn now(&self) -> (SystemTime, Instant) {
        (SystemTime::now(), Instant::now())
    }
}
