//! The supervisor's decisions: which broker address to try next, when the attempt rate
//! limit makes it wait, when to back off, and when to give up (CONN-2..5).
//!
//! Sans-IO: times are durations since the supervisor started, passed in by the driver,
//! which also does the waiting. Backoff and rate limit are the pure functions of
//! [`crate::reconnect`]; this type adds the failover order and the zoo's reconnect flaws.

use super::{ConnNo, Mux};
use crate::flaws::{Flaw, Flaws};
use crate::pending::CallError;
use crate::reconnect::{Backoff, RateLimit, ReconnectPolicy};
use crate::rng::SplitMix64;
use std::time::Duration;

/// The next connection attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    pub addr: String,
    /// The connection's number (from 1, never reused).
    pub conn: ConnNo,
}

pub struct Supervisor {
    brokers: Vec<String>,
    /// `None`: give up when the connection is lost.
    policy: Option<ReconnectPolicy>,
    flaws: Flaws,
    backoff: Backoff,
    limiter: Option<RateLimit>,
    next_addr: usize,
    last_conn: ConnNo,
}

impl Supervisor {
    /// `seed` and `client_id` derive the backoff jitter RNG.
    pub fn new(
        brokers: Vec<String>,
        policy: Option<ReconnectPolicy>,
        seed: u64,
        client_id: &str,
        flaws: Flaws,
    ) -> Self {
        let rng = SplitMix64::derive(seed, client_id);
        Supervisor {
            backoff: Backoff::new(policy.clone().unwrap_or_default(), rng),
            limiter: policy.clone().map(RateLimit::new),
            brokers,
            policy,
            flaws,
            next_addr: 0,
            last_conn: 0,
        }
    }

    /// Before an attempt: `Err(reason)` to stop for good, otherwise how long the rate
    /// limit makes the attempt wait at `now` (zero: go at once). Then call
    /// [`Supervisor::attempt`] when the wait is over.
    pub fn before_attempt(&self, closing: bool, now: Duration) -> Result<Duration, String> {
        if closing {
            return Err("closed by the client".into());
        }
        if self.brokers.is_empty() {
            return Err("no broker addresses configured".into());
        }
        Ok(
            match self.limiter.as_ref().filter(|_| !self.skips_limit()) {
                Some(limiter) => limiter.wait_before_attempt(now),
                None => Duration::ZERO,
            },
        )
    }

    /// Zoo flaws `no-rate-limit` and `failover-no-rate-limit`: their one hook point.
    fn skips_limit(&self) -> bool {
        let failing_over = self.next_addr != 0;
        self.flaws.has(Flaw::NoRateLimit)
            || (failing_over && self.flaws.has(Flaw::FailoverNoRateLimit))
    }

    /// The attempt starts at `now`: it counts against the rate limit.
    pub fn attempt(&mut self, now: Duration) -> Attempt {
        if !self.skips_limit() {
            if let Some(limiter) = self.limiter.as_mut() {
                limiter.record(now);
            }
        }
        self.last_conn += 1;
        Attempt {
            addr: self.brokers[self.next_addr].clone(),
            conn: self.last_conn,
        }
    }

    /// The attempt registered: the backoff starts over, and so does the failover order.
    pub fn on_registered(&mut self) {
        self.backoff.reset();
        self.next_addr = 0;
    }

    /// The registered connection was lost: `Some(reason)` to stop for good.
    pub fn after_loss(&self, closing: bool) -> Option<String> {
        if closing {
            return Some("closed by the client".into());
        }
        if self.flaws.has(Flaw::NoReconnect) {
            return Some("connection lost (zoo flaw: never reconnects)".into());
        }
        None
    }

    /// The attempt failed before registering with `err`: `Some(reason)` to stop for
    /// good; otherwise the next attempt goes to the next address.
    pub fn after_failure(&mut self, err: &CallError) -> Option<String> {
        if let Some(reason) = Mux::gives_up_after(err) {
            return Some(reason);
        }
        self.next_addr = (self.next_addr + 1) % self.brokers.len();
        None
    }

    /// Between attempts: `Err(reason)` to stop for good (reconnect is off), otherwise how
    /// long to back off first. Failing over to the next address goes at once; a whole
    /// round failed, or a lost established connection, backs off (CONN-2).
    pub fn between_attempts(&mut self) -> Result<Option<Duration>, String> {
        if self.policy.is_none() {
            return Err("connection lost and reconnect is off".into());
        }
        if self.next_addr == 0 && !self.flaws.has(Flaw::NoBackoff) {
            return Ok(Some(self.backoff.next_delay()));
        }
        Ok(None)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn policy() -> ReconnectPolicy {
        ReconnectPolicy::default()
    }

    fn refused(code: &str) -> CallError {
        CallError::Rejected {
            code: code.into(),
            message: String::new(),
        }
    }

    #[test]
    fn fails_over_in_order_then_backs_off_after_a_round() {
        let brokers = vec!["a:1".to_owned(), "b:2".to_owned()];
        let mut s = Supervisor::new(brokers, Some(policy()), 7, "app", Flaws::none());
        let t = Duration::from_secs(100);
        assert_eq!(s.before_attempt(false, t), Ok(Duration::ZERO));
        let a = s.attempt(t);
        assert_eq!((a.addr.as_str(), a.conn), ("a:1", 1));
        assert_eq!(s.after_failure(&CallError::Timeout), None);
        assert_eq!(s.between_attempts(), Ok(None), "failover goes at once");
        let b = s.attempt(t);
        assert_eq!((b.addr.as_str(), b.conn), ("b:2", 2));
        assert_eq!(s.after_failure(&refused("client_id_taken")), None);
        let delay = s.between_attempts().unwrap().expect("a whole round failed");
        assert!(delay > Duration::ZERO);
        assert_eq!(s.attempt(t).addr, "a:1");
        s.on_registered();
        assert_eq!(s.after_loss(false), None);
        assert!(s.between_attempts().unwrap().is_some(), "loss backs off");
    }

    #[test]
    fn stops_when_closing_refused_unconfigured_or_reconnect_off() {
        let one = vec!["a:1".to_owned()];
        let mut s = Supervisor::new(one.clone(), Some(policy()), 0, "app", Flaws::none());
        let t = Duration::ZERO;
        assert_eq!(
            s.before_attempt(true, t),
            Err("closed by the client".into())
        );
        assert_eq!(
            s.after_failure(&refused("unauthorized")),
            Some("registration refused: unauthorized".into())
        );
        assert_eq!(s.after_loss(true), Some("closed by the client".into()));
        let none = Supervisor::new(Vec::new(), Some(policy()), 0, "app", Flaws::none());
        assert_eq!(
            none.before_attempt(false, t),
            Err("no broker addresses configured".into())
        );
        let mut off = Supervisor::new(one, None, 0, "app", Flaws::none());
        assert_eq!(
            off.between_attempts(),
            Err("connection lost and reconnect is off".into())
        );
    }

    #[test]
    fn rate_limit_waits_unless_a_flaw_skips_it() {
        let p = policy(); // at least 5 s between two attempts
        let one = vec!["a:1".to_owned(), "b:2".to_owned()];
        let t = Duration::from_secs(1);
        let mut s = Supervisor::new(one.clone(), Some(p.clone()), 0, "app", Flaws::none());
        s.attempt(t);
        assert!(s.before_attempt(false, t).unwrap() > Duration::ZERO);
        // failover-no-rate-limit: only while failing over.
        let flaw = Flaws::one(Flaw::FailoverNoRateLimit);
        let mut s = Supervisor::new(one.clone(), Some(p.clone()), 0, "app", flaw);
        s.attempt(t);
        assert!(s.before_attempt(false, t).unwrap() > Duration::ZERO);
        s.after_failure(&CallError::Timeout);
        assert_eq!(s.before_attempt(false, t), Ok(Duration::ZERO));
        let mut s = Supervisor::new(one, Some(p), 0, "app", Flaws::one(Flaw::NoRateLimit));
        s.attempt(t);
        assert_eq!(s.before_attempt(false, t), Ok(Duration::ZERO));
    }

    #[test]
    fn reconnect_flaws() {
        let one = vec!["a:1".to_owned()];
        let s = Supervisor::new(
            one.clone(),
            Some(policy()),
            0,
            "app",
            Flaws::one(Flaw::NoReconnect),
        );
        assert!(s.after_loss(false).is_some());
        let mut s = Supervisor::new(one, Some(policy()), 0, "app", Flaws::one(Flaw::NoBackoff));
        s.attempt(Duration::ZERO);
        assert_eq!(s.between_attempts(), Ok(None));
    }
}
