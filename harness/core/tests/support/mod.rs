//! Helpers shared by the property tests.
#![allow(dead_code)]

#[path = "quiet.rs"]
pub mod quiet;
#[path = "teeth.rs"]
pub mod teeth;

/// `cases` unless `PROPTEST_CASES` is set (an explicit `cases` in a `Config` would override
/// the variable, which proptest only reads into its default config). No regression files.
pub fn config(cases: u32) -> proptest::test_runner::Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    proptest::test_runner::Config {
        cases,
        failure_persistence: None,
        ..proptest::test_runner::Config::default()
    }
}
