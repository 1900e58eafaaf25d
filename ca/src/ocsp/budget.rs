//! The fresh-signing budget: how many responses the public may have the HSM sign per second
//! on the request path ([`super::OcspConfig::fresh_signatures_per_sec`]).

use std::sync::Mutex;
use std::time::Instant;

/// A token bucket refilled at `rate` tokens per second, holding at most `rate` (one second's
/// worth: a burst of `rate` requests passes at once, a sustained flow `rate` a second).
#[derive(Debug)]
pub(crate) struct Budget {
    rate: f64,
    state: Mutex<(f64, Instant)>,
}

impl Budget {
    /// A full bucket.
    pub(crate) fn new(per_sec: u32) -> Self {
        let rate = f64::from(per_sec.max(1));
        Budget {
            rate,
            state: Mutex::new((rate, Instant::now())),
        }
    }

    /// Takes one signature from the budget; `false` when it is spent.
    pub(crate) fn try_take(&self) -> bool {
        self.try_take_at(Instant::now())
    }

    fn try_take_at(&self, now: Instant) -> bool {
        // A panic elsewhere cannot leave the pair inconsistent (plain assignments).
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, last) = *s;
        let refill = now.saturating_duration_since(last).as_secs_f64() * self.rate;
        let tokens = (tokens + refill).min(self.rate);
        let last = last.max(now);
        if tokens >= 1.0 {
            *s = (tokens - 1.0, last);
            true
        } else {
            *s = (tokens, last);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn at_the_rate_passes_over_it_refused_then_refilled() {
        let b = Budget::new(3);
        let t0 = Instant::now();
        assert!(
            (0..3).all(|_| b.try_take_at(t0)),
            "a full second's worth at once"
        );
        assert!(!b.try_take_at(t0));
        assert!(!b.try_take_at(t0 + Duration::from_millis(300)));
        assert!(
            b.try_take_at(t0 + Duration::from_millis(340)),
            "1/3 s refills one"
        );
        assert!(!b.try_take_at(t0 + Duration::from_millis(340)));
        // Never more than one second's worth, however long it was idle.
        let later = t0 + Duration::from_secs(60);
        assert!((0..3).all(|_| b.try_take_at(later)));
        assert!(!b.try_take_at(later));
    }
}
