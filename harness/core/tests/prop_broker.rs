//! State-machine property test of the sans-IO `Broker` (AUTH-4/5, BRK-1..BRK-13).
//!
//! Four connection slots (a slot gets a fresh `ConnId` on every connect, never reused),
//! client ids `a`, `b`, `c` (with tokens when the generated config requires them) and
//! `x` (never listed), request ids `r1`..`r3`, channels `jobs`, `logs`, `$info` and
//! `$nope`. Transitions: connect, disconnect, and messages from a slot (delivered as
//! decoded messages or as wire text): `hello` (free or taken id, right/wrong/no token,
//! before or after registration), `receive`, request `start` with or without `end`,
//! request `chunk`/`end`, response `start`/`chunk`/`end`/`error` from the assigned
//! receiver or from anyone else (spoof), `cancel`, `ping`/`pong`/`welcome`/connection
//! `error`; malformed and oversized text, binary messages, and events for connections
//! that are closed or never existed. A `Close` action is carried out at once, as the
//! driver does (`on_disconnect`). A generated config may set small bounds on parked work
//! (the sender's or the channel's binding first), so `queue_full` on a `start` and on a
//! `chunk` happen; the model counts parked requests and bytes afresh from its own state.
//!
//! The reference model keeps the registry, the per-channel FIFO queues and waiting
//! receivers, the requests with their buffered frames, and the `rejected` counter, and
//! predicts every action list exactly (error texts and close reasons aside). On top of
//! that comparison, these properties are checked from the broker's own observables after
//! every transition:
//! - `check_invariants()` is Ok; `stats()` and `client_of()` equal the model's;
//! - every request-direction frame (`start`/`chunk`/`end` request) goes to the request's
//!   assignee (`assignee()` after the step), every `cancel` to the assignee before it;
//! - response frames go only to the request's original sender (or, for `$info`, to the
//!   asker);
//! - a response frame from a connection the request is not assigned to yields exactly one
//!   action: `error not_assigned` to the spoofer (`not_registered` before `hello`);
//! - after a disconnect nothing of that connection remains: no `client_of`, no
//!   assignment, and the counts (clients, requests, queued, waiting) match the model.
//!
//! Teeth: `mutants_are_caught` runs the same machine against deliberately wrong models
//! and asserts each is caught and shrunk to a short transition list.
//!
//! Bug (ignored test): with a token table configured, `hello` from a client id that has
//! no listed token and carries no token is accepted (the check compares `None == None`).
//!
//! Case counts: `PROPTEST_CASES` overrides the default (1024 sequences of 1..60
//! transitions). Failure persistence is off: nothing is written to the source tree.

#[path = "support/mod.rs"]
mod support;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Debug;
use std::marker::PhantomData;

use proptest::prelude::*;
use proptest::strategy::Union;
use proptest_state_machine::{prop_state_machine, ReferenceStateMachine, StateMachineTest};
use wirecheck_core::broker::{
    valid_client_id, Action, Broker, BrokerConfig, BrokerStats, ConnId, ParkLimits, INFO_CHANNEL,
};
use wirecheck_core::wire::{code, Dir, Message};

use support::config;

const SLOTS: usize = 4;
const CLIENTS: &[&str] = &["a", "b", "c", "x", "", "n\u{0}l"];
const TOKENS: &[(&str, &str)] = &[("a", "ta"), ("b", "tb"), ("c", "tc")];
const REQS: &[&str] = &["r1", "r2", "r3"];
/// A connection id no slot ever gets.
const NEVER_CONN: ConnId = 9_999;
/// The small `max_message` a generated config may use.
const SMALL_MAX: usize = 150;
/// Small bounds on parked work a generated config may use, so `queue_full` happens: one
/// where the sender's bounds bind first, one where the channel's do.
const SMALL_PARK: [ParkLimits; 2] = [
    ParkLimits {
        per_client_requests: 2,
        per_client_bytes: 5,
        per_channel_requests: 3,
        per_channel_bytes: 40,
    },
    ParkLimits {
        per_client_requests: 5,
        per_client_bytes: 40,
        per_channel_requests: 2,
        per_channel_bytes: 5,
    },
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mutant {
    None,
    /// Forgets to drop a closed connection's waiting `receive` credits (BRK-12).
    KeepsWaitingOnDisconnect,
    /// Believes a response from any registered connection is routed to the sender (BRK-8).
    RoutesSpoofedResponses,
}

trait Variant: 'static + Debug + Send + Sync {
    /// Also generate `hello` from an unlisted client id without a token under a token table.
    const UNLISTED_WITHOUT_TOKEN: bool;
    const MUTANT: Mutant;
}

#[derive(Debug)]
struct Correct;
impl Variant for Correct {
    const UNLISTED_WITHOUT_TOKEN: bool = false;
    const MUTANT: Mutant = Mutant::None;
}

#[derive(Debug)]
struct WithUnlistedClient;
impl Variant for WithUnlistedClient {
    const UNLISTED_WITHOUT_TOKEN: bool = true;
    const MUTANT: Mutant = Mutant::None;
}

#[derive(Debug)]
struct KeepsWaiting;
impl Variant for KeepsWaiting {
    const UNLISTED_WITHOUT_TOKEN: bool = false;
    const MUTANT: Mutant = Mutant::KeepsWaitingOnDisconnect;
}

#[derive(Debug)]
struct RoutesSpoofs;
impl Variant for RoutesSpoofs {
    const UNLISTED_WITHOUT_TOKEN: bool = false;
    const MUTANT: Mutant = Mutant::RoutesSpoofedResponses;
}

// ---------------------------------------------------------------------------------------
// Reference model
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Req {
    sender: ConnId,
    channel: String,
    receiver: Option<ConnId>,
    /// Request frames received before assignment, `start` first.
    buffered: Vec<Message>,
    /// The sender sent the request's last frame.
    sender_done: bool,
}

/// The `BrokerStats` counters the model predicts (named, so that counters added to
/// `BrokerStats` later do not break this test).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Counts {
    connections: u64,
    clients: u64,
    requests: u64,
    queued: u64,
    waiting: u64,
    assignments: u64,
    rejected: u64,
}

impl Counts {
    fn of(s: &BrokerStats) -> Counts {
        Counts {
            connections: s.connections,
            clients: s.clients,
            requests: s.requests,
            queued: s.queued,
            waiting: s.waiting,
            assignments: s.assignments,
            rejected: s.rejected,
        }
    }
}

#[derive(Clone, Debug)]
struct Model {
    tokens: bool,
    max_message: usize,
    /// Bounds on parked work (`None`: the defaults, which these runs never reach).
    park: Option<ParkLimits>,
    slots: [Option<ConnId>; SLOTS],
    next_conn: ConnId,
    last_closed: Option<ConnId>,
    /// Live connections and the client id registered on each.
    conns: BTreeMap<ConnId, Option<String>>,
    clients: BTreeMap<String, ConnId>,
    requests: BTreeMap<String, Req>,
    queues: BTreeMap<String, VecDeque<String>>,
    waiting: BTreeMap<String, VecDeque<ConnId>>,
    /// (sender, request) that ended while the sender was still uploading: its late
    /// request frames are dropped without an answer until its `end`.
    ended_early: BTreeSet<(ConnId, String)>,
    rejected: u64,
    // Per transition:
    /// Requests before the transition: id → (sender, receiver).
    before: BTreeMap<String, (ConnId, Option<ConnId>)>,
    /// The actions the transition must produce (error texts and close reasons blank).
    out: Vec<Action>,
    mutant: Mutant,
}

impl Model {
    fn new(tokens: bool, max_message: usize, park: Option<ParkLimits>, mutant: Mutant) -> Self {
        Model {
            tokens,
            max_message,
            park,
            slots: [None; SLOTS],
            next_conn: 1,
            last_closed: None,
            conns: BTreeMap::new(),
            clients: BTreeMap::new(),
            requests: BTreeMap::new(),
            queues: BTreeMap::new(),
            waiting: BTreeMap::new(),
            ended_early: BTreeSet::new(),
            rejected: 0,
            before: BTreeMap::new(),
            out: Vec::new(),
            mutant,
        }
    }

    fn config(&self) -> BrokerConfig {
        BrokerConfig {
            max_message: self.max_message,
            tokens: if self.tokens {
                TOKENS
                    .iter()
                    .map(|(c, t)| (c.to_string(), t.to_string()))
                    .collect()
            } else {
                BTreeMap::new()
            },
            parked: self.park.unwrap_or_default(),
            ..BrokerConfig::default()
        }
    }

    /// Whether parking `bytes` more (and `new` more requests) from `conn` on `channel`
    /// passes a bound: counted afresh from the unassigned requests.
    fn over_park(&self, conn: ConnId, channel: &str, bytes: usize, new: usize) -> bool {
        let Some(l) = self.park else {
            return false;
        };
        let load = |keep: &dyn Fn(&Req) -> bool| {
            let parked: Vec<&Req> = self
                .requests
                .values()
                .filter(|r| r.receiver.is_none() && keep(r))
                .collect();
            let bytes: usize = parked
                .iter()
                .flat_map(|r| &r.buffered)
                .map(|m| match m {
                    Message::Start { body, .. } => body.len(),
                    Message::Chunk { data, .. } => data.len(),
                    _ => 0,
                })
                .sum();
            (parked.len(), bytes)
        };
        let (mine, mine_bytes) = load(&|r| r.sender == conn);
        let (chan, chan_bytes) = load(&|r| r.channel == channel);
        mine + new > l.per_client_requests
            || mine_bytes + bytes > l.per_client_bytes
            || chan + new > l.per_channel_requests
            || chan_bytes + bytes > l.per_channel_bytes
    }

    fn counts(&self) -> Counts {
        Counts {
            connections: self.conns.len() as u64,
            clients: self.clients.len() as u64,
            requests: self.requests.len() as u64,
            queued: self.queues.values().map(|q| q.len() as u64).sum(),
            waiting: self.waiting.values().map(|w| w.len() as u64).sum(),
            assignments: self
                .requests
                .values()
                .filter(|r| r.receiver.is_some())
                .count() as u64,
            rejected: self.rejected,
        }
    }

    fn conn(&self, slot: usize) -> Option<ConnId> {
        self.slots[slot]
    }

    fn slot_of(&self, conn: ConnId) -> Option<usize> {
        self.slots.iter().position(|s| *s == Some(conn))
    }

    fn registered(&self, slot: usize) -> bool {
        self.conn(slot)
            .is_some_and(|c| self.conns.get(&c).is_some_and(Option::is_some))
    }

    fn ghost(&self, closed: bool) -> ConnId {
        if closed {
            self.last_closed.unwrap_or(NEVER_CONN)
        } else {
            NEVER_CONN
        }
    }

    fn send(&mut self, to: ConnId, msg: Message) {
        self.out.push(Action::Send(to, blank(msg)));
    }

    fn reject(&mut self, conn: ConnId, req: Option<&str>, code: &str) {
        self.rejected += 1;
        self.send(conn, Message::error(req, code, ""));
    }

    fn connect(&mut self, slot: usize) {
        let id = self.next_conn;
        self.next_conn += 1;
        self.slots[slot] = Some(id);
        self.conns.insert(id, None);
    }

    /// `on_disconnect`: frees everything of `conn`, tells the other side of its requests.
    fn disconnect(&mut self, conn: ConnId) {
        let Some(client) = self.conns.remove(&conn) else {
            return;
        };
        if let Some(slot) = self.slot_of(conn) {
            self.slots[slot] = None;
        }
        self.last_closed = Some(conn);
        self.ended_early.retain(|(c, _)| *c != conn);
        if let Some(client) = client {
            if self.clients.get(&client) == Some(&conn) {
                self.clients.remove(&client);
            }
        }
        if self.mutant != Mutant::KeepsWaitingOnDisconnect {
            for w in self.waiting.values_mut() {
                w.retain(|&c| c != conn);
            }
        }
        let ids: Vec<String> = self.requests.keys().cloned().collect();
        for id in ids {
            let r = &self.requests[&id];
            let (sender, receiver) = (r.sender, r.receiver);
            if sender == conn {
                if let Some(rx) = receiver {
                    self.send(rx, Message::Cancel { req: id.clone() });
                }
                self.remove_request(&id);
            } else if receiver == Some(conn) {
                if !r.sender_done {
                    self.ended_early.insert((sender, id.clone()));
                }
                self.send(sender, Message::error(Some(&id), code::RECEIVER_GONE, ""));
                self.remove_request(&id);
            }
        }
    }

    fn remove_request(&mut self, id: &str) {
        if let Some(r) = self.requests.remove(id) {
            if r.receiver.is_none() {
                if let Some(q) = self.queues.get_mut(&r.channel) {
                    q.retain(|q| q != id);
                }
            }
        }
    }

    /// Pairs the oldest queued request with the oldest waiting receiver (BRK-1, BRK-2).
    fn dispatch(&mut self, channel: &str) {
        loop {
            let q = self.queues.entry(channel.to_owned()).or_default();
            let w = self.waiting.entry(channel.to_owned()).or_default();
            if q.is_empty() || w.is_empty() {
                return;
            }
            let (req, rx) = (q.pop_front().unwrap(), w.pop_front().unwrap());
            let r = self.requests.get_mut(&req).expect("queued request exists");
            r.receiver = Some(rx);
            let frames = std::mem::take(&mut r.buffered);
            for m in frames {
                self.send(rx, m);
            }
        }
    }

    fn on_text(&mut self, conn: ConnId, text: &str) {
        if text.len() > self.max_message {
            return self.reject(conn, None, code::TOO_LARGE);
        }
        match Message::decode(text) {
            Ok(m) => self.on_message(conn, m),
            Err(_) => self.reject(conn, None, code::MALFORMED),
        }
    }

    fn on_message(&mut self, conn: ConnId, msg: Message) {
        let Some(client) = self.conns.get(&conn) else {
            return; // a connection that is gone: ignored
        };
        if client.is_none() {
            return match msg {
                Message::Hello { client, .. } if !valid_client_id(&client) => {
                    self.reject(conn, None, code::MALFORMED)
                }
                Message::Hello { client, token } => self.register(conn, client, token),
                Message::Welcome { .. } => self.reject(conn, None, code::MALFORMED),
                other => self.reject(conn, other.req(), code::NOT_REGISTERED),
            };
        }
        match msg {
            Message::Hello { .. } => self.reject(conn, None, code::ALREADY_REGISTERED),
            Message::Welcome { .. } => self.reject(conn, None, code::MALFORMED),
            Message::Ping { nonce } => self.send(conn, Message::Pong { nonce }),
            Message::Pong { .. } | Message::Error { req: None, .. } => {}
            Message::Receive { channel } => {
                self.waiting
                    .entry(channel.clone())
                    .or_default()
                    .push_back(conn);
                self.dispatch(&channel);
            }
            Message::Start {
                channel,
                dir: Dir::Request,
                ..
            } if channel.is_empty() => self.reject(conn, None, code::MALFORMED),
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
            }) => {
                let req = m.req().unwrap().to_owned();
                let last = matches!(m, Message::End { .. });
                let key = (conn, req.clone());
                if !self.requests.contains_key(&req) && self.ended_early.contains(&key) {
                    if last {
                        self.ended_early.remove(&key);
                    }
                    return;
                }
                let parked_on = match self.requests.get(&req) {
                    Some(r) if r.sender == conn && r.receiver.is_none() => Some(r.channel.clone()),
                    _ => None,
                };
                if let Some(channel) = parked_on {
                    let bytes = match &m {
                        Message::Chunk { data, .. } => data.len(),
                        _ => 0,
                    };
                    if self.over_park(conn, &channel, bytes, 0) {
                        self.remove_request(&req);
                        if !last {
                            self.ended_early.insert(key);
                        }
                        return self.reject(conn, Some(&req), code::QUEUE_FULL);
                    }
                }
                match self.requests.get_mut(&req) {
                    Some(r) if r.sender == conn => {
                        r.sender_done |= last;
                        match r.receiver {
                            Some(rx) => self.send(rx, m),
                            None => r.buffered.push(m),
                        }
                    }
                    _ => self.reject(conn, Some(&req), code::NOT_ASSIGNED),
                }
            }
            m @ (Message::Start { .. }
            | Message::Chunk { .. }
            | Message::End { .. }
            | Message::Error { .. }) => {
                // Response-direction frames and request-scoped errors.
                let req = m.req().unwrap().to_owned();
                let sender = match self.requests.get(&req) {
                    Some(r) if r.receiver == Some(conn) => r.sender,
                    Some(r) if self.mutant == Mutant::RoutesSpoofedResponses => r.sender,
                    _ => return self.reject(conn, Some(&req), code::NOT_ASSIGNED),
                };
                if matches!(
                    m,
                    Message::Start { end: true, .. } | Message::End { .. } | Message::Error { .. }
                ) {
                    if self.requests.get(&req).is_some_and(|r| !r.sender_done) {
                        self.ended_early.insert((sender, req.clone()));
                    }
                    self.remove_request(&req);
                }
                self.send(sender, m);
            }
            Message::Cancel { req } => match self.requests.get(&req) {
                None => {}
                Some(r) if r.sender == conn => {
                    let rx = r.receiver;
                    self.remove_request(&req);
                    if let Some(rx) = rx {
                        self.send(rx, Message::Cancel { req });
                    }
                }
                Some(_) => self.reject(conn, Some(&req), code::NOT_ASSIGNED),
            },
        }
    }

    fn register(&mut self, conn: ConnId, client: String, token: Option<String>) {
        // With a token table, a client must present exactly the token listed for it;
        // an id without a listed token cannot register.
        let authorized = !self.tokens
            || TOKENS
                .iter()
                .any(|(c, t)| *c == client && Some(*t) == token.as_deref());
        let refusal = if !authorized {
            Some(code::UNAUTHORIZED)
        } else if self.clients.contains_key(&client) {
            Some(code::CLIENT_ID_TAKEN)
        } else {
            None
        };
        match refusal {
            Some(code) => {
                self.rejected += 1;
                self.send(conn, Message::error(None, code, ""));
                self.out.push(Action::Close(conn, String::new()));
                // The driver closes the connection: `on_disconnect` follows at once.
                self.disconnect(conn);
            }
            None => {
                self.clients.insert(client.clone(), conn);
                self.conns.insert(conn, Some(client.clone()));
                self.send(conn, Message::Welcome { client });
            }
        }
    }

    fn start_request(
        &mut self,
        conn: ConnId,
        req: String,
        channel: String,
        body: String,
        end: bool,
    ) {
        if self.requests.contains_key(&req) {
            return self.reject(conn, Some(&req), code::DUPLICATE_REQUEST);
        }
        if channel.starts_with('$') {
            if channel != INFO_CHANNEL {
                return self.reject(conn, Some(&req), code::UNKNOWN_CHANNEL);
            }
            // With a token table, only about oneself.
            let asker = self.conns.get(&conn).cloned().flatten();
            if self.tokens && asker.as_deref() != Some(body.as_str()) {
                return self.reject(conn, Some(&req), code::UNKNOWN_CLIENT);
            }
            let Some(&target) = self.clients.get(&body) else {
                return self.reject(conn, Some(&req), code::UNKNOWN_CLIENT);
            };
            let waiting_on: Vec<&str> = self
                .waiting
                .iter()
                .filter(|(_, w)| w.contains(&target))
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
                "waiting_on": waiting_on,
                "in_flight_sent": sent,
                "in_flight_assigned": assigned,
            });
            return self.send(
                conn,
                Message::Start {
                    req,
                    channel: String::new(),
                    dir: Dir::Response,
                    body: info.to_string(),
                    end: true,
                },
            );
        }
        if self.over_park(conn, &channel, body.len(), 1) {
            return self.reject(conn, Some(&req), code::QUEUE_FULL);
        }
        self.ended_early.remove(&(conn, req.clone()));
        let start = Message::Start {
            req: req.clone(),
            channel: channel.clone(),
            dir: Dir::Request,
            body,
            end,
        };
        self.requests.insert(
            req.clone(),
            Req {
                sender: conn,
                channel: channel.clone(),
                receiver: None,
                buffered: vec![start],
                sender_done: end,
            },
        );
        self.queues
            .entry(channel.clone())
            .or_default()
            .push_back(req);
        self.dispatch(&channel);
    }
}

/// Error texts and close reasons are free text: compare everything else.
fn blank(msg: Message) -> Message {
    match msg {
        Message::Error { req, code, .. } => Message::Error {
            req,
            code,
            message: String::new(),
        },
        other => other,
    }
}

fn blank_action(a: Action) -> Action {
    match a {
        Action::Send(c, m) => Action::Send(c, blank(m)),
        Action::Close(c, _) => Action::Close(c, String::new()),
    }
}

// ---------------------------------------------------------------------------------------
// Transitions and their generation
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum T {
    Connect(usize),
    Disconnect(usize),
    /// A message from a slot's connection, as a decoded message or as its wire text.
    Send {
        slot: usize,
        msg: Message,
        text: bool,
    },
    /// Raw text (malformed, oversized, or anything) from a slot.
    Raw {
        slot: usize,
        text: String,
    },
    Binary {
        slot: usize,
        len: usize,
    },
    /// A message and then a disconnect for a connection that is closed (or never was).
    Ghost {
        closed: bool,
        msg: Message,
    },
}

fn small_text() -> BoxedStrategy<String> {
    prop_oneof![4 => "[a-z]{0,3}", 1 => "[é☃ \"\\\\]{1,3}"].boxed()
}

fn dir() -> impl Strategy<Value = Dir> {
    prop_oneof![Just(Dir::Request), Just(Dir::Response)]
}

fn req_id() -> BoxedStrategy<String> {
    prop::sample::select(REQS).prop_map(str::to_owned).boxed()
}

fn hello(tokens: bool, unlisted_without_token: bool) -> BoxedStrategy<Message> {
    let token = prop_oneof![6 => Just(1u8), 1 => Just(0u8), 1 => Just(2u8)];
    (prop::sample::select(CLIENTS), token)
        .prop_map(move |(client, t)| {
            let listed = TOKENS.iter().find(|(c, _)| *c == client).map(|(_, t)| *t);
            let mut token = match t {
                0 => None,
                1 => Some(listed.unwrap_or("tx").to_owned()),
                _ => Some("wrong".to_owned()),
            };
            if tokens && listed.is_none() && token.is_none() && !unlisted_without_token {
                token = Some("tx".to_owned());
            }
            Message::Hello {
                client: client.to_owned(),
                token,
            }
        })
        .boxed()
}

fn request_start() -> BoxedStrategy<Message> {
    (
        req_id(),
        prop_oneof![6 => Just("jobs"), 3 => Just("logs"), 2 => Just(INFO_CHANNEL), 1 => Just("$nope"), 1 => Just("")],
        prop_oneof![2 => small_text(), 1 => prop::sample::select(CLIENTS).prop_map(str::to_owned)],
        any::<bool>(),
    )
        .prop_map(|(req, channel, body, end)| Message::Start {
            req,
            channel: channel.to_owned(),
            dir: Dir::Request,
            body,
            end,
        })
        .boxed()
}

fn request_frame(req: BoxedStrategy<String>) -> BoxedStrategy<Message> {
    prop_oneof![
        (req.clone(), 0..3u64, small_text()).prop_map(|(req, seq, data)| Message::Chunk {
            req,
            dir: Dir::Request,
            seq,
            data
        }),
        req.prop_map(|req| Message::End {
            req,
            dir: Dir::Request
        }),
    ]
    .boxed()
}

fn response_frame(req: BoxedStrategy<String>) -> BoxedStrategy<Message> {
    prop_oneof![
        3 => (req.clone(), small_text(), any::<bool>()).prop_map(|(req, body, end)| Message::Start {
            req,
            channel: String::new(),
            dir: Dir::Response,
            body,
            end
        }),
        2 => (req.clone(), 0..3u64, small_text()).prop_map(|(req, seq, data)| Message::Chunk {
            req,
            dir: Dir::Response,
            seq,
            data
        }),
        2 => req.clone().prop_map(|req| Message::End {
            req,
            dir: Dir::Response
        }),
        1 => (req, small_text()).prop_map(|(req, message)| Message::Error {
            req: Some(req),
            code: "busy".into(),
            message
        }),
    ]
    .boxed()
}

fn misc_message() -> BoxedStrategy<Message> {
    prop_oneof![
        any::<u64>().prop_map(|nonce| Message::Ping { nonce }),
        any::<u64>().prop_map(|nonce| Message::Pong { nonce }),
        small_text().prop_map(|client| Message::Welcome { client }),
        small_text().prop_map(|message| Message::Error {
            req: None,
            code: "oops".into(),
            message
        }),
        (req_id(), dir()).prop_map(|(req, dir)| Message::End { req, dir }),
    ]
    .boxed()
}

fn raw_text() -> BoxedStrategy<String> {
    prop_oneof![
        prop::sample::select(vec![
            "",
            "{",
            "null",
            "[]",
            "{}",
            r#"{"type":"nope"}"#,
            r#"{"type":1}"#,
            r#"{"type":"start","req":1}"#,
            r#"{"type":"cancel","req":"r1","x":1}"#,
            r#"{"type":"hello"}"#,
            r#"{"type":"receive","channel":"jobs"}"#,
            r#"{"type":"ping"}"#,
        ])
        .prop_map(str::to_owned),
        any::<String>(),
        (SMALL_MAX - 5..SMALL_MAX + 40).prop_map(|n| "x".repeat(n)),
        // Valid JSON padded with whitespace around the size limit.
        (SMALL_MAX - 40..SMALL_MAX + 10)
            .prop_map(|n| format!(r#"{{"type":"ping","nonce":1}}{}"#, " ".repeat(n))),
    ]
    .boxed()
}

fn send(slot: BoxedStrategy<usize>, msg: BoxedStrategy<Message>) -> BoxedStrategy<T> {
    (slot, msg, prop::bool::weighted(0.3))
        .prop_map(|(slot, msg, text)| T::Send { slot, msg, text })
        .boxed()
}

struct BrokerRef<V>(PhantomData<V>);

impl<V: Variant> ReferenceStateMachine for BrokerRef<V> {
    type State = Model;
    type Transition = T;

    fn init_state() -> BoxedStrategy<Model> {
        (
            any::<bool>(),
            prop_oneof![Just(64 * 1024), Just(SMALL_MAX)],
            prop_oneof![2 => Just(None), 1 => Just(Some(SMALL_PARK[0])), 1 => Just(Some(SMALL_PARK[1]))],
        )
            .prop_map(|(tokens, max, park)| Model::new(tokens, max, park, V::MUTANT))
            .boxed()
    }

    fn transitions(s: &Model) -> BoxedStrategy<T> {
        let live: Vec<usize> = (0..SLOTS).filter(|&i| s.slots[i].is_some()).collect();
        let empty: Vec<usize> = (0..SLOTS).filter(|&i| s.slots[i].is_none()).collect();
        let unregistered: Vec<usize> = live.iter().copied().filter(|&i| !s.registered(i)).collect();
        let registered: Vec<usize> = live.iter().copied().filter(|&i| s.registered(i)).collect();
        let mut options: Vec<(u32, BoxedStrategy<T>)> = vec![(
            1,
            (
                any::<bool>(),
                misc_message().prop_union(request_start()).boxed(),
            )
                .prop_map(|(closed, msg)| T::Ghost { closed, msg })
                .boxed(),
        )];
        if !empty.is_empty() {
            let w = if live.len() < 2 { 12 } else { 2 };
            options.push((w, prop::sample::select(empty).prop_map(T::Connect).boxed()));
        }
        if live.is_empty() {
            return Union::new_weighted(options).boxed();
        }
        let any_live = prop::sample::select(live.clone()).boxed();
        // Most traffic comes from registered connections.
        let from = if registered.is_empty() {
            any_live.clone()
        } else {
            prop_oneof![6 => prop::sample::select(registered.clone()), 1 => any_live.clone()]
                .boxed()
        };
        let hello_from = if unregistered.is_empty() {
            any_live.clone()
        } else {
            prop::sample::select(unregistered.clone()).boxed()
        };
        let hello_weight = match (unregistered.is_empty(), registered.is_empty()) {
            (true, _) => 1,
            (false, true) => 40,
            (false, false) => 8,
        };
        options.extend([
            (2, any_live.clone().prop_map(T::Disconnect).boxed()),
            (
                hello_weight,
                send(hello_from, hello(s.tokens, V::UNLISTED_WITHOUT_TOKEN)),
            ),
            (
                5,
                send(
                    from.clone(),
                    prop_oneof![6 => Just("jobs"), 3 => Just("logs"), 1 => Just(INFO_CHANNEL)]
                        .prop_map(|c| Message::Receive {
                            channel: c.to_owned(),
                        })
                        .boxed(),
                ),
            ),
            (6, send(from.clone(), request_start())),
            (2, send(from.clone(), request_frame(req_id()))),
            (2, send(from.clone(), response_frame(req_id()))),
            (
                1,
                send(
                    from.clone(),
                    req_id().prop_map(|req| Message::Cancel { req }).boxed(),
                ),
            ),
            (1, send(from, misc_message())),
            (
                1,
                (any_live.clone(), raw_text())
                    .prop_map(|(slot, text)| T::Raw { slot, text })
                    .boxed(),
            ),
            (
                1,
                (any_live, 0..100usize)
                    .prop_map(|(slot, len)| T::Binary { slot, len })
                    .boxed(),
            ),
        ]);
        // Frames of live requests from the parties they belong to.
        for (id, r) in &s.requests {
            let req = Just(id.clone()).boxed();
            if let Some(slot) = s.slot_of(r.sender) {
                options.push((3, send(Just(slot).boxed(), request_frame(req.clone()))));
                options.push((
                    1,
                    send(
                        Just(slot).boxed(),
                        Just(Message::Cancel { req: id.clone() }).boxed(),
                    ),
                ));
            }
            if let Some(slot) = r.receiver.and_then(|rx| s.slot_of(rx)) {
                options.push((6, send(Just(slot).boxed(), response_frame(req))));
                // The receiver vanishes mid-request (BRK-6).
                options.push((1, Just(T::Disconnect(slot)).boxed()));
            }
        }
        Union::new_weighted(options).boxed()
    }

    fn preconditions(s: &Model, t: &T) -> bool {
        // Only the bug trigger is excluded; transitions for slots in the wrong state are
        // no-ops (see `apply`).
        match t {
            T::Send {
                msg:
                    Message::Hello {
                        client,
                        token: None,
                    },
                ..
            } => V::UNLISTED_WITHOUT_TOKEN || !s.tokens || TOKENS.iter().any(|(c, _)| c == client),
            _ => true,
        }
    }

    fn apply(mut s: Model, t: &T) -> Model {
        s.out.clear();
        s.before = s
            .requests
            .iter()
            .map(|(id, r)| (id.clone(), (r.sender, r.receiver)))
            .collect();
        // A transition for a slot in the wrong state (left over after shrinking deleted
        // what came before) is a no-op, so shrinking is not blocked by preconditions.
        match t {
            T::Connect(slot) if s.slots[*slot].is_none() => s.connect(*slot),
            T::Connect(_) => {}
            T::Disconnect(slot) => {
                if let Some(conn) = s.conn(*slot) {
                    s.disconnect(conn);
                }
            }
            T::Send { slot, msg, text } => {
                if let Some(conn) = s.conn(*slot) {
                    if *text {
                        s.on_text(conn, &msg.encode());
                    } else {
                        s.on_message(conn, msg.clone());
                    }
                }
            }
            T::Raw { slot, text } => {
                if let Some(conn) = s.conn(*slot) {
                    s.on_text(conn, text);
                }
            }
            T::Binary { slot, .. } => {
                if let Some(conn) = s.conn(*slot) {
                    s.reject(conn, None, code::MALFORMED);
                }
            }
            T::Ghost { closed, msg } => {
                let conn = s.ghost(*closed);
                s.on_message(conn, msg.clone());
                s.disconnect(conn);
            }
        }
        s
    }
}

// ---------------------------------------------------------------------------------------
// System under test
// ---------------------------------------------------------------------------------------

struct Sut {
    broker: Broker,
    slots: [Option<ConnId>; SLOTS],
    next_conn: ConnId,
    last_closed: Option<ConnId>,
}

impl Sut {
    /// What the driver does with a `Close`: closes, then reports the disconnect.
    fn closed(&mut self, conn: ConnId, actions: &mut Vec<Action>) {
        actions.extend(self.broker.on_disconnect(conn));
        if let Some(s) = self.slots.iter_mut().find(|s| **s == Some(conn)) {
            *s = None;
        }
        self.last_closed = Some(conn);
    }
}

struct BrokerTest<V>(PhantomData<V>);

impl<V: Variant> StateMachineTest for BrokerTest<V> {
    type SystemUnderTest = Sut;
    type Reference = BrokerRef<V>;

    fn init_test(model: &Model) -> Sut {
        Sut {
            broker: Broker::new(model.config()),
            slots: [None; SLOTS],
            next_conn: 1,
            last_closed: None,
        }
    }

    fn apply(mut sut: Sut, model: &Model, t: T) -> Sut {
        let assignee_before: BTreeMap<&str, Option<ConnId>> =
            REQS.iter().map(|r| (*r, sut.broker.assignee(r))).collect();
        // (conn, was registered) of the connection the transition speaks for.
        let mut speaker = None;
        let mut gone = Vec::new();
        let mut actions = match &t {
            T::Connect(slot) if sut.slots[*slot].is_some() => Vec::new(),
            T::Connect(slot) => {
                let id = sut.next_conn;
                sut.next_conn += 1;
                sut.slots[*slot] = Some(id);
                sut.broker.on_connect(id);
                Vec::new()
            }
            T::Disconnect(slot)
            | T::Send { slot, .. }
            | T::Raw { slot, .. }
            | T::Binary { slot, .. }
                if sut.slots[*slot].is_none() =>
            {
                Vec::new()
            }
            T::Disconnect(slot) => {
                let conn = sut.slots[*slot].unwrap();
                let mut out = Vec::new();
                sut.closed(conn, &mut out);
                gone.push(conn);
                out
            }
            T::Send { slot, msg, text } => {
                let conn = sut.slots[*slot].unwrap();
                speaker = Some((conn, sut.broker.client_of(conn).is_some()));
                if *text {
                    sut.broker.on_text(conn, &msg.encode())
                } else {
                    sut.broker.on_message(conn, msg.clone())
                }
            }
            T::Raw { slot, text } => {
                let conn = sut.slots[*slot].unwrap();
                sut.broker.on_text(conn, text)
            }
            T::Binary { slot, len } => {
                let conn = sut.slots[*slot].unwrap();
                sut.broker.on_binary(conn, *len)
            }
            T::Ghost { closed, msg } => {
                let conn = if *closed {
                    sut.last_closed.unwrap_or(NEVER_CONN)
                } else {
                    NEVER_CONN
                };
                let mut out = sut.broker.on_message(conn, msg.clone());
                out.extend(sut.broker.on_disconnect(conn));
                out
            }
        };
        let closes: Vec<ConnId> = actions
            .iter()
            .filter_map(|a| match a {
                Action::Close(c, _) => Some(*c),
                _ => None,
            })
            .collect();
        for c in closes {
            sut.closed(c, &mut actions);
            gone.push(c);
        }

        // The model's prediction, exactly.
        let got: Vec<Action> = actions.iter().cloned().map(blank_action).collect();
        assert_eq!(got, model.out, "actions of {t:?}");

        // Routing properties, from the broker's own observables.
        for a in &actions {
            let Action::Send(to, m) = a else { continue };
            match m {
                Message::Start {
                    dir: Dir::Request,
                    req,
                    ..
                }
                | Message::Chunk {
                    dir: Dir::Request,
                    req,
                    ..
                }
                | Message::End {
                    dir: Dir::Request,
                    req,
                    ..
                } => assert_eq!(
                    sut.broker.assignee(req),
                    Some(*to),
                    "request frame {m:?} sent to {to}, not to the assignee (BRK-3)"
                ),
                Message::Cancel { req } => assert_eq!(
                    assignee_before.get(req.as_str()).copied().flatten(),
                    Some(*to),
                    "cancel sent to {to}, not to the assignee (BRK-7)"
                ),
                Message::Start {
                    dir: Dir::Response,
                    req,
                    ..
                }
                | Message::Chunk {
                    dir: Dir::Response,
                    req,
                    ..
                }
                | Message::End {
                    dir: Dir::Response,
                    req,
                    ..
                } => {
                    let want = match model.before.get(req) {
                        Some((sender, _)) => *sender,
                        // `$info`: answered by the broker to the asker.
                        None => speaker.expect("a message caused it").0,
                    };
                    assert_eq!(
                        *to, want,
                        "response frame {m:?} not routed to its sender (BRK-4)"
                    );
                }
                _ => {}
            }
        }

        // Spoofed responses: one error to the spoofer, nothing else.
        if let (T::Send { msg, text, .. }, Some((conn, registered))) = (&t, speaker) {
            let fits = !*text || msg.encode().len() <= model.max_message;
            let response = matches!(
                msg,
                Message::Start {
                    dir: Dir::Response,
                    ..
                } | Message::Chunk {
                    dir: Dir::Response,
                    ..
                } | Message::End {
                    dir: Dir::Response,
                    ..
                } | Message::Error { req: Some(_), .. }
            );
            let req = msg.req().unwrap_or_default();
            if fits && response && assignee_before.get(req).copied().flatten() != Some(conn) {
                let code = if registered {
                    code::NOT_ASSIGNED
                } else {
                    code::NOT_REGISTERED
                };
                assert!(
                    matches!(&actions[..], [Action::Send(c, Message::Error { req: Some(r), code: k, .. })]
                        if *c == conn && r == req && k == code),
                    "spoofed {msg:?} from {conn}: want only `error {code}` to it, got {actions:?} (BRK-8)"
                );
            }
        }

        // Nothing of a closed connection remains (BRK-12).
        for c in gone {
            assert_eq!(
                sut.broker.client_of(c),
                None,
                "closed conn {c} still registered"
            );
            for r in REQS {
                assert_ne!(
                    sut.broker.assignee(r),
                    Some(c),
                    "{r} assigned to closed conn {c}"
                );
            }
        }
        sut
    }

    fn check_invariants(sut: &Sut, model: &Model) {
        if let Err(e) = sut.broker.check_invariants() {
            panic!("check_invariants: {e}");
        }
        assert_eq!(Counts::of(&sut.broker.stats()), model.counts(), "stats()");
        assert_eq!(sut.slots, model.slots, "slots");
        for (conn, client) in &model.conns {
            assert_eq!(
                sut.broker.client_of(*conn),
                client.as_deref(),
                "client_of({conn})"
            );
        }
        for r in REQS {
            assert_eq!(
                sut.broker.assignee(r),
                model.requests.get(*r).and_then(|q| q.receiver),
                "assignee({r})"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

prop_state_machine! {
    #![proptest_config(config(1024))]

    #[test]
    fn broker_matches_model(sequential 1..60 => BrokerTest<Correct>);

    #[test]
    fn broker_matches_model_with_unlisted_clients(sequential 1..60 => BrokerTest<WithUnlistedClient>);
}

/// The minimal case of the ignored test above.
#[test]
fn unlisted_client_without_token_is_refused() {
    let mut b = Broker::new(BrokerConfig {
        tokens: [("app".to_string(), "s3cret".to_string())].into(),
        ..BrokerConfig::default()
    });
    b.on_connect(1);
    let out = b.on_message(
        1,
        Message::Hello {
            client: "intruder".into(),
            token: None,
        },
    );
    assert!(
        matches!(&out[..], [Action::Send(1, Message::Error { code, .. }), Action::Close(1, _)]
            if code == code::UNAUTHORIZED),
        "{out:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Teeth: the invariants are live. Each wrong model must be caught and shrunk.
// ---------------------------------------------------------------------------------------

/// The shrunk failure of variant `V`'s machine (see `support/teeth.rs`).
fn shrunk_failure<V: Variant>() -> (String, Vec<T>) {
    support::teeth::shrunk_failure::<BrokerRef<V>, BrokerTest<V>>(60, V::MUTANT)
}

#[test]
fn mutants_are_caught() {
    // connect, hello, receive (as a message or as raw text), disconnect: the credit
    // must go with the connection.
    let (why, ts) = shrunk_failure::<KeepsWaiting>();
    assert!(why.contains("stats()"), "{why}");
    assert_eq!(ts.len(), 4, "{ts:?}");
    assert!(
        matches!(
            &ts[..],
            [
                T::Connect(_),
                T::Send {
                    msg: Message::Hello { .. },
                    ..
                },
                T::Send {
                    msg: Message::Receive { .. },
                    ..
                } | T::Raw { .. },
                T::Disconnect(_)
            ]
        ),
        "{ts:?}"
    );

    // A response from a connection the request is not assigned to, e.g. connect, hello,
    // start (queued: nobody receives), then a response frame from the sender itself.
    let (why, ts) = shrunk_failure::<RoutesSpoofs>();
    assert!(why.contains("actions of"), "{why}");
    assert!(ts.len() <= 6, "{ts:?}");
    assert!(
        matches!(ts.last(), Some(T::Send { msg, .. })
            if msg.dir() == Some(Dir::Response) || matches!(msg, Message::Error { .. })),
        "{ts:?}"
    );
}
