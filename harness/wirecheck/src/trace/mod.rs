//! The trace: typed protocol events, in the order they happened, stamped by the world's
//! clock.
//!
//! Hosts append through a shared [`Trace`] handle; the runner appends script calls and
//! faults. The trace is what checkers judge and what `crate::render`
//! draws. Events carry types, never prose that another module would have to parse.

mod event;
mod facts;
pub mod index;
pub mod jsonrpc;

pub use event::{
    Call, CloseCause, Endpoint, Event, EventKind, FaultKind, Lifecycle, LinkEnd, Peer, ProxyAct,
    RegError, RelayLife,
};
pub use facts::RelayFacts;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The time since the start of the run, as the world keeps it (simulated or wall clock).
pub type Clock = Arc<dyn Fn() -> Duration + Send + Sync>;

/// A shared, append-only event log.
#[derive(Clone)]
pub struct Trace {
    events: Arc<Mutex<Vec<Event>>>,
    clock: Clock,
}

impl Trace {
    /// A trace whose host events are stamped by `clock`.
    pub fn new(clock: Clock) -> Self {
        Trace {
            events: Arc::default(),
            clock,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Event>> {
        self.events.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The world's current time.
    pub fn now(&self) -> Duration {
        (self.clock)()
    }

    /// Appends an event of `host` stamped with the world's current time.
    pub fn host_event(&self, host: &str, kind: EventKind) {
        let at = self.now();
        self.push(Event {
            at,
            host: host.to_owned(),
            kind,
        });
    }

    pub fn push(&self, event: Event) {
        self.lock().push(event);
    }

    pub fn events(&self) -> Vec<Event> {
        self.lock().clone()
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
