#![cfg(loom)]
//! Loom models of the multiplexer core (`wirecheck_core::mux`) shared the way the tokio
//! driver shares it: the reader task, API callers (`request`, `respond`, `serve`), the
//! supervisor and the pending map's removal hook as loom threads on one [`SharedMux`]
//! (the `sync` shim's mutex). Requests wait on the real `PendingMap` (its slots are loom
//! `Mutex`/`Condvar`), and the removal hook calls `on_removed` through the shared machine,
//! as the driver's hook does; a lock-order cycle between the two would be a loom deadlock.
//!
//! Run with `bash ci/loom.sh` (or the command in it). Each model prints the interleavings it
//! explored, its preemption bound and its wall time; `docs/loom.md` records the figures.
//!
//! Properties:
//! - a served request returns exactly one credit (`receive`), whether its answer or the
//!   broker's `cancel` wins, and is counted once (`served` + `served_cancelled` = 1); a
//!   second answer to it sends nothing; when the connection's loss wins, no credit and no
//!   answer goes out (the cancel arrives on a superseded connection);
//! - a request completes exactly once: its waiter gets the winner's outcome (response,
//!   timeout or `disconnected`), the counters agree, and a losing response is dropped
//!   and counted; `cancel` goes to the broker only when the timeout won, and then only
//!   while the connection is still current;
//! - `serve` racing registration gives the channel exactly its credits, never twice,
//!   never none.

use loom::thread;
use std::sync::{Arc, Mutex};
use wirecheck_core::flaws::Flaws;
use wirecheck_core::mux::{Action, Answer, Incoming, Mux, MuxConfig, SharedMux};
use wirecheck_core::pending::{CallError, PendingMap, Removal};
use wirecheck_core::wire::{Dir, Message};

#[path = "support/loom_explore.rs"]
mod loom_explore;
use loom_explore::explore;

const CONN: u64 = 1;

/// A machine whose removal hook goes back through the shared machine, as the driver's
/// does. The hook reaches the machine through a cell filled after construction;
/// [`World::end`] empties it, breaking the cycle. The cell and the log are plain std
/// (not modelled): the driver's own route to the machine is set before any task runs,
/// and neither lock is held across a loom operation.
struct World {
    mux: SharedMux,
    cell: Arc<Mutex<Option<SharedMux>>>,
    /// What the hook's `on_removed` returned, in order.
    hooked: Arc<Mutex<Vec<Action>>>,
}

impl World {
    fn new() -> World {
        let cell: Arc<Mutex<Option<SharedMux>>> = Arc::new(Mutex::new(None));
        let hooked: Arc<Mutex<Vec<Action>>> = Arc::new(Mutex::new(Vec::new()));
        let (c, h) = (cell.clone(), hooked.clone());
        let hook = Box::new(move |id: &str, why: Removal| {
            let mux = c.lock().unwrap().clone();
            if let Some(mux) = mux {
                let out = mux.with(|m| m.on_removed(id, why));
                h.lock().unwrap().extend(out);
            }
        });
        let config = MuxConfig {
            client_id: "app".into(),
            token: None,
            flaws: Flaws::none(),
        };
        let mux = SharedMux::new(Mux::new(
            config,
            PendingMap::configured(Some(hook), Flaws::none()),
        ));
        *cell.lock().unwrap() = Some(mux.clone());
        World { mux, cell, hooked }
    }

    /// Connects `CONN` and registers (before any thread starts).
    fn registered(self) -> World {
        self.mux.with(|m| {
            m.on_connected(CONN);
            let out = m.on_text(
                CONN,
                &Message::Welcome {
                    client: "app".into(),
                }
                .encode(),
            );
            assert_eq!(out, vec![Action::Registration(CONN, Ok("welcome".into()))]);
            m.finish_registration(CONN, &Ok("welcome".into()));
        });
        self
    }

    fn end(self) -> Vec<Action> {
        *self.cell.lock().unwrap() = None;
        let hooked = self.hooked.lock().unwrap().clone();
        hooked
    }
}

fn receive(channel: &str) -> Message {
    Message::Receive {
        channel: channel.into(),
    }
}

fn credits(actions: &[Action], channel: &str) -> usize {
    actions
        .iter()
        .filter(|a| matches!(a, Action::Send(CONN, m) if *m == receive(channel)))
        .count()
}

/// Serving `jobs` with one credit, `q1` delivered and in service.
fn in_service(w: &World) -> Incoming {
    w.mux.with(|m| {
        m.serve("jobs", 1);
        let start = Message::Start {
            req: "q1".into(),
            channel: "jobs".into(),
            dir: Dir::Request,
            body: "b".into(),
            end: true,
        };
        match &m.on_text(CONN, &start.encode())[..] {
            [Action::Deliver(i)] => i.clone(),
            other => panic!("not delivered: {other:?}"),
        }
    })
}

/// Two answers to `q1` (a server task answering twice) race the broker's `cancel` and,
/// with `loss`, the supervisor tearing the connection down (main, racing the threads).
fn answers_race_cancel(racy: bool, loss: bool) {
    let w = World::new().registered();
    let incoming = in_service(&w);
    let answer = move |mux: SharedMux, incoming: Incoming| {
        let a = Answer::Parts(vec!["ok".into()]);
        if racy {
            mux.respond_racy(&incoming, a)
        } else {
            mux.with(|m| m.respond(&incoming, a))
        }
    };
    let (m1, i1) = (w.mux.clone(), incoming.clone());
    let first = thread::spawn(move || answer(m1, i1));
    let (m2, i2) = (w.mux.clone(), incoming.clone());
    let second = thread::spawn(move || answer(m2, i2));
    let m3 = w.mux.clone();
    let cancel = thread::spawn(move || {
        m3.with(|m| m.on_text(CONN, &Message::Cancel { req: "q1".into() }.encode()))
    });
    // Main is the supervisor losing the connection, racing the three threads.
    let lost = loss.then(|| w.mux.with(|m| m.on_closed(CONN, Some("lost"))));
    let answers = [first.join().unwrap(), second.join().unwrap()];
    let cancelled = cancel.join().unwrap();
    if let Some(out) = lost {
        assert!(
            matches!(&out[..], [Action::Disconnected { failed: 0, .. }]),
            "{out:?}"
        );
    }
    let answered: Vec<&Vec<Message>> = answers.iter().flatten().collect();
    let returned = answered.len() + credits(&cancelled, "jobs");
    let superseded = matches!(&cancelled[..], [Action::Stop(CONN, _)]);
    // Without a loss the credit comes back exactly once; a loss that wins the race
    // forgets the request (the broker frees it with the connection): no credit.
    let want = if loss && returned == 0 { 0 } else { 1 };
    assert_eq!(
        returned, want,
        "credit returned {returned} times: answers {answers:?}, cancel {cancelled:?}"
    );
    if returned == 0 {
        assert!(
            superseded,
            "nothing returned although not lost: {cancelled:?}"
        );
    }
    for frames in &answered {
        assert_eq!(frames.last(), Some(&receive("jobs")), "{frames:?}");
    }
    let s = w.mux.with(|m| m.stats());
    assert_eq!(s.served as usize, answered.len());
    assert_eq!((s.served + s.served_cancelled) as usize, returned, "{s:?}");
    assert!(w.mux.with(|m| m.in_service().is_empty()));
    assert!(w.end().is_empty(), "no pending request, no hook call");
}

#[test]
fn served_request_answers_race_cancel() {
    explore("mux/served_request_answers_race_cancel", 3, None, || {
        answers_race_cancel(false, false)
    });
}

#[test]
fn served_request_answers_race_cancel_and_loss() {
    explore(
        "mux/served_request_answers_race_cancel_and_loss",
        4,
        None,
        || answers_race_cancel(false, true),
    );
}

#[test]
#[should_panic(expected = "credit returned")]
fn planted_race_respond_is_caught() {
    explore("mux/planted_race_respond", 3, None, || {
        answers_race_cancel(true, false)
    });
}

#[test]
fn response_races_timeout_and_loss() {
    explore("mux/response_races_timeout_and_loss", 3, None, || {
        let w = World::new().registered();
        let begun = w.mux.with(|m| {
            m.request(&wirecheck_core::mux::Request {
                id: "r".into(),
                channel: "jobs".into(),
                ..Default::default()
            })
        });
        let waiter = match begun {
            wirecheck_core::mux::Begin::Send { waiter, .. } => waiter,
            other => panic!("not started: {other:?}"),
        };
        let m1 = w.mux.clone();
        let reader = thread::spawn(move || {
            let resp = Message::Start {
                req: "r".into(),
                channel: String::new(),
                dir: Dir::Response,
                body: "pong".into(),
                end: true,
            };
            m1.with(|m| m.on_text(CONN, &resp.encode()))
        });
        let m2 = w.mux.clone();
        let supervisor = thread::spawn(move || m2.with(|m| m.on_closed(CONN, Some("lost"))));
        // The caller's deadline passes: it gives up (the hook runs on this thread).
        let outcome = waiter.expire();
        let read = reader.join().unwrap();
        let lost = supervisor.join().unwrap();
        let s = w.mux.with(|m| m.stats());
        let hooked = w.end();
        let p = s.pending;
        assert_eq!(p.pending, 0, "entry left behind: {s:?}");
        assert_eq!(p.completed + p.timed_out + p.failed, 1, "one winner: {s:?}");
        let (want_completed, want_timed_out, want_failed) = match &outcome {
            Ok(body) => {
                assert_eq!(body, "pong");
                (1, 0, 0)
            }
            Err(CallError::Timeout) => (0, 1, 0),
            Err(CallError::Disconnected) => (0, 0, 1),
            Err(e) => panic!("unexpected outcome {e:?}"),
        };
        assert_eq!(
            (p.completed, p.timed_out, p.failed),
            (want_completed, want_timed_out, want_failed),
            "the counters name the waiter's winner ({outcome:?})"
        );
        // The response either completed the request, was dropped as late, or arrived
        // after the connection was gone (then it is not dispatched at all).
        let superseded = matches!(&read[..], [Action::Stop(CONN, _)]);
        match (&outcome, superseded) {
            (Ok(_), _) => assert!(read.is_empty(), "{read:?}"),
            (Err(_), true) => assert_eq!(p.late_dropped, 0),
            (Err(_), false) => {
                assert_eq!(p.late_dropped, 1, "{read:?}");
                assert!(matches!(&read[..], [Action::Note(n)] if n.ends_with("(late)")));
            }
        }
        // `cancel` only for a timeout, only on the connection that was current.
        let cancels: Vec<&Action> = hooked
            .iter()
            .filter(|a| matches!(a, Action::Send(_, Message::Cancel { .. })))
            .collect();
        assert!(cancels.len() <= 1, "{hooked:?}");
        if !cancels.is_empty() {
            assert_eq!(outcome, Err(CallError::Timeout), "{hooked:?}");
            assert!(matches!(cancels[0], Action::Send(CONN, _)));
        }
        let failed = match &lost[..] {
            [Action::Disconnected { failed, .. }] => *failed,
            other => panic!("loss not reported: {other:?}"),
        };
        assert_eq!(failed as u64, p.failed);
    });
}

#[test]
fn serve_races_registration() {
    explore("mux/serve_races_registration", 3, None, || {
        let w = World::new();
        w.mux.with(|m| {
            m.on_connected(CONN);
            m.serve("jobs", 1);
        });
        let m1 = w.mux.clone();
        let supervisor = thread::spawn(move || {
            m1.with(|m| {
                m.on_text(
                    CONN,
                    &Message::Welcome {
                        client: "app".into(),
                    }
                    .encode(),
                );
                m.finish_registration(CONN, &Ok("welcome".into()))
            })
        });
        let m2 = w.mux.clone();
        let server = thread::spawn(move || m2.with(|m| m.serve("logs", 2)));
        // A second server re-serves `jobs` with more concurrency meanwhile.
        let again = w.mux.with(|m| m.serve("jobs", 3));
        let activated = supervisor.join().unwrap();
        let served = server.join().unwrap();
        let all: Vec<Action> = activated
            .iter()
            .chain(&served)
            .chain(&again)
            .cloned()
            .collect();
        assert_eq!(credits(&all, "logs"), 2, "{all:?}");
        // `jobs`: 3 when re-served after activation (plus the 1 activation sent before
        // it) or 3 at activation when re-served first.
        let jobs = credits(&all, "jobs");
        let reserved_first = credits(&again, "jobs") == 0;
        assert_eq!(jobs, if reserved_first { 3 } else { 4 }, "{all:?}");
        assert!(w.mux.with(|m| m.is_active()));
        assert!(w.end().is_empty());
    });
}
