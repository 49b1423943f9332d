//! When the simulated world is idle, and until when.
//!
//! A host's software acts only when something wakes it: a message arriving, one of its
//! timers firing, something handed to it from outside (a runner command, a start or a
//! bounce), or turmoil waking it from another host in memory (an accepted `connect`
//! completes, a refused or dropped one fails). Each tick runs every host until its
//! runtime has nothing left to do (tokio's paused clock moves only then), so what a step
//! leaves behind is tasks woken by timers due at that very instant, and wake-ups passed
//! from a host that ticked later to one that ticked earlier.
//!
//! The world jumps from a step boundary to `to` only when every tick before `to` would
//! change nothing but the time:
//! - the last step *settled*: it began quiet (below) and no host used the network during
//!   it (`net.rs` counts every use), so it ran no task that could wake another host, and
//!   nothing is left over from it but timers;
//! - the world is *quiet* now: nothing handed to a host since the last step (the world
//!   tracks starts, bounces and faults; the runner asks for no jump while a command is
//!   unacknowledged), no timer due already, no message on its way on a link that is not
//!   held (turmoil shows what a link carries, not when it arrives; a held message waits
//!   for `release`, itself a step), and messages take at least a tick (with zero latency
//!   one can become deliverable during a step without ever showing on its link);
//! - no host timer is due before `to`: every timer of host software is announced to the
//!   world's `wirecheck_reference::time::Wakeups`.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;
use turmoil::Sim;

use super::clock::ceil_to;

/// Links turmoil holds (`hold` until `release`): messages on them cannot arrive by
/// themselves. A `repair` or `partition` ends a hold too (turmoil then marks the link
/// repaired or partitioned); messages still marked held after a `repair` count as on
/// their way, which only shortens jumps.
#[derive(Default)]
pub(super) struct Held(BTreeSet<(IpAddr, IpAddr)>);

impl Held {
    fn key(a: IpAddr, b: IpAddr) -> (IpAddr, IpAddr) {
        (a.min(b), a.max(b))
    }

    pub fn hold(&mut self, a: IpAddr, b: IpAddr) {
        self.0.insert(Self::key(a, b));
    }

    pub fn end(&mut self, a: IpAddr, b: IpAddr) {
        self.0.remove(&Self::key(a, b));
    }

    fn holds(&self, a: IpAddr, b: IpAddr) -> bool {
        self.0.contains(&Self::key(a, b))
    }
}

/// Is a message on its way over a link that is not held?
pub(super) fn in_flight(sim: &Sim<'_>, held: &Held) -> bool {
    let mut busy = false;
    sim.links(|links| {
        busy = links.into_iter().any(|mut link| {
            let (a, b) = link.pair();
            !held.holds(a, b) && link.next().is_some()
        });
    });
    busy
}

/// Where a jump from `now` may land, given the next moment anything is scheduled to
/// happen (`earliest` host timer, `limit` from the caller): that moment rounded up to a
/// tick, if that is more than one tick ahead (one tick is an ordinary step).
pub(super) fn jump_target(
    now: Duration,
    limit: Duration,
    earliest: Option<Duration>,
    tick: Duration,
) -> Option<Duration> {
    let to = earliest.map_or(limit, |e| e.min(limit));
    let to = ceil_to(to, tick);
    (to > now + tick).then_some(to)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK: Duration = Duration::from_millis(1);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_jump_lands_on_the_first_timer_or_the_limit_whichever_comes_first() {
        assert_eq!(
            jump_target(ms(10), ms(500), Some(ms(40)), TICK),
            Some(ms(40))
        );
        assert_eq!(
            jump_target(ms(10), ms(30), Some(ms(40)), TICK),
            Some(ms(30))
        );
        assert_eq!(jump_target(ms(10), ms(30), None, TICK), Some(ms(30)));
        // A deadline between ticks fires at the next tick: land there, not before.
        assert_eq!(
            jump_target(ms(10), ms(500), Some(Duration::from_micros(40_200)), TICK),
            Some(ms(41))
        );
    }

    #[test]
    fn no_jump_when_a_tick_or_less_remains_or_a_timer_is_due() {
        assert_eq!(jump_target(ms(10), ms(11), None, TICK), None);
        assert_eq!(jump_target(ms(10), ms(500), Some(ms(11)), TICK), None);
        assert_eq!(jump_target(ms(10), ms(500), Some(ms(10)), TICK), None);
        // A timer that should have fired already (its task not yet run): step.
        assert_eq!(jump_target(ms(10), ms(500), Some(ms(3)), TICK), None);
    }

    #[test]
    fn held_links_are_unordered_pairs_until_released() {
        let (a, b): (IpAddr, IpAddr) = (
            "192.168.0.1".parse().unwrap(),
            "192.168.0.2".parse().unwrap(),
        );
        let mut h = Held::default();
        h.hold(a, b);
        assert!(h.holds(b, a));
        h.end(b, a);
        assert!(!h.holds(a, b));
    }
}
