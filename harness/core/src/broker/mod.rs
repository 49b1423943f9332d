//! The broker's state machine: registry, per-channel shared queues and assignments.
//!
//! Sans-IO: a driver feeds it connection events and received texts, and carries out the
//! [`Action`]s it returns (send a message to a connection, close a connection). Every
//! decision of the reference broker is made here, so it can be tested, model-checked and
//! replayed without sockets.
//!
//! Invariants (checked by [`Broker::check_invariants`]):
//! - a request is assigned to at most one receiver, and that receiver is a live connection;
//! - a queued request has no receiver; a waiting receiver is a live registered connection;
//! - a client id maps to exactly one live connection, and that connection maps back;
//! - nothing of a closed connection remains (registry, waiting lists, requests).
//!
//! - every index agrees with the requests it points at: a connection's `sent`, `assigned`
//!   and `credits`, a channel's queue and waiting list, the parked counts and bytes.
//!
//! Cost: every event costs time in proportion to what it touches, never to other
//! clients' state. A disconnect walks only the closed connection's own requests and
//! credits; removing a queued request or a credit is a keyed removal (queues and waiting
//! lists are ordered maps keyed by arrival number, not vectors scanned with `retain`).
//!
//! Layout: this file holds the types and the event entry points; `registry` registration
//! and `$info`, `requests` the request and response paths and the dispatcher, `parked`
//! the limits on work waiting for a receiver, `check` the counters and invariants,
//! `shared` [`SharedBroker`], `throttle` the per-origin limit on failed registrations
//! (kept by the driver, which knows addresses and time).

use crate::flaws::{Flaw, Flaws};
use crate::wire::{code, Dir, Message};
use std::collections::{BTreeMap, BTreeSet};

mod check;
mod parked;
mod registry;
mod requests;
mod shared;
mod throttle;
pub use check::BrokerStats;
pub use parked::ParkLimits;
pub use registry::INFO_CHANNEL;
pub use shared::SharedBroker;
pub use throttle::AuthThrottle;

/// Identifies one accepted connection. Chosen by the driver, never reused.
pub type ConnId = u64;

/// What the driver must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Send(ConnId, Message),
    /// Close the connection (after flushing what was sent before), for this reason.
    Close(ConnId, String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerConfig {
    /// Largest accepted message text, in bytes (BRK-10).
    pub max_message: usize,
    /// When non-empty, `hello` must carry the token listed for its client id.
    pub tokens: BTreeMap<String, String>,
    /// Bounds on requests waiting for a receiver (answered `queue_full` beyond them).
    pub parked: ParkLimits,
    /// Zoo flaws to switch on (empty: the correct broker).
    pub flaws: Flaws,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            max_message: 64 * 1024,
            tokens: BTreeMap::new(),
            parked: ParkLimits::default(),
            flaws: Flaws::none(),
        }
    }
}

/// Arrival number of a queued request or a `receive` credit: orders a channel's queue
/// and waiting list, and lets either entry be removed by key.
type Seq = u64;

#[derive(Default)]
struct Conn {
    client: Option<String>,
    /// Requests in flight that this connection sent (queued or assigned).
    sent: BTreeSet<String>,
    /// Requests assigned to this connection as their receiver.
    assigned: BTreeSet<String>,
    /// This connection's waiting `receive` credits: channel and arrival number.
    credits: BTreeSet<(String, Seq)>,
    /// Its requests still waiting for a receiver.
    parked: parked::Load,
}

#[derive(Default)]
struct Channel {
    /// Requests waiting for a receiver, by arrival (oldest first).
    queue: BTreeMap<Seq, String>,
    /// Receivers waiting for a request, one entry per `receive`, by arrival.
    waiting: BTreeMap<Seq, ConnId>,
    /// Body and data bytes of the queued requests.
    parked_bytes: usize,
}

impl Channel {
    fn is_empty(&self) -> bool {
        self.queue.is_empty() && self.waiting.is_empty()
    }
}

struct Request {
    sender: ConnId,
    channel: String,
    receiver: Option<ConnId>,
    /// Zoo flaw `broadcast` only: receivers that get copies of the request's frames.
    also: Vec<ConnId>,
    /// Request frames received before assignment (the `start` first), forwarded on assignment.
    buffered: Vec<Message>,
    /// The sender has sent the request's last frame (`start` with `end`, or `end`).
    sender_done: bool,
    /// While queued: its key in the channel's queue.
    queued: Option<Seq>,
    /// While queued: body and data bytes of `buffered`.
    parked_bytes: usize,
}

/// The broker. Single-threaded; wrap it in [`SharedBroker`] to share it between tasks.
#[derive(Default)]
pub struct Broker {
    config: BrokerConfig,
    conns: BTreeMap<ConnId, Conn>,
    clients: BTreeMap<String, ConnId>,
    channels: BTreeMap<String, Channel>,
    requests: BTreeMap<String, Request>,
    /// Per sender: requests that ended (their receiver left, or answered with an error)
    /// while the sender was still uploading them. Their late frames are dropped quietly
    /// until their `end`: answering each with `not_assigned` would flood the sender's
    /// queue and cost an innocent sender its connection (BRK-9).
    ended_early: BTreeMap<ConnId, BTreeSet<String>>,
    rejected: u64,
    wakeups: u64,
    next_seq: Seq,
}

impl Broker {
    pub fn new(config: BrokerConfig) -> Self {
        Broker {
            config,
            ..Broker::default()
        }
    }

    /// A connection was accepted.
    pub fn on_connect(&mut self, conn: ConnId) {
        self.conns.insert(conn, Conn::default());
    }

    /// The connection is gone (closed, reset, timed out). Frees all its state (BRK-12) and
    /// tells the other side of each of its requests (BRK-6, BRK-7).
    pub fn on_disconnect(&mut self, conn: ConnId) -> Vec<Action> {
        let mut out = Vec::new();
        let Some(c) = self.conns.remove(&conn) else {
            return out;
        };
        self.ended_early.remove(&conn);
        if let Some(client) = &c.client {
            if self.clients.get(client) == Some(&conn) && !self.flaw(Flaw::StaleRegistry) {
                self.clients.remove(client);
            }
        }
        for (channel, seq) in &c.credits {
            self.drop_credit(channel, *seq);
        }
        // Only this connection's own requests, in id order.
        let ids: BTreeSet<&String> = c.sent.iter().chain(&c.assigned).collect();
        for id in ids {
            let Some(r) = self.requests.get(id) else {
                continue;
            };
            if r.sender == conn {
                if let Some(rx) = r.receiver {
                    out.push(Action::Send(rx, Message::Cancel { req: id.clone() }));
                }
                self.remove_request(id);
            } else if r.receiver == Some(conn) {
                let sender = r.sender;
                if !r.sender_done {
                    self.ended_early
                        .entry(sender)
                        .or_default()
                        .insert(id.clone());
                }
                if !self.flaw(Flaw::ReceiverLossSilent) {
                    out.push(Action::Send(
                        sender,
                        Message::error(
                            Some(id),
                            code::RECEIVER_GONE,
                            "the receiver of this request disconnected",
                        ),
                    ));
                }
                self.remove_request(id);
            }
        }
        out
    }

    /// The registration deadline of `conn` passed (the driver keeps the time, counted from
    /// the accept, whatever the peer sent meanwhile, pings included): a connection still
    /// without `welcome` is told so and closed. A registered one is left alone.
    pub fn on_register_deadline(&mut self, conn: ConnId) -> Vec<Action> {
        match self.conns.get(&conn) {
            Some(c) if c.client.is_none() => vec![
                Action::Send(
                    conn,
                    Message::error(
                        None,
                        code::NOT_REGISTERED,
                        "no `hello` accepted within the registration deadline: closing",
                    ),
                ),
                Action::Close(conn, "registration deadline passed".into()),
            ],
            _ => Vec::new(),
        }
    }

    /// A text message arrived on `conn`: size check, decode, then [`Broker::on_message`].
    pub fn on_text(&mut self, conn: ConnId, text: &str) -> Vec<Action> {
        if text.len() > self.config.max_message {
            return self.reject(
                conn,
                None,
                code::TOO_LARGE,
                format!(
                    "message of {} bytes exceeds the maximum of {} bytes",
                    text.len(),
                    self.config.max_message
                ),
            );
        }
        match Message::decode(text) {
            Ok(msg) => self.on_message(conn, msg),
            Err(e) => self.reject(conn, None, code::MALFORMED, e.to_string()),
        }
    }

    /// A binary WebSocket message arrived on `conn`: not part of the protocol.
    pub fn on_binary(&mut self, conn: ConnId, len: usize) -> Vec<Action> {
        self.reject(
            conn,
            None,
            code::MALFORMED,
            format!("binary message of {len} bytes: the protocol uses text messages"),
        )
    }

    /// A decoded message arrived on `conn`.
    pub fn on_message(&mut self, conn: ConnId, msg: Message) -> Vec<Action> {
        let Some(c) = self.conns.get(&conn) else {
            return Vec::new();
        };
        if c.client.is_none() {
            return match msg {
                Message::Hello { client, .. } if !valid_client_id(&client) => self.reject(
                    conn,
                    None,
                    code::MALFORMED,
                    "a client id is 1 to 256 characters, none of them a control character".into(),
                ),
                Message::Hello { client, token } => self.register(conn, client, token),
                // Never a client's message, registered or not.
                Message::Welcome { .. } => self.reject(
                    conn,
                    None,
                    code::MALFORMED,
                    "clients do not send `welcome`".into(),
                ),
                other => self.reject(
                    conn,
                    other.req().map(str::to_owned),
                    code::NOT_REGISTERED,
                    format!("`{}` before registration: send `hello` first", other.kind()),
                ),
            };
        }
        match msg {
            Message::Hello { .. } => self.reject(
                conn,
                None,
                code::ALREADY_REGISTERED,
                "this connection is already registered".into(),
            ),
            Message::Ping { nonce } => vec![Action::Send(conn, Message::Pong { nonce })],
            Message::Pong { .. } => Vec::new(),
            Message::Receive { channel } => {
                let seq = self.next_seq();
                self.channels
                    .entry(channel.clone())
                    .or_default()
                    .waiting
                    .insert(seq, conn);
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.credits.insert((channel.clone(), seq));
                }
                self.dispatch(&channel)
            }
            Message::Start {
                channel,
                dir: Dir::Request,
                ..
            } if channel.is_empty() => self.reject(
                conn,
                None,
                code::MALFORMED,
                "a request `start` needs a `channel`".into(),
            ),
            Message::Start {
                req,
                channel,
                dir: Dir::Request,
                body,
                end,
            } => self.start_request(conn, req, channel, body, end),
            m @ (Message::Chunk {
                dir: Dir::Request, ..
            }
            | Message::End {
                dir: Dir::Request, ..
            }) => self.request_frame(conn, m),
            m @ (Message::Start {
                dir: Dir::Response, ..
            }
            | Message::Chunk {
                dir: Dir::Response, ..
            }
            | Message::End {
                dir: Dir::Response, ..
            }
            | Message::Error { req: Some(_), .. }) => self.response_frame(conn, m),
            Message::Cancel { req } => self.cancel(conn, req),
            Message::Error { req: None, .. } => Vec::new(),
            Message::Welcome { .. } => self.reject(
                conn,
                None,
                code::MALFORMED,
                "clients do not send `welcome`".into(),
            ),
        }
    }

    fn reject(
        &mut self,
        conn: ConnId,
        req: Option<String>,
        code: &str,
        message: String,
    ) -> Vec<Action> {
        self.rejected += 1;
        vec![Action::Send(
            conn,
            Message::error(req.as_deref(), code, message),
        )]
    }
    fn flaw(&self, f: Flaw) -> bool {
        self.config.flaws.has(f)
    }

    fn next_seq(&mut self) -> Seq {
        self.next_seq += 1;
        self.next_seq
    }

    /// Removes one waiting credit from its channel (and the channel, once empty).
    fn drop_credit(&mut self, channel: &str, seq: Seq) {
        if let Some(ch) = self.channels.get_mut(channel) {
            ch.waiting.remove(&seq);
            if ch.is_empty() {
                self.channels.remove(channel);
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests;

/// A client id a broker accepts: 1 to 256 characters, no control characters (no NUL, no
/// newline), so ids print and compare as users expect.
pub fn valid_client_id(id: &str) -> bool {
    !id.is_empty() && id.chars().count() <= 256 && !id.chars().any(char::is_control)
}
