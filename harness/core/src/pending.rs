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

use crate::flaws::{Flaw, Flaws};
use crate::sync::{lock, Arc, Condvar, Mutex};
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// How a call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallError {
    /// The peer answered `error` with this code.
    Remote {
        code: String,
        message: String,
    },
    Timeout,
    Disconnected,
    SendFailed(String),
    Cancelled,
    /// Registration got something other than `welcome` or `error`.
    UnexpectedReply(String),
    NotConnected,
    /// The peer broke the protocol for this request (e.g. chunk out of order).
    Protocol(String),
    /// An entry with this id is already pending.
    DuplicateId,
    /// Registration was refused by the broker (its code).
    Rejected {
        code: String,
        message: String,
    },
}

impl CallError {
    /// Stable name used in scenarios (`fails: timeout`) and traces.
    pub fn kind(&self) -> &'static str {
        match self {
            CallError::Remote { .. } => "error",
            CallError::Timeout => "timeout",
            CallError::Disconnected => "disconnected",
            CallError::SendFailed(_) => "send_failed",
            CallError::Cancelled => "cancelled",
            CallError::UnexpectedReply(_) => "unexpected_reply",
            CallError::NotConnected => "not_connected",
            CallError::Protocol(_) => "protocol",
            CallError::DuplicateId => "duplicate_id",
            CallError::Rejected { .. } => "rejected",
        }
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Remote { code, message } | CallError::Rejected { code, message } => {
                write!(f, "{} `{code}`", self.kind())?;
                if !message.is_empty() {
                    write!(f, ": {message}")?;
                }
                Ok(())
            }
            CallError::SendFailed(m) | CallError::UnexpectedReply(m) | CallError::Protocol(m) => {
                write!(f, "{}: {m}", self.kind())
            }
            other => f.write_str(other.kind()),
        }
    }
}

impl std::error::Error for CallError {}

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

/// Counters of the map.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub pending: u64,
    pub completed: u64,
    pub timed_out: u64,
    pub cancelled: u64,
    pub failed: u64,
    pub duplicates_dropped: u64,
    pub late_dropped: u64,
    pub unknown_dropped: u64,
}

/// Called when an entry is removed by timeout or cancellation, so the driver can tell
/// the broker (`cancel`). Runs outside the map lock.
pub type RemovalHook = Box<dyn Fn(&str, Removal) + Send + Sync>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Retired {
    Completed,
    Abandoned,
    Failed,
}

/// How many retired ids are remembered to classify stray frames.
const RETIRED_CAP: usize = 4096;

struct Partial {
    body: String,
    next_seq: u64,
}

struct Entry {
    slot: Arc<Slot>,
    partial: Option<Partial>,
}

#[derive(Default)]
struct Inner {
    entries: BTreeMap<String, Entry>,
    retired: BTreeMap<String, Retired>,
    retired_order: VecDeque<String>,
    stats: Stats,
}

impl Inner {
    fn retire(&mut self, id: &str, how: Retired) {
        if self.retired.insert(id.to_owned(), how).is_none() {
            self.retired_order.push_back(id.to_owned());
        }
        while self.retired_order.len() > RETIRED_CAP {
            if let Some(old) = self.retired_order.pop_front() {
                self.retired.remove(&old);
            }
        }
    }

    /// Counts a frame for an id that is not pending.
    fn stray(&mut self, id: &str) -> Delivery {
        match self.retired.get(id) {
            Some(Retired::Completed) => {
                self.stats.duplicates_dropped += 1;
                Delivery::Duplicate
            }
            Some(Retired::Abandoned) | Some(Retired::Failed) => {
                self.stats.late_dropped += 1;
                Delivery::Late
            }
            None => {
                self.stats.unknown_dropped += 1;
                Delivery::Unknown
            }
        }
    }

    /// Removes `id` and returns its slot for the caller to fill outside the lock.
    fn take(&mut self, id: &str, how: Retired) -> Option<Arc<Slot>> {
        self.take_or_leak(id, how, false)
    }

    /// Like [`Inner::take`]; with `leak` (a zoo flaw) the entry stays in the map, re-armed
    /// with a fresh slot nobody waits on.
    fn take_or_leak(&mut self, id: &str, how: Retired, leak: bool) -> Option<Arc<Slot>> {
        let slot = if leak {
            let entry = self.entries.get_mut(id)?;
            entry.partial = None;
            std::mem::replace(&mut entry.slot, Arc::new(Slot::new()))
        } else {
            let entry = self.entries.remove(id)?;
            self.retire(id, how);
            entry.slot
        };
        match how {
            Retired::Completed => self.stats.completed += 1,
            Retired::Failed => self.stats.failed += 1,
            Retired::Abandoned => {}
        }
        Some(slot)
    }
}

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

/// A one-shot slot: filled once, taken once.
struct Slot {
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
    fn new() -> Self {
        Slot {
            state: Mutex::new(SlotState::default()),
            cv: Condvar::new(),
        }
    }

    fn fill(&self, outcome: Outcome) {
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
    id: String,
    slot: Arc<Slot>,
    map: PendingMap,
    done: bool,
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

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn completes_once_and_counts_duplicates() {
        let map = PendingMap::new();
        let mut w = map.insert("r1").unwrap();
        assert_eq!(map.insert("r1").unwrap_err(), CallError::DuplicateId);
        assert_eq!(map.on_start("r1", "pong", true), Delivery::Completed);
        assert_eq!(map.on_start("r1", "pong", true), Delivery::Duplicate);
        assert_eq!(w.try_take(), Some(Ok("pong".into())));
        let s = map.stats();
        assert_eq!((s.pending, s.completed, s.duplicates_dropped), (0, 1, 1));
    }

    #[test]
    fn streaming_response_is_assembled_in_order() {
        let map = PendingMap::new();
        let w = map.insert("r1").unwrap();
        assert_eq!(map.on_start("r1", "a", false), Delivery::Progress);
        assert_eq!(map.on_chunk("r1", 0, "b"), Delivery::Progress);
        assert_eq!(map.on_chunk("r1", 1, "c"), Delivery::Progress);
        assert_eq!(map.on_end("r1"), Delivery::Completed);
        assert_eq!(w.wait(), Ok("abc".into()));
        assert_eq!(map.on_chunk("r1", 2, "d"), Delivery::Duplicate);
    }

    #[test]
    fn chunk_out_of_order_fails_the_call() {
        let map = PendingMap::new();
        let w = map.insert("r1").unwrap();
        map.on_start("r1", "", false);
        assert_eq!(map.on_chunk("r1", 1, "x"), Delivery::Completed);
        assert!(matches!(w.wait(), Err(CallError::Protocol(_))));
    }

    #[test]
    fn timeout_and_cancel_remove_and_classify_late_frames() {
        let removed = Arc::new(AtomicUsize::new(0));
        let r2 = removed.clone();
        let map = PendingMap::with_removal_hook(Box::new(move |_, _| {
            r2.fetch_add(1, Ordering::SeqCst);
        }));
        let w = map.insert("t").unwrap();
        assert_eq!(w.expire(), Err(CallError::Timeout));
        let w = map.insert("c").unwrap();
        drop(w);
        assert!(map.is_empty());
        assert_eq!(map.on_start("t", "late", true), Delivery::Late);
        assert_eq!(map.on_end("c"), Delivery::Late);
        assert_eq!(map.on_end("never"), Delivery::Unknown);
        let s = map.stats();
        assert_eq!(
            (s.timed_out, s.cancelled, s.late_dropped, s.unknown_dropped),
            (1, 1, 2, 1)
        );
        assert_eq!(removed.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn expire_returns_answer_that_won_the_race() {
        let map = PendingMap::new();
        let w = map.insert("r").unwrap();
        map.complete("r", Ok("x".into()));
        assert_eq!(w.expire(), Ok("x".into()));
        assert_eq!(map.stats().timed_out, 0);
    }

    #[test]
    fn fail_all_fails_everything_at_once() {
        let map = PendingMap::new();
        let a = map.insert("a").unwrap();
        let b = map.insert("b").unwrap();
        assert_eq!(map.fail_all(CallError::Disconnected), 2);
        assert_eq!(a.wait(), Err(CallError::Disconnected));
        assert_eq!(b.wait(), Err(CallError::Disconnected));
        assert!(map.is_empty());
        assert_eq!(map.stats().failed, 2);
    }
}
