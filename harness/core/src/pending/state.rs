//! What the map lock guards: the entries (each with its slot and any streamed response
//! being assembled), the memory of retired ids that classifies stray frames as duplicate,
//! late or unknown, and the counters.

use super::waiter::Slot;
use super::Delivery;
use crate::sync::Arc;
use std::collections::{BTreeMap, VecDeque};

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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Retired {
    Completed,
    Abandoned,
    Failed,
}

/// How many retired ids are remembered to classify stray frames.
const RETIRED_CAP: usize = 4096;

pub(super) struct Partial {
    pub(super) body: String,
    pub(super) next_seq: u64,
}

pub(super) struct Entry {
    pub(super) slot: Arc<Slot>,
    pub(super) partial: Option<Partial>,
}

#[derive(Default)]
pub(super) struct Inner {
    pub(super) entries: BTreeMap<String, Entry>,
    pub(super) retired: BTreeMap<String, Retired>,
    pub(super) retired_order: VecDeque<String>,
    pub(super) stats: Stats,
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
    pub(super) fn stray(&mut self, id: &str) -> Delivery {
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
    pub(super) fn take(&mut self, id: &str, how: Retired) -> Option<Arc<Slot>> {
        self.take_or_leak(id, how, false)
    }

    /// Like [`Inner::take`]; with `leak` (a zoo flaw) the entry stays in the map, re-armed
    /// with a fresh slot nobody waits on.
    pub(super) fn take_or_leak(&mut self, id: &str, how: Retired, leak: bool) -> Option<Arc<Slot>> {
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
