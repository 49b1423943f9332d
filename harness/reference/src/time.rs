//! Timers for host software: tokio's own, each *announced* while it is pending to the
//! [`Wakeups`] entered on this thread, if any.
//!
//! A simulated world enters its `Wakeups` while it runs host software, so it knows the
//! earliest moment at which any host wakes up by itself, and can let the idle time before
//! it pass in one jump. Nothing is entered on real sockets: there these are exactly tokio's
//! timers, plus one thread-local read per timer. Host software takes every timer from
//! here, never from `tokio::time` directly: a timer the world is not told about would be
//! jumped over (wirecheck's `tests/layout.rs` checks the reference and the harness hosts).
//!
//! Announcing errs on the early side: a timer counts from its creation until it is dropped
//! or fires, whether or not it is polled, and a timer created where the world's clock
//! cannot be read counts as due at once. Either only shortens a jump.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::future::{Future, IntoFuture};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
pub use tokio::time::{error::Elapsed, Instant};

type WorldNow = Box<dyn Fn() -> Option<Duration> + Send + Sync>;

/// The pending timers of every host of one world, as times on the world's clock.
#[derive(Clone)]
pub struct Wakeups(Arc<Shared>);

struct Shared {
    now: WorldNow,
    /// (due on the world's clock, announcement number): a multiset of due times.
    pending: Mutex<BTreeSet<(Duration, u64)>>,
    next: AtomicU64,
}

thread_local! {
    static ENTERED: RefCell<Option<Wakeups>> = const { RefCell::new(None) };
}

impl Wakeups {
    /// `now` reads the world's clock where a timer is created: `None` when it cannot be
    /// read there (such a timer counts as due at once).
    pub fn new(now: impl Fn() -> Option<Duration> + Send + Sync + 'static) -> Self {
        Wakeups(Arc::new(Shared {
            now: Box::new(now),
            pending: Mutex::new(BTreeSet::new()),
            next: AtomicU64::new(0),
        }))
    }

    /// When the earliest pending timer fires, on the world's clock.
    pub fn earliest(&self) -> Option<Duration> {
        self.0.lock().first().map(|(due, _)| *due)
    }

    /// How many timers are pending.
    pub fn len(&self) -> usize {
        self.0.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Timers created on this thread are announced here until the guard is dropped (the
    /// previously entered `Wakeups`, if any, is restored then).
    pub fn enter(&self) -> Entered {
        let previous = ENTERED.with(|e| e.replace(Some(self.clone())));
        Entered { previous }
    }

    fn announce(&self, after: Duration) -> Announced {
        let due = (self.0.now)().map_or(Duration::ZERO, |now| now + after);
        let key = (due, self.0.next.fetch_add(1, Ordering::Relaxed));
        self.0.lock().insert(key);
        Announced {
            shared: Some(self.0.clone()),
            key,
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, BTreeSet<(Duration, u64)>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// While alive, [`Wakeups::enter`]'s wakeups hear of this thread's timers.
pub struct Entered {
    previous: Option<Wakeups>,
}

impl Drop for Entered {
    fn drop(&mut self) {
        let previous = self.previous.take();
        ENTERED.with(|e| *e.borrow_mut() = previous);
    }
}

/// One pending timer, withdrawn when dropped.
struct Announced {
    shared: Option<Arc<Shared>>,
    key: (Duration, u64),
}

impl Drop for Announced {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            shared.lock().remove(&self.key);
        }
    }
}

/// Announces a timer firing `after` from now to the entered wakeups (none: nothing).
fn announce(after: Duration) -> Announced {
    ENTERED
        .with(|e| e.borrow().as_ref().map(|w| w.announce(after)))
        .unwrap_or(Announced {
            shared: None,
            key: (Duration::ZERO, 0),
        })
}

/// `tokio::time::sleep`, announced.
pub fn sleep(duration: Duration) -> impl Future<Output = ()> + Send {
    let announced = announce(duration);
    let sleep = tokio::time::sleep(duration);
    async move {
        sleep.await;
        drop(announced);
    }
}

/// `tokio::time::sleep_until`, announced.
pub fn sleep_until(deadline: Instant) -> impl Future<Output = ()> + Send {
    let announced = announce(deadline.saturating_duration_since(Instant::now()));
    let sleep = tokio::time::sleep_until(deadline);
    async move {
        sleep.await;
        drop(announced);
    }
}

/// `tokio::time::timeout`, announced.
pub fn timeout<F: IntoFuture>(
    duration: Duration,
    future: F,
) -> impl Future<Output = Result<F::Output, Elapsed>> {
    let announced = announce(duration);
    let timeout = tokio::time::timeout(duration, future);
    async move {
        let out = timeout.await;
        drop(announced);
        out
    }
}

/// `tokio::time::interval` (missed ticks burst, tokio's default), each tick announced.
pub fn interval(period: Duration) -> Interval {
    Interval {
        inner: tokio::time::interval(period),
        next: Instant::now(),
    }
}

/// See [`interval`].
pub struct Interval {
    inner: tokio::time::Interval,
    /// When the next tick is due (with bursting, always the last one plus the period).
    next: Instant,
}

impl Interval {
    /// Waits for the next tick; returns when it was due.
    pub async fn tick(&mut self) -> Instant {
        let announced = announce(self.next.saturating_duration_since(Instant::now()));
        let at = self.inner.tick().await;
        drop(announced);
        self.next = at + self.inner.period();
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world_at(ms: u64) -> Wakeups {
        Wakeups::new(move || Some(Duration::from_millis(ms)))
    }

    #[tokio::test(start_paused = true)]
    async fn a_pending_timer_is_announced_until_it_fires() {
        let w = world_at(1_000);
        let sleep = {
            let _in = w.enter();
            sleep(Duration::from_millis(250))
        };
        assert_eq!(w.earliest(), Some(Duration::from_millis(1_250)));
        sleep.await;
        assert!(w.is_empty(), "a fired timer is withdrawn");
    }

    #[tokio::test(start_paused = true)]
    async fn dropped_timers_are_withdrawn_and_the_earliest_wins() {
        let w = world_at(0);
        let _in = w.enter();
        let long = timeout(Duration::from_secs(30), std::future::pending::<()>());
        let short = sleep_until(Instant::now() + Duration::from_secs(5));
        assert_eq!(w.len(), 2);
        assert_eq!(w.earliest(), Some(Duration::from_secs(5)));
        drop(short);
        assert_eq!(w.earliest(), Some(Duration::from_secs(30)));
        assert!(long.await.is_err(), "the timeout elapses");
        assert!(w.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn intervals_announce_each_tick() {
        let w = world_at(0);
        let _in = w.enter();
        let mut tick = interval(Duration::from_millis(100));
        tick.tick().await; // the first tick is immediate
        let mut next = Box::pin(tick.tick());
        assert!(futures_util::FutureExt::now_or_never(&mut next).is_none());
        assert_eq!(w.earliest(), Some(Duration::from_millis(100)));
        next.await;
        assert!(w.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn without_entered_wakeups_timers_are_tokio_s_and_an_unknown_clock_is_due_now() {
        // Nothing entered: nothing to announce to, the timer still works.
        sleep(Duration::from_millis(5)).await;
        let blind = Wakeups::new(|| None);
        let _in = blind.enter();
        let _t = sleep(Duration::from_secs(60));
        assert_eq!(blind.earliest(), Some(Duration::ZERO));
    }

    #[test]
    fn entering_nests() {
        let (a, b) = (world_at(0), world_at(0));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let _enter_rt = rt.enter();
        let outer = a.enter();
        {
            let _inner = b.enter();
            let _t = sleep(Duration::from_secs(1));
            assert_eq!((a.len(), b.len()), (0, 1));
        }
        let _t = sleep(Duration::from_secs(1));
        assert_eq!(a.len(), 1);
        drop(outer);
        let _u = sleep(Duration::from_secs(1));
        assert_eq!(a.len(), 1, "nothing is entered any more");
    }
}
