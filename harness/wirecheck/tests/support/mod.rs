//! Helpers shared by this crate's property tests (`mod support;` in each).
#![allow(dead_code)] // not every including test uses every helper

/// Silencing expected panics: the same helper as wirecheck-core's property tests.
#[path = "../../../core/tests/support/quiet.rs"]
pub mod quiet;

pub mod targets;

/// The seed of every property test of this crate unless `PROPTEST_RNG_SEED` is set, so
/// that `cargo test` runs the same cases every time.
const SEED: u64 = 0x5eed_10ad_e500_0001;

/// `PROPTEST_CASES` if set, else `default`: the one place this crate's tests read it.
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A proptest config: `cases(default)` cases, a fixed seed unless `PROPTEST_RNG_SEED`
/// is set, no regression files. (An explicit `cases` in a `Config` overrides the variable,
/// which proptest only reads into its default config: hence [`cases`].)
pub fn config(default: u32) -> proptest::test_runner::Config {
    let base = proptest::test_runner::Config::default();
    let rng_seed = if std::env::var_os("PROPTEST_RNG_SEED").is_some() {
        base.rng_seed
    } else {
        proptest::test_runner::RngSeed::Fixed(SEED)
    };
    proptest::test_runner::Config {
        cases: cases(default),
        rng_seed,
        failure_persistence: None,
        ..base
    }
}
