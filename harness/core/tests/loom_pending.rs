#![cfg(loom)]
//! Loom models of the multiplexer's pending map (`wirecheck_core::pending`), run over the
//! real code through the `sync` shim.
//!
//! Run with `bash ci/loom.sh` (or the command in it). Each model prints the interleavings it
//! explored, its preemption bound and its wall time; `docs/loom.md` records the figures.
//!
//! Timeouts are a thread racing to [`Waiter::expire`]; cancellation is dropping the
//! [`Waiter`]; disconnect is [`PendingMap::fail_all`]; callers block in [`Waiter::wait`]
//! (Condvar), so a lost wake-up shows up as a loom deadlock.
//!
//! Properties checked in every explored interleaving:
//! - each entry is completed at most once (the slot asserts it; the deliveries and the
//!   counters must agree on a single winner);
//! - the waiter gets exactly the value of the party that removed the entry, or a definite
//!   error (`timeout`, `cancelled`, `disconnected`); in particular `expire` never reports
//!   `timeout` for an answer that won the race (`expire_never_loses_an_answer_in_flight`);
//! - no entry remains once every path has ended (`len() == 0`, `stats().pending == 0`);
//! - a frame arriving after the entry left the map is dropped and counted
//!   (`duplicates_dropped` / `late_dropped` / `unknown_dropped` match the deliveries);
//! - the removal hook fires once per timeout or cancellation and never otherwise.

use loom::thread;
use std::sync::Mutex as StdMutex;
use wirecheck_core::pending::{CallError, Delivery, Outcome, PendingMap, Removal, Stats};

#[path = "support/loom_explore.rs"]
mod loom_explore;
use loom_explore::explore;

// ---- helpers ---------------------------------------------------------------------------

/// What the removal hook saw: `(id, why)` per call, in order.
type HookLog = std::sync::Arc<StdMutex<Vec<(String, Removal)>>>;

/// A map whose removal hook records `(id, why)`; the log is plain std (not modelled): the
/// hook runs outside the map lock and holds this mutex across no loom operation.
fn hooked_map() -> (PendingMap, HookLog) {
    let log = std::sync::Arc::new(StdMutex::new(Vec::new()));
    let l = log.clone();
    let map = PendingMap::with_removal_hook(Box::new(move |id, why| {
        l.lock().unwrap().push((id.to_owned(), why));
    }));
    (map, log)
}

/// Dropped frames counted by kind must match the deliveries the test saw.
fn assert_drops_counted(s: &Stats, deliveries: &[&Delivery]) {
    let count = |d: Delivery| deliveries.iter().filter(|x| ***x == d).count() as u64;
    assert_eq!(
        s.duplicates_dropped,
        count(Delivery::Duplicate),
        "duplicates counted: {s:?} {deliveries:?}"
    );
    assert_eq!(
        s.late_dropped,
        count(Delivery::Late),
        "late frames counted: {s:?} {deliveries:?}"
    );
    assert_eq!(
        s.unknown_dropped,
        count(Delivery::Unknown),
        "unknown frames counted: {s:?} {deliveries:?}"
    );
}

fn assert_empty(map: &PendingMap) {
    assert_eq!(map.len(), 0, "entries left behind: {:?}", map.ids());
    assert_eq!(map.stats().pending, 0);
}

// ---- models over the real code -------------------------------------------------------

/// Completion, a duplicate completion and the timeout race for one entry.
///
/// Threads: reader A `complete(r, "a")`, reader B `complete(r, "b")` (the duplicated
/// frame), caller `expire()` (its deadline passed); main inserted `r` first.
#[test]
fn complete_duplicate_and_timeout() {
    explore("pending/complete_duplicate_and_timeout", 3, None, || {
        let (map, hook) = hooked_map();
        let w = map.insert("r").unwrap();
        let (ma, mb) = (map.clone(), map.clone());
        let a = thread::spawn(move || ma.complete("r", Ok("a".into())));
        let b = thread::spawn(move || mb.complete("r", Ok("b".into())));
        let t = thread::spawn(move || w.expire());
        let (da, db, out) = (a.join().unwrap(), b.join().unwrap(), t.join().unwrap());

        let s = map.stats();
        assert_empty(&map);
        assert_eq!(
            s.completed + s.timed_out,
            1,
            "exactly one party removed r: {s:?}"
        );
        let winners = [&da, &db]
            .iter()
            .filter(|d| ***d == Delivery::Completed)
            .count();
        assert_eq!(
            winners as u64, s.completed,
            "deliveries agree with counters: {da:?} {db:?}"
        );
        assert_drops_counted(&s, &[&da, &db]);
        let hook = hook.lock().unwrap().clone();
        if s.timed_out == 1 {
            assert_eq!(out, Err(CallError::Timeout));
            assert_eq!((da, db), (Delivery::Late, Delivery::Late));
            assert_eq!(hook, vec![("r".to_owned(), Removal::TimedOut)]);
        } else {
            let won = if da == Delivery::Completed { "a" } else { "b" };
            assert!(
                hook.is_empty(),
                "hook fired for a completed entry: {hook:?}"
            );
            assert_eq!(
                out,
                Ok(won.to_owned()),
                "waiter got {out:?}, the winning completer delivered {won:?}"
            );
            assert!(matches!(
                if won == "a" { &db } else { &da },
                Delivery::Duplicate
            ));
        }
    });
}

/// Disconnect (`fail_all`) racing completions, a blocked waiter and a cancellation.
///
/// Main inserts `a` and `b`. Threads: caller of `a` blocks in `wait()`; the reader
/// completes `a` then `b`; the connection drops (`fail_all(Disconnected)`); and main,
/// racing them, is the caller of `b` giving up (drops its waiter = cancel).
#[test]
fn disconnect_all_with_completion_and_cancel() {
    explore(
        "pending/disconnect_all_with_completion_and_cancel",
        4,
        None,
        || {
            let (map, hook) = hooked_map();
            let wa = map.insert("a").unwrap();
            let wb = map.insert("b").unwrap();
            let (mr, md) = (map.clone(), map.clone());
            let caller_a = thread::spawn(move || wa.wait());
            let reader = thread::spawn(move || {
                (
                    mr.complete("a", Ok("x".into())),
                    mr.complete("b", Ok("y".into())),
                )
            });
            let disconnect = thread::spawn(move || md.fail_all(CallError::Disconnected));
            // Main is the caller of `b`, racing the three threads.
            drop(wb);
            let out_a = caller_a.join().unwrap();
            let (da, db) = reader.join().unwrap();
            let failed = disconnect.join().unwrap();

            let s = map.stats();
            assert_empty(&map);
            assert_eq!(
                s.completed + s.failed + s.cancelled,
                2,
                "each entry removed once: {s:?}"
            );
            assert_eq!(failed as u64, s.failed, "fail_all reports what it removed");
            assert_eq!(s.timed_out, 0);
            assert_drops_counted(&s, &[&da, &db]);
            // a: completed by the reader or failed by the disconnect, never both.
            match da {
                Delivery::Completed => assert_eq!(out_a, Ok("x".into())),
                Delivery::Late => assert_eq!(out_a, Err(CallError::Disconnected)),
                other => panic!("complete(a) returned {other:?}"),
            }
            // b: completed, failed or cancelled; only the cancellation fires the hook.
            let hook = hook.lock().unwrap().clone();
            assert_eq!(
                s.cancelled as usize,
                hook.len(),
                "hook fires once per cancellation"
            );
            if s.cancelled == 1 {
                assert_eq!(hook, vec![("b".to_owned(), Removal::Cancelled)]);
                assert_eq!(db, Delivery::Late);
            }
            assert_eq!(
                (da == Delivery::Completed) as u64 + (db == Delivery::Completed) as u64,
                s.completed
            );
        },
    );
}

/// A streamed response (`start`, `chunk`, `end`) racing the timeout and a duplicated
/// `start end:true` frame.
///
/// Threads: reader streams `on_start(r, "a")`, `on_chunk(r, 0, "b")`, `on_end(r)`; a second
/// reader path delivers the duplicate `complete(r, "dup")`; the caller times out (`expire`).
#[test]
fn streamed_response_vs_timeout_and_duplicate() {
    explore(
        "pending/streamed_response_vs_timeout_and_duplicate",
        3,
        None,
        || {
            let (map, hook) = hooked_map();
            let w = map.insert("r").unwrap();
            let (ms, md) = (map.clone(), map.clone());
            let stream = thread::spawn(move || {
                [
                    ms.on_start("r", "a", false),
                    ms.on_chunk("r", 0, "b"),
                    ms.on_end("r"),
                ]
            });
            let dup = thread::spawn(move || md.complete("r", Ok("dup".into())));
            let timeout = thread::spawn(move || w.expire());
            let [d_start, d_chunk, d_end] = stream.join().unwrap();
            let d_dup = dup.join().unwrap();
            let out = timeout.join().unwrap();

            let s = map.stats();
            assert_empty(&map);
            assert_eq!(
                s.completed + s.timed_out,
                1,
                "exactly one party removed r: {s:?}"
            );
            assert_drops_counted(&s, &[&d_start, &d_chunk, &d_end, &d_dup]);
            // Only `on_end` or the duplicate can complete; start and chunk only make progress.
            assert!(matches!(
                d_start,
                Delivery::Progress | Delivery::Duplicate | Delivery::Late
            ));
            assert!(matches!(
                d_chunk,
                Delivery::Progress | Delivery::Duplicate | Delivery::Late
            ));
            let completed = [&d_end, &d_dup]
                .iter()
                .filter(|d| ***d == Delivery::Completed)
                .count();
            assert_eq!(completed as u64, s.completed);
            let hook = hook.lock().unwrap().clone();
            if s.timed_out == 1 {
                assert_eq!(out, Err(CallError::Timeout));
                assert_eq!(hook, vec![("r".to_owned(), Removal::TimedOut)]);
            } else {
                assert!(hook.is_empty());
                let expected: Outcome = if d_end == Delivery::Completed {
                    // The stream completed: it was never interrupted, so it is whole.
                    assert_eq!(
                        (&d_start, &d_chunk),
                        (&Delivery::Progress, &Delivery::Progress)
                    );
                    Ok("ab".into())
                } else {
                    Ok("dup".into())
                };
                assert_eq!(out, expected, "got {out:?}, want {expected:?}");
            }
        },
    );
}

/// `insert` racing a second `insert` of the same id, a completion, a disconnect, a timeout
/// and a cancellation.
///
/// Threads: caller 1 `insert(r)` then times out (`expire`); caller 2 `insert(r)` (a
/// `DuplicateId`, or a fresh entry once the first left the map: ids are reused, as the
/// registration map's `$hello` is) then cancels (drops its waiter); the reader
/// `complete(r)` (possibly before any insert: `Unknown`); and main, racing them, is the
/// connection dropping (`fail_all`), before, between or after the inserts.
#[test]
fn insert_races_reused_id_completion_and_disconnect() {
    explore(
        "pending/insert_races_reused_id_completion_and_disconnect",
        4,
        None,
        || {
            let (map, hook) = hooked_map();
            let (m1, m2, mr) = (map.clone(), map.clone(), map.clone());
            let c1 = thread::spawn(move || m1.insert("r").map(|w| w.expire()));
            let c2 = thread::spawn(move || m2.insert("r").map(drop));
            let reader = thread::spawn(move || mr.complete("r", Ok("v".into())));
            // Main is the connection dropping, racing the three threads.
            let failed = map.fail_all(CallError::Disconnected);
            let out1 = c1.join().unwrap();
            let out2 = c2.join().unwrap();
            let dr = reader.join().unwrap();

            let s = map.stats();
            assert_empty(&map);
            let inserted = out1.is_ok() as u64 + out2.is_ok() as u64;
            assert!(inserted >= 1, "of two inserts of a free id, one succeeds");
            for e in [out1.as_ref().err(), out2.as_ref().err()]
                .into_iter()
                .flatten()
            {
                assert_eq!(*e, CallError::DuplicateId);
            }
            assert_eq!(
                s.completed + s.failed + s.timed_out + s.cancelled,
                inserted,
                "every inserted entry is removed exactly once: {s:?}"
            );
            assert_eq!(failed as u64, s.failed);
            assert_drops_counted(&s, &[&dr]);
            assert_eq!((dr == Delivery::Completed) as u64, s.completed);
            let hook = hook.lock().unwrap().clone();
            assert_eq!(hook.len() as u64, s.timed_out + s.cancelled);
            if let Ok(out1) = out1 {
                match out1 {
                    // Only the reader's answer; never a removal made by caller 2.
                    Ok(v) => assert_eq!(v, "v"),
                    // Its own deadline, or the disconnect, won the race.
                    Err(CallError::Timeout | CallError::Disconnected) => {}
                    Err(e) => panic!("caller 1 got {e:?}"),
                }
            }
        },
    );
}

/// Regression (fixed in d44d798, found by proptest): a waiter removes only its *own*
/// entry. Here the reader completes `r`, a second caller inserts `r` again (legal: the id
/// is free), and the first caller's deadline passes: `expire` must not remove the second
/// caller's entry as timed out (nor fire the hook, which would send `cancel` for it).
#[test]
fn stale_waiter_never_removes_a_reused_id() {
    explore(
        "pending/stale_waiter_never_removes_a_reused_id",
        3,
        None,
        || {
            let (map, hook) = hooked_map();
            let w1 = map.insert("r").unwrap();
            let (mr, m2) = (map.clone(), map.clone());
            let reader = thread::spawn(move || mr.complete("r", Ok("first".into())));
            let c2 = thread::spawn(move || m2.insert("r").ok());
            let out1 = w1.expire();
            reader.join().unwrap();
            let w2 = c2.join().unwrap();
            let s = map.stats();
            let hook = hook.lock().unwrap().clone();
            if out1.is_ok() {
                assert!(
                hook.is_empty() && s.timed_out == 0,
                "a stale waiter removed another caller's entry: caller 1 got {out1:?}, hook saw {hook:?}"
            );
            }
            assert!(s.timed_out <= 1);
            if let Some(mut w2) = w2 {
                let got = w2.try_take();
                assert_ne!(
                    got,
                    Some(Err(CallError::Timeout)),
                    "caller 2 timed out by caller 1"
                );
                drop(w2);
            }
            assert_empty(&map);
        },
    );
}

// ---- regression: a bug loom found in the real code -------------------------------------

/// Regression (found by loom): `Waiter::expire` used to report `Timeout` although the
/// answer won the race, because the completer removed the entry under the map lock but
/// filled the slot only after releasing it. Now the slot is filled before the lock is
/// released, so a waiter that finds its entry gone always finds its answer.
#[test]
fn expire_never_loses_an_answer_in_flight() {
    explore(
        "pending/expire_never_loses_an_answer_in_flight",
        2,
        None,
        || {
            let map = PendingMap::new();
            let w = map.insert("r").unwrap();
            let m = map.clone();
            let reader = thread::spawn(move || m.complete("r", Ok("a".into())));
            let out = w.expire();
            let d = reader.join().unwrap();
            if d == Delivery::Completed {
                assert_eq!(
                    out,
                    Ok("a".into()),
                    "expire lost an answer that won the race"
                );
            }
        },
    );
}

// ---- planted race: loom must catch it -------------------------------------------------

/// Teeth: `PendingMap::complete_racy` checks and removes in two critical sections, so two
/// completers can both fill the slot. Loom must find the interleaving (the slot's
/// "filled twice (MUX-3)" assertion fires).
#[test]
#[should_panic(expected = "pending slot filled twice (MUX-3)")]
fn planted_race_double_complete_is_caught() {
    explore("pending/planted_race_double_complete", 3, None, || {
        let map = PendingMap::new();
        let w = map.insert("r").unwrap();
        let (ma, mb) = (map.clone(), map.clone());
        let a = thread::spawn(move || ma.complete_racy("r", Ok("a".into())));
        let b = thread::spawn(move || mb.complete_racy("r", Ok("b".into())));
        let out = w.wait();
        a.join().unwrap();
        b.join().unwrap();
        assert!(out.is_ok());
    });
}
