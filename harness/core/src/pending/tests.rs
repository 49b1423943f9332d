//! Unit tests of the pending map.

use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};

#[test]
fn completes_once_and_counts_duplicates() {
    let map = PendingMap::new();
    let mut w = map.insert("r1").unwrap();
    assert_eq!(map.insert("r1").unwrap_err(), CallError::DuplicateId);
    assert_eq!(map.on_start("r1", "pong", true), Delivery::Completed);
    assert_eq!(map.on_start("r1", "pong", true), Delivery::Duplicate);
    assert_eq!(w.try_take(), Some(Ok("pong".into())));
    let s = map.stats();
    assert_eq!((s.pending, s.completed, s.duplicates_dropped), (0, 1, 1));
}

#[test]
fn streaming_response_is_assembled_in_order() {
    let map = PendingMap::new();
    let w = map.insert("r1").unwrap();
    assert_eq!(map.on_start("r1", "a", false), Delivery::Progress);
    assert_eq!(map.on_chunk("r1", 0, "b"), Delivery::Progress);
    assert_eq!(map.on_chunk("r1", 1, "c"), Delivery::Progress);
    assert_eq!(map.on_end("r1"), Delivery::Completed);
    assert_eq!(w.wait(), Ok("abc".into()));
    assert_eq!(map.on_chunk("r1", 2, "d"), Delivery::Duplicate);
}

#[test]
fn chunk_out_of_order_fails_the_call() {
    let map = PendingMap::new();
    let w = map.insert("r1").unwrap();
    map.on_start("r1", "", false);
    assert_eq!(map.on_chunk("r1", 1, "x"), Delivery::Completed);
    assert!(matches!(w.wait(), Err(CallError::Protocol(_))));
}

#[test]
fn timeout_and_cancel_remove_and_classify_late_frames() {
    let removed = Arc::new(AtomicUsize::new(0));
    let r2 = removed.clone();
    let map = PendingMap::with_removal_hook(Box::new(move |_, _| {
        r2.fetch_add(1, Ordering::SeqCst);
    }));
    let w = map.insert("t").unwrap();
    assert_eq!(w.expire(), Err(CallError::Timeout));
    let w = map.insert("c").unwrap();
    drop(w);
    assert!(map.is_empty());
    assert_eq!(map.on_start("t", "late", true), Delivery::Late);
    assert_eq!(map.on_end("c"), Delivery::Late);
    assert_eq!(map.on_end("never"), Delivery::Unknown);
    let s = map.stats();
    assert_eq!(
        (s.timed_out, s.cancelled, s.late_dropped, s.unknown_dropped),
        (1, 1, 2, 1)
    );
    assert_eq!(removed.load(Ordering::SeqCst), 2);
}

#[test]
fn expire_returns_answer_that_won_the_race() {
    let map = PendingMap::new();
    let w = map.insert("r").unwrap();
    map.complete("r", Ok("x".into()));
    assert_eq!(w.expire(), Ok("x".into()));
    assert_eq!(map.stats().timed_out, 0);
}

#[test]
fn fail_all_fails_everything_at_once() {
    let map = PendingMap::new();
    let a = map.insert("a").unwrap();
    let b = map.insert("b").unwrap();
    assert_eq!(map.fail_all(CallError::Disconnected), 2);
    assert_eq!(a.wait(), Err(CallError::Disconnected));
    assert_eq!(b.wait(), Err(CallError::Disconnected));
    assert!(map.is_empty());
    assert_eq!(map.stats().failed, 2);
}
