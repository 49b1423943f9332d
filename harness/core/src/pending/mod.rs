//! The multiplexer's pending map: request id → one-shot completion slot.
//!
//! The single reader completes entries ([`PendingMap::on_start`], [`on_chunk`](PendingMap::on_chunk),
//! [`on_end`](PendingMap::on_end), [`complete`](PendingMap::complete)); callers hold a
//! [`Waiter`] (a future, or a blocking [`Waiter::wait`]). Invariants (MUX-2..MUX-6):
//!
//! - an entry is completed at most once: only the party that removes it from the map fills
//!   its slot, and it fills the slot before releasing the map lock, so whoever finds the
//!   entry gone also finds its slot filled (a timeout never loses an answer in flight);
//! - every exit path removes the entry: completion, [`Waiter::expire`] (timeout), dropping
//!   the waiter (cancellation) and [`PendingMap::fail_all`] (disconnect);
//! - frames for ids that are not pending are dropped and counted as duplicate (id completed
//!   before), late (id timed out or was cancelled) or unknown.
//!
//! Layout: this file holds the map and its public types; `error` [`CallError`], `state`
//! what the map lock guards (entries, retired ids, counters), `waiter` the one-shot slot
//! and the caller's [`Waiter`].

use crate::flaws::{Flaw, Flaws};
use crate::sync::{lock, Arc, Mutex};
use state::{Entry, Inner, Partial, Retired};
use waiter::Slot;

mod error;
mod state;
mod waiter;
pub use error::CallError;
pub use state::Stats;
pub use waiter::Waiter;

/// What a call ends with.
pub type Outcome = Result<String, CallError>;

/// What happened to a frame fed to the map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// The entry completed (successfully or with an error) and was removed.
    Completed,
    /// The frame was accepted into a streaming response; the entry stays pending.
    Progress,
    /// Dropped: the id completed earlier.
    Duplicate,
    /// Dropped: the id timed out or was cancelled earlier.
    Late,
    /// Dropped: the id was never pending (or is too old to remember).
    Unknown,
}

/// Why an entry was removed without an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Removal {
    TimedOut,
    Cancelled,
}
/// Called when an entry is removed by timeout or cancellation, so the driver can tell
/// the broker (`cancel`). Runs outside the map lock.
pub type RemovalHook = Box<dyn Fn(&str, Removal) + Send + Sync>;
struct Shared {
    inner: Mutex<Inner>,
    hook: Option<RemovalHook>,
    flaws: Flaws,
}

/// The pending map. Cloning gives another handle to the same map.
#[derive(Clone)]
pub struct PendingMap {
    shared: Arc<Shared>,
}

impl Default for PendingMap {
    fn default() -> Self {
        PendingMap::new()
    }
}

impl PendingMap {
    pub fn new() -> Self {
        PendingMap::build(None)
    }

    /// A map that calls `hook` whenever an entry is removed by timeout or cancellation.
    pub fn with_removal_hook(hook: RemovalHook) -> Self {
        PendingMap::build(Some(hook))
    }

    fn build(hook: Option<RemovalHook>) -> Self {
        PendingMap::configured(hook, Flaws::none())
    }

    /// A map with an optional removal hook and zoo flaws (see [`crate::flaws`]).
    pub fn configured(hook: Option<RemovalHook>, flaws: Flaws) -> Self {
        PendingMap {
            shared: Arc::new(Shared {
                inner: Mutex::new(Inner::default()),
                hook,
                flaws,
            }),
        }
    }

    /// Whether a completed entry stays armed (zoo flaw `duplicate-redelivered`).
    fn completion_leaks(&self) -> bool {
        self.shared.flaws.has(Flaw::DuplicateRedelivered)
    }

    /// Registers `id` and returns the handle its caller waits on.
    pub fn insert(&self, id: &str) -> Result<Waiter, CallError> {
        let slot = Arc::new(Slot::new());
        {
            let mut inner = lock(&self.shared.inner);
            if inner.entries.contains_key(id) {
                return Err(CallError::DuplicateId);
            }
            inner.entries.insert(
                id.to_owned(),
                Entry {
                    slot: slot.clone(),
                    partial: None,
                },
            );
            inner.retired.remove(id);
        }
        Ok(Waiter {
            id: id.to_owned(),
            slot,
            map: self.clone(),
            done: false,
        })
    }

    /// Completes `id` with `outcome` if it is pending; otherwise drops and counts it.
    pub fn complete(&self, id: &str, outcome: Outcome) -> Delivery {
        let leak = self.completion_leaks();
        let mut inner = lock(&self.shared.inner);
        match inner.take_or_leak(id, Retired::Completed, leak) {
            Some(slot) => slot.fill(outcome),
            None => return inner.stray(id),
        }
        Delivery::Completed
    }

    /// A response `start` frame. With `end` it completes the entry.
    pub fn on_start(&self, id: &str, body: &str, end: bool) -> Delivery {
        let mut inner = lock(&self.shared.inner);
        let streaming = match inner.entries.get(id) {
            None => return inner.stray(id),
            Some(e) => e.partial.is_some(),
        };
        if streaming {
            // A second start while the first stream is open: a duplicated frame.
            inner.stats.duplicates_dropped += 1;
            return Delivery::Duplicate;
        }
        if end {
            if let Some(slot) = inner.take_or_leak(id, Retired::Completed, self.completion_leaks())
            {
                slot.fill(Ok(body.to_owned()));
            }
            return Delivery::Completed;
        }
        if let Some(e) = inner.entries.get_mut(id) {
            e.partial = Some(Partial {
                body: body.to_owned(),
                next_seq: 0,
            });
        }
        Delivery::Progress
    }

    /// A response `chunk` frame: appended when in sequence; out of sequence fails the call.
    pub fn on_chunk(&self, id: &str, seq: u64, data: &str) -> Delivery {
        let mut inner = lock(&self.shared.inner);
        let verdict = match inner.entries.get_mut(id) {
            None => return inner.stray(id),
            Some(Entry {
                partial: Some(p), ..
            }) if p.next_seq == seq => {
                p.body.push_str(data);
                p.next_seq += 1;
                return Delivery::Progress;
            }
            Some(Entry {
                partial: Some(p), ..
            }) => format!("chunk #{seq} arrived where #{} was expected", p.next_seq),
            Some(Entry { partial: None, .. }) => format!("chunk #{seq} arrived before start"),
        };
        // A protocol failure ends the call as failed: later frames of it count as late.
        if let Some(slot) = inner.take(id, Retired::Failed) {
            slot.fill(Err(CallError::Protocol(verdict)));
        }
        Delivery::Completed
    }

    /// A response `end` frame: completes a streaming entry with the assembled body.
    pub fn on_end(&self, id: &str) -> Delivery {
        let mut inner = lock(&self.shared.inner);
        let outcome = match inner.entries.get_mut(id) {
            None => return inner.stray(id),
            Some(e) => match e.partial.take() {
                Some(p) => Ok(p.body),
                None => Err(CallError::Protocol("end arrived before start".into())),
            },
        };
        let how = if outcome.is_ok() {
            Retired::Completed
        } else {
            Retired::Failed
        };
        let leak = how == Retired::Completed && self.completion_leaks();
        if let Some(slot) = inner.take_or_leak(id, how, leak) {
            slot.fill(outcome);
        }
        Delivery::Completed
    }

    /// Removes `id` without an answer (timeout or cancellation) if the entry is still
    /// `mine`'s (a stale waiter must not remove a newer entry that reuses its id).
    /// Returns whether it removed it.
    fn remove_entry(&self, id: &str, why: Removal, mine: &Arc<Slot>) -> bool {
        let leak = match why {
            Removal::TimedOut => self.shared.flaws.has(Flaw::LeakOnTimeout),
            Removal::Cancelled => self.shared.flaws.has(Flaw::LeakOnCancel),
        };
        {
            let mut inner = lock(&self.shared.inner);
            let same = inner
                .entries
                .get(id)
                .is_some_and(|e| Arc::ptr_eq(&e.slot, mine));
            if !same {
                return false;
            }
            let Some(slot) = inner.take_or_leak(id, Retired::Abandoned, leak) else {
                return false;
            };
            match why {
                Removal::TimedOut => inner.stats.timed_out += 1,
                Removal::Cancelled => inner.stats.cancelled += 1,
            }
            slot.fill(Err(match why {
                Removal::TimedOut => CallError::Timeout,
                Removal::Cancelled => CallError::Cancelled,
            }));
        }
        // The hook runs outside the lock: it may send, log, or touch the map again.
        if let Some(hook) = &self.shared.hook {
            hook(id, why);
        }
        true
    }

    /// Fails one pending entry with `err` (e.g. its request could not be sent).
    /// Returns whether it was pending.
    pub fn fail(&self, id: &str, err: CallError) -> bool {
        let mut inner = lock(&self.shared.inner);
        match inner.take(id, Retired::Failed) {
            Some(slot) => {
                slot.fill(Err(err));
                true
            }
            None => false,
        }
    }

    /// Fails every pending entry with `err` at once (disconnect). Returns how many.
    pub fn fail_all(&self, err: CallError) -> usize {
        let mut inner = lock(&self.shared.inner);
        let ids: Vec<String> = inner.entries.keys().cloned().collect();
        let mut n = 0;
        for id in ids {
            if let Some(slot) = inner.take(&id, Retired::Failed) {
                slot.fill(Err(err.clone()));
                n += 1;
            }
        }
        n
    }

    pub fn contains(&self, id: &str) -> bool {
        lock(&self.shared.inner).entries.contains_key(id)
    }

    pub fn len(&self) -> usize {
        lock(&self.shared.inner).entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Ids currently pending, in order.
    pub fn ids(&self) -> Vec<String> {
        lock(&self.shared.inner).entries.keys().cloned().collect()
    }

    pub fn stats(&self) -> Stats {
        let inner = lock(&self.shared.inner);
        Stats {
            pending: inner.entries.len() as u64,
            ..inner.stats
        }
    }

    // ---- planted races: test-only variants with known bugs (see tests/loom_*.rs) ----

    /// KNOWN BUG, for the loom tests only: [`PendingMap::complete`] with its check and its
    /// removal in two critical sections. It looks the entry up under the lock, releases the
    /// lock, re-locks to remove it and then fills the slot whether or not the removal found
    /// the entry, so two completers that both pass the check both fill the slot (MUX-3).
    #[doc(hidden)]
    #[cfg(any(test, loom))]
    pub fn complete_racy(&self, id: &str, outcome: Outcome) -> Delivery {
        let slot = {
            let mut inner = lock(&self.shared.inner);
            match inner.entries.get(id) {
                Some(e) => e.slot.clone(),
                None => return inner.stray(id),
            }
        };
        // The bug: another party can remove the entry and fill the slot here.
        let _ = lock(&self.shared.inner).take(id, Retired::Completed);
        slot.fill(outcome);
        Delivery::Completed
    }
}

#[cfg(all(test, not(loom)))]
mod tests;
