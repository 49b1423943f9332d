//! Generated scenarios (see `wirecheck::gen`): random worlds run with every checker on.
//!
//! Default case counts keep `cargo test` fast. A longer search:
//! `PROPTEST_CASES=10000 cargo test --release -p wirecheck --test generated -- --nocapture`
//! (set `WIRECHECK_GEN_SEED` to explore other cases), or `wirecheck fuzz --cases 10000`.

mod support;

use std::path::PathBuf;
use support::cases;
use wirecheck::gen::search;
use wirecheck::runner::{run, RunOptions};
use wirecheck::scenario::{check_name, load_file};
use wirecheck::world::Pace;
use wirecheck_core::flaws::{Flaw, Flaws};

fn seed() -> u64 {
    std::env::var("WIRECHECK_GEN_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20261122)
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wirecheck-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn generated_scenarios_pass_on_the_reference() {
    let out = scratch("gen").join("scenarios/regressions");
    let n = cases(24);
    let started = std::time::Instant::now();
    match search(n, seed(), &RunOptions::default(), &out) {
        Ok(ran) => eprintln!(
            "{ran} generated scenarios OK in {:.1}s",
            started.elapsed().as_secs_f64()
        ),
        Err(found) => panic!(
            "a generated scenario fails on the reference; shrunk and written to {}\n\
             hint: copy it into scenarios/regressions/ so `cargo test` replays it\n{}",
            found.file.display(),
            found.reason
        ),
    }
}

#[test]
fn a_planted_bug_is_found_shrunk_and_written_as_a_replayable_yaml_scenario() {
    let root = scratch("planted").join("scenarios");
    let out = root.join("regressions");
    let flaws = Flaws::one(Flaw::NoUnassign);
    let opts = RunOptions {
        flaws: flaws.clone(),
        ..RunOptions::default()
    };
    let found = match search(64, seed(), &opts, &out) {
        Ok(n) => panic!("{n} cases never hit the planted `no-unassign` bug"),
        Err(found) => found,
    };
    // Shrunk: one request is enough to leave an assignment behind.
    assert_eq!(
        found.case.requests.len(),
        1,
        "not shrunk: {:#?}",
        found.case
    );
    assert!(
        found.case.proxy.is_empty() && found.case.faults.is_empty(),
        "{:#?}",
        found.case
    );
    // The written file is an ordinary scenario: it loads, its name matches its path...
    let s = load_file(&found.file).unwrap_or_else(|e| panic!("written file does not load: {e}"));
    check_name(&s, &root).expect("name matches path");
    // ...and it reproduces the failure with the flaw, and passes without it.
    let with = run(
        &s,
        &RunOptions {
            seed: None,
            flaws: flaws.clone(),
            ..RunOptions::default()
        },
    );
    assert!(
        !with.passed(),
        "the written scenario does not reproduce the failure"
    );
    assert!(with.broken_rules().contains(&"BRK-5"), "{}", with.explain());
    let without = run(&s, &RunOptions::default());
    assert!(without.passed(), "{}", without.explain());
    let _ = std::fs::remove_dir_all(root.parent().unwrap_or(&root));
}

proptest::proptest! {
    #![proptest_config(support::config(16))]

    /// Jumping over idle time changes nothing in a generated world either (random latency,
    /// proxy faults, crashes and partitions): the same events, at the same times, in the
    /// same order, as stepping every tick. (The catalog's `determinism::` trials check
    /// the same for every scenario file.)
    #[test]
    fn skipping_idle_time_gives_the_every_tick_trace(g in wirecheck::gen::scenarios()) {
        let s = wirecheck::gen::load(&g).map_err(proptest::test_runner::TestCaseError::fail)?;
        let jumping = run(&s, &RunOptions::default());
        let every_tick = run(&s, &RunOptions { pace: Pace::EveryTick, ..RunOptions::default() });
        if jumping.diagram != every_tick.diagram || jumping.events != every_tick.events {
            let first = jumping
                .diagram
                .lines()
                .zip(every_tick.diagram.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            let show = |d: &str| d.lines().skip(first.saturating_sub(3)).take(6).collect::<Vec<_>>().join("\n");
            proptest::prop_assert!(
                false,
                "jumping and every-tick runs differ at diagram line {}:\n--- jumping\n{}\n--- every tick\n{}\n--- the scenario (`wirecheck show FILE --pace every-tick`):\n{}",
                first + 1,
                show(&jumping.diagram),
                show(&every_tick.diagram),
                g.to_yaml("regressions/generated", "A generated scenario.")
            );
        }
    }
}
