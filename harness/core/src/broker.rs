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

use crate::flaws::{Flaw, Flaws};
use crate::sync::{lock, Arc, Mutex};
use crate::wire::{code, Dir, Message};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

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
    /// Zoo flaws to switch on (empty: the correct broker).
    pub flaws: Flaws,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            max_message: 64 * 1024,
            tokens: BTreeMap::new(),
            flaws: Flaws::none(),
        }
    }
}

/// Counters and sizes, for scenario expectations and leak checks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BrokerStats {
    pub connections: u64,
    pub clients: u64,
    pub requests: u64,
    pub queued: u64,
    pub waiting: u64,
    pub assignments: u64,
    /// Messages answered with an error and not acted on.
    pub rejected: u64,
    /// Times the dispatcher looked for work (on events; polling adds idle wake-ups).
    pub wakeups: u64,
}

#[derive(Default)]
struct Conn {
    client: Option<String>,
}

#[derive(Default)]
struct Channel {
    /// Requests waiting for a receiver, oldest first.
    queue: VecDeque<String>,
    /// Receivers waiting for a request, one entry per `receive`, oldest first.
    waiting: VecDeque<ConnId>,
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
}

/// The broker-answered channel (BRK-13): body is a client id, answer is what the broker
/// knows about that client.
pub const INFO_CHANNEL: &str = "$info";

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
        if let Some(client) = c.client {
            if self.clients.get(&client) == Some(&conn) && !self.flaw(Flaw::StaleRegistry) {
                self.clients.remove(&client);
            }
        }
        for ch in self.channels.values_mut() {
            ch.waiting.retain(|&w| w != conn);
        }
        let ids: Vec<String> = self.requests.keys().cloned().collect();
        for id in ids {
            let Some(r) = self.requests.get(&id) else {
                continue;
            };
            if r.sender == conn {
                if let Some(rx) = r.receiver {
                    out.push(Action::Send(rx, Message::Cancel { req: id.clone() }));
                }
                self.remove_request(&id);
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
                            Some(&id),
                            code::RECEIVER_GONE,
                            "the receiver of this request disconnected",
                        ),
                    ));
                }
                self.remove_request(&id);
            }
        }
        self.channels
            .retain(|_, ch| !ch.queue.is_empty() || !ch.waiting.is_empty());
        out
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
                Message::Hello { client, token } => self.register(conn, client, token),
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
                self.channels
                    .entry(channel.clone())
                    .or_default()
                    .waiting
                    .push_back(conn);
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

    fn register(&mut self, conn: ConnId, client: String, token: Option<String>) -> Vec<Action> {
        let refuse = |code: &str, message: String| {
            vec![
                Action::Send(conn, Message::error(None, code, message)),
                Action::Close(conn, format!("registration refused: {code}")),
            ]
        };
        // With a token table, only listed clients with their exact token get in.
        let authorized = match self.config.tokens.get(&client) {
            _ if self.config.tokens.is_empty() => true,
            Some(want) => token.as_deref() == Some(want.as_str()),
            None => false,
        };
        if !authorized {
            self.rejected += 1;
            return refuse(
                code::UNAUTHORIZED,
                format!("no valid token for client `{client}`"),
            );
        }
        if self.clients.contains_key(&client) && !self.flaw(Flaw::TakeoverAllowed) {
            self.rejected += 1;
            return refuse(
                code::CLIENT_ID_TAKEN,
                format!("client id `{client}` is connected on another connection"),
            );
        }
        self.clients.insert(client.clone(), conn);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.client = Some(client.clone());
        }
        vec![Action::Send(conn, Message::Welcome { client })]
    }

    fn start_request(
        &mut self,
        conn: ConnId,
        req: String,
        channel: String,
        body: String,
        end: bool,
    ) -> Vec<Action> {
        if self.requests.contains_key(&req) {
            return self.reject(
                conn,
                Some(req.clone()),
                code::DUPLICATE_REQUEST,
                format!("request id `{req}` is already in flight"),
            );
        }
        if channel.starts_with('$') {
            return self.broker_request(conn, req, channel, body);
        }
        self.forget_ended(conn, &req);
        let start = Message::Start {
            req: req.clone(),
            channel: channel.clone(),
            dir: Dir::Request,
            body,
            end,
        };
        self.requests.insert(
            req.clone(),
            Request {
                sender: conn,
                channel: channel.clone(),
                receiver: None,
                also: Vec::new(),
                buffered: vec![start],
                sender_done: end,
            },
        );
        self.channels
            .entry(channel.clone())
            .or_default()
            .queue
            .push_back(req);
        self.dispatch(&channel)
    }

    /// Requests on `$` channels are answered by the broker itself, through the ordinary
    /// response path (BRK-13).
    fn broker_request(
        &mut self,
        conn: ConnId,
        req: String,
        channel: String,
        body: String,
    ) -> Vec<Action> {
        if channel != INFO_CHANNEL {
            return self.reject(
                conn,
                Some(req),
                code::UNKNOWN_CHANNEL,
                format!("`{channel}` is not a broker channel (only `{INFO_CHANNEL}` is)"),
            );
        }
        let Some(&target) = self.clients.get(&body) else {
            return self.reject(
                conn,
                Some(req),
                code::UNKNOWN_CLIENT,
                format!("no client `{body}` is connected"),
            );
        };
        let serving: Vec<&str> = self
            .channels
            .iter()
            .filter(|(_, ch)| ch.waiting.contains(&target))
            .map(|(name, _)| name.as_str())
            .collect();
        let sent = self
            .requests
            .values()
            .filter(|r| r.sender == target)
            .count();
        let assigned = self
            .requests
            .values()
            .filter(|r| r.receiver == Some(target))
            .count();
        let info = serde_json::json!({
            "client": body,
            "connected": true,
            "waiting_on": serving,
            "in_flight_sent": sent,
            "in_flight_assigned": assigned,
        });
        vec![Action::Send(
            conn,
            Message::Start {
                req,
                channel: String::new(),
                dir: Dir::Response,
                body: info.to_string(),
                end: true,
            },
        )]
    }

    /// Pairs queued requests with waiting receivers, oldest with oldest (BRK-1, BRK-2).
    /// Runs when a request or a receiver arrives: nothing polls.
    fn dispatch(&mut self, channel: &str) -> Vec<Action> {
        if self.flaw(Flaw::PollingReceivers) {
            return Vec::new(); // the zoo's polling loop calls `poll` instead
        }
        self.dispatch_now(channel)
    }

    fn dispatch_now(&mut self, channel: &str) -> Vec<Action> {
        self.wakeups += 1;
        let broadcast = self.flaw(Flaw::Broadcast);
        let mut out = Vec::new();
        let Some(ch) = self.channels.get_mut(channel) else {
            return out;
        };
        while !ch.queue.is_empty() && !ch.waiting.is_empty() {
            let (Some(req), Some(rx)) = (ch.queue.pop_front(), ch.waiting.pop_front()) else {
                break;
            };
            if let Some(r) = self.requests.get_mut(&req) {
                r.receiver = Some(rx);
                if broadcast {
                    // Zoo flaw: every other waiting receiver gets the frames too.
                    for other in ch.waiting.drain(..).filter(|&o| o != rx) {
                        out.extend(r.buffered.iter().cloned().map(|m| Action::Send(other, m)));
                        r.also.push(other);
                    }
                }
                out.extend(r.buffered.drain(..).map(|m| Action::Send(rx, m)));
            }
        }
        if ch.queue.is_empty() && ch.waiting.is_empty() {
            self.channels.remove(channel);
        }
        out
    }

    /// `chunk`/`end` of a request: forwarded to the assigned receiver only, in arrival order
    /// (BRK-3), or buffered until assignment.
    fn request_frame(&mut self, conn: ConnId, msg: Message) -> Vec<Action> {
        let req = msg.req().unwrap_or_default().to_owned();
        let last = matches!(msg, Message::End { .. });
        if !self.requests.contains_key(&req)
            && self
                .ended_early
                .get(&conn)
                .is_some_and(|e| e.contains(&req))
        {
            // A late frame of a request that already ended: the sender was told once.
            if last {
                self.forget_ended(conn, &req);
            }
            return Vec::new();
        }
        match self.requests.get_mut(&req) {
            Some(r) if r.sender == conn => {
                r.sender_done |= last;
                match r.receiver {
                    Some(rx) => {
                        let mut out: Vec<Action> = r
                            .also
                            .iter()
                            .map(|&o| Action::Send(o, msg.clone()))
                            .collect();
                        out.push(Action::Send(rx, msg));
                        out
                    }
                    None => {
                        r.buffered.push(msg);
                        Vec::new()
                    }
                }
            }
            _ => self.reject(
                conn,
                Some(req.clone()),
                code::NOT_ASSIGNED,
                format!("request `{req}` is not in flight from this connection"),
            ),
        }
    }

    /// A response frame (or a request-scoped `error`) from a receiver: accepted only from the
    /// assigned receiver (BRK-8), routed only to the original sender (BRK-4); the end of
    /// the response removes the assignment (BRK-5).
    fn response_frame(&mut self, conn: ConnId, msg: Message) -> Vec<Action> {
        let req = msg.req().unwrap_or_default().to_owned();
        let spoof_ok = self.flaw(Flaw::AcceptSpoofed);
        let sender = match self.requests.get(&req) {
            Some(r) if r.receiver == Some(conn) || spoof_ok => r.sender,
            _ => {
                return self.reject(
                    conn,
                    Some(req.clone()),
                    code::NOT_ASSIGNED,
                    format!("request `{req}` is not assigned to this connection"),
                )
            }
        };
        let ends = matches!(
            msg,
            Message::Start { end: true, .. } | Message::End { .. } | Message::Error { .. }
        );
        if ends && !self.flaw(Flaw::NoUnassign) {
            if self.requests.get(&req).is_some_and(|r| !r.sender_done) {
                self.ended_early
                    .entry(sender)
                    .or_default()
                    .insert(req.clone());
            }
            self.remove_request(&req);
        }
        vec![Action::Send(sender, msg)]
    }

    fn cancel(&mut self, conn: ConnId, req: String) -> Vec<Action> {
        match self.requests.get(&req) {
            Some(r) if r.sender == conn => {
                let rx = r.receiver;
                self.remove_request(&req);
                rx.map(|rx| vec![Action::Send(rx, Message::Cancel { req })])
                    .unwrap_or_default()
            }
            // Cancelling something already finished is harmless: the race is normal.
            None => Vec::new(),
            Some(_) => self.reject(
                conn,
                Some(req.clone()),
                code::NOT_ASSIGNED,
                format!("request `{req}` was not sent by this connection"),
            ),
        }
    }

    fn remove_request(&mut self, req: &str) {
        if let Some(r) = self.requests.remove(req) {
            if r.receiver.is_none() {
                if let Some(ch) = self.channels.get_mut(&r.channel) {
                    ch.queue.retain(|q| q != req);
                    if ch.queue.is_empty() && ch.waiting.is_empty() {
                        self.channels.remove(&r.channel);
                    }
                }
            }
        }
    }

    /// `req` from `conn` is no longer a request that ended early (its `end` came, or the id
    /// starts a new request).
    fn forget_ended(&mut self, conn: ConnId, req: &str) {
        if let Some(e) = self.ended_early.get_mut(&conn) {
            e.remove(req);
            if e.is_empty() {
                self.ended_early.remove(&conn);
            }
        }
    }

    fn flaw(&self, f: Flaw) -> bool {
        self.config.flaws.has(f)
    }

    /// Zoo flaw `polling-receivers`: what a polling loop does on each tick.
    pub fn poll(&mut self) -> Vec<Action> {
        self.wakeups += 1;
        let channels: Vec<String> = self.channels.keys().cloned().collect();
        channels.iter().flat_map(|c| self.dispatch_now(c)).collect()
    }

    /// The client id registered on `conn`, if any.
    pub fn client_of(&self, conn: ConnId) -> Option<&str> {
        self.conns.get(&conn)?.client.as_deref()
    }

    /// The receiver a request is assigned to, if any.
    pub fn assignee(&self, req: &str) -> Option<ConnId> {
        self.requests.get(req)?.receiver
    }

    /// Ids of the requests in flight (queued or assigned), in order.
    pub fn request_ids(&self) -> Vec<String> {
        self.requests.keys().cloned().collect()
    }

    pub fn stats(&self) -> BrokerStats {
        BrokerStats {
            connections: self.conns.len() as u64,
            clients: self.clients.len() as u64,
            requests: self.requests.len() as u64,
            queued: self.channels.values().map(|c| c.queue.len() as u64).sum(),
            waiting: self.channels.values().map(|c| c.waiting.len() as u64).sum(),
            assignments: self
                .requests
                .values()
                .filter(|r| r.receiver.is_some())
                .count() as u64,
            rejected: self.rejected,
            wakeups: self.wakeups,
        }
    }

    /// Checks the structural invariants listed in the module docs.
    pub fn check_invariants(&self) -> Result<(), String> {
        for (client, conn) in &self.clients {
            match self.conns.get(conn) {
                Some(c) if c.client.as_deref() == Some(client.as_str()) => {}
                _ => {
                    return Err(format!(
                        "client `{client}` maps to dead or foreign conn {conn}"
                    ))
                }
            }
        }
        for (id, r) in &self.requests {
            if !self.conns.contains_key(&r.sender) {
                return Err(format!("request `{id}` has dead sender {}", r.sender));
            }
            let queued = self
                .channels
                .get(&r.channel)
                .is_some_and(|ch| ch.queue.contains(id));
            match r.receiver {
                Some(rx) if !self.conns.contains_key(&rx) => {
                    return Err(format!("request `{id}` assigned to dead conn {rx}"))
                }
                Some(_) if queued => return Err(format!("request `{id}` assigned and queued")),
                None if !queued => {
                    return Err(format!("request `{id}` neither assigned nor queued"))
                }
                _ => {}
            }
        }
        for conn in self.ended_early.keys() {
            if !self.conns.contains_key(conn) {
                return Err(format!(
                    "requests that ended early kept for dead conn {conn}"
                ));
            }
        }
        for (name, ch) in &self.channels {
            for q in &ch.queue {
                if !self.requests.contains_key(q) {
                    return Err(format!("channel `{name}` queues unknown request `{q}`"));
                }
            }
            for w in &ch.waiting {
                if self.conns.get(w).is_none_or(|c| c.client.is_none()) {
                    return Err(format!("channel `{name}` has dead waiting receiver {w}"));
                }
            }
            if !ch.queue.is_empty() && !ch.waiting.is_empty() {
                return Err(format!(
                    "channel `{name}` has both queued requests and waiting receivers"
                ));
            }
        }
        Ok(())
    }
}

/// A [`Broker`] shared between connection tasks (or loom threads).
#[derive(Clone)]
pub struct SharedBroker {
    inner: Arc<Mutex<Broker>>,
}

impl SharedBroker {
    pub fn new(config: BrokerConfig) -> Self {
        SharedBroker {
            inner: Arc::new(Mutex::new(Broker::new(config))),
        }
    }

    /// Runs `f` with the broker locked. Keep `f` short and free of I/O.
    pub fn with<R>(&self, f: impl FnOnce(&mut Broker) -> R) -> R {
        f(&mut lock(&self.inner))
    }

    // ---- planted races: test-only variants with known bugs (see tests/loom_*.rs) ----

    /// KNOWN BUG, for the loom tests only: the response path of [`Broker::on_message`] with
    /// its assignment check and its routing/unassignment in two critical sections. Between
    /// them the receiver can be unregistered (the sender already got `receiver_gone`) or a
    /// second response can end the request, and this one is still routed: the sender gets
    /// a frame from a receiver that is no longer assigned, and a second end (BRK-4, BRK-8).
    #[doc(hidden)]
    #[cfg(any(test, loom))]
    pub fn route_response_racy(&self, conn: ConnId, msg: Message) -> Vec<Action> {
        let req = msg.req().unwrap_or_default().to_owned();
        let sender = {
            let mut b = lock(&self.inner);
            match b.requests.get(&req) {
                Some(r) if r.receiver == Some(conn) => r.sender,
                _ => {
                    return b.reject(
                        conn,
                        Some(req.clone()),
                        code::NOT_ASSIGNED,
                        format!("request `{req}` is not assigned to this connection"),
                    );
                }
            }
        };
        // The bug: the assignment can change here.
        let ends = matches!(
            msg,
            Message::Start { end: true, .. } | Message::End { .. } | Message::Error { .. }
        );
        if ends {
            lock(&self.inner).remove_request(&req);
        }
        vec![Action::Send(sender, msg)]
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn text(m: &Message) -> String {
        m.encode()
    }

    fn hello(b: &mut Broker, conn: ConnId, id: &str) {
        b.on_connect(conn);
        let out = b.on_message(
            conn,
            Message::Hello {
                client: id.into(),
                token: None,
            },
        );
        assert_eq!(
            out,
            vec![Action::Send(conn, Message::Welcome { client: id.into() })]
        );
    }

    fn start(req: &str, end: bool) -> Message {
        Message::Start {
            req: req.into(),
            channel: "jobs".into(),
            dir: Dir::Request,
            body: "b".into(),
            end,
        }
    }

    #[test]
    fn nothing_before_hello_and_no_takeover() {
        let mut b = Broker::default();
        b.on_connect(1);
        let out = b.on_message(
            1,
            Message::Receive {
                channel: "x".into(),
            },
        );
        assert!(
            matches!(&out[..], [Action::Send(1, Message::Error { code, .. })] if code == code::NOT_REGISTERED)
        );
        hello(&mut b, 2, "app");
        b.on_connect(3);
        let out = b.on_message(
            3,
            Message::Hello {
                client: "app".into(),
                token: None,
            },
        );
        assert!(matches!(&out[1], Action::Close(3, _)));
        assert_eq!(b.client_of(2), Some("app"));
        b.check_invariants().unwrap();
    }

    #[test]
    fn one_receiver_per_request_frames_in_order_then_unassigned() {
        let mut b = Broker::default();
        hello(&mut b, 1, "sender");
        hello(&mut b, 2, "rx1");
        hello(&mut b, 3, "rx2");
        assert!(b
            .on_message(
                2,
                Message::Receive {
                    channel: "jobs".into()
                }
            )
            .is_empty());
        assert!(b
            .on_message(
                3,
                Message::Receive {
                    channel: "jobs".into()
                }
            )
            .is_empty());
        let out = b.on_text(1, &text(&start("r1", false)));
        assert_eq!(out.len(), 1);
        assert!(matches!(out[0], Action::Send(2, _)));
        let chunk = Message::Chunk {
            req: "r1".into(),
            dir: Dir::Request,
            seq: 0,
            data: "x".into(),
        };
        assert_eq!(b.on_message(1, chunk.clone()), vec![Action::Send(2, chunk)]);
        // rx2 tries to answer r1: rejected, not routed.
        let spoof = Message::Start {
            req: "r1".into(),
            channel: String::new(),
            dir: Dir::Response,
            body: "evil".into(),
            end: true,
        };
        let out = b.on_message(3, spoof.clone());
        assert!(
            matches!(&out[..], [Action::Send(3, Message::Error { code, .. })] if code == code::NOT_ASSIGNED)
        );
        let out = b.on_message(2, spoof.clone());
        assert_eq!(out, vec![Action::Send(1, spoof)]);
        assert_eq!(b.stats().requests, 0);
        assert_eq!(b.stats().waiting, 1);
        b.check_invariants().unwrap();
    }

    #[test]
    fn receiver_loss_and_sender_loss() {
        let mut b = Broker::default();
        hello(&mut b, 1, "s");
        hello(&mut b, 2, "r");
        b.on_message(
            2,
            Message::Receive {
                channel: "jobs".into(),
            },
        );
        b.on_message(1, start("r1", true));
        let out = b.on_disconnect(2);
        assert!(
            matches!(&out[..], [Action::Send(1, Message::Error { code, .. })] if code == code::RECEIVER_GONE)
        );
        hello(&mut b, 3, "r");
        b.on_message(
            3,
            Message::Receive {
                channel: "jobs".into(),
            },
        );
        b.on_message(1, start("r2", false));
        let out = b.on_disconnect(1);
        assert_eq!(
            out,
            vec![Action::Send(3, Message::Cancel { req: "r2".into() })]
        );
        let s = b.stats();
        assert_eq!((s.requests, s.connections, s.clients), (0, 1, 1));
        b.check_invariants().unwrap();
    }

    #[test]
    fn queued_until_receive_and_malformed_rejected() {
        let mut b = Broker::new(BrokerConfig {
            max_message: 64,
            ..BrokerConfig::default()
        });
        hello(&mut b, 1, "s");
        hello(&mut b, 2, "r");
        assert!(b.on_message(1, start("r1", false)).is_empty());
        assert!(b
            .on_message(
                1,
                Message::End {
                    req: "r1".into(),
                    dir: Dir::Request
                }
            )
            .is_empty());
        assert_eq!(b.stats().queued, 1);
        let out = b.on_message(
            2,
            Message::Receive {
                channel: "jobs".into(),
            },
        );
        assert_eq!(out.len(), 2, "start and buffered end delivered together");
        let out = b.on_text(1, "{nope");
        assert!(
            matches!(&out[..], [Action::Send(1, Message::Error { code, .. })] if code == code::MALFORMED)
        );
        let out = b.on_text(1, &"x".repeat(65));
        assert!(
            matches!(&out[..], [Action::Send(1, Message::Error { code, .. })] if code == code::TOO_LARGE)
        );
        assert_eq!(b.stats().rejected, 2);
        b.check_invariants().unwrap();
    }

    #[test]
    fn info_answers_through_response_path() {
        let mut b = Broker::default();
        hello(&mut b, 1, "s");
        let m = Message::Start {
            req: "i1".into(),
            channel: INFO_CHANNEL.into(),
            dir: Dir::Request,
            body: "s".into(),
            end: true,
        };
        let out = b.on_message(1, m);
        assert!(
            matches!(&out[..], [Action::Send(1, Message::Start { dir: Dir::Response, end: true, body, .. })] if body.contains("\"client\":\"s\""))
        );
        let m = Message::Start {
            req: "i2".into(),
            channel: INFO_CHANNEL.into(),
            dir: Dir::Request,
            body: "ghost".into(),
            end: true,
        };
        let out = b.on_message(1, m);
        assert!(
            matches!(&out[..], [Action::Send(1, Message::Error { code, .. })] if code == code::UNKNOWN_CLIENT)
        );
    }
}
