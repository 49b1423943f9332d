//! State-machine property test of `PendingMap` (MUX-2..MUX-6) against a reference model.
//!
//! The model is a `BTreeMap` of id → entry (which waiter, streaming body and next `seq`),
//! the retired ids with how they left (completed / abandoned / failed), the expected
//! counters and removal-hook calls, and one state per waiter (pending, filled but not
//! taken, taken, gone). Transitions draw ids from a small pool (plus one id that is never
//! inserted): insert (fresh or duplicate), response `start` (with or without `end`),
//! `chunk` (in or out of sequence), `end`, `complete` (ok or remote error), `fail`,
//! `fail_all`, and per waiter `expire` (timeout), drop (cancel) and `try_take`.
//!
//! Checked after every transition: the return value of the call (`Delivery`,
//! `insert`'s result, `fail`'s bool, `fail_all`'s count, the outcome of `try_take` and
//! `expire`), `len()`, `ids()`, `contains()`, `stats()` and the removal-hook log equal
//! the model's. At the end every waiter still held is drained: `try_take` gives exactly
//! the modelled outcome once and `None` afterwards, and dropping the rest cancels exactly
//! the entries still pending.
//!
//! Teeth: `mutants_are_caught` runs the same machine against deliberately wrong models
//! and asserts proptest finds and shrinks each failure to a handful of transitions.
//!
//! Bug (not fixed here, see the ignored tests): a `Waiter` finds its entry by id, not by
//! identity. When a waiter's entry completed and the same id was inserted again, dropping
//! the old waiter before taking its outcome, or calling `expire` on it, removes the *new*
//! entry (it fails `cancelled` / `timeout`, and the hook sends `cancel` for it).
//!
//! Case counts: `PROPTEST_CASES` overrides the default (1024 sequences of 1..50
//! transitions). Failure persistence is off: nothing is written to the source tree.

#[path = "support/mod.rs"]
mod support;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use proptest::strategy::Union;
use proptest_state_machine::{prop_state_machine, ReferenceStateMachine, StateMachineTest};
use wirecheck_core::pending::{CallError, Delivery, Outcome, PendingMap, Removal, Stats, Waiter};

use support::config;

/// Ids that get inserted, and one that never is (frames for it are `Unknown`).
const IDS: &[&str] = &["a", "b", "c"];
const NEVER: &str = "zz";

// ---------------------------------------------------------------------------------------
// Variants of the model: the correct one, one that also generates the bug trigger, and
// deliberately wrong ones for the teeth test.
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mutant {
    None,
    /// Forgets to count a second `start` on an open stream as a dropped duplicate.
    ForgetsDuplicateCount,
    /// Forgets to append chunk data to a streamed body.
    DropsChunkData,
    /// Classifies frames for timed-out or cancelled ids as unknown instead of late.
    LateAsUnknown,
}

trait Variant: 'static + Debug + Send + Sync {
    /// Also generate `expire`/drop of a completed waiter whose id was inserted again.
    const STALE_REUSE: bool;
    const MUTANT: Mutant;
}

#[derive(Debug)]
struct Correct;
impl Variant for Correct {
    const STALE_REUSE: bool = false;
    const MUTANT: Mutant = Mutant::None;
}

#[derive(Debug)]
struct WithStaleReuse;
impl Variant for WithStaleReuse {
    const STALE_REUSE: bool = true;
    const MUTANT: Mutant = Mutant::None;
}

#[derive(Debug)]
struct ForgetsDuplicateCount;
impl Variant for ForgetsDuplicateCount {
    const STALE_REUSE: bool = false;
    const MUTANT: Mutant = Mutant::ForgetsDuplicateCount;
}

#[derive(Debug)]
struct DropsChunkData;
impl Variant for DropsChunkData {
    const STALE_REUSE: bool = false;
    const MUTANT: Mutant = Mutant::DropsChunkData;
}

#[derive(Debug)]
struct LateAsUnknown;
impl Variant for LateAsUnknown {
    const STALE_REUSE: bool = false;
    const MUTANT: Mutant = Mutant::LateAsUnknown;
}

// ---------------------------------------------------------------------------------------
// Reference model
// ---------------------------------------------------------------------------------------

/// A waiter as the caller sees it.
#[derive(Clone, Debug, PartialEq)]
enum W {
    /// Its entry is in the map.
    Pending,
    /// Its entry left the map with this outcome, not yet taken.
    Done(Outcome),
    /// The outcome was taken with `try_take`; the waiter is still held.
    Taken,
    /// Consumed by `expire` or dropped.
    Gone,
}

impl W {
    fn held(&self) -> bool {
        *self != W::Gone
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Retired {
    Completed,
    Abandoned,
    Failed,
}

#[derive(Clone, Debug)]
struct Entry {
    waiter: usize,
    /// Body so far and the next expected `seq`, once a `start` without `end` arrived.
    stream: Option<(String, u64)>,
}

/// What the last transition's call must return.
#[derive(Clone, Debug, PartialEq)]
enum Expect {
    Nothing,
    Insert(Result<(), CallError>),
    Delivery(Delivery),
    Bool(bool),
    Count(usize),
    Outcome(Option<Outcome>),
}

#[derive(Clone, Debug)]
struct Model {
    /// Every waiter ever handed out, by creation order (the SUT keeps the same order).
    waiters: Vec<(&'static str, W)>,
    entries: BTreeMap<&'static str, Entry>,
    retired: BTreeMap<&'static str, Retired>,
    stats: Stats,
    hook: Vec<(String, Removal)>,
    expect: Expect,
}

impl Model {
    fn new() -> Self {
        Model {
            waiters: Vec::new(),
            entries: BTreeMap::new(),
            retired: BTreeMap::new(),
            stats: Stats::default(),
            hook: Vec::new(),
            expect: Expect::Nothing,
        }
    }

    fn expected_stats(&self) -> Stats {
        Stats {
            pending: self.entries.len() as u64,
            ..self.stats
        }
    }

    /// Removes a pending entry, retiring its id, and settles its waiter.
    fn finish(&mut self, id: &'static str, how: Retired, outcome: Outcome) {
        let entry = self.entries.remove(id).expect("finish: entry is pending");
        self.retired.insert(id, how);
        match how {
            Retired::Completed => self.stats.completed += 1,
            Retired::Failed => self.stats.failed += 1,
            Retired::Abandoned => {}
        }
        self.waiters[entry.waiter].1 = W::Done(outcome);
    }

    /// A frame for an id that is not pending.
    fn stray(&mut self, id: &str, mutant: Mutant) -> Delivery {
        match self.retired.get(id) {
            Some(Retired::Completed) => {
                self.stats.duplicates_dropped += 1;
                Delivery::Duplicate
            }
            Some(Retired::Abandoned) if mutant == Mutant::LateAsUnknown => {
                self.stats.unknown_dropped += 1;
                Delivery::Unknown
            }
            Some(Retired::Abandoned) | Some(Retired::Failed) => {
                self.stats.late_dropped += 1;
                Delivery::Late
            }
            None => {
                self.stats.unknown_dropped += 1;
                Delivery::Unknown
            }
        }
    }

    /// Removal by timeout or cancellation.
    fn abandon(&mut self, w: usize, why: Removal) {
        let id = self.waiters[w].0;
        self.finish(
            id,
            Retired::Abandoned,
            Err(match why {
                Removal::TimedOut => CallError::Timeout,
                Removal::Cancelled => CallError::Cancelled,
            }),
        );
        match why {
            Removal::TimedOut => self.stats.timed_out += 1,
            Removal::Cancelled => self.stats.cancelled += 1,
        }
        self.hook.push((id.to_owned(), why));
    }

    fn next_seq(&self, id: &str) -> Option<u64> {
        self.entries.get(id)?.stream.as_ref().map(|(_, n)| *n)
    }

    /// Is `w` a completed waiter whose id is pending again for another waiter? Its
    /// `expire` (and its drop while untaken) hits the bug.
    fn stale(&self, w: usize) -> bool {
        let (id, st) = &self.waiters[w];
        matches!(st, W::Done(_) | W::Taken) && self.entries.get(id).is_some_and(|e| e.waiter != w)
    }

    fn resolve(&self, pick: Pick) -> Option<usize> {
        resolve(
            self.waiters
                .iter()
                .enumerate()
                .map(|(w, (id, st))| (w, st.held(), *id)),
            pick,
        )
    }

    /// Whether a per-waiter transition with `pick` is allowed.
    fn pickable(&self, pick: Pick, stale_reuse: bool) -> bool {
        self.resolve(pick)
            .is_some_and(|w| stale_reuse || !self.stale(w))
    }

    /// Picks a per-waiter transition may use.
    fn picks(&self, stale_reuse: bool) -> Vec<Pick> {
        let mut out = Vec::new();
        for &id in IDS.iter().chain([&NEVER]) {
            for newest in [true, false] {
                let pick = Pick { id, newest };
                if self.pickable(pick, stale_reuse) && !out.contains(&pick) {
                    out.push(pick);
                }
            }
        }
        out
    }
}

/// Protocol-error messages are free text: compare the variant only.
fn norm(o: Outcome) -> Outcome {
    match o {
        Err(CallError::Protocol(_)) => Err(CallError::Protocol(String::new())),
        other => other,
    }
}

#[derive(Clone, Debug)]
enum T {
    Insert(&'static str),
    Start {
        id: &'static str,
        body: String,
        end: bool,
    },
    Chunk {
        id: &'static str,
        seq: u64,
        data: String,
    },
    End(&'static str),
    Complete {
        id: &'static str,
        outcome: Outcome,
    },
    Fail(&'static str),
    FailAll,
    /// Per waiter: the oldest or newest held waiter for an id (stable when shrinking
    /// deletes unrelated transitions, unlike an index).
    Expire(Pick),
    Drop(Pick),
    Take(Pick),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pick {
    id: &'static str,
    newest: bool,
}

/// The waiter `pick` designates among the held ones, given who is held.
fn resolve(
    ids_held: impl DoubleEndedIterator<Item = (usize, bool, &'static str)>,
    pick: Pick,
) -> Option<usize> {
    let mut it = ids_held
        .filter(|&(_, held, id)| held && id == pick.id)
        .map(|(w, _, _)| w);
    if pick.newest {
        it.next_back()
    } else {
        it.next()
    }
}

struct PendingRef<V>(PhantomData<V>);

fn small_text() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), "[a-z]{1,3}", "[é☃😀\"\\\n]{1,2}"]
}

fn any_id() -> BoxedStrategy<&'static str> {
    prop_oneof![6 => prop::sample::select(IDS), 1 => Just(NEVER)].boxed()
}

impl<V: Variant> ReferenceStateMachine for PendingRef<V> {
    type State = Model;
    type Transition = T;

    fn init_state() -> BoxedStrategy<Model> {
        Just(Model::new()).boxed()
    }

    fn transitions(state: &Model) -> BoxedStrategy<T> {
        // Frames mostly target pending ids, so streams get somewhere.
        let pending: Vec<&'static str> = state.entries.keys().copied().collect();
        let id = if pending.is_empty() {
            any_id()
        } else {
            prop_oneof![5 => prop::sample::select(pending.clone()), 1 => any_id()].boxed()
        };
        let chunk = Union::new_weighted(
            IDS.iter()
                .chain([&NEVER])
                .map(|&cid| {
                    let next = state.next_seq(cid);
                    let weight = if next.is_some() { 8 } else { 1 };
                    let seq = match next {
                        Some(n) => prop_oneof![
                            6 => Just(n),
                            1 => 0..n + 3,
                            1 => Just(u64::MAX),
                        ]
                        .boxed(),
                        None => prop_oneof![0..3u64, Just(u64::MAX)].boxed(),
                    };
                    let chunk = (seq, small_text())
                        .prop_map(move |(seq, data)| T::Chunk { id: cid, seq, data })
                        .boxed();
                    (weight, chunk)
                })
                .collect(),
        );
        let outcome = prop_oneof![
            small_text().prop_map(Ok),
            (small_text(), small_text())
                .prop_map(|(code, message)| Err(CallError::Remote { code, message })),
        ];
        let mut options: Vec<(u32, BoxedStrategy<T>)> = vec![
            (
                if pending.is_empty() { 12 } else { 3 },
                prop::sample::select(IDS).prop_map(T::Insert).boxed(),
            ),
            (
                4,
                (id.clone(), small_text(), prop::bool::weighted(0.3))
                    .prop_map(|(id, body, end)| T::Start { id, body, end })
                    .boxed(),
            ),
            (5, chunk.boxed()),
            (2, id.clone().prop_map(T::End).boxed()),
            (
                2,
                (id.clone(), outcome)
                    .prop_map(|(id, outcome)| T::Complete { id, outcome })
                    .boxed(),
            ),
            (1, id.prop_map(T::Fail).boxed()),
            (1, Just(T::FailAll).boxed()),
        ];
        let picks = state.picks(V::STALE_REUSE);
        if !picks.is_empty() {
            let w = prop::sample::select(picks);
            options.push((2, w.clone().prop_map(T::Expire).boxed()));
            options.push((2, w.clone().prop_map(T::Drop).boxed()));
            options.push((3, w.prop_map(T::Take).boxed()));
        }
        proptest::strategy::Union::new_weighted(options).boxed()
    }

    fn preconditions(state: &Model, t: &T) -> bool {
        match t {
            T::Expire(p) | T::Drop(p) | T::Take(p) => state.pickable(*p, V::STALE_REUSE),
            _ => true,
        }
    }

    fn apply(mut s: Model, t: &T) -> Model {
        let mutant = V::MUTANT;
        s.expect = match t {
            T::Insert(id) => {
                if s.entries.contains_key(id) {
                    Expect::Insert(Err(CallError::DuplicateId))
                } else {
                    s.waiters.push((id, W::Pending));
                    let waiter = s.waiters.len() - 1;
                    s.entries.insert(
                        id,
                        Entry {
                            waiter,
                            stream: None,
                        },
                    );
                    s.retired.remove(id);
                    Expect::Insert(Ok(()))
                }
            }
            T::Start { id, body, end } => Expect::Delivery(match s.entries.get(id) {
                None => s.stray(id, mutant),
                Some(Entry {
                    stream: Some(_), ..
                }) => {
                    if mutant != Mutant::ForgetsDuplicateCount {
                        s.stats.duplicates_dropped += 1;
                    }
                    Delivery::Duplicate
                }
                Some(_) if *end => {
                    s.finish(id, Retired::Completed, Ok(body.clone()));
                    Delivery::Completed
                }
                Some(_) => {
                    s.entries.get_mut(id).unwrap().stream = Some((body.clone(), 0));
                    Delivery::Progress
                }
            }),
            T::Chunk { id, seq, data } => Expect::Delivery(match s.entries.get_mut(id) {
                None => s.stray(id, mutant),
                Some(Entry {
                    stream: Some((body, next)),
                    ..
                }) if *next == *seq => {
                    if mutant != Mutant::DropsChunkData {
                        body.push_str(data);
                    }
                    *next += 1;
                    Delivery::Progress
                }
                // Out of sequence, or before `start`: the call fails (later frames: late).
                Some(_) => {
                    s.finish(id, Retired::Failed, Err(CallError::Protocol(String::new())));
                    Delivery::Completed
                }
            }),
            T::End(id) => Expect::Delivery(match s.entries.get(id) {
                None => s.stray(id, mutant),
                Some(e) => {
                    // `end` before `start` fails the call.
                    let (how, outcome) = match &e.stream {
                        Some((body, _)) => (Retired::Completed, Ok(body.clone())),
                        None => (Retired::Failed, Err(CallError::Protocol(String::new()))),
                    };
                    s.finish(id, how, outcome);
                    Delivery::Completed
                }
            }),
            T::Complete { id, outcome } => Expect::Delivery(if s.entries.contains_key(id) {
                s.finish(id, Retired::Completed, outcome.clone());
                Delivery::Completed
            } else {
                s.stray(id, mutant)
            }),
            T::Fail(id) => Expect::Bool(if s.entries.contains_key(id) {
                s.finish(id, Retired::Failed, Err(fail_error()));
                true
            } else {
                false
            }),
            T::FailAll => {
                let ids: Vec<&'static str> = s.entries.keys().copied().collect();
                for id in &ids {
                    s.finish(id, Retired::Failed, Err(CallError::Disconnected));
                }
                Expect::Count(ids.len())
            }
            T::Expire(p) => {
                let w = &s.resolve(*p).expect("precondition: a held waiter");
                let got = match s.waiters[*w].1.clone() {
                    W::Pending => {
                        s.abandon(*w, Removal::TimedOut);
                        Err(CallError::Timeout)
                    }
                    W::Done(o) => o,
                    // The answer was taken already: nothing left but the timeout.
                    W::Taken => Err(CallError::Timeout),
                    W::Gone => unreachable!("precondition: waiter is held"),
                };
                s.waiters[*w].1 = W::Gone;
                Expect::Outcome(Some(got))
            }
            T::Drop(p) => {
                let w = &s.resolve(*p).expect("precondition: a held waiter");
                if s.waiters[*w].1 == W::Pending {
                    s.abandon(*w, Removal::Cancelled);
                }
                s.waiters[*w].1 = W::Gone;
                Expect::Nothing
            }
            T::Take(p) => Expect::Outcome(match s.waiters[s.resolve(*p).unwrap()].1.clone() {
                W::Done(o) => {
                    let w = s.resolve(*p).unwrap();
                    s.waiters[w].1 = W::Taken;
                    Some(o)
                }
                _ => None,
            }),
        };
        s
    }
}

fn fail_error() -> CallError {
    CallError::SendFailed("socket closed".into())
}

// ---------------------------------------------------------------------------------------
// System under test
// ---------------------------------------------------------------------------------------

struct Sut {
    map: PendingMap,
    /// Waiters in creation order; `None` once expired or dropped.
    waiters: Vec<Option<Waiter>>,
    hook: Arc<Mutex<Vec<(String, Removal)>>>,
}

impl Sut {
    fn resolve(&self, pick: Pick) -> usize {
        let held = self.waiters.iter().enumerate().map(|(w, slot)| match slot {
            Some(waiter) => (w, true, id_of(waiter.id())),
            None => (w, false, ""),
        });
        resolve(held, pick).expect("a held waiter")
    }
}

fn id_of(id: &str) -> &'static str {
    IDS.iter()
        .chain([&NEVER])
        .find(|&&i| i == id)
        .copied()
        .expect("pool id")
}

struct PendingTest<V>(PhantomData<V>);

impl<V: Variant> StateMachineTest for PendingTest<V> {
    type SystemUnderTest = Sut;
    type Reference = PendingRef<V>;

    fn init_test(_: &Model) -> Sut {
        let hook = Arc::new(Mutex::new(Vec::new()));
        let log = hook.clone();
        let map = PendingMap::with_removal_hook(Box::new(move |id, why| {
            log.lock().unwrap().push((id.to_owned(), why));
        }));
        Sut {
            map,
            waiters: Vec::new(),
            hook,
        }
    }

    fn apply(mut sut: Sut, model: &Model, t: T) -> Sut {
        let got = match &t {
            T::Insert(id) => Expect::Insert(match sut.map.insert(id) {
                Ok(w) => {
                    assert_eq!(w.id(), *id);
                    sut.waiters.push(Some(w));
                    Ok(())
                }
                Err(e) => Err(e),
            }),
            T::Start { id, body, end } => Expect::Delivery(sut.map.on_start(id, body, *end)),
            T::Chunk { id, seq, data } => Expect::Delivery(sut.map.on_chunk(id, *seq, data)),
            T::End(id) => Expect::Delivery(sut.map.on_end(id)),
            T::Complete { id, outcome } => Expect::Delivery(sut.map.complete(id, outcome.clone())),
            T::Fail(id) => Expect::Bool(sut.map.fail(id, fail_error())),
            T::FailAll => Expect::Count(sut.map.fail_all(CallError::Disconnected)),
            T::Expire(p) => {
                let w = sut.resolve(*p);
                let waiter = sut.waiters[w].take().expect("waiter is held");
                Expect::Outcome(Some(norm(waiter.expire())))
            }
            T::Drop(p) => {
                let w = sut.resolve(*p);
                drop(sut.waiters[w].take().expect("waiter is held"));
                Expect::Nothing
            }
            T::Take(p) => {
                let w = sut.resolve(*p);
                let waiter = sut.waiters[w].as_mut().expect("waiter is held");
                let got = waiter.try_take().map(norm);
                if got.is_some() {
                    // Exactly once: a second take finds nothing.
                    assert_eq!(waiter.try_take(), None, "outcome taken twice");
                }
                Expect::Outcome(got)
            }
        };
        assert_eq!(got, model.expect, "result of {t:?}");
        assert_eq!(sut.waiters.len(), model.waiters.len(), "waiter count");
        sut
    }

    fn check_invariants(sut: &Sut, model: &Model) {
        let ids: Vec<String> = model.entries.keys().map(|s| s.to_string()).collect();
        assert_eq!(sut.map.len(), model.entries.len(), "len()");
        assert_eq!(sut.map.is_empty(), model.entries.is_empty(), "is_empty()");
        assert_eq!(sut.map.ids(), ids, "ids()");
        for id in IDS.iter().chain([&NEVER]) {
            assert_eq!(
                sut.map.contains(id),
                model.entries.contains_key(id),
                "contains({id})"
            );
        }
        assert_eq!(sut.map.stats(), model.expected_stats(), "stats()");
        assert_eq!(*sut.hook.lock().unwrap(), model.hook, "removal hook calls");
    }

    fn teardown(mut sut: Sut, model: Model) {
        // Every held waiter yields exactly its modelled outcome, once.
        let mut still_pending = 0;
        for (w, slot) in sut.waiters.iter_mut().enumerate() {
            let (id, st) = &model.waiters[w];
            match slot {
                None => assert_eq!(*st, W::Gone, "waiter {w} ({id})"),
                Some(waiter) => {
                    let want = match st {
                        W::Done(o) => Some(o.clone()),
                        W::Pending => {
                            still_pending += 1;
                            None
                        }
                        W::Taken => None,
                        W::Gone => panic!("waiter {w} ({id}) should be gone"),
                    };
                    assert_eq!(waiter.try_take().map(norm), want, "waiter {w} ({id})");
                    assert_eq!(waiter.try_take(), None, "waiter {w} ({id}) taken twice");
                }
            }
        }
        // Dropping the rest cancels exactly the entries still pending.
        let before = sut.map.stats();
        sut.waiters.clear();
        let after = sut.map.stats();
        assert_eq!(after.pending, 0, "all entries removed");
        assert_eq!(after.cancelled - before.cancelled, still_pending);
        assert_eq!(
            sut.hook.lock().unwrap().len(),
            model.hook.len() + still_pending as usize
        );
    }
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

prop_state_machine! {
    #![proptest_config(config(1024))]

    #[test]
    fn pending_map_matches_model(sequential 1..50 => PendingTest<Correct>);

    #[test]
    fn pending_map_matches_model_with_id_reuse(sequential 1..50 => PendingTest<WithStaleReuse>);
}

/// The minimal case the ignored test above shrinks to, as plain calls.
#[test]
fn stale_waiter_kills_reused_id() {
    let map = PendingMap::new();
    let old = map.insert("a").unwrap();
    assert_eq!(map.on_start("a", "first", true), Delivery::Completed);
    // The id is free again; a new call reuses it while the old waiter is still held.
    let mut new = map.insert("a").unwrap();
    drop(old); // the old call's outcome was never taken
    assert!(map.contains("a"), "the new entry must still be pending");
    assert_eq!(map.stats().cancelled, 0);
    assert_eq!(map.on_start("a", "second", true), Delivery::Completed);
    assert_eq!(new.try_take(), Some(Ok("second".into())));
}

/// Same bug through `expire`, which removes by id even after the outcome was taken.
#[test]
fn taken_waiter_expire_kills_reused_id() {
    let map = PendingMap::new();
    let mut old = map.insert("a").unwrap();
    map.complete("a", Ok("first".into()));
    assert_eq!(old.try_take(), Some(Ok("first".into())));
    let _new = map.insert("a").unwrap();
    assert_eq!(old.expire(), Err(CallError::Timeout));
    assert!(map.contains("a"), "the new entry must still be pending");
    assert_eq!(map.stats().timed_out, 0);
}

// ---------------------------------------------------------------------------------------
// Teeth: the invariants are live. Each wrong model must be caught and shrunk.
// ---------------------------------------------------------------------------------------

/// The shrunk failure of variant `V`'s machine (see `support/teeth.rs`).
fn shrunk_failure<V: Variant>() -> (String, Vec<T>) {
    support::teeth::shrunk_failure::<PendingRef<V>, PendingTest<V>>(50, V::MUTANT)
}

#[test]
fn mutants_are_caught() {
    let (why, ts) = shrunk_failure::<ForgetsDuplicateCount>();
    assert!(why.contains("stats()"), "{why}");
    assert_eq!(ts.len(), 3, "insert, start, start: {ts:?}");
    assert!(matches!(
        ts[..],
        [T::Insert(_), T::Start { end: false, .. }, T::Start { .. }]
    ));

    // insert, start, chunk(s) in sequence with some data, end: the assembled body is
    // checked when taken. (1-minimal, not always minimal: an empty chunk #0 may stay.)
    let (why, ts) = shrunk_failure::<DropsChunkData>();
    assert!(ts.len() <= 5, "{ts:?}");
    assert!(
        matches!(&ts[..2], [T::Insert(_), T::Start { end: false, .. }]),
        "{ts:?}"
    );
    assert!(matches!(ts.last(), Some(T::End(_))), "{ts:?}");
    assert!(
        ts.iter()
            .any(|t| matches!(t, T::Chunk { data, .. } if !data.is_empty())),
        "{ts:?}"
    );
    assert!(why.contains("waiter"), "{why}");

    // insert, expire or drop, then any frame for the id: `Late`, not `Unknown`.
    let (why, ts) = shrunk_failure::<LateAsUnknown>();
    assert_eq!(ts.len(), 3, "{ts:?}");
    assert!(
        matches!(&ts[..2], [T::Insert(_), T::Expire(_) | T::Drop(_)]),
        "{ts:?}"
    );
    assert!(why.contains("result of"), "{why}");
}
