//! Reconnect timing as pure functions of attempt history: exponential backoff with seeded
//! jitter (CONN-2) and an attempt rate limit (CONN-3). Times are offsets from any fixed
//! origin chosen by the driver (simulated or real clock).

use crate::rng::SplitMix64;
use std::collections::VecDeque;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq)]
pub struct ReconnectPolicy {
    /// First backoff delay; doubles each consecutive failure up to `cap`.
    pub base: Duration,
    pub cap: Duration,
    /// Fraction of the delay added at random, `0.0..=1.0`.
    pub jitter: f64,
    /// At most this many attempts in any `window`.
    pub max_attempts: u32,
    pub window: Duration,
    /// At least this long between two attempts.
    pub min_gap: Duration,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        ReconnectPolicy {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(30),
            jitter: 0.0,
            max_attempts: 3,
            window: Duration::from_secs(60),
            min_gap: Duration::from_secs(5),
        }
    }
}

/// Backoff state: consecutive failures and the jitter RNG.
#[derive(Clone, Debug)]
pub struct Backoff {
    policy: ReconnectPolicy,
    failures: u32,
    rng: SplitMix64,
}

impl Backoff {
    pub fn new(policy: ReconnectPolicy, rng: SplitMix64) -> Self {
        Backoff {
            policy,
            failures: 0,
            rng,
        }
    }

    /// The delay before the next attempt; each call counts one more failure.
    pub fn next_delay(&mut self) -> Duration {
        let exp = self.failures.min(30);
        self.failures = self.failures.saturating_add(1);
        let raw = self
            .policy
            .base
            .saturating_mul(1u32 << exp)
            .min(self.policy.cap);
        let jitter = self.policy.jitter.clamp(0.0, 1.0) * self.rng.next_f64();
        raw + raw.mul_f64(jitter)
    }

    /// A successful registration resets the sequence.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

/// Sliding-window attempt limiter.
#[derive(Clone, Debug)]
pub struct RateLimit {
    policy: ReconnectPolicy,
    attempts: VecDeque<Duration>,
}

impl RateLimit {
    pub fn new(policy: ReconnectPolicy) -> Self {
        RateLimit {
            policy,
            attempts: VecDeque::new(),
        }
    }

    /// How long to wait from `now` before an attempt is allowed.
    pub fn wait_before_attempt(&self, now: Duration) -> Duration {
        let mut earliest = now;
        if let Some(&last) = self.attempts.back() {
            earliest = earliest.max(last + self.policy.min_gap);
        }
        let max = self.policy.max_attempts.max(1) as usize;
        if self.attempts.len() >= max {
            let oldest_in_window = self.attempts[self.attempts.len() - max];
            earliest = earliest.max(oldest_in_window + self.policy.window);
        }
        earliest - now
    }

    /// Records an attempt made at `now`.
    pub fn record(&mut self, now: Duration) {
        self.attempts.push_back(now);
        while self.attempts.len() > self.policy.max_attempts.max(1) as usize {
            self.attempts.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn backoff_doubles_to_cap_and_resets() {
        let p = ReconnectPolicy {
            base: secs(1),
            cap: secs(5),
            ..ReconnectPolicy::default()
        };
        let mut b = Backoff::new(p, SplitMix64::new(1));
        let d: Vec<u64> = (0..5).map(|_| b.next_delay().as_secs()).collect();
        assert_eq!(d, vec![1, 2, 4, 5, 5]);
        b.reset();
        assert_eq!(b.next_delay(), secs(1));
    }

    #[test]
    fn jitter_is_bounded_and_seeded() {
        let p = ReconnectPolicy {
            jitter: 0.5,
            ..ReconnectPolicy::default()
        };
        let mut a = Backoff::new(p.clone(), SplitMix64::new(9));
        let mut b = Backoff::new(p, SplitMix64::new(9));
        for _ in 0..10 {
            let (x, y) = (a.next_delay(), b.next_delay());
            assert_eq!(x, y);
        }
        let d = a.next_delay();
        assert!(d >= secs(30) && d <= secs(45), "{d:?}");
    }

    #[test]
    fn rate_limit_three_a_minute_five_seconds_apart() {
        let mut r = RateLimit::new(ReconnectPolicy::default());
        assert_eq!(r.wait_before_attempt(secs(0)), secs(0));
        r.record(secs(0));
        assert_eq!(r.wait_before_attempt(secs(1)), secs(4));
        r.record(secs(5));
        r.record(secs(10));
        // Fourth attempt: not before the first one leaves the 60 s window.
        assert_eq!(r.wait_before_attempt(secs(15)), secs(45));
        r.record(secs(60));
        assert_eq!(r.wait_before_attempt(secs(61)), secs(4));
    }
}
