//! State-machine property test of the sans-IO multiplexer `Mux` (AUTH-1..3, MUX-2..9).
//!
//! The test plays the driver: it opens connections (numbered 1, 2, ...), feeds texts as a
//! reader would, fires the registration deadline and the heartbeat, takes registration
//! outcomes (`finish_registration`, and on failure `on_closed(conn, None)` as the
//! supervisor does), loses established connections, and makes API calls: `request`
//! (holding the `Waiter`), a failed send, timeout (`Waiter::expire`) and cancellation
//! (dropping the waiter) with the removal hook routed to `on_removed`, `serve`,
//! `respond` (with the last `Incoming` delivered for that id) and `close`.
//!
//! Texts: `welcome` for our id or another, connection `error` (`unauthorized`,
//! `client_id_taken`), text that is not a protocol message, `hello`, `receive`,
//! response `start … end` and request-scoped `error` for ids `a`, `b` (sometimes
//! pending) and `zz` (never), served-request `start` (with or without `end`), `chunk`
//! (in or out of sequence), `end` and `cancel` for `q1`, `q2` on channels `jobs`/`logs`
//! (served only once `serve` ran), `ping`, `pong`, and any text on a connection that is
//! not the current one.
//!
//! The reference model keeps the connection and registration phase, served channels and
//! credits, requests being assembled and in service, the pending ids with how retired
//! ids left, and every counter. It predicts each call's action list exactly (notes by
//! kind), the outcomes of the waiters that complete, and `respond`'s frames; after every
//! transition `stats()`, `pending_ids()`, `in_service()`, `assembling()`, `link()`,
//! `is_active()` and `is_registering()` must equal the model's.
//!
//! Teeth: `mutants_are_caught` runs the same machine against deliberately wrong models
//! (one forgets that a broker `cancel` returns the served request's credit, one believes
//! a request for a channel that is not served is ignored instead of answered
//! `not_serving`) and asserts each is caught and shrunk to its few essential steps.
//!
//! Case counts: `PROPTEST_CASES` overrides the default (1024 sequences of 1..60
//! transitions). Failure persistence is off: nothing is written to the source tree.

#[path = "support/mod.rs"]
mod support;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use proptest_state_machine::{prop_state_machine, ReferenceStateMachine, StateMachineTest};
use wirecheck_core::flaws::Flaws;
use wirecheck_core::mux::{
    answer_frames, Action, Answer, Begin, ConnNo, Incoming, Mux, MuxConfig, MuxStats, Request,
};
use wirecheck_core::pending::{CallError, Outcome, PendingMap, Removal, Stats, Waiter};
use wirecheck_core::wire::{code, Dir, Message};

use support::config;

const ME: &str = "app";
/// Request ids the API sends, and one it never does (its responses are `Unknown`).
const IDS: &[&str] = &["a", "b"];
const NEVER: &str = "zz";
/// Ids of incoming (served) requests.
const QS: &[&str] = &["q1", "q2"];
const CHANNELS: &[&str] = &["jobs", "logs"];
const BODIES: &[&str] = &["", "x", "yz"];
/// The connection number no connection ever gets.
const STALE: ConnNo = 0;

// ---------------------------------------------------------------------------------------
// Variants: the correct model and deliberately wrong ones.
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mutant {
    None,
    /// Believes a broker `cancel` of a served request does not give its credit back.
    CancelKeepsCredit,
    /// Believes a request for a channel this client does not serve is ignored.
    IgnoresUnserved,
}

trait Variant: 'static + Debug + Send + Sync {
    const MUTANT: Mutant;
}

#[derive(Debug)]
struct Correct;
impl Variant for Correct {
    const MUTANT: Mutant = Mutant::None;
}

#[derive(Debug)]
struct CancelKeepsCredit;
impl Variant for CancelKeepsCredit {
    const MUTANT: Mutant = Mutant::CancelKeepsCredit;
}

#[derive(Debug)]
struct IgnoresUnserved;
impl Variant for IgnoresUnserved {
    const MUTANT: Mutant = Mutant::IgnoresUnserved;
}

// ---------------------------------------------------------------------------------------
// Transitions and what a call returns, normalized
// ---------------------------------------------------------------------------------------

/// A text the current connection receives.
#[derive(Clone, Debug)]
enum Text {
    Welcome {
        ours: bool,
    },
    ConnError(&'static str),
    Garbage,
    Hello,
    ReceiveMsg,
    Response {
        id: &'static str,
        body: &'static str,
    },
    RemoteError(&'static str),
    InStart {
        q: &'static str,
        channel: &'static str,
        body: &'static str,
        end: bool,
    },
    InChunk {
        q: &'static str,
        seq: u64,
        data: &'static str,
    },
    InEnd(&'static str),
    InCancel(&'static str),
    Ping(u64),
    Pong,
}

impl Text {
    fn encode(&self) -> String {
        let m = match self {
            Text::Welcome { ours } => Message::Welcome {
                client: if *ours { ME } else { "other" }.into(),
            },
            Text::ConnError(c) => Message::error(None, c, "refused"),
            Text::Garbage => return "{not json".into(),
            Text::Hello => Message::Hello {
                client: "peer".into(),
                token: None,
            },
            Text::ReceiveMsg => Message::Receive {
                channel: "jobs".into(),
            },
            Text::Response { id, body } => Message::Start {
                req: (*id).into(),
                channel: String::new(),
                dir: Dir::Response,
                body: (*body).into(),
                end: true,
            },
            Text::RemoteError(id) => Message::error(Some(id), "boom", "remote"),
            Text::InStart {
                q,
                channel,
                body,
                end,
            } => Message::Start {
                req: (*q).into(),
                channel: (*channel).into(),
                dir: Dir::Request,
                body: (*body).into(),
                end: *end,
            },
            Text::InChunk { q, seq, data } => Message::Chunk {
                req: (*q).into(),
                dir: Dir::Request,
                seq: *seq,
                data: (*data).into(),
            },
            Text::InEnd(q) => Message::End {
                req: (*q).into(),
                dir: Dir::Request,
            },
            Text::InCancel(q) => Message::Cancel { req: (*q).into() },
            Text::Ping(nonce) => Message::Ping { nonce: *nonce },
            Text::Pong => Message::Pong { nonce: 9 },
        };
        m.encode()
    }
}

#[derive(Clone, Debug)]
enum T {
    /// The supervisor opens the next connection (only when there is none).
    Connect,
    /// The current connection receives a text.
    Recv(Text),
    /// A text arrives on a connection that is not the current one.
    Stale,
    RegisterDeadline,
    /// The supervisor takes the registration outcome.
    Finish,
    /// The established connection is lost.
    Lose,
    Close,
    PingDue,
    Request(&'static str),
    SendFailed(&'static str),
    Expire(&'static str),
    Cancel(&'static str),
    Serve(&'static str, u32),
    /// Answer the `n`th `Incoming` delivered so far (old ones included).
    Respond {
        n: usize,
        parts: Vec<&'static str>,
    },
}

/// How a dropped or ignored frame is noted.
#[derive(Clone, Debug, PartialEq, Eq)]
enum NoteKind {
    Dropped(&'static str),
    Undecodable,
    UnknownRequestFrame,
    BrokerError,
    Refused,
    Ignored,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Act {
    Send(ConnNo, Message),
    Registration(ConnNo, Result<String, String>),
    Deliver(Incoming),
    Note(NoteKind),
    Disconnected { reason: String, failed: usize },
    Stop(ConnNo),
    Close(ConnNo),
}

fn outcome_key(o: &Outcome) -> Result<String, String> {
    match o {
        Ok(b) => Ok(b.clone()),
        Err(CallError::Rejected { code, .. }) => Err(format!("rejected:{code}")),
        Err(e) => Err(e.kind().to_owned()),
    }
}

fn note_kind(n: &str) -> NoteKind {
    if n.starts_with("dropped undecodable") {
        NoteKind::Undecodable
    } else if n.starts_with("dropped request frame for unknown") {
        NoteKind::UnknownRequestFrame
    } else if n.starts_with("broker error") {
        NoteKind::BrokerError
    } else if n.starts_with("broker refused our answer") {
        NoteKind::Refused
    } else if n.starts_with("ignored unexpected") {
        NoteKind::Ignored
    } else {
        for kind in ["duplicate", "late", "unknown"] {
            if n.starts_with("dropped ") && n.ends_with(&format!("({kind})")) {
                return NoteKind::Dropped(kind);
            }
        }
        panic!("unclassified note {n:?}")
    }
}

fn norm(actions: Vec<Action>) -> Vec<Act> {
    actions
        .into_iter()
        .map(|a| match a {
            Action::Send(c, m) => Act::Send(c, m),
            Action::Registration(c, o) => Act::Registration(c, outcome_key(&o)),
            Action::Deliver(i) => Act::Deliver(i),
            Action::Note(n) => Act::Note(note_kind(&n)),
            Action::Disconnected { reason, failed } => Act::Disconnected { reason, failed },
            Action::Stop(c, _) => Act::Stop(c),
            Action::Close(c) => Act::Close(c),
            Action::Stolen(t) => panic!("no flaw is on, yet a frame was stolen: {t}"),
        })
        .collect()
}

/// What the last transition must return.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
struct Expect {
    actions: Vec<Act>,
    /// `Connect`: the hello; `Request`: the frames; `Respond`: the frames (if any).
    frames: Option<Vec<Message>>,
    /// `Request` refused at once, with this error kind.
    refused: Option<String>,
    /// Waiters whose calls ended, by id, with their outcomes.
    outcomes: Vec<(&'static str, Result<String, String>)>,
}

// ---------------------------------------------------------------------------------------
// Reference model
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Retired {
    Completed,
    Gone,
}

#[derive(Clone, Debug, Default)]
struct Model {
    last_conn: ConnNo,
    link: Option<ConnNo>,
    registering: Option<ConnNo>,
    /// A registration outcome the supervisor has not taken yet: (conn, success).
    decided: Option<(ConnNo, bool)>,
    active: bool,
    closing: bool,
    nonce: u64,
    serving: BTreeMap<&'static str, u32>,
    /// q → (channel, body, next seq).
    assembling: BTreeMap<&'static str, (&'static str, String, u64)>,
    /// q → (channel, conn).
    in_service: BTreeMap<&'static str, (&'static str, ConnNo)>,
    /// Every `Incoming` delivered so far, in order (what the servers hold).
    delivered: Vec<Incoming>,
    pending: BTreeSet<&'static str>,
    retired: BTreeMap<&'static str, Retired>,
    stats: MuxStats,
    expect: Expect,
}

impl Model {
    fn complete(&mut self, id: &'static str, o: Result<String, String>, how: Retired) {
        self.pending.remove(id);
        self.retired.insert(id, how);
        self.expect.outcomes.push((id, o));
    }

    fn stray(&mut self, id: &'static str) {
        let p = &mut self.stats.pending;
        let kind = match self.retired.get(id) {
            Some(Retired::Completed) => {
                p.duplicates_dropped += 1;
                "duplicate"
            }
            Some(Retired::Gone) => {
                p.late_dropped += 1;
                "late"
            }
            None => {
                p.unknown_dropped += 1;
                "unknown"
            }
        };
        self.expect.actions.push(Act::Note(NoteKind::Dropped(kind)));
    }

    fn decide(&mut self, conn: ConnNo, o: Result<String, String>) {
        self.registering = None;
        self.decided = Some((conn, o.is_ok()));
        self.expect.actions.push(Act::Registration(conn, o));
    }

    fn send(&mut self, conn: ConnNo, m: Message) {
        self.expect.actions.push(Act::Send(conn, m));
    }

    fn receive(&mut self, conn: ConnNo, channel: &str) {
        self.send(
            conn,
            Message::Receive {
                channel: channel.into(),
            },
        );
    }

    fn fail_all(&mut self) -> usize {
        let ids: Vec<&'static str> = self.pending.iter().copied().collect();
        for id in &ids {
            self.stats.pending.failed += 1;
            self.complete(id, Err("disconnected".into()), Retired::Gone);
        }
        ids.len()
    }

    fn closed(&mut self, conn: ConnNo, why: Option<&str>) {
        if self.link != Some(conn) {
            return;
        }
        self.link = None;
        self.active = false;
        self.registering = None;
        self.assembling.clear();
        self.in_service.clear();
        let failed = self.fail_all();
        if let Some(why) = why {
            self.stats.disconnects += 1;
            let reason = if self.closing {
                "closed by the client".into()
            } else {
                why.to_owned()
            };
            self.expect
                .actions
                .push(Act::Disconnected { reason, failed });
        }
    }

    fn finish_incoming(&mut self, conn: ConnNo, q: &'static str) {
        let Some((channel, body, _)) = self.assembling.remove(q) else {
            return;
        };
        let incoming = Incoming {
            req: q.into(),
            channel: channel.into(),
            body,
            conn,
        };
        self.in_service.insert(q, (channel, conn));
        self.delivered.push(incoming.clone());
        self.expect.actions.push(Act::Deliver(incoming));
    }

    fn recv(&mut self, conn: ConnNo, text: &Text, mutant: Mutant) {
        let registering = self.registering == Some(conn);
        let unexpected = |m: &mut Model| {
            if registering {
                m.decide(conn, Err("unexpected_reply".into()));
            } else {
                m.expect.actions.push(Act::Note(NoteKind::Ignored));
            }
        };
        match *text {
            Text::Welcome { ours } if registering => {
                let o = if ours {
                    Ok("welcome".to_owned())
                } else {
                    Err("unexpected_reply".to_owned())
                };
                self.decide(conn, o);
            }
            Text::Welcome { .. } | Text::Hello | Text::ReceiveMsg => unexpected(self),
            Text::ConnError(c) if registering => self.decide(conn, Err(format!("rejected:{c}"))),
            Text::ConnError(_) => self.expect.actions.push(Act::Note(NoteKind::BrokerError)),
            Text::Garbage if registering => self.decide(conn, Err("unexpected_reply".into())),
            Text::Garbage => self.expect.actions.push(Act::Note(NoteKind::Undecodable)),
            Text::Response { id, body } => {
                if self.pending.contains(id) {
                    self.stats.pending.completed += 1;
                    self.complete(id, Ok(body.into()), Retired::Completed);
                } else {
                    self.stray(id);
                }
            }
            Text::RemoteError(id) => {
                if self.in_service.remove(id).is_some() {
                    self.expect.actions.push(Act::Note(NoteKind::Refused));
                } else if self.pending.contains(id) {
                    self.stats.pending.completed += 1;
                    self.complete(id, Err("error".into()), Retired::Completed);
                } else {
                    self.stray(id);
                }
            }
            Text::InStart {
                q,
                channel,
                body,
                end,
            } => {
                if !self.serving.contains_key(channel) {
                    if mutant != Mutant::IgnoresUnserved {
                        self.send(
                            conn,
                            Message::error(
                                Some(q),
                                code::NOT_SERVING,
                                format!("this client does not serve `{channel}`"),
                            ),
                        );
                    }
                    return;
                }
                self.assembling.insert(q, (channel, body.into(), 0));
                if end {
                    self.finish_incoming(conn, q);
                }
            }
            Text::InChunk { q, seq, data } => match self.assembling.get_mut(q) {
                None => self
                    .expect
                    .actions
                    .push(Act::Note(NoteKind::UnknownRequestFrame)),
                Some((_, body, next)) if *next == seq => {
                    body.push_str(data);
                    *next += 1;
                }
                Some(&mut (channel, _, next)) => {
                    self.assembling.remove(q);
                    self.send(
                        conn,
                        Message::error(
                            Some(q),
                            code::MALFORMED,
                            format!("chunk #{seq} where #{next} was expected"),
                        ),
                    );
                    self.receive(conn, channel);
                }
            },
            Text::InEnd(q) => {
                if self.assembling.contains_key(q) {
                    self.finish_incoming(conn, q);
                } else {
                    self.expect
                        .actions
                        .push(Act::Note(NoteKind::UnknownRequestFrame));
                }
            }
            Text::InCancel(q) => {
                let a = self.assembling.remove(q).map(|a| a.0);
                let s = self.in_service.remove(q).map(|s| s.0);
                if let Some(channel) = a.or(s) {
                    self.stats.served_cancelled += 1;
                    if mutant != Mutant::CancelKeepsCredit {
                        self.receive(conn, channel);
                    }
                }
            }
            Text::Ping(nonce) => self.send(conn, Message::Pong { nonce }),
            Text::Pong => {}
        }
    }

    fn abandon(&mut self, id: &'static str, why: Removal) {
        match why {
            Removal::TimedOut => self.stats.pending.timed_out += 1,
            Removal::Cancelled => self.stats.pending.cancelled += 1,
        }
        self.pending.remove(id);
        self.retired.insert(id, Retired::Gone);
        if let Some(conn) = self.link {
            self.send(conn, Message::Cancel { req: id.into() });
        }
    }
}

fn pick<X: Clone + Debug + 'static>(xs: &'static [X]) -> BoxedStrategy<X> {
    prop::sample::select(xs).boxed()
}

fn text_strategy(s: &Model) -> BoxedStrategy<Text> {
    let q = pick(QS);
    let assembling: Vec<&'static str> = s.assembling.keys().copied().collect();
    let in_chunk = if assembling.is_empty() {
        (q.clone(), 0..2u64, pick(BODIES))
            .prop_map(|(q, seq, data)| Text::InChunk { q, seq, data })
            .boxed()
    } else {
        let next: BTreeMap<&'static str, u64> =
            s.assembling.iter().map(|(q, a)| (*q, a.2)).collect();
        (
            prop::sample::select(assembling),
            prop::bool::weighted(0.8),
            pick(BODIES),
        )
            .prop_map(move |(q, ok, data)| Text::InChunk {
                q,
                seq: if ok { next[q] } else { next[q] + 2 },
                data,
            })
            .boxed()
    };
    let id = prop_oneof![4 => pick(IDS), 1 => Just(NEVER)];
    prop_oneof![
        3 => any::<bool>().prop_map(|ours| Text::Welcome { ours }),
        1 => prop_oneof![Just(code::UNAUTHORIZED), Just(code::CLIENT_ID_TAKEN)].prop_map(Text::ConnError),
        1 => Just(Text::Garbage),
        1 => Just(Text::Hello),
        1 => Just(Text::ReceiveMsg),
        4 => (id.clone(), pick(BODIES)).prop_map(|(id, body)| Text::Response { id, body }),
        2 => prop_oneof![id, pick(QS)].prop_map(Text::RemoteError),
        5 => (q.clone(), pick(CHANNELS), pick(BODIES), prop::bool::weighted(0.5))
            .prop_map(|(q, channel, body, end)| Text::InStart { q, channel, body, end }),
        3 => in_chunk,
        2 => q.clone().prop_map(Text::InEnd),
        3 => q.prop_map(Text::InCancel),
        1 => (0..3u64).prop_map(Text::Ping),
        1 => Just(Text::Pong),
    ]
    .boxed()
}

struct ClientRef<V>(PhantomData<V>);

impl<V: Variant> ReferenceStateMachine for ClientRef<V> {
    type State = Model;
    type Transition = T;

    fn init_state() -> BoxedStrategy<Model> {
        Just(Model::default()).boxed()
    }

    fn transitions(s: &Model) -> BoxedStrategy<T> {
        let mut options: Vec<(u32, BoxedStrategy<T>)> = vec![
            (
                2,
                (pick(CHANNELS), 0..3u32)
                    .prop_map(|(c, n)| T::Serve(c, n))
                    .boxed(),
            ),
            (3, pick(IDS).prop_map(T::Request).boxed()),
            (1, Just(T::Stale).boxed()),
            (1, Just(T::Close).boxed()),
        ];
        if s.link.is_none() && s.decided.is_none() {
            options.push((8, Just(T::Connect).boxed()));
        }
        if s.link.is_some() {
            options.push((16, text_strategy(s).prop_map(T::Recv).boxed()));
            options.push((1, Just(T::RegisterDeadline).boxed()));
        }
        if s.link.is_some() && s.registering.is_none() {
            options.push((1, Just(T::PingDue).boxed()));
        }
        if s.decided.is_some() {
            options.push((6, Just(T::Finish).boxed()));
        }
        if s.active {
            options.push((1, Just(T::Lose).boxed()));
        }
        let pending: Vec<&'static str> = s.pending.iter().copied().collect();
        if !pending.is_empty() {
            let p = prop::sample::select(pending);
            options.push((1, p.clone().prop_map(T::SendFailed).boxed()));
            options.push((2, p.clone().prop_map(T::Expire).boxed()));
            options.push((2, p.prop_map(T::Cancel).boxed()));
        }
        if !s.delivered.is_empty() {
            // Mostly the newest: that is the one usually still in service.
            let last = s.delivered.len() - 1;
            let n = prop_oneof![3 => Just(last), 1 => 0..=last];
            let parts = prop::collection::vec(pick(BODIES), 0..3);
            options.push((
                4,
                (n, parts)
                    .prop_map(|(n, parts)| T::Respond { n, parts })
                    .boxed(),
            ));
        }
        proptest::strategy::Union::new_weighted(options).boxed()
    }

    fn preconditions(s: &Model, t: &T) -> bool {
        match t {
            T::Connect => s.link.is_none() && s.decided.is_none(),
            T::Recv(_) | T::RegisterDeadline => s.link.is_some(),
            T::PingDue => s.link.is_some() && s.registering.is_none(),
            T::Finish => s.decided.is_some(),
            T::Lose => s.active,
            T::SendFailed(id) | T::Expire(id) | T::Cancel(id) => s.pending.contains(id),
            T::Respond { n, .. } => *n < s.delivered.len(),
            _ => true,
        }
    }

    fn apply(mut s: Model, t: &T) -> Model {
        s.expect = Expect::default();
        match t {
            T::Connect => {
                s.last_conn += 1;
                s.link = Some(s.last_conn);
                s.registering = s.link;
                s.nonce = 0;
                s.stats.connect_attempts += 1;
                s.expect.frames = Some(vec![Message::Hello {
                    client: ME.into(),
                    token: None,
                }]);
            }
            T::Recv(text) => {
                let conn = s.link.expect("precondition");
                s.recv(conn, text, V::MUTANT);
            }
            T::Stale => s.expect.actions.push(Act::Stop(STALE)),
            T::RegisterDeadline => {
                let conn = s.link.expect("precondition");
                if s.registering == Some(conn) {
                    s.decide(conn, Err("timeout".into()));
                }
            }
            T::Finish => {
                let (conn, ok) = s.decided.take().expect("precondition");
                if ok {
                    s.active = true;
                    s.stats.registrations += 1;
                    if s.stats.registrations > 1 {
                        s.stats.reconnects += 1;
                    }
                    let credits: Vec<(&str, u32)> =
                        s.serving.iter().map(|(c, n)| (*c, *n)).collect();
                    for (channel, n) in credits {
                        for _ in 0..n {
                            s.receive(conn, channel);
                        }
                    }
                } else {
                    s.expect.actions.push(Act::Close(conn));
                    s.closed(conn, None);
                }
            }
            T::Lose => {
                let conn = s.link.expect("precondition");
                s.closed(conn, Some("lost"));
            }
            T::Close => {
                s.closing = true;
                if let Some(conn) = s.link {
                    s.expect.actions.push(Act::Close(conn));
                }
            }
            T::PingDue => {
                let conn = s.link.expect("precondition");
                s.nonce += 1;
                let nonce = s.nonce;
                s.send(conn, Message::Ping { nonce });
            }
            T::Request(id) => {
                if !s.active {
                    s.expect.refused = Some("not_connected".into());
                } else if s.pending.contains(id) {
                    s.expect.refused = Some("duplicate_id".into());
                } else {
                    s.pending.insert(id);
                    s.retired.remove(id);
                    s.expect.frames = Some(vec![start_of(id)]);
                }
            }
            T::SendFailed(id) => {
                s.stats.pending.failed += 1;
                s.complete(id, Err("send_failed".into()), Retired::Gone);
            }
            T::Expire(id) => {
                s.abandon(id, Removal::TimedOut);
                s.expect.outcomes.push((id, Err("timeout".into())));
            }
            T::Cancel(id) => s.abandon(id, Removal::Cancelled),
            T::Serve(channel, n) => {
                let credits = (*n).max(1);
                s.serving.insert(channel, credits);
                if let (Some(conn), true) = (s.link, s.active) {
                    for _ in 0..credits {
                        s.receive(conn, channel);
                    }
                }
            }
            T::Respond { n, parts } => {
                let incoming = s.delivered[*n].clone();
                let q = s.delivered[*n].req.as_str();
                let q = QS.iter().copied().find(|x| *x == q).expect("a q");
                // A stale answer (its connection is gone) leaves the service set alone.
                let live = s.link == Some(incoming.conn);
                if live && s.in_service.remove(q).is_some() {
                    s.stats.served += 1;
                    let mut frames = answer_frames(q, answer_of(parts));
                    frames.push(Message::Receive {
                        channel: incoming.channel.clone(),
                    });
                    s.expect.frames = Some(frames);
                }
            }
        }
        s.stats.pending.pending = s.pending.len() as u64;
        s.expect.outcomes.sort();
        s
    }
}

fn start_of(id: &str) -> Message {
    Message::Start {
        req: id.into(),
        channel: "jobs".into(),
        dir: Dir::Request,
        body: "b".into(),
        end: true,
    }
}

fn answer_of(parts: &[&str]) -> Answer {
    Answer::Parts(parts.iter().map(|p| p.to_string()).collect())
}

// ---------------------------------------------------------------------------------------
// System under test: the machine, driven as the tokio driver drives it
// ---------------------------------------------------------------------------------------

struct Sut {
    mux: Mux,
    waiters: BTreeMap<&'static str, Waiter>,
    hook: Arc<Mutex<Vec<(String, Removal)>>>,
    /// Every `Incoming` delivered so far, in order.
    delivered: Vec<Incoming>,
    /// The registration outcome not taken yet (what the driver's oneshot holds).
    registration: Option<(ConnNo, Outcome)>,
}

impl Sut {
    /// Routes recorded removal-hook calls to `on_removed`, as the driver's hook does.
    fn removed(&mut self) -> Vec<Action> {
        let calls: Vec<(String, Removal)> = self.hook.lock().unwrap().drain(..).collect();
        calls
            .into_iter()
            .flat_map(|(id, why)| self.mux.on_removed(&id, why))
            .collect()
    }
}

struct ClientTest<V>(PhantomData<V>);

impl<V: Variant> StateMachineTest for ClientTest<V> {
    type SystemUnderTest = Sut;
    type Reference = ClientRef<V>;

    fn init_test(_: &Model) -> Sut {
        let hook = Arc::new(Mutex::new(Vec::new()));
        let log = hook.clone();
        let pending = PendingMap::with_removal_hook(Box::new(move |id, why| {
            log.lock().unwrap().push((id.to_owned(), why));
        }));
        let config = MuxConfig {
            client_id: ME.into(),
            token: None,
            flaws: Flaws::none(),
        };
        Sut {
            mux: Mux::new(config, pending),
            waiters: BTreeMap::new(),
            hook,
            delivered: Vec::new(),
            registration: None,
        }
    }

    fn apply(mut sut: Sut, model: &Model, t: T) -> Sut {
        let mut got = Expect::default();
        let link = sut.mux.link();
        let actions = match &t {
            T::Connect => {
                let conn = model.last_conn;
                assert_eq!(sut.mux.on_connecting(), model.stats.connect_attempts);
                got.frames = Some(vec![sut.mux.on_connected(conn)]);
                Vec::new()
            }
            T::Recv(text) => sut.mux.on_text(link.expect("a link"), &text.encode()),
            T::Stale => sut.mux.on_text(STALE, &Text::Pong.encode()),
            T::RegisterDeadline => sut.mux.on_register_deadline(link.expect("a link")),
            T::Finish => {
                // The outcome as the driver got it, from the `Registration` action.
                let (conn, outcome) = sut.registration.take().expect("an outcome");
                let mut a = sut.mux.finish_registration(conn, &outcome);
                if outcome.is_err() {
                    a.extend(sut.mux.on_closed(conn, None));
                }
                a
            }
            T::Lose => sut.mux.on_closed(link.expect("a link"), Some("lost")),
            T::Close => sut.mux.close(),
            T::PingDue => sut.mux.on_ping_due(link.expect("a link")),
            T::Request(id) => {
                let req = Request {
                    id: (*id).into(),
                    channel: "jobs".into(),
                    body: "b".into(),
                    ..Request::default()
                };
                match sut.mux.request(&req) {
                    Begin::Send {
                        waiter,
                        frames,
                        steal,
                    } => {
                        assert!(!steal, "no flaw is on");
                        got.frames = Some(frames);
                        sut.waiters.insert(id, waiter);
                    }
                    Begin::Fail(e) => got.refused = Some(e.kind().to_owned()),
                    Begin::Stall => panic!("stalled without the flaw"),
                }
                Vec::new()
            }
            T::SendFailed(id) => {
                assert!(sut
                    .mux
                    .on_send_failed(id, CallError::SendFailed("write".into())));
                Vec::new()
            }
            T::Expire(id) => {
                let w = sut.waiters.remove(id).expect("held");
                got.outcomes.push((id, outcome_key(&w.expire())));
                sut.removed()
            }
            T::Cancel(id) => {
                drop(sut.waiters.remove(id).expect("held"));
                sut.removed()
            }
            T::Serve(channel, n) => sut.mux.serve(channel, *n),
            T::Respond { n, parts } => {
                let incoming = sut.delivered[*n].clone();
                got.frames = sut.mux.respond(&incoming, answer_of(parts));
                Vec::new()
            }
        };
        for a in &actions {
            match a {
                Action::Deliver(i) => sut.delivered.push(i.clone()),
                Action::Registration(conn, o) => sut.registration = Some((*conn, o.clone())),
                _ => {}
            }
        }
        got.actions = norm(actions);
        // Waiters whose calls ended during this step yield their outcome exactly once.
        let ids: Vec<&'static str> = sut.waiters.keys().copied().collect();
        for id in ids {
            let w = sut.waiters.get_mut(id).expect("held");
            if let Some(o) = w.try_take() {
                assert_eq!(w.try_take(), None, "outcome of {id} taken twice");
                got.outcomes.push((id, outcome_key(&o)));
                sut.waiters.remove(id);
            }
        }
        got.outcomes.sort();
        assert_eq!(got, model.expect, "result of {t:?}");
        sut
    }

    fn check_invariants(sut: &Sut, m: &Model) {
        let mux = &sut.mux;
        assert_eq!(mux.stats(), m.stats, "stats()");
        let ids: Vec<String> = m.pending.iter().map(|s| s.to_string()).collect();
        assert_eq!(mux.pending_ids(), ids, "pending_ids()");
        let held: Vec<&str> = sut.waiters.keys().copied().collect();
        let pending: Vec<&str> = m.pending.iter().copied().collect();
        assert_eq!(
            held, pending,
            "a waiter is held exactly for each pending id"
        );
        let keys = |b: Vec<&&str>| b.into_iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            mux.in_service(),
            keys(m.in_service.keys().collect()),
            "in_service()"
        );
        assert_eq!(
            mux.assembling(),
            keys(m.assembling.keys().collect()),
            "assembling()"
        );
        assert_eq!(mux.link(), m.link, "link()");
        assert_eq!(mux.is_active(), m.active, "is_active()");
        assert_eq!(
            mux.is_registering(),
            m.registering.is_some(),
            "is_registering()"
        );
        assert_eq!(mux.is_closing(), m.closing, "is_closing()");
        let s: Stats = mux.stats().pending;
        assert_eq!(s.pending, m.pending.len() as u64);
    }
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

prop_state_machine! {
    #![proptest_config(config(1024))]

    #[test]
    fn client_core_matches_model(sequential 1..60 => ClientTest<Correct>);
}

/// The shrunk failure of variant `V`'s machine (see `support/teeth.rs`).
fn shrunk_failure<V: Variant>() -> (String, Vec<T>) {
    support::teeth::shrunk_failure::<ClientRef<V>, ClientTest<V>>(60, V::MUTANT)
}

/// The shrunk list is 1-minimal (no single transition can go), not always minimal: a
/// registration attempt (`Connect`, a reply or the deadline, `Finish`, and after a
/// success `Lose`) can only go as a whole, so such attempts may stay in front of the
/// essential steps. Returns the steps from the last `Connect` on, plus any `Serve`, after
/// checking that the rest is made only of whole attempts.
fn essential(ts: &[T]) -> Vec<&T> {
    let last_connect = ts.iter().rposition(|t| matches!(t, T::Connect));
    let (mut kept, mut attempts) = (Vec::new(), Vec::new());
    for (i, t) in ts.iter().enumerate() {
        if Some(i) >= last_connect || matches!(t, T::Serve(..)) {
            kept.push(t);
        } else {
            attempts.push(t);
        }
    }
    for t in attempts {
        assert!(
            matches!(
                t,
                T::Connect | T::Recv(_) | T::RegisterDeadline | T::Finish | T::Lose
            ),
            "not part of a registration attempt: {t:?} in {ts:?}"
        );
    }
    kept
}

#[test]
fn mutants_are_caught() {
    // connect, serve, a served request arrives (during registration too: ordinary
    // traffic is dispatched), the broker cancels it: its `receive` comes back.
    let (why, ts) = shrunk_failure::<CancelKeepsCredit>();
    assert!(why.contains("result of Recv(InCancel"), "{why}");
    let e = essential(&ts);
    assert_eq!(e.len(), 4, "{ts:?}");
    assert!(
        matches!(
            e[..],
            [
                T::Serve(..),
                T::Connect,
                T::Recv(Text::InStart { .. }),
                T::Recv(Text::InCancel(_))
            ] | [
                T::Connect,
                T::Serve(..),
                T::Recv(Text::InStart { .. }),
                T::Recv(Text::InCancel(_))
            ]
        ),
        "{ts:?}"
    );

    // connect, then a request for a channel nobody serves: answered `not_serving`.
    let (why, ts) = shrunk_failure::<IgnoresUnserved>();
    assert!(why.contains("result of Recv(InStart"), "{why}");
    assert!(
        matches!(
            essential(&ts)[..],
            [T::Connect, T::Recv(Text::InStart { .. })]
        ),
        "{ts:?}"
    );
}
