#![cfg(loom)]
//! Loom models of the broker's assignment registry (`wirecheck_core::broker`): connection
//! tasks as loom threads feeding the real [`Broker`] through [`SharedBroker`] (the `sync`
//! shim's mutex), one request `r1` on channel `jobs`.
//!
//! Run with `bash ci/loom.sh` (or the command in it). Each model prints the interleavings it
//! explored, its preemption bound and its wall time; `docs/loom.md` records the figures.
//!
//! Every event goes through [`World::step`], which, inside the same critical section as the
//! event itself, runs `check_invariants()` and checks every returned [`Action`] against the
//! assignment before and after the event, then appends it to a log kept in lock order.
//! Properties:
//! - a request is assigned to at most one receiver, ever;
//! - request frames (`start`/`chunk`/`end`, `cancel`) go only to the assigned receiver, in
//!   the order the sender sent them; response frames are accepted only from the assigned
//!   receiver and go only to the sender; everyone else gets `not_assigned`;
//! - nothing is sent to a connection that is gone, and the sender gets at most one
//!   terminal frame (`end`, `start end:true`, `error`) for its request;
//! - when every path has ended, no request, assignment, queue item or waiting entry of a
//!   gone connection is left (`stats()`, `check_invariants()`).

use loom::thread;
use std::collections::BTreeSet;
use std::sync::Mutex as StdMutex;
use wirecheck_core::broker::{Action, Broker, BrokerConfig, BrokerStats, ConnId, SharedBroker};
use wirecheck_core::wire::{code, Dir, Message};

#[path = "support/loom_explore.rs"]
mod loom_explore;
use loom_explore::explore;

// ---- the world: one broker, three registered connections -----------------------------

const SENDER: ConnId = 1;
const RX2: ConnId = 2;
const RX3: ConnId = 3;
const REQ: &str = "r1";
const CHANNEL: &str = "jobs";

#[derive(Clone, Debug)]
enum Event {
    Sent {
        from: ConnId,
        to: ConnId,
        msg: Message,
    },
    Gone(ConnId),
}

#[derive(Default)]
struct Log {
    /// In broker-lock order (appended inside the critical section), except for the planted
    /// race's frames, which are appended after it returns.
    events: Vec<Event>,
    /// Every receiver `r1` was ever seen assigned to.
    assigned_to: BTreeSet<ConnId>,
}

/// Handles shared by the model's threads. The log is plain std (not modelled): it is
/// touched only inside the broker's critical section or after it, never across a loom
/// operation.
#[derive(Clone)]
struct World {
    broker: SharedBroker,
    log: std::sync::Arc<StdMutex<Log>>,
}

impl World {
    /// A broker with `s` on conn 1, `r2` on conn 2 and `r3` on conn 3, all registered.
    fn new() -> World {
        let broker = SharedBroker::new(BrokerConfig::default());
        broker.with(|b| {
            for (conn, client) in [(SENDER, "s"), (RX2, "r2"), (RX3, "r3")] {
                b.on_connect(conn);
                let out = b.on_message(
                    conn,
                    Message::Hello {
                        client: client.into(),
                        token: None,
                    },
                );
                assert!(
                    matches!(&out[..], [Action::Send(c, Message::Welcome { .. })] if *c == conn)
                );
            }
        });
        World {
            broker,
            log: Default::default(),
        }
    }

    fn msg(&self, conn: ConnId, msg: Message) -> Vec<Action> {
        self.step(conn, false, |b| b.on_message(conn, msg))
    }

    fn disconnect(&self, conn: ConnId) -> Vec<Action> {
        self.step(conn, true, |b| b.on_disconnect(conn))
    }

    /// Runs one event under the broker lock and checks it in the same critical section.
    fn step(
        &self,
        from: ConnId,
        gone: bool,
        event: impl FnOnce(&mut Broker) -> Vec<Action>,
    ) -> Vec<Action> {
        self.broker.with(|b| {
            let before = b.assignee(REQ);
            let actions = event(b);
            let after = b.assignee(REQ);
            if let Err(e) = b.check_invariants() {
                panic!("invariant broken after an event from conn {from}: {e}");
            }
            let mut log = self.log.lock().unwrap();
            log.assigned_to.extend(after);
            if gone {
                log.events.push(Event::Gone(from));
            }
            for a in &actions {
                check_action(b, from, before, after, a);
                let Action::Send(to, msg) = a else {
                    unreachable!()
                };
                log.events.push(Event::Sent {
                    from,
                    to: *to,
                    msg: msg.clone(),
                });
            }
            actions
        })
    }

    /// The planted race: the response goes through `route_response_racy` (its own two
    /// critical sections); its actions are logged after it returns.
    fn msg_racy(&self, conn: ConnId, msg: Message) -> Vec<Action> {
        let actions = self.broker.route_response_racy(conn, msg);
        let mut log = self.log.lock().unwrap();
        for a in &actions {
            if let Action::Send(to, msg) = a {
                log.events.push(Event::Sent {
                    from: conn,
                    to: *to,
                    msg: msg.clone(),
                });
            }
        }
        actions
    }

    fn stats(&self) -> BrokerStats {
        self.broker.with(|b| {
            b.check_invariants().unwrap();
            b.stats()
        })
    }

    fn assignee(&self) -> Option<ConnId> {
        self.broker.with(|b| b.assignee(REQ))
    }
}

// ---- messages and their classification -----------------------------------------------

fn req_start(end: bool) -> Message {
    Message::Start {
        req: REQ.into(),
        channel: CHANNEL.into(),
        dir: Dir::Request,
        body: "job".into(),
        end,
    }
}

fn chunk(dir: Dir, seq: u64, data: &str) -> Message {
    Message::Chunk {
        req: REQ.into(),
        dir,
        seq,
        data: data.into(),
    }
}

fn end(dir: Dir) -> Message {
    Message::End {
        req: REQ.into(),
        dir,
    }
}

fn resp_start(body: &str, end: bool) -> Message {
    Message::Start {
        req: REQ.into(),
        channel: String::new(),
        dir: Dir::Response,
        body: body.into(),
        end,
    }
}

fn receive() -> Message {
    Message::Receive {
        channel: CHANNEL.into(),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// `start`/`chunk`/`end` of the request, or `cancel`: for the assigned receiver.
    RequestFrame,
    /// `start`/`chunk`/`end` of the response, or an `error` about `r1` from the receiver or
    /// the broker (`receiver_gone`): for the sender.
    ResponseFrame {
        terminal: bool,
    },
    /// `not_assigned`: back to whoever sent a frame it may not send.
    Rejection,
    Other,
}

fn kind(msg: &Message) -> Kind {
    if msg.req() != Some(REQ) {
        return Kind::Other;
    }
    match msg {
        Message::Start {
            dir: Dir::Request, ..
        }
        | Message::Chunk {
            dir: Dir::Request, ..
        }
        | Message::End {
            dir: Dir::Request, ..
        }
        | Message::Cancel { .. } => Kind::RequestFrame,
        Message::Error { code: c, .. } if c == code::NOT_ASSIGNED => Kind::Rejection,
        Message::Start { end, .. } => Kind::ResponseFrame { terminal: *end },
        Message::Chunk { .. } => Kind::ResponseFrame { terminal: false },
        Message::End { .. } | Message::Error { .. } => Kind::ResponseFrame { terminal: true },
        _ => Kind::Other,
    }
}

/// Checks one action against the assignment of `r1` just before (`before`) and just after
/// (`after`) the event from `from` that produced it, inside the same critical section.
fn check_action(
    b: &Broker,
    from: ConnId,
    before: Option<ConnId>,
    after: Option<ConnId>,
    action: &Action,
) {
    let Action::Send(to, msg) = action else {
        panic!("unexpected {action:?} after an event from conn {from}");
    };
    let to = *to;
    assert!(
        b.client_of(to).is_some(),
        "routing violation: {msg:?} sent to conn {to}, which is gone"
    );
    match kind(msg) {
        Kind::RequestFrame if matches!(msg, Message::Cancel { .. }) => {
            assert_eq!(
                before,
                Some(to),
                "routing violation: cancel sent to conn {to}, not the assigned receiver"
            );
            assert_eq!(after, None, "routing violation: cancel sent but r1 still assigned");
        }
        Kind::RequestFrame => assert_eq!(
            after,
            Some(to),
            "routing violation: request frame {msg:?} routed to conn {to}, which is not the assigned receiver"
        ),
        Kind::ResponseFrame { .. } => {
            assert_eq!(
                before,
                Some(from),
                "routing violation: response {msg:?} from conn {from}, which is not the assigned receiver, was routed"
            );
            assert_eq!(to, SENDER, "routing violation: response routed to conn {to}, not the sender");
        }
        Kind::Rejection => assert_eq!(to, from, "routing violation: rejection sent to a third party"),
        Kind::Other => {}
    }
}

/// Checks the whole log once every thread has ended. `request_frames` is what the sender
/// sent, in order: the receiver must see a prefix of it, then possibly `cancel`.
fn check_log(w: &World, request_frames: &[Message]) {
    let log = w.log.lock().unwrap();
    assert!(
        log.assigned_to.len() <= 1,
        "routing violation: r1 was assigned to more than one receiver: {:?}",
        log.assigned_to
    );
    let mut gone = BTreeSet::new();
    let mut to_receiver: Vec<(ConnId, &Message)> = Vec::new();
    let mut terminals = 0;
    for ev in &log.events {
        match ev {
            Event::Gone(c) => {
                gone.insert(*c);
            }
            Event::Sent { from, to, msg } => {
                assert!(
                    !gone.contains(to),
                    "routing violation: {msg:?} sent to conn {to} after it was gone"
                );
                match kind(msg) {
                    Kind::RequestFrame => to_receiver.push((*to, msg)),
                    Kind::ResponseFrame { terminal } => {
                        assert_eq!(
                            terminals, 0,
                            "routing violation: sender got {msg:?} from conn {from} after the end of r1"
                        );
                        if terminal {
                            terminals += 1;
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    let receivers: BTreeSet<ConnId> = to_receiver.iter().map(|(c, _)| *c).collect();
    assert!(
        receivers.len() <= 1,
        "routing violation: request frames went to several connections: {to_receiver:?}"
    );
    let mut got: Vec<&Message> = to_receiver.iter().map(|(_, m)| *m).collect();
    if matches!(got.last(), Some(Message::Cancel { .. })) {
        got.pop();
    }
    assert!(
        got.len() <= request_frames.len() && got.iter().zip(request_frames).all(|(a, b)| *a == b),
        "routing violation: receiver got request frames {got:?}, sender sent {request_frames:?}"
    );
}

/// Terminal frames the sender got for `r1` (from the log).
fn terminals_to_sender(w: &World) -> Vec<Message> {
    let log = w.log.lock().unwrap();
    log.events
        .iter()
        .filter_map(|ev| match ev {
            Event::Sent { to, msg, .. }
                if *to == SENDER && kind(msg) == (Kind::ResponseFrame { terminal: true }) =>
            {
                Some(msg.clone())
            }
            _ => None,
        })
        .collect()
}

// ---- models over the real code -------------------------------------------------------

/// A request start enqueued to `jobs`, two receivers competing for it, the request streamed
/// while (or before) it is assigned.
///
/// Threads: the sender (conn 1) sends `start` (no end), `chunk 0`, `end`; receivers on
/// conns 2 and 3 each send `receive jobs`. Then main lets the assignee answer and the other
/// receiver disconnect.
#[test]
fn competing_receivers_and_request_stream() {
    explore(
        "broker/competing_receivers_and_request_stream",
        3,
        None,
        || {
            let w = World::new();
            let (ws, w2, w3) = (w.clone(), w.clone(), w.clone());
            let sent = vec![
                req_start(false),
                chunk(Dir::Request, 0, "x"),
                end(Dir::Request),
            ];
            let frames = sent.clone();
            let s = thread::spawn(move || {
                for m in frames {
                    ws.msg(SENDER, m);
                }
            });
            let r2 = thread::spawn(move || w2.msg(RX2, receive()));
            let r3 = thread::spawn(move || w3.msg(RX3, receive()));
            s.join().unwrap();
            r2.join().unwrap();
            r3.join().unwrap();

            let rx = w.assignee().expect("r1 assigned once a receiver asked");
            let st = w.stats();
            assert_eq!(
                (st.requests, st.assignments, st.queued, st.waiting),
                (1, 1, 0, 1),
                "{st:?}"
            );
            check_log(&w, &sent);
            let delivered: Vec<Message> = w
                .log
                .lock()
                .unwrap()
                .events
                .iter()
                .filter_map(|e| match e {
                    Event::Sent { to, msg, .. } if *to == rx => Some(msg.clone()),
                    _ => None,
                })
                .collect();
            assert_eq!(
                delivered, sent,
                "the assignee got the whole request, in order"
            );

            // The assignee answers: routed to the sender, assignment removed (BRK-5).
            let out = w.msg(rx, resp_start("done", true));
            assert_eq!(out, vec![Action::Send(SENDER, resp_start("done", true))]);
            let other = if rx == RX2 { RX3 } else { RX2 };
            w.disconnect(other);
            let st = w.stats();
            assert_eq!(
                (
                    st.requests,
                    st.assignments,
                    st.queued,
                    st.waiting,
                    st.connections
                ),
                (0, 0, 0, 0, 2),
                "{st:?}"
            );
            check_log(&w, &sent);
            assert_eq!(terminals_to_sender(&w).len(), 1);
        },
    );
}

/// Receiver unregister mid-request, racing its own response stream, the sender's request
/// frames and a third connection that tries to answer a request it does not hold.
///
/// Main: conn 2 `receive`, conn 1 `start r1` (assigned to 2), conn 3 `receive`.
/// Threads: receiver (conn 2) answers `start`, `chunk 0`, `end`; conn 2 disconnects (its
/// reader or idle timer); the sender streams request `chunk 0`, `end`; and main, racing
/// them, is conn 3 sending `end r1` (response) it was never assigned.
fn receiver_gone_mid_request(racy: bool) {
    let w = World::new();
    w.msg(RX2, receive());
    w.msg(SENDER, req_start(false));
    w.msg(RX3, receive());
    assert_eq!(w.assignee(), Some(RX2));

    let (wr, wg, ws, wx) = (w.clone(), w.clone(), w.clone(), w.clone());
    let rx = thread::spawn(move || {
        for m in [
            resp_start("a", false),
            chunk(Dir::Response, 0, "b"),
            end(Dir::Response),
        ] {
            if racy {
                wr.msg_racy(RX2, m);
            } else {
                wr.msg(RX2, m);
            }
        }
    });
    let rx_gone = thread::spawn(move || wg.disconnect(RX2));
    let sender = thread::spawn(move || {
        ws.msg(SENDER, chunk(Dir::Request, 0, "x"));
        ws.msg(SENDER, end(Dir::Request));
    });
    // Main is conn 3, racing the three threads.
    let spoofed = wx.msg(RX3, end(Dir::Response));
    rx.join().unwrap();
    rx_gone.join().unwrap();
    sender.join().unwrap();

    // The checks that catch the planted race come first.
    let terminals = terminals_to_sender(&w);
    assert!(
        terminals.len() <= 1,
        "routing violation: sender got {} terminal frames for r1: {terminals:?}",
        terminals.len()
    );
    check_log(
        &w,
        &[
            req_start(false),
            chunk(Dir::Request, 0, "x"),
            end(Dir::Request),
        ],
    );
    assert_eq!(terminals.len(), 1, "the sender learns how r1 ended");
    assert!(
        matches!(&spoofed[..], [Action::Send(RX3, Message::Error { code: c, .. })] if c == code::NOT_ASSIGNED),
        "conn 3 answering r1 must be rejected, got {spoofed:?}"
    );
    let st = w.stats();
    assert_eq!(
        (
            st.requests,
            st.assignments,
            st.queued,
            st.waiting,
            st.connections,
            st.clients
        ),
        (0, 0, 0, 1, 2, 2),
        "only conn 3's receive may remain: {st:?}"
    );
}

#[test]
fn receiver_unregister_mid_request() {
    explore("broker/receiver_unregister_mid_request", 4, None, || {
        receiver_gone_mid_request(false)
    });
}

/// Sender unregister while its request is queued or assigned, with two receivers that
/// race to take it and both try to answer it.
///
/// Threads: the sender (conn 1) sends `start r1 end:true` then disconnects; conns 2 and 3
/// each `receive jobs` then answer `start r1 end:true` (response).
#[test]
fn sender_unregister_with_competing_answers() {
    explore(
        "broker/sender_unregister_with_competing_answers",
        3,
        None,
        || {
            let w = World::new();
            let (ws, w2, w3) = (w.clone(), w.clone(), w.clone());
            let s = thread::spawn(move || {
                ws.msg(SENDER, req_start(true));
                ws.disconnect(SENDER)
            });
            let answer = |w: World, me: ConnId| {
                move || {
                    w.msg(me, receive());
                    w.msg(me, resp_start(&format!("from {me}"), true))
                }
            };
            let r2 = thread::spawn(answer(w2, RX2));
            let r3 = thread::spawn(answer(w3, RX3));
            s.join().unwrap();
            let a2 = r2.join().unwrap();
            let a3 = r3.join().unwrap();

            check_log(&w, &[req_start(true)]);
            let assigned = w.log.lock().unwrap().assigned_to.clone();
            let routed = terminals_to_sender(&w);
            assert!(routed.len() <= 1, "sender got {routed:?}");
            // Whoever was not assigned had its answer rejected.
            for (me, out) in [(RX2, &a2), (RX3, &a3)] {
                if !assigned.contains(&me) {
                    assert!(
                        matches!(&out[..], [Action::Send(c, Message::Error { code: k, .. })] if *c == me && k == code::NOT_ASSIGNED),
                        "conn {me} was never assigned r1 but got {out:?}"
                    );
                }
            }
            let st = w.stats();
            assert_eq!(
                (
                    st.requests,
                    st.assignments,
                    st.queued,
                    st.connections,
                    st.clients
                ),
                (0, 0, 0, 2, 2),
                "nothing of r1 or of the sender is left: {st:?}"
            );
            assert_eq!(
                st.waiting,
                2 - assigned.len() as u64,
                "each receive not consumed by r1 still waits"
            );
        },
    );
}

// ---- planted race: loom must catch it -------------------------------------------------

/// Teeth: the same model as `receiver_unregister_mid_request`, with the receiver's
/// responses routed by `SharedBroker::route_response_racy` (assignment checked in one
/// critical section, routed and unassigned in another). Loom must find the interleaving
/// where conn 2 is unregistered (the sender gets `receiver_gone`) between the check and the
/// routing of `end`, so the sender gets a second terminal frame from a receiver that is
/// no longer assigned.
#[test]
#[should_panic(expected = "routing violation")]
fn planted_race_route_response_is_caught() {
    explore("broker/planted_race_route_response", 4, None, || {
        receiver_gone_mid_request(true)
    });
}
