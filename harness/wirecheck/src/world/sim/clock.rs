//! Simulated time with idle stretches jumped over.
//!
//! turmoil moves time one tick per step and polls every host on every tick. When the
//! world is idle (see `idle.rs`), [`super::SimWorld`] instead lets a whole stretch of `k`
//! ticks pass in one step: in each running host's runtime a one-shot task spawned for the
//! jump ([`Keeper::jump`]) moves the host's tokio clock forward by the stretch (tokio's
//! paused clock then fires the timers due at its end, exactly as the last tick would have),
//! turmoil's own clock moves one tick, and the rest of the stretch is added to [`Jumped`],
//! which every reading of the world's clock includes.
//!
//! The jump must also leave each host's runtime as `k` idle ticks would have. tokio's
//! current-thread scheduler counts its iterations and, on every 31st, takes a task woken
//! from outside the runtime (a delivered message, a runner command) before one woken from
//! inside: which of two tasks runs first depends on that count modulo 31. An idle tick
//! costs two iterations (its first park does not move the clock, because the wake-up that
//! ended the previous tick marked the time driver woken; the second does); the jump costs
//! as many as make the count agree modulo 31 (see [`polls_for`]) and ends with the same
//! mark. Measured, not assumed: the count was traced per runtime and step in both paces
//! while this was written (a patched tokio, not kept), and the `determinism::` trials and
//! the generated property fail on any difference that reaches a trace. The host's
//! `LocalSet` counts its ticks too, but it only ever holds the host's software task (host
//! software spawns with `tokio::spawn`), so its count orders nothing.

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use super::net::Graves;
use crate::world::{HostFuture, HostResult};

/// One incarnation of a host's software: the software, then (when dropped) the sockets a
/// crash buried.
struct Incarnation {
    software: Option<HostFuture>,
    graves: Graves,
}

impl Future for Incarnation {
    type Output = HostResult;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<HostResult> {
        match self.software.as_mut() {
            Some(software) => software.as_mut().poll(cx),
            None => Poll::Pending,
        }
    }
}

impl Drop for Incarnation {
    fn drop(&mut self) {
        // The software (and the sockets it holds itself) first, then the buried ones.
        drop(self.software.take());
        self.graves.fill();
    }
}

/// tokio's current-thread scheduler looks at its remote queue first on every this many
/// iterations (`global_queue_interval`, which turmoil leaves at its default).
const SCHEDULER_PERIOD: u64 = 31;

/// Time jumped over so far, beyond the ticks turmoil counted.
#[derive(Clone, Default)]
pub(super) struct Jumped(Arc<AtomicU64>);

impl Jumped {
    pub fn get(&self) -> Duration {
        Duration::from_nanos(self.0.load(Ordering::SeqCst))
    }

    pub fn add(&self, d: Duration) {
        self.0.fetch_add(nanos(d), Ordering::SeqCst);
    }
}

/// One host's side of a jump: the runtime its software runs on (a new one after every
/// bounce), where the jump's task is spawned.
#[derive(Clone, Default)]
pub(super) struct Keeper(Arc<KeeperState>);

#[derive(Default)]
struct KeeperState {
    runtime: Mutex<Option<tokio::runtime::Handle>>,
    /// The last jump's task has moved the clock.
    moved: AtomicBool,
}

impl Keeper {
    /// Wraps one incarnation of the host's software, noting its runtime when it starts.
    /// Adds no task and no poll: the host's scheduler counts exactly what it did without.
    /// When a crash drops it (after every task of the host), it drops the sockets the
    /// crash buried, in the order they were opened (see [`Graves`]).
    pub fn wrap(&self, software: HostFuture, graves: Graves) -> HostFuture {
        *self.runtime() = None;
        let k = self.clone();
        Box::pin(Incarnation {
            software: Some(Box::pin(async move {
                *k.runtime() = Some(tokio::runtime::Handle::current());
                software.await
            })),
            graves,
        })
    }

    fn runtime(&self) -> std::sync::MutexGuard<'_, Option<tokio::runtime::Handle>> {
        self.0.runtime.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes the host's clock move `ticks` ticks of `tick` during the next step. `false`
    /// when the host's software has not started on a runtime yet.
    pub fn jump(&self, ticks: u64, tick: Duration) -> bool {
        let Some(rt) = self.runtime().clone() else {
            return false;
        };
        self.0.moved.store(false, Ordering::SeqCst);
        rt.spawn(JumpTask {
            polls_left: polls_for(ticks),
            by: tick * u32::try_from(ticks).unwrap_or(u32::MAX),
            state: self.0.clone(),
        });
        true
    }

    /// Has the last jump's task moved the clock?
    pub fn moved(&self) -> bool {
        self.0.moved.load(Ordering::SeqCst)
    }
}

/// How many times the jump's task is polled so that the step costs the scheduler what
/// `ticks` idle ticks would have (two iterations each), modulo [`SCHEDULER_PERIOD`]: one
/// iteration per poll (the last moves the clock), plus the step's last, empty one, whose
/// park fires the timers due. At least one poll.
fn polls_for(ticks: u64) -> u32 {
    let want = (2 * ticks + SCHEDULER_PERIOD - 2) % SCHEDULER_PERIOD + 1;
    u32::try_from(want).unwrap_or(1)
}

/// Spends its polls (waking itself, which queues it again at once), then moves the clock
/// and ends, leaving nothing to run.
struct JumpTask {
    polls_left: u32,
    by: Duration,
    state: Arc<KeeperState>,
}

impl Future for JumpTask {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.polls_left > 1 {
            self.polls_left -= 1;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        // `advance` moves the clock when first polled, then yields; it is polled once and
        // dropped so the task ends here (its yield wakes a no-op waker).
        let mut advance = pin!(tokio::time::advance(self.by));
        let _ = advance
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()));
        self.state.moved.store(true, Ordering::SeqCst);
        Poll::Ready(())
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// `d` rounded up to a whole number of `tick`s (tokio rounds timer deadlines up the same
/// way).
pub(super) fn ceil_to(d: Duration, tick: Duration) -> Duration {
    let t = tick.as_nanos();
    Duration::from_nanos(u64::try_from(d.as_nanos().div_ceil(t) * t).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_up_to_ticks() {
        let ms = Duration::from_millis;
        assert_eq!(ceil_to(ms(5), ms(1)), ms(5));
        assert_eq!(ceil_to(Duration::from_micros(5_001), ms(1)), ms(6));
        assert_eq!(ceil_to(Duration::ZERO, ms(1)), Duration::ZERO);
    }

    #[test]
    fn a_jump_costs_the_scheduler_what_its_ticks_would_modulo_its_period() {
        for ticks in 2..200u64 {
            let cost = u64::from(polls_for(ticks)) + 1;
            assert_eq!(
                cost % SCHEDULER_PERIOD,
                2 * ticks % SCHEDULER_PERIOD,
                "{ticks} ticks"
            );
            assert!((2..=SCHEDULER_PERIOD + 1).contains(&cost));
        }
    }

    #[test]
    fn a_jump_moves_the_runtime_s_clock_and_leaves_nothing_running() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        let k = Keeper::default();
        assert!(!k.jump(5, Duration::from_millis(1)), "no runtime known yet");
        let start = rt.block_on(k.wrap(
            Box::pin(async { Ok::<(), Box<dyn std::error::Error>>(()) }),
            Graves::default(),
        ));
        assert!(start.is_ok());
        let before = rt.block_on(async { tokio::time::Instant::now() });
        assert!(k.jump(7_000, Duration::from_millis(1)));
        assert!(!k.moved());
        let after = rt.block_on(async {
            tokio::task::yield_now().await;
            tokio::time::Instant::now()
        });
        assert!(k.moved());
        assert_eq!(after - before, Duration::from_secs(7));
        assert_eq!(rt.metrics().num_alive_tasks(), 0, "the jump's task ended");
    }
}
