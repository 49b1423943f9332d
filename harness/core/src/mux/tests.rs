//! Unit tests of the multiplexer's decisions.

use super::*;
use crate::pending::{Removal, Waiter};
use crate::wire::{code, Dir};
use std::sync::Mutex as StdMutex;

type Removed = std::sync::Arc<StdMutex<Vec<(String, Removal)>>>;

/// A machine whose removal hook records removals (the driver would call `on_removed`).
fn mux_with(flaws: Flaws) -> (Mux, Removed) {
    let removed: Removed = Default::default();
    let r = removed.clone();
    let hook: crate::pending::RemovalHook = Box::new(move |id: &str, why: Removal| {
        r.lock().unwrap().push((id.to_owned(), why));
    });
    let config = MuxConfig {
        client_id: "app".into(),
        token: Some("t".into()),
        flaws: flaws.clone(),
    };
    (
        Mux::new(config, PendingMap::configured(Some(hook), flaws)),
        removed,
    )
}

fn mux() -> Mux {
    mux_with(Flaws::none()).0
}

/// Connected as `conn` and registered.
fn registered(conn: ConnNo) -> Mux {
    let mut m = mux();
    register(&mut m, conn);
    m
}

fn register(m: &mut Mux, conn: ConnNo) {
    m.on_connected(conn);
    let out = m.on_text(
        conn,
        &Message::Welcome {
            client: "app".into(),
        }
        .encode(),
    );
    assert_eq!(out, vec![Action::Registration(conn, Ok("welcome".into()))]);
    m.finish_registration(conn, &Ok("welcome".into()));
}

fn text(m: &Message) -> String {
    m.encode()
}

fn req_start(req: &str, channel: &str, end: bool) -> String {
    text(&Message::Start {
        req: req.into(),
        channel: channel.into(),
        dir: Dir::Request,
        body: "b".into(),
        end,
    })
}

fn resp_start(req: &str, body: &str) -> String {
    text(&Message::Start {
        req: req.into(),
        channel: String::new(),
        dir: Dir::Response,
        body: body.into(),
        end: true,
    })
}

fn receive(conn: ConnNo, channel: &str) -> Action {
    Action::Send(
        conn,
        Message::Receive {
            channel: channel.into(),
        },
    )
}

fn begin(m: &mut Mux, id: &str) -> (Waiter, Vec<Message>) {
    match m.request(&Request {
        id: id.into(),
        channel: "jobs".into(),
        body: "x".into(),
        ..Request::default()
    }) {
        Begin::Send {
            waiter,
            frames,
            steal: false,
        } => (waiter, frames),
        other => panic!("request {id} did not start: {other:?}"),
    }
}

fn notes(out: &[Action]) -> Vec<&str> {
    out.iter()
        .filter_map(|a| match a {
            Action::Note(n) => Some(n.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn hello_carries_id_and_token_and_welcome_registers() {
    let mut m = mux();
    assert_eq!(
        m.on_connected(1),
        Message::Hello {
            client: "app".into(),
            token: Some("t".into())
        }
    );
    assert!(m.is_registering());
    assert!(matches!(
        m.request(&Request::default()),
        Begin::Fail(CallError::NotConnected)
    ));
    let out = m.on_text(
        1,
        &text(&Message::Welcome {
            client: "app".into(),
        }),
    );
    assert_eq!(out, vec![Action::Registration(1, Ok("welcome".into()))]);
    assert!(!m.is_registering());
    assert!(m.finish_registration(1, &Ok("welcome".into())).is_empty());
    assert!(m.is_active());
    let s = m.stats();
    assert_eq!((s.registrations, s.reconnects), (1, 0));
}

#[test]
fn registration_failures_by_kind() {
    let cases: Vec<(String, CallError)> = vec![
        (
            text(&Message::Welcome {
                client: "other".into(),
            }),
            CallError::UnexpectedReply("welcome for client `other`, not `app`".into()),
        ),
        (
            text(&Message::error(None, code::UNAUTHORIZED, "no")),
            CallError::Rejected {
                code: code::UNAUTHORIZED.into(),
                message: "no".into(),
            },
        ),
        (
            text(&Message::Hello {
                client: "app".into(),
                token: None,
            }),
            CallError::UnexpectedReply("`hello` instead of `welcome` or `error`".into()),
        ),
    ];
    for (reply, want) in cases {
        let mut m = mux();
        m.on_connected(1);
        let out = m.on_text(1, &reply);
        assert_eq!(
            out,
            vec![Action::Registration(1, Err(want.clone()))],
            "{reply}"
        );
        // The driver closes a connection whose registration failed.
        assert_eq!(m.finish_registration(1, &Err(want)), vec![Action::Close(1)]);
        assert!(!m.is_active());
    }
    let mut m = mux();
    m.on_connected(1);
    match &m.on_text(1, "{not json")[..] {
        [Action::Registration(1, Err(CallError::UnexpectedReply(why)))] => {
            assert!(why.starts_with("not a protocol message"), "{why}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn registration_deadline_and_failed_hello_decide_once() {
    let mut m = mux();
    m.on_connected(1);
    assert_eq!(
        m.on_register_deadline(1),
        vec![Action::Registration(1, Err(CallError::Timeout))]
    );
    // A late welcome is no longer a registration reply.
    let out = m.on_text(
        1,
        &text(&Message::Welcome {
            client: "app".into(),
        }),
    );
    assert_eq!(notes(&out), vec!["ignored unexpected `welcome`"]);
    assert!(m.on_register_deadline(1).is_empty());
    let mut m = mux();
    m.on_connected(2);
    let e = CallError::SendFailed("gone".into());
    assert_eq!(
        m.on_hello_failed(2, e.clone()),
        vec![Action::Registration(2, Err(e.clone()))]
    );
    assert!(m.on_hello_failed(2, e).is_empty());
}

#[test]
fn ordinary_traffic_during_registration_is_dispatched() {
    let mut m = mux();
    m.serve("jobs", 1);
    m.on_connected(1);
    let out = m.on_text(1, &text(&Message::Ping { nonce: 7 }));
    assert_eq!(out, vec![Action::Send(1, Message::Pong { nonce: 7 })]);
    let out = m.on_text(1, &req_start("q1", "jobs", true));
    assert!(matches!(&out[..], [Action::Deliver(i)] if i.req == "q1" && i.conn == 1));
    assert!(m.is_registering(), "traffic is not a registration reply");
}

#[test]
fn only_refusals_other_than_client_id_taken_stop_the_client() {
    let rejected = |code: &str| CallError::Rejected {
        code: code.into(),
        message: String::new(),
    };
    assert_eq!(
        Mux::gives_up_after(&rejected(code::UNAUTHORIZED)),
        Some("registration refused: unauthorized".into())
    );
    assert_eq!(Mux::gives_up_after(&rejected(code::CLIENT_ID_TAKEN)), None);
    assert_eq!(Mux::gives_up_after(&CallError::Timeout), None);
}

#[test]
fn credits_on_registration_and_on_serve() {
    let mut m = mux();
    assert!(
        m.serve("jobs", 2).is_empty(),
        "no credits before registration"
    );
    m.on_connected(1);
    m.on_text(
        1,
        &text(&Message::Welcome {
            client: "app".into(),
        }),
    );
    assert_eq!(
        m.finish_registration(1, &Ok("welcome".into())),
        vec![receive(1, "jobs"), receive(1, "jobs")]
    );
    assert_eq!(m.serve("logs", 0), vec![receive(1, "logs")], "at least one");
}

#[test]
fn request_for_unserved_channel_is_answered_not_serving() {
    let mut m = registered(1);
    let out = m.on_text(1, &req_start("q1", "nope", true));
    match &out[..] {
        [Action::Send(1, Message::Error { req, code, .. })] => {
            assert_eq!(
                (req.as_deref(), code.as_str()),
                (Some("q1"), code::NOT_SERVING)
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(m.in_service().is_empty());
}

#[test]
fn served_request_is_assembled_and_its_credit_returns_after_the_answer() {
    let mut m = registered(1);
    m.serve("jobs", 1);
    assert!(m.on_text(1, &req_start("q1", "jobs", false)).is_empty());
    let chunk = |seq: u64, data: &str| {
        text(&Message::Chunk {
            req: "q1".into(),
            dir: Dir::Request,
            seq,
            data: data.into(),
        })
    };
    assert!(m.on_text(1, &chunk(0, "c")).is_empty());
    let out = m.on_text(
        1,
        &text(&Message::End {
            req: "q1".into(),
            dir: Dir::Request,
        }),
    );
    let incoming = Incoming {
        req: "q1".into(),
        channel: "jobs".into(),
        body: "bc".into(),
        conn: 1,
    };
    assert_eq!(out, vec![Action::Deliver(incoming.clone())]);
    let frames = m
        .respond(&incoming, Answer::Parts(vec!["a".into(), "b".into()]))
        .expect("in service");
    assert_eq!(frames.len(), 4, "start, chunk, end, receive: {frames:?}");
    assert_eq!(
        frames.last(),
        Some(&Message::Receive {
            channel: "jobs".into()
        })
    );
    assert_eq!(m.respond(&incoming, Answer::Error("x".into())), None);
    // A cancel after the answer returns no second credit.
    assert!(m
        .on_text(1, &text(&Message::Cancel { req: "q1".into() }))
        .is_empty());
    let s = m.stats();
    assert_eq!((s.served, s.served_cancelled), (1, 0));
}

#[test]
fn cancel_returns_the_credit_once_and_the_late_answer_is_not_sent() {
    let mut m = registered(1);
    m.serve("jobs", 1);
    let out = m.on_text(1, &req_start("q1", "jobs", true));
    let [Action::Deliver(incoming)] = &out[..] else {
        panic!("{out:?}")
    };
    let cancel = text(&Message::Cancel { req: "q1".into() });
    assert_eq!(m.on_text(1, &cancel), vec![receive(1, "jobs")]);
    assert!(m.on_text(1, &cancel).is_empty());
    assert_eq!(
        m.respond(incoming, Answer::Parts(vec!["late".into()])),
        None
    );
    // Cancelled while still assembling: also one credit back.
    m.on_text(1, &req_start("q2", "jobs", false));
    assert_eq!(
        m.on_text(1, &text(&Message::Cancel { req: "q2".into() })),
        vec![receive(1, "jobs")]
    );
    let s = m.stats();
    assert_eq!((s.served, s.served_cancelled), (0, 2));
}

#[test]
fn bad_chunk_is_refused_malformed_and_the_credit_returns() {
    let mut m = registered(1);
    m.serve("jobs", 1);
    m.on_text(1, &req_start("q1", "jobs", false));
    let out = m.on_text(
        1,
        &text(&Message::Chunk {
            req: "q1".into(),
            dir: Dir::Request,
            seq: 3,
            data: "x".into(),
        }),
    );
    match &out[..] {
        [Action::Send(1, Message::Error { code, message, .. }), r] => {
            assert_eq!(code, code::MALFORMED);
            assert_eq!(message, "chunk #3 where #0 was expected");
            assert_eq!(r, &receive(1, "jobs"));
        }
        other => panic!("{other:?}"),
    }
    assert!(m.assembling().is_empty());
}

#[test]
fn answer_for_a_request_of_a_previous_connection_is_not_sent() {
    let mut m = registered(1);
    m.serve("jobs", 1);
    let out = m.on_text(1, &req_start("q1", "jobs", true));
    let [Action::Deliver(incoming)] = &out[..] else {
        panic!("{out:?}")
    };
    m.on_closed(1, Some("gone"));
    register(&mut m, 2);
    assert_eq!(m.respond(incoming, Answer::Parts(vec!["x".into()])), None);
    assert_eq!(m.stats().served, 0);
}

#[test]
fn responses_complete_by_id_and_strays_are_dropped_by_kind() {
    let (mut m, removed) = mux_with(Flaws::none());
    register(&mut m, 1);
    let (mut a, frames) = begin(&mut m, "a");
    assert_eq!(frames.len(), 1);
    let (b, _) = begin(&mut m, "b");
    let (c, _) = begin(&mut m, "c");
    assert!(m.on_text(1, &resp_start("a", "A")).is_empty());
    assert_eq!(a.try_take(), Some(Ok("A".into())));
    assert_eq!(
        notes(&m.on_text(1, &resp_start("a", "again"))),
        vec!["dropped start a resp \"again\" end (duplicate)"]
    );
    assert_eq!(b.expire(), Err(CallError::Timeout));
    drop(c);
    assert_eq!(
        *removed.lock().unwrap(),
        vec![
            ("b".to_owned(), Removal::TimedOut),
            ("c".to_owned(), Removal::Cancelled)
        ]
    );
    // The driver routes the hook to `on_removed`: a cancel to the broker.
    assert_eq!(
        m.on_removed("b", Removal::TimedOut),
        vec![Action::Send(1, Message::Cancel { req: "b".into() })]
    );
    let late = m.on_text(1, &text(&Message::error(Some("b"), "x", "")));
    assert_eq!(notes(&late).len(), 1);
    assert!(notes(&late)[0].ends_with("(late)"), "{late:?}");
    let unknown = m.on_text(1, &resp_start("zz", ""));
    assert!(notes(&unknown)[0].ends_with("(unknown)"), "{unknown:?}");
    let frame = m.on_text(
        1,
        &text(&Message::End {
            req: "zz".into(),
            dir: Dir::Request,
        }),
    );
    assert_eq!(notes(&frame), vec!["dropped request frame for unknown zz"]);
    let s = m.stats().pending;
    assert_eq!(
        (s.duplicates_dropped, s.late_dropped, s.unknown_dropped),
        (1, 1, 1)
    );
}

#[test]
fn request_scoped_error_fails_the_request_or_notes_a_refused_answer() {
    let mut m = registered(1);
    let (mut w, _) = begin(&mut m, "r");
    m.on_text(
        1,
        &text(&Message::error(Some("r"), "receiver_gone", "gone")),
    );
    assert_eq!(
        w.try_take(),
        Some(Err(CallError::Remote {
            code: "receiver_gone".into(),
            message: "gone".into()
        }))
    );
    m.serve("jobs", 1);
    m.on_text(1, &req_start("q", "jobs", true));
    let out = m.on_text(1, &text(&Message::error(Some("q"), "not_assigned", "")));
    assert_eq!(
        notes(&out),
        vec!["broker refused our answer to q: not_assigned"]
    );
    assert!(m.in_service().is_empty());
}

#[test]
fn loss_fails_everything_pending_and_forgets_served_requests() {
    let mut m = registered(1);
    m.serve("jobs", 1);
    m.on_text(1, &req_start("q", "jobs", true));
    let (w, _) = begin(&mut m, "r");
    assert!(m.on_closed(7, Some("not ours")).is_empty());
    let out = m.on_closed(1, Some("read error"));
    assert_eq!(
        out,
        vec![Action::Disconnected {
            reason: "read error".into(),
            failed: 1
        }]
    );
    assert_eq!(w.wait(), Err(CallError::Disconnected));
    assert!(m.in_service().is_empty() && m.link().is_none() && !m.is_active());
    assert_eq!(m.stats().disconnects, 1);
    // A frame of the lost connection is not dispatched.
    assert_eq!(
        m.on_text(1, &resp_start("r", "")),
        vec![Action::Stop(1, "superseded by a newer connection".into())]
    );
    // Closed by the user: that is the reason, whatever the reader saw.
    let mut m = registered(2);
    assert_eq!(m.close(), vec![Action::Close(2)]);
    let out = m.on_closed(2, Some("connection ended"));
    assert_eq!(
        out,
        vec![Action::Disconnected {
            reason: "closed by the client".into(),
            failed: 0
        }]
    );
    // An attempt that never registered: no lifecycle event, not a disconnect.
    let mut m = mux();
    m.on_connected(3);
    m.on_register_deadline(3);
    assert!(m.on_closed(3, None).is_empty());
    assert_eq!(m.stats().disconnects, 0);
}

#[test]
fn heartbeat_nonces_count_per_connection_and_silence_stops() {
    let mut m = registered(1);
    assert_eq!(
        m.on_ping_due(1),
        vec![Action::Send(1, Message::Ping { nonce: 1 })]
    );
    assert_eq!(
        m.on_ping_due(1),
        vec![Action::Send(1, Message::Ping { nonce: 2 })]
    );
    m.on_closed(1, Some("x"));
    register(&mut m, 2);
    assert_eq!(
        m.on_ping_due(2),
        vec![Action::Send(2, Message::Ping { nonce: 1 })]
    );
    assert_eq!(
        m.on_silence(2, Duration::from_millis(1500)),
        vec![Action::Stop(
            2,
            "heartbeat timeout: nothing received for 1.500s".into()
        )]
    );
}

#[test]
fn request_refusals_and_send_failures() {
    let mut m = registered(1);
    let (w, _) = begin(&mut m, "r");
    assert!(matches!(
        m.request(&Request {
            id: "r".into(),
            ..Request::default()
        }),
        Begin::Fail(CallError::DuplicateId)
    ));
    assert!(m.on_send_failed("r", CallError::SendFailed("boom".into())));
    assert_eq!(w.wait(), Err(CallError::SendFailed("boom".into())));
    let chunked = request_frames(&Request {
        id: "c".into(),
        channel: "jobs".into(),
        body: "s".into(),
        chunks: vec!["1".into(), "2".into()],
        timeout: None,
    });
    let kinds: Vec<&str> = chunked.iter().map(|f| f.kind()).collect();
    assert_eq!(kinds, vec!["start", "chunk", "chunk", "end"]);
}

#[test]
fn flaw_hooks_take_the_wrong_path_only_when_switched_on() {
    let ping = text(&Message::Ping { nonce: 1 });
    // any-reply-registers: a ping during registration counts as welcome.
    let (mut m, _) = mux_with(Flaws::one(Flaw::AnyReplyRegisters));
    m.on_connected(1);
    assert_eq!(
        m.on_text(1, &ping),
        vec![Action::Registration(1, Ok("welcome".into()))]
    );
    // drop-during-registration: the ping is lost.
    let (mut m, _) = mux_with(Flaws::one(Flaw::DropDuringRegistration));
    m.on_connected(1);
    assert!(m.on_text(1, &ping).is_empty());
    // swallow-send-errors: not connected stalls; a failed send is not reported.
    let (mut m, _) = mux_with(Flaws::one(Flaw::SwallowSendErrors));
    assert!(matches!(m.request(&Request::default()), Begin::Stall));
    register(&mut m, 1);
    let (mut w, _) = begin(&mut m, "r");
    assert!(!m.on_send_failed("r", CallError::SendFailed("x".into())));
    assert_eq!(w.try_take(), None);
    // disconnect-leaves-pending.
    let (mut m, _) = mux_with(Flaws::one(Flaw::DisconnectLeavesPending));
    register(&mut m, 1);
    let (_w, _) = begin(&mut m, "r");
    assert_eq!(
        m.on_closed(1, Some("x")),
        vec![Action::Disconnected {
            reason: "x".into(),
            failed: 0
        }]
    );
    assert_eq!(m.pending_ids(), vec!["r".to_owned()]);
    // second-reader: a `$` request steals the next frame.
    let (mut m, _) = mux_with(Flaws::one(Flaw::SecondReader));
    register(&mut m, 1);
    let info = Request {
        id: "i".into(),
        channel: "$info".into(),
        ..Request::default()
    };
    assert!(matches!(m.request(&info), Begin::Send { steal: true, .. }));
    assert_eq!(m.on_text(1, &ping), vec![Action::Stolen(ping.clone())]);
    assert_eq!(Mux::stolen_outcome(&resp_start("x", "B")), Ok("B".into()));
    // The correct machine takes none of these paths.
    let mut m = mux();
    m.on_connected(1);
    assert_eq!(
        m.on_text(1, &ping),
        vec![Action::Send(1, Message::Pong { nonce: 1 })]
    );
    assert!(m.is_registering());
}

/// A server still holding a request of a lost connection answers it after the same id was
/// delivered again on the new connection (a sender retrying with its id): the stale answer
/// is not sent, and it must not take the new request out of service (it did once: the new
/// request's own answer was then never sent, MUX-9).
#[test]
fn stale_answer_does_not_unserve_a_redelivered_id() {
    let mut m = registered(1);
    m.serve("jobs", 1);
    let out = m.on_text(1, &req_start("q1", "jobs", true));
    let [Action::Deliver(old)] = &out[..] else {
        panic!("{out:?}")
    };
    m.on_closed(1, Some("lost"));
    register(&mut m, 2);
    let out = m.on_text(2, &req_start("q1", "jobs", true));
    let [Action::Deliver(new)] = &out[..] else {
        panic!("{out:?}")
    };
    assert_eq!(m.respond(old, Answer::Parts(vec!["stale".into()])), None);
    assert!(
        m.respond(new, Answer::Parts(vec!["fresh".into()]))
            .is_some(),
        "the re-delivered request must still be answerable"
    );
}
