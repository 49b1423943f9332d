//! The multiplexer's state machine: registration, dispatch of every received frame,
//! served channels and their credits, heartbeat nonces, request and answer framing.
//!
//! Sans-IO, in the style of [`crate::broker`]: a driver feeds it events (a connection was
//! opened, a text arrived, the registration deadline passed, the heartbeat is due, the
//! connection closed) and API calls (request, serve, respond, close), and carries out the
//! [`Action`]s it returns (send a frame, report a registration outcome, deliver an
//! incoming request, note something, stop reading a connection, close it). It reads no
//! clock and touches no socket: timers and writes belong to the driver.
//!
//! Requests wait in a [`PendingMap`] owned by the state machine; callers hold the
//! [`Waiter`](crate::pending::Waiter) it hands out. A removal by timeout or cancellation
//! fires the map's removal hook, which the driver routes to [`Mux::on_removed`] (the
//! `cancel` to the broker).
//! [`SharedMux`] wraps the machine in a mutex for the reader task and the API callers.
//! [`Supervisor`] makes the reconnect loop's decisions (failover order, rate limit,
//! backoff, giving up).
//!
//! Decisions made here (rules in PROTOCOL.md):
//! - registration (AUTH-1..3): `welcome` for our id succeeds; `error` without `req` is a
//!   refusal with the broker's code; anything else that is not ordinary traffic fails
//!   `unexpected_reply`; ordinary traffic during registration is dispatched as usual;
//!   the deadline fails `timeout`;
//! - responses go into the pending map by id; stray ones are dropped, counted and noted
//!   (MUX-2..4); the connection's loss fails every pending request (MUX-6);
//! - a request for a channel this client does not serve is answered `not_serving`; a
//!   served request is assembled and delivered once; its credit (`receive`) comes back
//!   when it is answered, cancelled or refused for a bad chunk (MUX-9).
//!
//! Layout: this file holds the types, the connection lifecycle, heartbeats and the
//! observables; `registration` the `hello` exchange and its outcome, `dispatch` every
//! received text, `serving` served channels (assembly, delivery, answers, credits),
//! `requests` outgoing calls, `shared` [`SharedMux`]; `frames` and `supervisor` as below.

use crate::flaws::{Flaw, Flaws};
use crate::pending::{CallError, Outcome, PendingMap, Stats};
use crate::wire::Message;
use std::collections::BTreeMap;
use std::time::Duration;

mod dispatch;
mod frames;
mod registration;
mod requests;
mod serving;
mod shared;
mod supervisor;
pub use frames::{answer_frames, fmt_dur, request_frames, Answer, Incoming, Request};
pub use requests::Begin;
pub use shared::SharedMux;
pub use supervisor::{Attempt, Supervisor};

/// Identifies one connection attempt. Chosen by the driver (increasing), never reused.
pub type ConnNo = u64;

/// What the driver must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Queue this message on connection `conn` (nobody waits for the write).
    Send(ConnNo, Message),
    /// The registration attempt on `conn` ended with this outcome.
    Registration(ConnNo, Outcome),
    /// Hand this assembled request to the server of its channel. If that is impossible
    /// (the server is gone), tell [`Mux::on_undeliverable`].
    Deliver(Incoming),
    /// Free-form detail for the trace (a dropped frame, an ignored message...).
    Note(String),
    /// The established connection was lost: `failed` pending requests failed.
    Disconnected { reason: String, failed: usize },
    /// Stop reading `conn` and end it, for this reason.
    Stop(ConnNo, String),
    /// Close connection `conn` (after flushing what was queued before).
    Close(ConnNo),
    /// Zoo flaw `second-reader`: this text goes to the side reader, not to dispatch.
    Stolen(String),
}

/// The multiplexer's identity and switches.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MuxConfig {
    pub client_id: String,
    pub token: Option<String>,
    /// Zoo flaws to switch on (empty: the correct multiplexer).
    pub flaws: Flaws,
}

/// Counters beyond the pending map's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MuxStats {
    pub pending: Stats,
    pub connect_attempts: u64,
    pub registrations: u64,
    /// Successful registrations after the first.
    pub reconnects: u64,
    pub disconnects: u64,
    /// Incoming requests answered.
    pub served: u64,
    /// Incoming requests cancelled by the broker before they were answered.
    pub served_cancelled: u64,
}
/// An incoming request being assembled from its frames.
#[derive(Clone, Debug)]
struct Assembly {
    channel: String,
    body: String,
    next_seq: u64,
}

/// The multiplexer. Single-threaded; wrap it in [`SharedMux`] to share it between tasks.
pub struct Mux {
    config: MuxConfig,
    /// Requests in flight, by request id.
    pending: PendingMap,
    /// The current connection (registering or registered).
    link: Option<ConnNo>,
    /// The connection whose `hello` awaits an answer.
    registering: Option<ConnNo>,
    /// Registered and activated: requests may be sent.
    active: bool,
    /// Served channels and their credits (concurrency).
    serving: BTreeMap<String, u32>,
    assembling: BTreeMap<String, Assembly>,
    /// Incoming requests delivered and not answered yet: req → (channel, conn).
    in_service: BTreeMap<String, (String, ConnNo)>,
    stats: MuxStats,
    closing: bool,
    /// Last heartbeat nonce sent on the current connection.
    nonce: u64,
    /// Zoo flaw `second-reader` only: a caller waits to grab the next frame.
    side_reader: bool,
}

impl Mux {
    /// A multiplexer whose requests wait in `pending` (give the map a removal hook that
    /// calls [`Mux::on_removed`], so timeouts and cancellations reach the broker).
    pub fn new(config: MuxConfig, pending: PendingMap) -> Self {
        Mux {
            config,
            pending,
            link: None,
            registering: None,
            active: false,
            serving: BTreeMap::new(),
            assembling: BTreeMap::new(),
            in_service: BTreeMap::new(),
            stats: MuxStats::default(),
            closing: false,
            nonce: 0,
            side_reader: false,
        }
    }

    pub fn config(&self) -> &MuxConfig {
        &self.config
    }

    fn flaw(&self, f: Flaw) -> bool {
        self.config.flaws.has(f)
    }

    // ---- connection lifecycle -------------------------------------------------------

    /// A connection attempt starts. Returns its number among all attempts (from 1).
    pub fn on_connecting(&mut self) -> u64 {
        self.stats.connect_attempts += 1;
        self.stats.connect_attempts
    }
    /// Connection `conn` ended. `why` is `Some` for an established (registered) one,
    /// `None` for an attempt that never registered. If it was the current connection, its
    /// served requests are forgotten and every pending request fails `disconnected`
    /// (MUX-6).
    pub fn on_closed(&mut self, conn: ConnNo, why: Option<&str>) -> Vec<Action> {
        if self.link != Some(conn) {
            return Vec::new();
        }
        self.link = None;
        self.active = false;
        if self.registering == Some(conn) {
            self.registering = None;
        }
        self.assembling.clear();
        self.in_service.clear();
        let failed = if self.flaw(Flaw::DisconnectLeavesPending) {
            0
        } else {
            self.pending.fail_all(CallError::Disconnected)
        };
        let Some(why) = why else {
            return Vec::new();
        };
        self.stats.disconnects += 1;
        let reason = if self.closing {
            "closed by the client".to_owned()
        } else {
            why.to_owned()
        };
        vec![Action::Disconnected { reason, failed }]
    }

    /// The client stops for good: every pending request fails `disconnected`.
    pub fn on_stopped(&mut self) -> usize {
        self.active = false;
        self.pending.fail_all(CallError::Disconnected)
    }

    /// The user closes the client: no more reconnects, the current connection closes.
    pub fn close(&mut self) -> Vec<Action> {
        self.closing = true;
        self.link.map(Action::Close).into_iter().collect()
    }

    pub fn is_closing(&self) -> bool {
        self.closing
    }

    // ---- heartbeats -----------------------------------------------------------------

    /// The ping interval of `conn` elapsed (the driver does not ask while registering).
    pub fn on_ping_due(&mut self, conn: ConnNo) -> Vec<Action> {
        if self.link != Some(conn) {
            return Vec::new();
        }
        self.nonce += 1;
        vec![Action::Send(conn, Message::Ping { nonce: self.nonce })]
    }

    /// Nothing was received on `conn` for `timeout`: it is dead (CONN-1).
    pub fn on_silence(&mut self, conn: ConnNo, timeout: Duration) -> Vec<Action> {
        vec![Action::Stop(
            conn,
            format!(
                "heartbeat timeout: nothing received for {}",
                fmt_dur(timeout)
            ),
        )]
    }
    // ---- observables ----------------------------------------------------------------

    pub fn stats(&self) -> MuxStats {
        MuxStats {
            pending: self.pending.stats(),
            ..self.stats
        }
    }

    /// Ids of requests still pending, in order.
    pub fn pending_ids(&self) -> Vec<String> {
        self.pending.ids()
    }

    /// The current connection, if any.
    pub fn link(&self) -> Option<ConnNo> {
        self.link
    }

    /// Whether requests may be sent now.
    pub fn is_active(&self) -> bool {
        self.active
    }

    /// Served requests delivered and not answered yet, by id.
    pub fn in_service(&self) -> Vec<String> {
        self.in_service.keys().cloned().collect()
    }

    /// Served requests whose frames are still arriving, by id.
    pub fn assembling(&self) -> Vec<String> {
        self.assembling.keys().cloned().collect()
    }
}

#[cfg(all(test, not(loom)))]
mod tests;
