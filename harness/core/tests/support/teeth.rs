//! Shared by the state-machine property tests (included with `#[path]`): run a machine
//! against a deliberately wrong reference and shrink the failure to a 1-minimal case.

use super::quiet::{panic_message, quiet_panics};
use proptest::test_runner::{Config, TestError, TestRunner};
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest};
use std::fmt::Debug;

/// Runs `S` on `transitions` from `init`: the panic message if it fails, `None` if it
/// passes or the list breaks a precondition.
pub fn failure<R, S>(init: &R::State, transitions: &[R::Transition]) -> Option<String>
where
    R: ReferenceStateMachine,
    R::State: Clone,
    R::Transition: Clone,
    S: StateMachineTest<Reference = R>,
{
    let mut state = init.clone();
    for t in transitions {
        if !R::preconditions(&state, t) {
            return None;
        }
        state = R::apply(state, t);
    }
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        S::test_sequential(Config::default(), init.clone(), transitions.to_vec(), None)
    }));
    run.err().map(|p| panic_message(&*p))
}

/// Runs `S` by hand with a `TestRunner`, expects `TestError::Fail`, and returns the failure
/// message and the shrunk transitions. proptest-state-machine deletes transitions in one
/// back-to-front pass and then simplifies the survivors, which can leave deletable
/// transitions behind; a final pass deletes single transitions until none can go (the
/// result is 1-minimal), so length checks on it are not flaky.
pub fn shrunk_failure<R, S>(max_len: usize, mutant: impl Debug) -> (String, Vec<R::Transition>)
where
    R: ReferenceStateMachine,
    R::State: Clone + Debug,
    R::Transition: Clone + Debug,
    S: StateMachineTest<Reference = R>,
{
    let mut runner = TestRunner::new(Config {
        cases: 1000,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = R::sequential_strategy(1..max_len);
    quiet_panics(|| {
        let result = runner.run(&strategy, |(init, transitions, seen)| {
            S::test_sequential(Config::default(), init, transitions, seen);
            Ok(())
        });
        let (init, mut ts) = match result {
            Err(TestError::Fail(_, (init, transitions, _))) => (init, transitions),
            other => panic!("{mutant:?} was not caught: {other:?}"),
        };
        let mut why = failure::<R, S>(&init, &ts).expect("the shrunk case fails when replayed");
        loop {
            let before = ts.len();
            for i in (0..ts.len()).rev() {
                let mut fewer = ts.clone();
                fewer.remove(i);
                if let Some(w) = failure::<R, S>(&init, &fewer) {
                    ts = fewer;
                    why = w;
                }
            }
            if ts.len() == before {
                return (why, ts);
            }
        }
    })
}
