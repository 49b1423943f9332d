//! An index of one run's trace, built once and queried by the checkers instead of
//! rescanning the events: received messages with their decoded message, events per host,
//! script calls and their results per client, who sent and who received each request at
//! each host, registration sessions per broker, and faults.
//!
//! Everything here is a fact of the trace (what was received, called, faulted), never a
//! judgement: the checkers judge.

use super::{Call, Event, EventKind, FaultKind, Lifecycle};
use crate::model::Outcome;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use wirecheck_core::wire::{Dir, Message};

/// A received, decoded message.
#[derive(Clone, Copy, Debug)]
pub struct Rx<'a> {
    /// Index of the event in the trace.
    pub i: usize,
    pub at: Duration,
    /// The receiver.
    pub host: &'a str,
    /// The sender (the peer on that hop).
    pub from: &'a str,
    /// The connection (the connecting side's port), when known.
    pub conn: Option<u16>,
    pub msg: &'a Message,
}

/// One request call of a client: when it was made, its deadline and its first result.
#[derive(Clone, Debug)]
pub struct CallInfo<'a> {
    /// Index of the `Call` event.
    pub call: usize,
    pub at: Duration,
    pub deadline: Option<Duration>,
    /// The first result: event index, time, outcome.
    pub result: Option<(usize, Duration, &'a Outcome)>,
}

/// Per host: who sent each request id to it, and to whom it delivered each request's start.
#[derive(Debug, Default)]
pub struct Routing<'a> {
    /// Request id → the first peer that sent its start to this host (event index, time).
    pub sender: BTreeMap<&'a str, (&'a str, usize, Duration)>,
    /// The connection the request came in on (the sender's port), when known.
    pub sender_conn: BTreeMap<&'a str, Option<u16>>,
    /// Request id → every peer that received its start from this host, in trace order.
    pub receivers: BTreeMap<&'a str, Vec<(&'a str, usize, Duration)>>,
}

impl<'a> Routing<'a> {
    /// The first receiver of `req`'s start: its assignee.
    pub fn assignee(&self, req: &str) -> Option<&'a str> {
        self.receivers.get(req).and_then(|v| v.first()).map(|x| x.0)
    }
}

/// Registration sessions at one broker: who was welcomed on which connection, and which
/// closes ended a registered connection (a refused duplicate's close does not).
#[derive(Debug, Default)]
pub struct Sessions {
    pub welcomes: Vec<Welcome>,
    /// Closes of registered connections, in trace order.
    pub closes: Vec<Close>,
}

/// The broker's `welcome` as its peer received it.
#[derive(Clone, Debug, PartialEq)]
pub struct Welcome {
    pub i: usize,
    pub at: Duration,
    /// The peer that was welcomed.
    pub host: String,
    /// Its connection, when known (the receiver names it, or its latest `hello` did).
    pub conn: Option<u16>,
    /// The client id welcomed.
    pub client: String,
}

/// A registered connection at the broker ended (closed, or the broker's process ended:
/// crashed or bounced).
#[derive(Clone, Debug, PartialEq)]
pub struct Close {
    pub i: usize,
    pub at: Duration,
    pub host: String,
    pub conn: Option<u16>,
}

/// The index of one trace.
pub struct TraceIndex<'a> {
    events: &'a [Event],
    rx: Vec<Rx<'a>>,
    /// Positions in `rx` per receiving host.
    rx_to: BTreeMap<&'a str, Vec<usize>>,
    /// Positions in `rx` per sending host.
    rx_from: BTreeMap<&'a str, Vec<usize>>,
    /// Positions in `rx` per request id the message is about.
    rx_about: BTreeMap<&'a str, Vec<usize>>,
    /// Event indices per host.
    by_host: BTreeMap<&'a str, Vec<usize>>,
    calls: BTreeMap<&'a str, BTreeMap<String, CallInfo<'a>>>,
    routing: BTreeMap<&'a str, Routing<'a>>,
    sessions: BTreeMap<&'a str, Sessions>,
    faults: Vec<usize>,
}

/// Registration state of one broker while the sessions are built.
#[derive(Default)]
struct SessionState {
    s: Sessions,
    /// Peer host → the connection of its latest `hello`.
    hello: BTreeMap<String, Option<u16>>,
    /// Registered connections: (host, connection) pairs.
    live: BTreeSet<(String, Option<u16>)>,
    /// The broker's process was restarted (crash or bounce) at least once.
    restarted: bool,
}

impl SessionState {
    /// The broker's process ended: every registered connection with it.
    fn end_all(&mut self, i: usize, at: Duration) {
        for (host, conn) in std::mem::take(&mut self.live) {
            self.s.closes.push(Close { i, at, host, conn });
        }
        self.hello.clear();
        self.restarted = true;
    }
}

impl<'a> TraceIndex<'a> {
    /// Indexes `events`, each `Recv` with the message it decoded to (wirecheck-v1).
    pub fn new(events: &'a [Event]) -> Self {
        let msgs = events
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match &e.kind {
                EventKind::Recv { msg: Some(m), .. } => Some((i, m)),
                _ => None,
            });
        Self::build(events, msgs)
    }

    /// Indexes `events` with the messages a protocol profile decoded from their `Recv`
    /// texts: `(event index, message)` pairs in event order, several for one event when
    /// its text held several (a JSON-RPC batch).
    pub fn from_messages(events: &'a [Event], msgs: &'a [(usize, Message)]) -> Self {
        Self::build(events, msgs.iter().map(|(i, m)| (*i, m)))
    }

    fn build(events: &'a [Event], msgs: impl Iterator<Item = (usize, &'a Message)>) -> Self {
        let mut msgs = msgs.peekable();
        let mut ix = TraceIndex {
            events,
            rx: Vec::new(),
            rx_to: BTreeMap::new(),
            rx_from: BTreeMap::new(),
            rx_about: BTreeMap::new(),
            by_host: BTreeMap::new(),
            calls: BTreeMap::new(),
            routing: BTreeMap::new(),
            sessions: BTreeMap::new(),
            faults: Vec::new(),
        };
        let mut sessions: BTreeMap<&'a str, SessionState> = BTreeMap::new();
        for (i, e) in events.iter().enumerate() {
            let host = e.host.as_str();
            ix.by_host.entry(host).or_default().push(i);
            while let Some((_, msg)) = msgs.next_if(|(j, _)| *j <= i) {
                let EventKind::Recv { from, conn, .. } = &e.kind else {
                    continue;
                };
                {
                    let r = Rx {
                        i,
                        at: e.at,
                        host,
                        from,
                        conn: *conn,
                        msg,
                    };
                    ix.rx_to.entry(host).or_default().push(ix.rx.len());
                    ix.rx_from.entry(from).or_default().push(ix.rx.len());
                    if let Some(req) = msg.req() {
                        ix.rx_about.entry(req).or_default().push(ix.rx.len());
                    }
                    ix.rx.push(r);
                    ix.route(r);
                    match msg {
                        Message::Hello { .. } => {
                            sessions
                                .entry(host)
                                .or_default()
                                .hello
                                .insert(from.clone(), *conn);
                        }
                        Message::Welcome { client }
                            // Not a welcome sent by the broker's previous process and
                            // delivered after it was restarted (it answers a `hello` that
                            // life ended with).
                            if sessions
                                .get(from.as_str())
                                .is_none_or(|st| !st.restarted || st.hello.contains_key(host)) =>
                        {
                            let st = sessions.entry(from).or_default();
                            // The receiver names its connection when it can (a proxy knows
                            // its upstream port); otherwise it is the host's latest `hello`.
                            let conn = conn.or_else(|| st.hello.get(host).copied().flatten());
                            st.live.insert((host.to_owned(), conn));
                            st.s.welcomes.push(Welcome {
                                i,
                                at: e.at,
                                host: host.to_owned(),
                                conn,
                                client: client.clone(),
                            });
                        }
                        _ => {}
                    }
                }
            }
            match &e.kind {
                EventKind::Call {
                    id,
                    call: Call::Request { .. },
                    deadline,
                } => {
                    ix.calls.entry(host).or_default().insert(
                        id.clone(),
                        CallInfo {
                            call: i,
                            at: e.at,
                            deadline: *deadline,
                            result: None,
                        },
                    );
                }
                EventKind::Result { id, outcome } => {
                    if let Some(c) = ix.calls.get_mut(host).and_then(|c| c.get_mut(id)) {
                        if c.result.is_none() {
                            c.result = Some((i, e.at, outcome));
                        }
                    }
                }
                EventKind::Fault { fault, .. } => {
                    ix.faults.push(i);
                    if matches!(fault, FaultKind::Crash | FaultKind::Bounce) {
                        // A crashed or bounced (restarted) host's process is gone, and
                        // with it every connection it had: a broker forgets them all.
                        sessions.entry(host).or_default().end_all(i, e.at);
                    }
                }
                EventKind::Life(Lifecycle::ConnClosed { peer, .. }) => {
                    let st = sessions.entry(host).or_default();
                    let (peer_host, conn) = (peer.host.as_str(), peer.conn);
                    let key = st
                        .live
                        .iter()
                        .find(|(h, c)| {
                            h == peer_host && (c.is_none() || conn.is_none() || *c == conn)
                        })
                        .cloned();
                    // Only the close of a registered connection ends a session.
                    if let Some(k) = key {
                        st.live.remove(&k);
                        st.s.closes.push(Close {
                            i,
                            at: e.at,
                            host: peer_host.to_owned(),
                            conn,
                        });
                    }
                }
                _ => {}
            }
        }
        ix.sessions = sessions.into_iter().map(|(h, st)| (h, st.s)).collect();
        ix
    }

    fn route(&mut self, x: Rx<'a>) {
        if let Message::Start {
            req,
            dir: Dir::Request,
            ..
        } = x.msg
        {
            let at_host = self.routing.entry(x.host).or_default();
            at_host.sender.entry(req).or_insert((x.from, x.i, x.at));
            at_host.sender_conn.entry(req).or_insert(x.conn);
            self.routing
                .entry(x.from)
                .or_default()
                .receivers
                .entry(req)
                .or_default()
                .push((x.host, x.i, x.at));
        }
    }

    pub fn events(&self) -> &'a [Event] {
        self.events
    }

    /// Every received, decoded message, in trace order.
    pub fn rx(&self) -> impl Iterator<Item = Rx<'a>> + '_ {
        self.rx.iter().copied()
    }

    /// Messages `host` received, in trace order.
    pub fn rx_to<'s>(&'s self, host: &str) -> impl Iterator<Item = Rx<'a>> + 's {
        self.positions(&self.rx_to, host)
    }

    /// Messages `host` sent (as their receivers recorded them), in trace order.
    pub fn rx_from<'s>(&'s self, host: &str) -> impl Iterator<Item = Rx<'a>> + 's {
        self.positions(&self.rx_from, host)
    }

    /// Messages about request `req` (any frame, cancel or error carrying its id).
    pub fn rx_about<'s>(&'s self, req: &str) -> impl Iterator<Item = Rx<'a>> + 's {
        self.positions(&self.rx_about, req)
    }

    fn positions<'s>(
        &'s self,
        map: &'s BTreeMap<&'a str, Vec<usize>>,
        host: &str,
    ) -> impl Iterator<Item = Rx<'a>> + 's {
        map.get(host)
            .into_iter()
            .flatten()
            .map(move |&p| self.rx[p])
    }

    /// Every event of `host`, with its index, in trace order.
    pub fn of<'s>(&'s self, host: &str) -> impl Iterator<Item = (usize, &'a Event)> + 's {
        let events = self.events;
        self.by_host
            .get(host)
            .into_iter()
            .flatten()
            .map(move |&i| (i, &events[i]))
    }

    /// Request calls of client `host` by id (a reused id keeps the latest call).
    pub fn calls(&self, host: &str) -> &BTreeMap<String, CallInfo<'a>> {
        static EMPTY: BTreeMap<String, CallInfo<'static>> = BTreeMap::new();
        self.calls.get(host).unwrap_or(&EMPTY)
    }

    /// Who sent each request to `host` and to whom `host` delivered it.
    pub fn routing(&self, host: &str) -> &Routing<'a> {
        static EMPTY: Routing<'static> = Routing {
            sender: BTreeMap::new(),
            sender_conn: BTreeMap::new(),
            receivers: BTreeMap::new(),
        };
        self.routing.get(host).unwrap_or(&EMPTY)
    }

    /// Registration sessions at broker `b`.
    pub fn sessions(&self, b: &str) -> &Sessions {
        static EMPTY: Sessions = Sessions {
            welcomes: Vec::new(),
            closes: Vec::new(),
        };
        self.sessions.get(b).unwrap_or(&EMPTY)
    }

    /// Hosts that sent `welcome` to someone: they acted as a broker toward that peer. A
    /// host that is itself that peer's client (it sent the peer `hello`), such as a
    /// misbehaving client sending `welcome` to its broker, does not become a broker by it.
    pub fn welcomers(&self) -> BTreeSet<&'a str> {
        let clients_of: BTreeSet<(&str, &str)> = self
            .rx()
            .filter(|r| matches!(r.msg, Message::Hello { .. }))
            .map(|r| (r.from, r.host))
            .collect();
        self.rx()
            .filter(|r| matches!(r.msg, Message::Welcome { .. }))
            .filter(|r| !clients_of.contains(&(r.from, r.host)))
            .map(|r| r.from)
            .collect()
    }

    /// Every fault, with its index, in trace order.
    pub fn faults(&self) -> impl Iterator<Item = (usize, &'a Event)> + '_ {
        let events = self.events;
        self.faults.iter().map(move |&i| (i, &events[i]))
    }
}
