//! Limits token guessing: failed registrations (`unauthorized`) counted per origin (a peer
//! address, chosen by the driver) over a sliding window. An origin at its limit is refused
//! before it can try again, until its oldest failure leaves the window. Pure: the driver
//! passes the time.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// Failed registrations per origin within a window.
#[derive(Clone, Debug)]
pub struct AuthThrottle<K: Ord + Clone> {
    max_failures: usize,
    window: Duration,
    failures: BTreeMap<K, VecDeque<Duration>>,
}

impl<K: Ord + Clone> AuthThrottle<K> {
    /// At most `max_failures` failed registrations per origin within `window`
    /// (`max_failures` 0: no limit).
    pub fn new(max_failures: usize, window: Duration) -> Self {
        AuthThrottle {
            max_failures,
            window,
            failures: BTreeMap::new(),
        }
    }

    /// Whether `origin` may try to register at `now` (time since any fixed start).
    pub fn allows(&mut self, origin: &K, now: Duration) -> bool {
        if self.max_failures == 0 {
            return true;
        }
        let Some(times) = self.failures.get_mut(origin) else {
            return true;
        };
        while times.front().is_some_and(|&t| t + self.window <= now) {
            times.pop_front();
        }
        if times.is_empty() {
            self.failures.remove(origin);
            return true;
        }
        times.len() < self.max_failures
    }

    /// `origin` failed a registration at `now`. Origins whose failures all left the
    /// window are forgotten as the map grows, so it stays as large as the recent guessers.
    pub fn failed(&mut self, origin: K, now: Duration) {
        if self.max_failures == 0 {
            return;
        }
        let times = self.failures.entry(origin).or_default();
        times.push_back(now);
        if times.len() > self.max_failures {
            times.pop_front();
        }
        if self.failures.len() > 1024 && self.failures.len().is_power_of_two() {
            let window = self.window;
            self.failures
                .retain(|_, t| t.back().is_some_and(|&last| last + window > now));
        }
    }

    /// Origins currently tracked.
    pub fn tracked(&self) -> usize {
        self.failures.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn refuses_an_origin_at_its_limit_until_the_window_slides() {
        let mut t = AuthThrottle::new(3, 60 * S);
        for i in 0..3 {
            assert!(t.allows(&"a", i * S));
            t.failed("a", i * S);
        }
        assert!(!t.allows(&"a", 10 * S));
        assert!(t.allows(&"b", 10 * S), "other origins are not affected");
        assert!(t.allows(&"a", 60 * S), "the first failure left the window");
        t.failed("a", 60 * S);
        assert!(!t.allows(&"a", 60 * S), "failures at 1 s, 2 s and 60 s");
        assert!(t.allows(&"a", 61 * S), "the one at 1 s left the window");
        assert!(t.allows(&"a", 200 * S));
        assert_eq!(
            t.tracked(),
            0,
            "an origin with no recent failure is forgotten"
        );
    }

    #[test]
    fn zero_means_no_limit_and_old_origins_are_pruned() {
        let mut t = AuthThrottle::new(0, 60 * S);
        t.failed(1u32, S);
        assert!(t.allows(&1, S));
        let mut t = AuthThrottle::new(2, S);
        for i in 0..5000u32 {
            t.failed(i, Duration::from_millis(u64::from(i) * 10));
        }
        assert!(t.tracked() < 2048, "{} origins kept", t.tracked());
    }
}
