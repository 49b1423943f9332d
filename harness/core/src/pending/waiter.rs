//! The caller's side of a pending entry: the one-shot [`Slot`] the remover fills (once,
//! under the map lock) and the [`Waiter`] that awaits it, expires it or cancels it.

use super::{CallError, Outcome, PendingMap, Removal};
use crate::sync::{lock, Arc, Condvar, Mutex};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// A one-shot slot: filled once, taken once.
pub(super) struct Slot {
    state: Mutex<SlotState>,
    cv: Condvar,
}

#[derive(Default)]
struct SlotState {
    value: Option<Outcome>,
    filled: bool,
    waker: Option<Waker>,
}

impl Slot {
    pub(super) fn new() -> Self {
        Slot {
            state: Mutex::new(SlotState::default()),
            cv: Condvar::new(),
        }
    }

    pub(super) fn fill(&self, outcome: Outcome) {
        let waker = {
            let mut st = lock(&self.state);
            assert!(!st.filled, "pending slot filled twice (MUX-3)");
            st.filled = true;
            st.value = Some(outcome);
            st.waker.take()
        };
        self.cv.notify_all();
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// The caller's side of a pending entry. Await it, or call [`Waiter::wait`] to block.
///
/// Dropping a waiter whose entry is still pending removes the entry as cancelled.
pub struct Waiter {
    pub(super) id: String,
    pub(super) slot: Arc<Slot>,
    pub(super) map: PendingMap,
    pub(super) done: bool,
}

impl Waiter {
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Gives up waiting because the deadline passed: removes the entry as timed out.
    /// If the answer won the race, returns it instead.
    pub fn expire(mut self) -> Outcome {
        if !self.done {
            self.map
                .remove_entry(&self.id, Removal::TimedOut, &self.slot);
        }
        self.done = true;
        // Either the answer won the race, or removal filled the slot with `Timeout`.
        self.take_now().unwrap_or(Err(CallError::Timeout))
    }

    /// Blocks the thread until the entry completes.
    pub fn wait(mut self) -> Outcome {
        let mut st = lock(&self.slot.state);
        loop {
            if let Some(v) = st.value.take() {
                self.done = true;
                return v;
            }
            st = match self.slot.cv.wait(st) {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
        }
    }

    /// The outcome, if the entry has completed.
    pub fn try_take(&mut self) -> Option<Outcome> {
        let v = self.take_now();
        if v.is_some() {
            self.done = true;
        }
        v
    }

    fn take_now(&self) -> Option<Outcome> {
        lock(&self.slot.state).value.take()
    }
}

impl Future for Waiter {
    type Output = Outcome;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome> {
        let mut st = lock(&self.slot.state);
        if let Some(v) = st.value.take() {
            drop(st);
            self.done = true;
            return Poll::Ready(v);
        }
        st.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        if !self.done {
            self.map
                .remove_entry(&self.id, Removal::Cancelled, &self.slot);
        }
    }
}

impl fmt::Debug for Waiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waiter").field("id", &self.id).finish()
    }
}
