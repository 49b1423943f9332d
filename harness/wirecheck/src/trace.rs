//! The trace: protocol-level events at simulated time, in the order they happened.
//!
//! Hosts append through a shared [`Trace`] handle; the runner appends script calls and
//! faults. The trace is what checkers judge and what the snapshot diagram shows.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use wirecheck_core::wire::{summary, Message};
pub use wirecheck_reference::observe::Lifecycle;

#[derive(Clone, Debug, PartialEq)]
pub enum EventKind {
    /// `host` received a text message from `from`.
    Recv {
        from: String,
        /// The connection, when known: the connecting side's ephemeral port (the peer's port
        /// on a connection `host` accepted; a proxy's own port toward its target). Tells apart
        /// two connections between the same hosts (a zombie and its replacement).
        conn: Option<u16>,
        text: String,
        /// The decoded message, if the text is a valid protocol message.
        msg: Option<Message>,
    },
    /// The script started a call on `host`.
    Call {
        id: String,
        op: Op,
        what: String,
        /// For requests: the simulated time by which the call must have ended (its timeout).
        deadline: Option<Duration>,
    },
    /// A call on `host` ended.
    Result { id: String, outcome: String },
    /// A lifecycle event of `host` (connect attempt, registered, backoff, connection closed).
    Life(Lifecycle),
    /// Free-form detail from `host` (dropped frame, ignored message...).
    Note(String),
    /// A network or process fault; `host` is the first host involved, `other` the second.
    Fault { what: String, other: Option<String> },
    /// A proxy (`host`) acted on a message: `action` is `drop`, `duplicate`, `delay 20ms`,
    /// `hold`, `release`, `reorder`, `corrupt wrong_id`, `close`; `peer` is the host the
    /// message came from; `text` the message as received.
    Proxy {
        action: String,
        peer: String,
        text: String,
    },
}

/// What a script call asks of a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Connect,
    Request,
    Cancel,
    Disconnect,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Simulated time since the start of the run.
    pub at: Duration,
    pub host: String,
    pub kind: EventKind,
}

impl Event {
    /// One line describing the event, as the diagram prints it after the lanes.
    pub fn label(&self) -> String {
        match &self.kind {
            EventKind::Recv { msg: Some(m), .. } => summary(m),
            EventKind::Recv {
                text, msg: None, ..
            } => {
                let mut t: String = text.chars().take(32).collect();
                if t.len() < text.len() {
                    t.push('…');
                }
                format!("raw {t:?}")
            }
            EventKind::Call { id, what, .. } => format!("call {id}: {what}"),
            EventKind::Result { id, outcome } => format!("result {id}: {outcome}"),
            EventKind::Note(n) => n.clone(),
            EventKind::Life(l) => l.to_string(),
            EventKind::Fault { what, .. } => format!("FAULT {what}"),
            EventKind::Proxy { action, peer, text } => {
                let what = match Message::decode(text) {
                    Ok(m) => summary(&m),
                    Err(_) => format!("raw {:?}", text.chars().take(32).collect::<String>()),
                };
                format!("proxy {action}: {what} (from {peer})")
            }
        }
    }
}

/// A shared, append-only event log.
#[derive(Clone, Default)]
pub struct Trace {
    events: Arc<Mutex<Vec<Event>>>,
}

impl Trace {
    pub fn new() -> Self {
        Trace::default()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Event>> {
        self.events.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends an event stamped with the current simulated time of the running host.
    pub fn host_event(&self, host: &str, kind: EventKind) {
        let at = turmoil::sim_elapsed().unwrap_or_default();
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

/// `12ms`, `1.500s`: times as traces and messages print them.
pub fn fmt_time(d: Duration) -> String {
    wirecheck_reference::client::fmt_dur(d)
}
